"""A cached virtual environment with transformers 4.x, for checking that TuneDeck's exports load there.

transformers 5 dropped ``pipeline("question-answering")``; people still on 4.x use it. The opt-in tests
that need it build this venv once (torch from the local wheel, transformers<5 from PyPI) and run their
check in a subprocess, since one Python process holds one transformers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VENV = Path(os.environ.get("TUNEDECK_TF4_VENV", "~/.cache/tunedeck/venv-tf4")).expanduser()
OPT_IN = "TUNEDECK_TF4_TESTS"


def tf4_python() -> Path:
    """The venv's python, built on first use (a few minutes); raises CalledProcessError if pip fails."""
    py = VENV / "bin" / "python"
    probe = "import transformers, torch; assert int(transformers.__version__.split('.')[0]) == 4"
    if py.exists() and subprocess.run([str(py), "-c", probe], capture_output=True).returncode == 0:
        return py
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0", "transformers<5"], check=True)
    subprocess.run([str(py), "-c", probe], check=True)
    return py


def run_tf4(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``script`` with the transformers 4.x venv's python, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run([str(tf4_python()), "-c", script, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
