"""The house rules that fail the build: import contracts (import-linter) and lint (ruff), run as the suite runs.

The contracts live in pyproject.toml ([tool.importlinter]): the engine imports no UI (tui, textual,
textual_plotext), and screens do not import each other. ruff's rules (pyflakes, bugbear, import order,
complexity ceiling 15) are there too ([tool.ruff]).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess:
    exe = BIN / tool
    assert exe.exists(), f"{exe} is missing: install the dev extra (pip install -e '.[dev]')"
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    done = _run("lint-imports")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_is_clean():
    done = _run("ruff", "check", "engine", "tui", "bench", "tests")
    assert done.returncode == 0, done.stdout + done.stderr
