"""Why a run failed, in words: disk full, out of memory, NaN loss, a user's mistake, or a bug (error.log).

:func:`engine.train.train` never raises; each failure becomes one :class:`engine.events.RunFailed`
whose ``error`` is one line and whose ``hint`` says what to do::

    early_failure(exc)                 # before the run folder was claimed
    run_failure(exc, run_dir, step)    # (message, hint, step) once it was
"""

from __future__ import annotations

import errno
import shutil
import traceback
from pathlib import Path

from . import rundir
from .errors import TuneDeckError, causes
from .events import RunFailed

DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_WRITE_FAILED = ("file write failed", "failed writing", "unexpected pos", "inline_container", "error while serializing")


def is_disk_full(exc: BaseException, run_dir: Path | None = None) -> bool:
    """True when ``exc`` (or an exception it was raised from) means the disk or quota is full.

    Python's OSError carries errno ENOSPC/EDQUOT; safetensors' Rust error and torch's C++ writer only
    have text ("No space left on device", or "PytorchStreamWriter failed writing file ...: file write
    failed" with no reason), so for the latter the free space of ``run_dir``'s disk decides.
    """
    for e in causes(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return True
        text = str(e).lower()
        if "no space left" in text or "disk quota exceeded" in text or "storagefull" in text:
            return True
        if run_dir is not None and any(w in text for w in _WRITE_FAILED) and _nearly_full(run_dir):
            return True
    return False


def _nearly_full(run_dir: Path) -> bool:
    try:
        return shutil.disk_usage(run_dir).free < 64 * 2**20
    except OSError:
        return False


def disk_full_error(run_dir: Path) -> tuple[str, str]:
    """(one-line error, hint) for a run that ran out of disk, naming the checkpoint being written and the way out."""
    complete = rundir.last_checkpoint(run_dir)
    partial = [p for p in rundir.checkpoint_folders(run_dir) if not rundir.checkpoint_is_complete(p)]
    where = f" while saving {partial[-1].name} (left incomplete; resume ignores it)" if partial else ""
    error = f"disk full{where}: No space left on device in {run_dir.parent}"
    then = (f"; then continue from {complete.name}: tunedeck train --resume {run_dir}" if complete
            else "; then start the run again")
    hint = ("The disk is full: free space (old runs' checkpoints folders), lower training.save_total_limit to keep "
            "fewer checkpoints, or set output.runs_dir to a disk with room" + then)
    return error, hint


def hint_for(exc: BaseException, run_dir: Path | None = None) -> str:
    """Plain-language advice for an error that ended a run."""
    text = f"{type(exc).__name__}: {exc}".lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "outofmemory" in text or "cannot allocate memory" in text:
        return ("Out of memory: lower training.batch_size or data.max_length, raise training.gradient_accumulation "
                "to keep the effective batch, turn on model.gradient_checkpointing, or use model.quantization: 4bit.")
    if is_disk_full(exc, run_dir):
        return ("The disk is full: free space (old runs' checkpoints folders), lower training.save_total_limit to keep "
                "fewer checkpoints, or set output.runs_dir to a disk with room.")
    if isinstance(exc, TuneDeckError):
        return ""
    return f"Unexpected error; the traceback is in {rundir.ERROR_LOG} in the run folder. Please report it with that file."


class NaNLoss(Exception):
    """The loss or the gradients stopped being finite at ``step`` (the run stops without saving that step)."""

    def __init__(self, step: int, ckpt):
        self.step = step
        where = f"; the last finite checkpoint is {ckpt.name}" if ckpt else ""
        super().__init__(f"loss or gradients became NaN or infinite at step {step}{where}")
        self.hint = "Lower training.learning_rate (try 10x smaller) or set training.max_grad_norm to 1.0."


def write_error_log(rd: Path) -> None:
    """The traceback being handled, into the run folder's error.log (call from an ``except`` block)."""
    try:  # the disk may be the very thing that is full
        (rd / rundir.ERROR_LOG).write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        pass


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def early_failure(exc: BaseException) -> RunFailed:
    """The event for a run that failed before its folder was claimed (a config, data or model check)."""
    user_error = isinstance(exc, TuneDeckError)
    text = first_line(exc)
    hint = "" if user_error else hint_for(exc).replace(f"the traceback is in {rundir.ERROR_LOG} in the run folder",
                                                       "no run folder was made yet")
    return RunFailed(error=(text if user_error else f"{type(exc).__name__}: {text}")[:500], hint=hint,
                     user_error=user_error)


def run_failure(exc: BaseException, rd: Path, step: int) -> tuple[str, str, int]:
    """(message, hint, step) for a run that failed in its folder; a bug's traceback goes to error.log,
    a full disk loses its partial checkpoints (call from the ``except`` block)."""
    if isinstance(exc, NaNLoss):
        return str(exc), exc.hint, exc.step
    user_error = isinstance(exc, TuneDeckError)
    if not user_error and is_disk_full(exc, rd):
        from .runsafety import remove_partial_checkpoints

        message, hint = disk_full_error(rd)
        remove_partial_checkpoints(rd)  # make room; the last complete checkpoint stays
        write_error_log(rd)
        return message, hint, step
    message = first_line(exc)
    if not user_error:
        message = f"{type(exc).__name__}: {message}"
        write_error_log(rd)
    return message, hint_for(exc, rd), step
