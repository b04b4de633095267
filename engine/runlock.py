"""Who owns a run folder: one training process at a time, and only TuneDeck's own folders.

A process that trains a run holds ``fcntl.flock`` on ``RUN/train.lock`` for as
long as it trains. The kernel drops the lock when the process ends in any way
(kill -9 included), so a killed run can be resumed at once, and a second
trainer is refused while the first lives::

    lock = claim_run_dir(rd, new=True)   # refuses a foreign or finished folder, or one being trained
    ...
    lock.release()

Viewers (``tunedeck attach``, the Runs screen) never take the lock. The first
of them that sees a ``running`` status whose process is gone records
``killed`` in ``status.json`` (:func:`record_killed`), atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from . import rundir
from .errors import RunError

LOCK_FILE = rundir.LOCK_FILE


class RunLock:
    """An exclusive flock on ``RUN/train.lock``; the file holds the owner's pid."""

    def __init__(self, run_dir: Path, fd: int):
        self.run_dir = Path(run_dir)
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None


def pid_alive(pid: Any) -> bool:
    """True when a process with this id exists (os.kill(pid, 0) succeeds or is merely forbidden)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _holder_pid(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "?"
    return text.split()[0] if text else "?"


def try_lock(run_dir: Path, *, attempts: int = 10) -> RunLock | None:
    """The run's lock, or None when another process holds it (retried briefly, so a viewer's probe never wins)."""
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, rundir.default_mode(0o666))
    for i in range(attempts):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return RunLock(Path(run_dir), fd)
        except BlockingIOError:
            if i + 1 < attempts:
                time.sleep(0.05)
    os.close(fd)
    return None


def is_run_folder(path: Path) -> bool:
    """A folder TuneDeck wrote: it has a config.yaml plus status.json or metrics.jsonl."""
    p = Path(path)
    return (p / rundir.CONFIG_FILE).is_file() and ((p / rundir.STATUS_FILE).is_file() or (p / rundir.METRICS_FILE).is_file())


def _entries(path: Path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n != LOCK_FILE)


def check_new_run_dir(path: str | os.PathLike) -> None:
    """Refuse (RunError, nothing written) a folder a new run may not go into.

    A new run goes only into a folder that does not exist yet or is empty.
    """
    p = Path(path)
    if not p.exists():
        if p.parent.exists() and not p.parent.is_dir():
            raise RunError(f"--run-dir {p}: {p.parent} is a file, not a folder; choose another --run-dir")
        return
    if not p.is_dir():
        raise RunError(f"--run-dir {p}: is a file, not a folder; nothing was written; choose a new --run-dir name")
    try:
        entries = _entries(p)
    except OSError as e:
        raise RunError(f"--run-dir {p}: cannot be read ({e.strerror}); choose another --run-dir") from None
    if not entries:
        return
    if is_run_folder(p):
        state = run_state(p)
        if state == "running":
            pid = rundir.read_status(p).get("pid")
            raise RunError(f"--run-dir {p}: a run is training there now (pid {pid}); nothing was written; "
                           "watch it with tunedeck attach, or choose a new --run-dir")
        how = ("train more with tunedeck train --resume RUN --max-steps N (a higher step count), or "
               if state == "finished" else f"continue it with tunedeck train --resume {p}, or ")
        raise RunError(f"--run-dir {p}: holds a {state} TuneDeck run; nothing was written; {how}choose a new --run-dir")
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise RunError(f"--run-dir {p}: folder is not empty and is not a TuneDeck run ({shown}); nothing was written; "
                   "choose a new or empty folder for --run-dir")


def claim_run_dir(path: str | os.PathLike, *, new: bool) -> RunLock:
    """Create (for a new run) and lock the run folder; refuse it when another process trains it.

    For a new run the folder is checked again under the lock, so two processes racing for one
    empty folder cannot both start in it.
    """
    p = Path(path)
    if new:
        check_new_run_dir(p)
        p.mkdir(parents=True, exist_ok=True)
    lock = try_lock(p)
    if lock is None:
        raise RunError(f"{p}: another process (pid {_holder_pid(p / LOCK_FILE)}) is training this run; "
                       "wait for it or stop it (tunedeck attach), or choose another --run-dir")
    try:
        if new:
            check_new_run_dir(p)
        with open(lock.fd, "w", closefd=False) as f:
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
    except BaseException:
        lock.release()
        raise
    return lock


def run_state(run_dir: str | os.PathLike) -> str:
    """status.json's state; ``running`` whose process is gone is ``killed`` (and recorded so)."""
    rd = Path(run_dir)
    status = rundir.read_status(rd)
    state = str(status.get("status", "unknown"))
    if state == "running" and not pid_alive(status.get("pid")):
        record_killed(rd)
        return "killed"
    return state


def record_killed(run_dir: str | os.PathLike) -> bool:
    """Write ``killed`` into a run's status when it says running, its pid is dead and nobody holds its lock.

    Atomic (temp file + rename); never raises; True when this call wrote it.
    """
    rd = Path(run_dir)
    try:
        if not (rd / LOCK_FILE).exists() and not (rd / rundir.STATUS_FILE).exists():
            return False
        lock = try_lock(rd, attempts=1) if (rd / LOCK_FILE).exists() else None
        if (rd / LOCK_FILE).exists() and lock is None:
            return False  # a trainer holds it (e.g. it is resuming right now)
        try:
            status = rundir.read_status(rd)
            if status.get("status") != "running" or pid_alive(status.get("pid")):
                return False
            status = {**status, "status": "killed", "killed_seen": time.time(), "seen_by": os.getpid()}
            rundir.atomic_write_text(rd / rundir.STATUS_FILE, json.dumps(status, indent=1) + "\n")
            return True
        finally:
            if lock is not None:
                lock.release()
    except OSError:
        return False  # a read-only folder: the state is still shown as killed
