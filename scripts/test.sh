#!/usr/bin/env bash
# Set up if needed, then run the whole test suite (engine on a tiny model and the demo model, TUI with Pilot).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
