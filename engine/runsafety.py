"""What keeps a run's folder truthful when things go wrong: finished runs stay finished, a full disk is named.

* :func:`continue_finished`: ``--resume`` of a finished run is refused unless the step count is raised.
* :func:`remove_partial_checkpoints`: a checkpoint a full disk cut short is removed, to make room.
* :func:`write_failed_status`: ``status.json`` ends ``failed`` even on a full disk (room is made first).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import rundir, runlock
from .config import Config, load_config
from .errors import RunError


def finished_step(rd: Path, status: dict) -> int:
    step = status.get("step")
    if isinstance(step, int) and not isinstance(step, bool):
        return step
    ckpt = rundir.last_checkpoint(rd)
    try:
        return int(json.loads((ckpt / rundir.TRAINER_STATE).read_text(encoding="utf-8"))["global_step"]) if ckpt else 0
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def continue_finished(rd: Path, saved, cfg, status: dict):
    """(config to train with, note) for ``--resume`` of a finished run; RunError unless max_steps was raised."""
    done = finished_step(rd, status)
    wanted = cfg.training.max_steps if cfg is not None else 0
    if wanted > done:
        saved.training.max_steps = wanted
        return saved, (f"{rd.name} had finished at step {done}; continuing it to step {wanted} as asked "
                       "(the adapter in adapter/ is replaced at the end)")
    suggestion = max(2 * done, done + 1)
    raise RunError(f"{rd}: finished at step {done}; --resume continues only stopped, failed or killed runs. "
                   f"To train it more, raise the step count: tunedeck train --resume {rd} --max-steps {suggestion}")


def remove_partial_checkpoints(rd: Path) -> list[str]:
    """Delete checkpoint folders that are not complete (never the last complete one); their names."""
    removed = []
    for p in rundir.checkpoint_folders(rd):
        if not rundir.checkpoint_is_complete(p):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed


def write_failed_status(rd: Path, **fields) -> bool:
    """``status.json`` = failed, whatever the disk's state; True when written.

    On a full disk the atomic write (temp file + rename) may itself fail: half-written checkpoints and
    temp files are removed to make room and it is tried again; as a last resort the old file is
    overwritten in place (a few hundred bytes fit in its own blocks).
    """
    for attempt in range(3):
        try:
            rundir.write_status(rd, "failed", **fields)
            return True
        except OSError:
            if attempt == 0:
                remove_partial_checkpoints(rd)
                for tmp in Path(rd).glob(".*.*"):
                    if tmp.is_file() and tmp.name.startswith((f".{rundir.STATUS_FILE}.", f".{rundir.CONFIG_FILE}.")):
                        tmp.unlink(missing_ok=True)
    try:
        import os
        import time

        data = {"status": "failed", "pid": os.getpid(), "updated": time.time(), **fields}
        with open(Path(rd) / rundir.STATUS_FILE, "r+", encoding="utf-8") as f:
            text = json.dumps(data) + "\n"
            f.seek(0)
            f.write(text)
            f.truncate()
        return True
    except OSError:
        return False


def open_run(cfg: Config | None, run_dir, resume) -> tuple[Config, Path | None, Path | None, str | None]:
    """(config, run folder or None for a new default one, checkpoint to resume, note); writes nothing."""
    if resume is not None:
        rd = rundir.resolve_run(resume, cfg.output.runs_dir if cfg else "runs")
        saved = load_config(rd / rundir.CONFIG_FILE)
        ckpt = rundir.last_checkpoint(rd)
        if ckpt is None:
            raise RunError(f"{rd}: no complete checkpoint to resume from; start a new run with tunedeck train --config {rd / rundir.CONFIG_FILE}")
        status = rundir.read_status(rd)
        if status.get("status") == "finished":
            saved, note = continue_finished(rd, saved, cfg, status)
            return saved, rd, ckpt, note
        if cfg is not None and cfg.training.max_steps != saved.training.max_steps and cfg.training.max_steps > 0:
            saved.training.max_steps = cfg.training.max_steps
        return saved, rd, ckpt, None
    assert cfg is not None
    if run_dir is not None:
        runlock.check_new_run_dir(run_dir)  # checked again under the lock, once the data is known good
    return cfg, Path(run_dir) if run_dir is not None else None, None, None


def open_and_claim(cfg, run_dir, resume, emit, prepare, name_for):
    """(config, run folder, checkpoint, lock, prepared data): validated first, the folder created and locked last."""
    from .events import MessageLogged

    lock = None
    try:
        cfg, rd, ckpt, note = open_run(cfg, run_dir, resume)
        if ckpt is not None:  # a resumed run's folder is TuneDeck's already: lock it before the slow part
            lock = runlock.claim_run_dir(rd, new=False)
        if note:
            emit(MessageLogged(note, level="warning"))
        prep = prepare(cfg, emit)
        if rd is None:
            rd = rundir.new_run_dir(cfg.output.runs_dir, name_for(cfg))
        if lock is None:
            lock = runlock.claim_run_dir(rd, new=True)
        return cfg, rd, ckpt, lock, prep
    except BaseException:
        if lock is not None:
            lock.release()
        raise
