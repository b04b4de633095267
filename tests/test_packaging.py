"""The wheel is what users install: build it, install it into a fresh venv and use it from elsewhere.

The fresh venv gets the wheel alone (``--no-deps``); its dependencies come from the
test venv's site-packages through a plain path entry, so nothing is downloaded and the
test venv's editable install of TuneDeck (a .pth finder) is not seen: every ``engine``
and ``tui`` module imported here comes from the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "SetuptoolsDeprecationWarning" not in proc.stdout + proc.stderr
    (whl,) = out.glob("tunedeck-*.whl")
    return whl


def test_wheel_holds_every_module_and_stylesheet(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("engine", "tui"):
        for path in (ROOT / package).rglob("*"):
            if path.suffix in (".py", ".tcss") and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in names, f"{path.relative_to(ROOT)} missing from the wheel"


def test_installed_wheel_runs_from_another_folder(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # Dependencies from the test venv, as a plain path: its own .pth files (the editable TuneDeck) are not run.
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    modules = _modules("engine") + _modules("tui")
    check = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    mod = importlib.import_module(name)\n"
        f"    assert mod.__file__.startswith({str(purelib)!r}), (name, mod.__file__)\n"
        "print('imported', len(sys.modules))\n"
    )
    proc = subprocess.run([str(py), "-c", check], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([str(env_dir / "bin" / "tunedeck"), "--help"], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train" in proc.stdout and "ui" in proc.stdout
