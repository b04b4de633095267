"""The Trainer callback that turns transformers' logs into TuneDeck's typed events.

This module imports transformers at load: import it inside the function that trains (engine.train does),
so that importing the engine stays cheap.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

from . import rundir
from .devicemon import sample as device_sample
from .distributed import any_rank, world
from .events import CheckpointSaved, EvalLogged, Event, RunStarted, StepLogged
from .throughput import cuda_peak_flops, model_flops_utilization


class EventCallback(TrainerCallback):
    """Turns Trainer logs into typed events (TRL-style ``on_log``), and stop/save requests into Trainer control."""

    def __init__(self, emit: Callable[[Event], None], stop: threading.Event | None, start_event: Callable[[Any], RunStarted],
                 checkpoints_dir: Path, device: str, save_now: threading.Event | None = None, total_params: int = 0):
        self.emit = emit
        self.total_params = total_params
        self.world = world()
        peak = cuda_peak_flops(device)
        self.peak_flops = peak * self.world.world_size if peak else peak  # tokens/s is summed over the ranks
        self.stop = stop if stop is not None else threading.Event()
        self.save_now = save_now
        self.run_dir = checkpoints_dir.parent
        self.start_event = start_event
        self.checkpoints_dir = checkpoints_dir
        self.device = device
        self.stopped = False
        self.nan_step: int | None = None
        self.last_loss: float | None = None
        self._t0 = time.time()
        self._step0 = 0
        self._last_t = self._t0
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = self._last_t = time.time()
        self._step0 = state.global_step
        self._last_tokens = state.num_input_tokens_seen or 0
        self.emit(self.start_event(state))
        return control

    def on_step_end(self, args, state, control, **kw):
        # Requests come from this process (events) or any other one (files in the run directory, read by
        # rank 0); under several processes every rank learns them at this step (engine.distributed.any_rank).
        main = self.world.is_main
        save = (self.save_now is not None and self.save_now.is_set()) or (main and rundir.take_request(self.run_dir, rundir.SAVE_REQUEST))
        stop = (main and rundir.take_request(self.run_dir, rundir.STOP_REQUEST)) or self.stop.is_set()
        if self.world.distributed:
            save, stop = any_rank(save, stop)
        if save:
            if self.save_now is not None:
                self.save_now.clear()
            control.should_save = True
        if stop:
            self.stop.set()
        if self.stop.is_set() and not self.stopped:
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        now = time.time()
        step = state.global_step
        if "loss" in logs:
            loss = float(logs["loss"])
            elapsed = now - self._t0
            done = step - self._step0
            eta = (state.max_steps - step) * elapsed / done if done > 0 else None
            tokens = state.num_input_tokens_seen or 0
            dt = now - self._last_t
            tps = (tokens - self._last_tokens) / dt if dt > 0 and tokens else None
            self._last_t, self._last_tokens = now, tokens
            mfu = model_flops_utilization(self.total_params, tps, self.peak_flops)
            self.emit(StepLogged(
                step=step, max_steps=state.max_steps, epoch=round(float(state.epoch or 0), 4), loss=loss,
                learning_rate=float(logs.get("learning_rate", 0.0)),
                grad_norm=_float_or_none(logs.get("grad_norm")),
                tokens_per_second=round(tps, 2) if tps else None, tokens_seen=int(tokens),
                elapsed=round(elapsed, 3), eta=round(eta, 1) if eta is not None else None,
                memory_mb=_memory_mb(self.device), mfu=round(mfu, 4) if mfu is not None else None,
                **device_sample(self.device),  # engine.devicemon: memory (and CUDA utilisation) now
            ))
            grad_norm = _float_or_none(logs.get("grad_norm"))
            if not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(grad_norm)):
                self.nan_step = step
                control.should_training_stop = True
                control.should_save = False
            else:
                self.last_loss = loss
        if "eval_loss" in logs:
            ev = float(logs["eval_loss"])
            qa = "eval_f1" in logs  # extractive QA: EM/F1 instead of perplexity
            self.emit(EvalLogged(step=step, eval_loss=ev, perplexity=None if qa else _perplexity(ev),
                                 epoch=_float_or_none(state.epoch), exact_match=_float_or_none(logs.get("eval_exact_match")),
                                 f1=_float_or_none(logs.get("eval_f1"))))
        return control

    def on_save(self, args, state, control, **kw):
        path = self.checkpoints_dir / f"checkpoint-{state.global_step}"
        self.emit(CheckpointSaved(step=state.global_step, path=str(path), stopping=self.stopped))
        return control


def _float_or_none(x) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def _perplexity(loss: float) -> float | None:
    try:
        return math.exp(loss) if loss < 50 else None
    except OverflowError:
        return None


def _memory_mb(device: str) -> float | None:
    try:
        if device == "cuda":
            import torch

            return round(torch.cuda.max_memory_allocated() / 2**20, 1)
        import psutil

        return round(psutil.Process().memory_info().rss / 2**20, 1)
    except Exception:
        return None
