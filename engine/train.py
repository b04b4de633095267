"""A training run: the recipe, read top to bottom (setup, data, model, trainer, fit, save).

The one entry point is :func:`train`; it never raises. Whatever happens is
reported as typed events (:mod:`engine.events`) to ``on_event`` and to
``metrics.jsonl``, and the run directory's ``status.json`` says how it ended::

    result = train(cfg, on_event=print, stop=threading.Event())
    result.status      # "finished" | "stopped" | "failed"
    result.run_dir     # runs/20261124-093000-smollm2-tunedeck_qa/

What a task trains is behind :func:`engine.tasks.get_task` (``causal_lm``: :mod:`engine.tasks.causal_lm`,
with data preparation in :mod:`engine.prepare`, batching and the loss in :mod:`engine.trainer`, the
Trainer callback in :mod:`engine.callback`); why a run failed is worded by :mod:`engine.failures`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import rundir
from .config import Config, save_config
from .events import Event, RunFailed, RunFinished, RunStarted, RunStopped, StepLogged, fan_out


@dataclass
class RunResult:
    run_dir: Path
    status: str  # finished | stopped | failed (| refused: on another rank, when rank 0 refused the run)
    last_event: Event | None = None
    claimed: bool = True  # False: refused before the run folder was made or claimed (nothing was written there)


def run_name(cfg: Config) -> str:
    if cfg.output.name:
        return cfg.output.name
    model = Path(cfg.model.name).stem if cfg.model.name else "model"
    data = Path(cfg.data.path).stem if cfg.data.path else "data"
    if cfg.data.datasets:  # several datasets: the first one's name and how many
        data = f"{Path(str(cfg.data.datasets[0]['path'])).stem}-mix{len(cfg.data.datasets)}"
    return f"{model}-{data}"


def _prepare(cfg: Config, emit) -> tuple:
    """Every config and data check (device, tokenizer, tokenised data), before the run folder is touched."""
    from .tasks import get_task
    from .trackers import check_installed

    check_installed(cfg)  # training.report_to: a tracker that is not installed is refused here
    return get_task(cfg.task).prepare(cfg, emit)


class _StepTracker:
    """The last logged step, so that a crash reports where it happened."""

    def __init__(self) -> None:
        self.step = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepLogged):
            self.step = event.step
        elif isinstance(event, RunStarted):
            self.step = event.resumed_from_step


def train(cfg: Config | None, *, run_dir: str | Path | None = None, on_event: Callable[[Event], None] | None = None,
          stop: threading.Event | None = None, resume: str | Path | None = None,
          save_now: threading.Event | None = None) -> RunResult:
    """Run one fine-tuning job end to end. Never raises; see the module docstring."""
    import transformers

    from . import distributed, runsafety
    from .events import MetricsWriter
    from .failures import early_failure

    transformers.logging.set_verbosity_error()
    rank = distributed.world()  # several processes (torchrun): rank 0 owns the run folder, the others write nothing
    if rank.distributed:
        distributed.init()
    claim = distributed.open_and_share if rank.distributed else runsafety.open_and_claim

    # 1. setup and data: nothing is written to the run folder until config and data are known good and the folder is ours
    early: list[Event] = []  # events from before the run folder may be written; replayed into metrics.jsonl
    early_emit = fan_out([early.append, on_event])
    try:
        cfg, rd, resume_ckpt, lock, prep = claim(cfg, run_dir, resume, early_emit, _prepare, run_name)
    except BaseException as e:  # noqa: BLE001 - every failure becomes an event
        if isinstance(e, KeyboardInterrupt):
            raise
        if isinstance(e, distributed.MainRankFailed):
            return RunResult(Path(run_dir or resume or "."), "refused", None, claimed=False)  # rank 0 says why
        event = early_failure(e)
        early_emit(event)
        return RunResult(Path(run_dir or resume or "."), "failed", event, claimed=False)

    if not rank.is_main:  # trains alongside rank 0, which writes the run folder and reports
        return RunResult(rd, distributed.fit_other_rank(cfg, rd, resume_ckpt, on_event or (lambda e: None), stop,
                                                         save_now, prep), None, claimed=False)
    # 2. the run folder: its config, status and metrics
    writer = MetricsWriter(rd / rundir.METRICS_FILE)
    for event in early:
        writer(event)
    tracker = _StepTracker()
    emit = fan_out([tracker, writer, on_event])
    try:
        save_config(cfg, rd / rundir.CONFIG_FILE)
        rundir.write_status(rd, "running", step=0)
        for stale in (rundir.STOP_REQUEST, rundir.SAVE_REQUEST):
            rundir.take_request(rd, stale)
        # 3. model, trainer, fit and save: the task's recipe
        return _fit_and_report(cfg, rd, resume_ckpt, emit, stop, save_now, prep, tracker)
    finally:
        writer.close()
        lock.release()


def _fit_and_report(cfg: Config, rd: Path, resume_ckpt, emit, stop, save_now, prep, tracker: _StepTracker) -> RunResult:
    """Fit, then the run's last event and status: finished, stopped (with its checkpoint) or failed."""
    from . import runsafety
    from .failures import NaNLoss, run_failure
    from .oom import fit_healing
    from .tasks import get_task

    t0 = time.time()
    step = 0
    try:
        def fit(c, ckpt, emit_):
            return get_task(c.task).fit(c, rd, ckpt, emit_, stop, save_now, prep)

        result = fit_healing(fit, cfg, rd, resume_ckpt, emit, prep[0])  # out of memory: smaller micro-batches (engine.oom)
        step = result.final_step
        if result.nan_step is not None:
            raise NaNLoss(result.nan_step, rundir.last_checkpoint(rd))
        if result.stopped:
            ckpt = rundir.last_checkpoint(rd)
            event: Event = RunStopped(step=step, checkpoint=str(ckpt) if ckpt else None, elapsed=round(time.time() - t0, 2))
            rundir.write_status(rd, "stopped", step=step, checkpoint=str(ckpt) if ckpt else None)
            emit(event)
            return RunResult(rd, "stopped", event)
        event = RunFinished(step=step, adapter_path=result.output_path or str(rd / rundir.ADAPTER_DIR),
                            elapsed=round(time.time() - t0, 2), final_loss=result.last_loss)
        rundir.write_status(rd, "finished", step=step)
        emit(event)
        return RunResult(rd, "finished", event)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an event
        if isinstance(exc, KeyboardInterrupt):
            raise
        from .errors import TuneDeckError

        ckpt = rundir.last_checkpoint(rd)
        message, hint, step = run_failure(exc, rd, max(step, tracker.step))
        event = RunFailed(error=message[:500], hint=hint, step=step, checkpoint=str(ckpt) if ckpt else None,
                          user_error=isinstance(exc, TuneDeckError))
        runsafety.write_failed_status(rd, step=step, error=event.error, hint=hint)
        emit(event)
        return RunResult(rd, "failed", event)

