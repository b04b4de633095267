#!/usr/bin/env bash
# Set up if needed, then run the whole test suite (engine on a tiny model and the demo model, TUI with Pilot).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test (tests/test_serve.py) drives headless Chromium: installed where we may (root with apt-get), else it skips.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "note: chromium not installed; tests/test_serve.py skips"
fi
exec .venv/bin/python -m pytest -q "$@"
