"""Typed training events, past-tense named, and their JSON Lines record.

A run reports everything it does as events: to a subscriber callable (the TUI
posts them as Textual messages, the CLI draws a progress bar) and to
``metrics.jsonl`` in the run directory, one JSON object per line with the
event's name under ``"event"`` and its fields at top level::

    {"event": "step", "time": 1732440000.1, "step": 12, "loss": 1.83, "learning_rate": 0.0002, ...}

:func:`read_events` turns such a file back into events, so any later viewer
(runs screen, attach, charts) rebuilds the same history.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator


@dataclass
class Event:
    """Base class: every event has a wall-clock ``time``."""

    name: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.name, **dataclasses.asdict(self)}


@dataclass
class RunStarted(Event):
    """Training is about to take its first step."""

    name: ClassVar[str] = "started"
    run_dir: str
    config: dict[str, Any]
    device: str
    trainable_params: int
    total_params: int
    train_samples: int
    val_samples: int
    max_steps: int
    epochs: float
    batching: str = "padded"
    truncated_samples: int = 0
    dropped_samples: int = 0
    resumed_from_step: int = 0
    frozen_weights: str = ""  # how the frozen base computes, and why (engine.dequant.TrainingPath.describe)
    world_size: int = 1  # training processes (torchrun ranks)
    devices: list[str] = field(default_factory=list)  # each rank's device, in rank order


@dataclass
class StepLogged(Event):
    """One logged optimizer step."""

    name: ClassVar[str] = "step"
    step: int
    max_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    tokens_seen: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    memory_mb: float | None = None
    mfu: float | None = None  # model FLOPs utilisation, 0..1, CUDA runs on a known GPU only (engine.throughput.model_flops_utilization)
    # The device monitor (engine.devicemon.sample), MiB: CUDA memory and utilisation (%), or the process's RSS on CPU.
    device: str | None = None  # "cuda:0" | "cpu"
    mem_allocated_mb: float | None = None
    mem_reserved_mb: float | None = None
    mem_peak_mb: float | None = None
    mem_total_mb: float | None = None
    gpu_util: float | None = None  # torch.cuda.utilization(), where pynvml is installed
    rss_mb: float | None = None
    rss_peak_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for key in DEVICE_FIELDS:  # only what this device has
            if out[key] is None:
                del out[key]
        return out


DEVICE_FIELDS = ("device", "mem_allocated_mb", "mem_reserved_mb", "mem_peak_mb", "mem_total_mb", "gpu_util",
                 "rss_mb", "rss_peak_mb")


@dataclass
class EvalLogged(Event):
    """Loss on the validation split."""

    name: ClassVar[str] = "eval"
    step: int
    eval_loss: float
    perplexity: float | None = None
    epoch: float | None = None
    exact_match: float | None = None  # extractive QA, 0..100
    f1: float | None = None  # extractive QA, 0..100; classification: macro F1, 0..1
    accuracy: float | None = None  # classification, 0..1

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for key in ("exact_match", "f1", "accuracy"):  # a causal-LM eval line reads as it always did
            if out[key] is None:
                del out[key]
        return out


@dataclass
class CheckpointSaved(Event):
    name: ClassVar[str] = "checkpoint"
    step: int
    path: str
    stopping: bool = False  # the checkpoint a stop saves: the RunStopped that follows names it (one message, not two)


@dataclass
class RunFinished(Event):
    name: ClassVar[str] = "finished"
    step: int
    adapter_path: str
    elapsed: float
    final_loss: float | None = None


@dataclass
class RunStopped(Event):
    """Stopped on request; a checkpoint was saved first."""

    name: ClassVar[str] = "stopped"
    step: int
    checkpoint: str | None = None
    elapsed: float = 0.0


@dataclass
class RunFailed(Event):
    """An error ended the run; ``hint`` says what to do about it in plain words."""

    name: ClassVar[str] = "failed"
    error: str
    hint: str = ""
    step: int = 0
    checkpoint: str | None = None
    user_error: bool = False  # bad config/data/model name (CLI exit code 2) rather than a crash


@dataclass
class OomRecovered(Event):
    """A step ran out of device memory; training goes on from the last checkpoint with micro-batches half as
    big and gradient accumulation twice as long: the same effective batch and learning-rate schedule (engine.oom)."""

    name: ClassVar[str] = "oom_recovered"
    step: int  # the last step logged before memory ran out
    resumed_from_step: int  # the checkpoint training goes on from (0: the start)
    unit: str  # what a micro-batch counts: "samples" (training.batch_size) or "tokens" (training.max_tokens_per_batch)
    old_micro_batch: int
    new_micro_batch: int
    old_gradient_accumulation: int
    new_gradient_accumulation: int
    attempt: int = 1  # 1..engine.oom.MAX_RECOVERIES
    error: str = ""


@dataclass
class MessageLogged(Event):
    """A line for the log pane (loading the model, preparing data, ...)."""

    name: ClassVar[str] = "message"
    text: str
    level: str = "info"  # info | warning | error


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (RunStarted, StepLogged, EvalLogged, CheckpointSaved, RunFinished, RunStopped, RunFailed, MessageLogged,
                OomRecovered)
}
TERMINAL_EVENTS = (RunFinished, RunStopped, RunFailed)


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """The event a metrics.jsonl line describes, or None for unknown names."""
    cls = EVENT_TYPES.get(data.get("event", ""))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None


def read_events(path: str | Path) -> Iterator[Event]:
    """Events from a metrics.jsonl file; a torn last line (crash mid-write) is skipped."""
    p = Path(path)
    if not p.exists():
        return
    with p.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                event = event_from_dict(json.loads(line))
            except ValueError:
                continue
            if event is not None:
                yield event


class MetricsWriter:
    """Appends events to metrics.jsonl, one flushed line each (thread-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        line = json.dumps(_finite(event.to_dict()), default=_json_default, allow_nan=False)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _finite(obj: Any) -> Any:
    """NaN and infinities become null, so every line is strict JSON (jq, JSON.parse)."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


Subscriber = Callable[[Event], None]


def fan_out(subscribers: Iterable[Subscriber | None]) -> Subscriber:
    """One callable that hands each event to every subscriber; a broken subscriber never stops training."""
    subs = [s for s in subscribers if s is not None]

    def emit(event: Event) -> None:
        for s in subs:
            try:
                s(event)
            except Exception:  # a viewer's bug must not kill the run
                pass

    return emit
