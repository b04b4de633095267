"""Out of device memory heals itself (``training.oom_recovery``): smaller micro-batches, from the last checkpoint.

When a step raises ``torch.OutOfMemoryError``, :func:`fit_healing` frees the memory (the failed Trainer and
model are dropped, ``gc``, ``torch.cuda.empty_cache``), halves the micro-batch, doubles
``gradient_accumulation`` and fits again from the run's last checkpoint, at most :data:`MAX_RECOVERIES`
times; the next OutOfMemoryError ends the run with the usual out-of-memory hint (:mod:`engine.failures`).

What a micro-batch is depends on the batching (:mod:`engine.trainer`): with a token budget
(``training.max_tokens_per_batch`` > 0) the batch sampler fills each micro-batch up to that many tokens, so
the budget is halved (never below ``data.max_length``, so every sample still fits); otherwise a micro-batch is
``training.batch_size`` samples (packed into rows, or padded), so that is divided, by 2 or, for an odd size,
by its smallest factor (3 -> 1 with accumulation x3): the effective batch stays exactly the same.
``training.max_steps`` is pinned to the run's step count, so the learning-rate schedule is the same too.

Each recovery is an :class:`engine.events.OomRecovered` event, and the run folder's ``config.yaml`` is
rewritten with the sizes that fit (so ``tunedeck train --resume`` starts with them).
"""

from __future__ import annotations

import copy
import gc
from pathlib import Path
from typing import Callable

from . import rundir
from .events import Event, OomRecovered, RunStarted, StepLogged

MAX_RECOVERIES = 3


def enabled(cfg, device: str) -> bool:
    """``training.oom_recovery``: on, off, or auto (on for CUDA: on CPU running out of memory is not recoverable
    this way, the operating system ends the process first)."""
    mode = cfg.training.oom_recovery
    return mode == "on" or (mode == "auto" and device == "cuda")


def smaller(cfg) -> tuple[str, int, int, int] | None:
    """(unit, new micro-batch, new accumulation, factor) for half the micro-batch, or None when it cannot shrink."""
    t = cfg.training
    if t.max_tokens_per_batch > 0:
        budget = t.max_tokens_per_batch // 2
        if budget < cfg.data.max_length:
            return None
        return "tokens", budget, t.gradient_accumulation * 2, 2
    if t.batch_size <= 1:
        return None
    factor = next(f for f in range(2, t.batch_size + 1) if t.batch_size % f == 0)  # 2 for even sizes
    return "samples", t.batch_size // factor, t.gradient_accumulation * factor, factor


def free_memory() -> None:
    """Give back what the failed attempt held: unreachable objects now, then CUDA's cached blocks."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _oom_error():
    import torch

    return getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def fit_healing(fit: Callable, cfg, rd: Path, resume_ckpt, emit: Callable[[Event], None], device: str):
    """``fit(cfg, resume_ckpt, emit)`` -> the task's FitResult; on out-of-memory, again with half the micro-batch
    from the last checkpoint (see the module docstring). Any other error, or the fourth OOM, propagates."""
    seen = {"step": 0, "max_steps": 0, "training": False}

    def watch(event: Event) -> None:
        if isinstance(event, StepLogged):
            seen["step"] = event.step
        elif isinstance(event, RunStarted):
            seen["step"], seen["max_steps"], seen["training"] = event.resumed_from_step, event.max_steps, True
        emit(event)

    oom = _oom_error()
    recoveries = 0
    while True:
        seen["training"] = False
        try:
            return fit(cfg, resume_ckpt, watch)
        except oom as exc:
            # Only a step's OOM is healed: loading the model does not get smaller with the batch.
            healable = seen["training"] and enabled(cfg, device) and recoveries < MAX_RECOVERIES
            shrink = smaller(cfg) if healable else None
            if shrink is None:
                raise
            error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        # Out of the except block: the exception, its traceback and the failed Trainer's frames are gone.
        free_memory()
        recoveries += 1
        unit, micro, accum, _ = shrink
        t = cfg.training
        resume_ckpt = rundir.last_checkpoint(rd)
        from_step = int(resume_ckpt.name.rsplit("-", 1)[1]) if resume_ckpt is not None else 0
        emit(OomRecovered(step=seen["step"], resumed_from_step=from_step, unit=unit,
                          old_micro_batch=t.max_tokens_per_batch if unit == "tokens" else t.batch_size,
                          new_micro_batch=micro, old_gradient_accumulation=t.gradient_accumulation,
                          new_gradient_accumulation=accum, attempt=recoveries, error=error))
        cfg = healed_config(cfg, unit, micro, accum, seen["max_steps"])
        _save_config(cfg, rd)


def healed_config(cfg, unit: str, micro: int, accum: int, max_steps: int):
    """A copy of ``cfg`` with the smaller micro-batch, the longer accumulation and the run's step count pinned."""
    cfg = copy.deepcopy(cfg)
    if unit == "tokens":
        cfg.training.max_tokens_per_batch = micro
    else:
        cfg.training.batch_size = micro
    cfg.training.gradient_accumulation = accum
    if cfg.training.max_steps == 0 and max_steps > 0:
        cfg.training.max_steps = max_steps  # the same schedule, whatever the new batches make of an epoch
    return cfg


def _save_config(cfg, rd: Path) -> None:
    from .config import save_config

    try:
        save_config(cfg, rd / rundir.CONFIG_FILE)
    except OSError:
        pass  # the run goes on; a resume would start with the old sizes and heal again
