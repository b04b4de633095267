"""The run directory: the contract between engine, TUI, CLI and any viewer.

Layout of ``runs/<YYYYmmdd-HHMMSS>-<name>/``::

    config.yaml      the resolved config the run trained with
    status.json      {"status": running|finished|failed|stopped, "pid", "updated", "error", "hint", "step"}
    metrics.jsonl    one event per line: {"event": "step", "step": 12, "loss": 1.83, ...}
    checkpoints/     transformers Trainer checkpoints (checkpoint-N/)
    adapter/         the final LoRA adapter in PEFT format
    error.log        the traceback, when a run failed on a bug
    eval.json        the last evaluation's report

State files are written atomically (temp file + rename), so a crash never
leaves a half-written one behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import RunError

CONFIG_FILE = "config.yaml"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
LOCK_FILE = "train.lock"  # flock-ed by the process that trains the run (engine.runlock)
ERROR_LOG = "error.log"  # the traceback of a run that failed on a bug
EVAL_FILE = "eval.json"  # the last evaluation's report

STOP_REQUEST = "stop.request"  # any process may create it; the training process polls it every step
SAVE_REQUEST = "save.request"  # same, for "save a checkpoint now"

STATUSES = ("running", "finished", "failed", "stopped", "killed")  # killed: written by whoever first sees the dead pid


def request_stop(run_dir: Path) -> None:
    """Ask the process training ``run_dir`` (any process) to checkpoint and stop."""
    atomic_write_text(Path(run_dir) / STOP_REQUEST, f"{os.getpid()} {time.time()}\n")


def request_save(run_dir: Path) -> None:
    """Ask the process training ``run_dir`` to save a checkpoint at the next step."""
    atomic_write_text(Path(run_dir) / SAVE_REQUEST, f"{os.getpid()} {time.time()}\n")


def take_request(run_dir: Path, name: str) -> bool:
    """True (and the request file removed) when someone asked for ``name``."""
    try:
        os.unlink(Path(run_dir) / name)
        return True
    except FileNotFoundError:
        return False


def default_mode(base: int) -> int:
    """``base`` (0o666 for files, 0o777 for folders) less the process umask: what open()/mkdir() would give."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temp file path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, default_mode(0o666))  # mkstemp makes 0600; the file should read like any other the user writes
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and a rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def slug(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return text[:60] or "run"


def new_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """A fresh, unique ``runs_dir/<timestamp>-<name>`` folder (created)."""
    base = Path(runs_dir)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = base / f"{stamp}-{slug(name)}"
    n = 2
    while candidate.exists():
        candidate = base / f"{stamp}-{slug(name)}-{n}"
        n += 1
    candidate.mkdir(parents=True)
    return candidate


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    assert status in STATUSES, status
    data = {"status": status, "pid": os.getpid(), "updated": time.time(), **extra}
    atomic_write_text(Path(run_dir) / STATUS_FILE, json.dumps(data, indent=1) + "\n")


def read_status(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"status": "unknown"}


WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")
TRAINER_STATE = "trainer_state.json"  # in each checkpoint-N/ (transformers' name)
RESUME_FILES = ("optimizer.pt", "scheduler.pt")  # plus trainer_state.json, the weights and an RNG state


def missing_for_resume(path: Path) -> list[str]:
    """What a checkpoint lacks that resuming needs: weights, optimizer, scheduler, RNG state, trainer state."""
    p = Path(path)
    missing = []
    if not any((p / n).is_file() for n in WEIGHT_FILES):
        missing.append("weights (adapter or model)")
    missing += [n for n in RESUME_FILES if not (p / n).is_file()]
    if not any(p.glob("rng_state*.pth")):
        missing.append("rng_state.pth")
    state = p / TRAINER_STATE
    try:
        if not isinstance(json.loads(state.read_text(encoding="utf-8")), dict):
            missing.append(TRAINER_STATE)
    except (OSError, ValueError):
        missing.append(TRAINER_STATE)
    return missing


def checkpoint_is_complete(path: Path) -> bool:
    """A Trainer checkpoint counts once it holds everything resume needs (see :func:`missing_for_resume`).

    trainer_state.json is written last and must parse whole. A process killed while writing the folder
    (kill -9, power cut, full disk) leaves it without some file or with a torn one; such a folder is never
    resumed from, so a resume never continues with a fresh optimizer or schedule.
    """
    return not missing_for_resume(path)


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Every checkpoint-N folder of a run, complete or not, by step."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    return [p for p in checkpoint_folders(run_dir) if checkpoint_is_complete(p)]


def last_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


@dataclass
class RunInfo:
    path: Path
    status: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name


def list_runs(runs_dir: str | os.PathLike) -> list[RunInfo]:
    """Runs under ``runs_dir``, newest first."""
    base = Path(runs_dir)
    if not base.is_dir():
        return []
    runs = [RunInfo(p, read_status(p)) for p in base.iterdir() if p.is_dir() and (p / CONFIG_FILE).exists()]
    return sorted(runs, key=lambda r: r.path.name, reverse=True)


def resolve_run(ref: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """A run given as a path or as a name inside ``runs_dir``."""
    p = Path(ref)
    for candidate in (p, Path(runs_dir) / p):
        if candidate.is_dir() and (candidate / CONFIG_FILE).exists():
            return candidate
    names = [r.name for r in list_runs(runs_dir)][:5]
    hint = f"; recent runs: {', '.join(names)}" if names else f"; no runs in {runs_dir}/ yet"
    raise RunError(f"{ref}: no such run (a folder with config.yaml){hint}")
