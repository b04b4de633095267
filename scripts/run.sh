#!/usr/bin/env bash
# Set up if needed, then open TuneDeck on the sample data with the demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tunedeck "$@"
