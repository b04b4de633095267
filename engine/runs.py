"""Past runs: one summary per run directory, config diffs, deletion.

Everything is rebuilt from the files a run leaves behind (``config.yaml``,
``status.json``, ``metrics.jsonl``), so the runs screen, ``tunedeck runs`` and
any other viewer agree::

    for s in list_summaries("runs"):
        print(s.name, s.status, s.steps, s.final_loss)

A run whose status says "running" but whose process is gone (power cut,
``kill -9``) is reported as ``"killed"``; resume it with ``tunedeck train --resume``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import rundir
from .config import Config
from .devicemon import peak_mb
from .errors import RunError, TuneDeckError
from .events import TERMINAL_EVENTS, EvalLogged, OomRecovered, RunFinished, RunStarted, StepLogged, read_events
from .runlock import pid_alive, record_killed


@dataclass
class RunSummary:
    """What a list of runs shows about one run."""

    name: str
    path: Path
    status: str  # running | finished | failed | stopped | killed | unknown
    model: str
    dataset: str
    steps: int
    max_steps: int
    final_loss: float | None
    best_eval_loss: float | None
    duration_s: float
    started: datetime | None
    pid: int | None
    error: str = ""
    hint: str = ""
    has_adapter: bool = False
    checkpoints: list[str] = field(default_factory=list)
    config: Config | None = None
    exact_match: float | None = None  # extractive QA: the last eval's EM and F1 (0..100)
    f1: float | None = None  # extractive QA: F1 (0..100); classification: macro F1 (0..1)
    accuracy: float | None = None  # classification (0..1)
    peak_memory_mb: float | None = None  # the device monitor's peak over the run (CUDA peak allocated, or peak RSS)
    peak_device: str = ""  # cuda:0 | cpu (empty for runs from before the device monitor)
    oom_recoveries: list[OomRecovered] = field(default_factory=list)  # engine.oom, in order

    @property
    def lineage(self) -> list[str]:
        """Training in stages: the runs this one started from, oldest first, this run last (engine.tasks.stages)."""
        from .tasks.stages import lineage

        return lineage(self.path)

    @property
    def model_short(self) -> str:
        return _short(self.model)

    @property
    def dataset_short(self) -> str:
        return " + ".join(_short(d) for d in self.dataset.split(" + "))  # several datasets: each


def _short(name: str) -> str:
    if not name:
        return ""
    p = Path(name)
    return p.name if (name.startswith((".", "/", "~")) or p.suffix or os.sep in name and p.exists()) else name


def _load_cfg(run_dir: Path) -> tuple[Config | None, dict[str, Any]]:
    from .config import config_from_dict, read_yaml

    try:
        raw = read_yaml(run_dir / rundir.CONFIG_FILE)
    except TuneDeckError:
        return None, {}
    try:
        return config_from_dict(raw), raw
    except TuneDeckError:
        return None, raw


def _started_from_name(name: str) -> datetime | None:
    m = re.match(r"(\d{8}-\d{6})", name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
    except ValueError:
        return None


@dataclass
class _Replay:
    steps: int = 0
    max_steps: int = 0
    final_loss: float | None = None
    best_eval: float | None = None
    first_time: float | None = None
    duration: float = 0.0
    qa_scores: tuple[float | None, float | None, float | None] = (None, None, None)  # the last eval's EM, F1, accuracy
    peak: tuple[float | None, str] = (None, "")  # (MiB, device) the device monitor's peak
    oom: list = field(default_factory=list)


def _replay(rd: Path, max_steps: int, running: bool) -> _Replay:
    """What a run's metrics.jsonl says: steps, losses, when it started and how long its sessions trained."""
    steps = 0
    final_loss: float | None = None
    best_eval: float | None = None
    qa_scores: tuple[float | None, float | None, float | None] = (None, None, None)
    first_time: float | None = None
    duration = 0.0
    session_start: float | None = None
    last_time: float | None = None
    finished_loss: float | None = None
    notes = _Replay()  # the device monitor's peak and the OOM recoveries
    for ev in read_events(rd / rundir.METRICS_FILE):
        _device_notes(ev, notes)
        if first_time is None:
            first_time = ev.time
        if session_start is None:
            session_start = ev.time
        last_time = ev.time
        if isinstance(ev, RunStarted):
            max_steps = ev.max_steps or max_steps
            finished_loss = None
        elif isinstance(ev, StepLogged):
            steps = max(steps, ev.step)
            max_steps = ev.max_steps or max_steps
            if ev.loss is not None:
                final_loss = ev.loss
        elif isinstance(ev, EvalLogged):
            if ev.eval_loss is not None and (best_eval is None or ev.eval_loss < best_eval):
                best_eval = ev.eval_loss
            if ev.f1 is not None:
                qa_scores = (ev.exact_match, ev.f1, ev.accuracy)
        if isinstance(ev, RunFinished) and ev.final_loss is not None:
            finished_loss = ev.final_loss
        if isinstance(ev, TERMINAL_EVENTS):
            steps = max(steps, getattr(ev, "step", 0) or 0)
            duration += ev.time - session_start
            session_start = None
    if session_start is not None and last_time is not None:  # still running, or killed mid-session
        end = last_time
        if running:
            end = max(end, time.time())
        duration += end - session_start
    if finished_loss is not None:
        final_loss = finished_loss
    return _Replay(steps, max_steps, final_loss, best_eval, first_time, duration, qa_scores, notes.peak, notes.oom)


def _device_notes(ev, notes: _Replay) -> None:
    if isinstance(ev, StepLogged):
        mb = peak_mb(ev)
        if mb is not None and (notes.peak[0] is None or mb > notes.peak[0]):
            notes.peak = (mb, ev.device or "")
    elif isinstance(ev, OomRecovered):
        notes.oom.append(ev)


def summarize_run(run_dir: str | os.PathLike) -> RunSummary:
    """Rebuild a run's summary from config.yaml, status.json and metrics.jsonl."""
    rd = Path(run_dir)
    if not (rd / rundir.CONFIG_FILE).exists():
        raise RunError(f"{rd}: not a run folder (no {rundir.CONFIG_FILE})")
    cfg, raw = _load_cfg(rd)
    status = rundir.read_status(rd)
    state = status.get("status", "unknown")
    pid = status.get("pid") if isinstance(status.get("pid"), int) else None
    if state == "running" and not pid_alive(pid):
        record_killed(rd)  # the first process to see the dead pid writes it down
        state = "killed"

    model = cfg.model.name if cfg else str((raw.get("model") or {}).get("name", ""))
    dataset = cfg.data.path if cfg else str((raw.get("data") or {}).get("path", ""))
    if cfg and cfg.data.datasets:  # several datasets: their paths
        dataset = " + ".join(str(e.get("path")) for e in cfg.data.datasets)
    max_steps = cfg.training.max_steps if cfg else 0

    replay = _replay(rd, max_steps, running=state == "running")
    steps, max_steps, final_loss, best_eval, first_time, duration = (
        replay.steps, replay.max_steps, replay.final_loss, replay.best_eval, replay.first_time, replay.duration)
    steps = max(steps, int(status.get("step") or 0)) if isinstance(status.get("step"), int) else steps

    started = datetime.fromtimestamp(first_time) if first_time is not None else _started_from_name(rd.name)
    if started is None:
        try:
            started = datetime.fromtimestamp((rd / rundir.CONFIG_FILE).stat().st_mtime)
        except OSError:
            started = None
    adapter = rd / rundir.ADAPTER_DIR
    has_adapter = (adapter / "adapter_config.json").exists()
    return RunSummary(
        name=rd.name, path=rd, status=state, model=model, dataset=dataset, steps=steps, max_steps=max_steps,
        final_loss=final_loss, best_eval_loss=best_eval, duration_s=round(max(0.0, duration), 3), started=started,
        pid=pid, error=str(status.get("error") or ""), hint=str(status.get("hint") or ""), has_adapter=has_adapter,
        checkpoints=[p.name for p in rundir.checkpoints(rd)], config=cfg, exact_match=replay.qa_scores[0], f1=replay.qa_scores[1],
        peak_memory_mb=replay.peak[0], peak_device=replay.peak[1], oom_recoveries=replay.oom,
        accuracy=replay.qa_scores[2],
    )


def no_adapter_message(rd: Path) -> str:
    """One line: why run ``rd`` has no adapter and what to do about it."""
    status = rundir.read_status(rd)
    state = status.get("status", "unknown")
    ckpt = rundir.last_checkpoint(rd)
    if state == "running":
        if pid_alive(status.get("pid")):
            extra = f"; or try its last checkpoint with --checkpoint {ckpt.name}" if ckpt else ""
            return f"{rd.name}: still training, no final adapter yet; wait for it to finish{extra}"
    if ckpt is not None:
        return (f"{rd.name}: no adapter yet (run {state} at {ckpt.name}); finish it with "
                f"`tunedeck train --resume {rd}`, or use --checkpoint {ckpt.name}")
    return (f"{rd.name}: no adapter and no checkpoint (run {state}); train again with "
            f"`tunedeck train --config {rd / rundir.CONFIG_FILE}` (or `tunedeck train --resume {rd}` once it has a checkpoint)")


def list_summaries(runs_dir: str | os.PathLike = "runs") -> list[RunSummary]:
    """Summaries of every run under ``runs_dir``, newest first; unreadable runs are skipped."""
    out = []
    for info in rundir.list_runs(runs_dir):
        try:
            out.append(summarize_run(info.path))
        except (TuneDeckError, OSError):
            continue
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not prefix:  # sections only; dict-valued fields (data.columns) stay whole
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_diff(a: Config, b: Config) -> list[tuple[str, Any, Any]]:
    """The dotted keys whose values differ, in config order: [(key, a_value, b_value), ...]."""
    fa, fb = _flatten(a.to_dict()), _flatten(b.to_dict())
    keys = list(fa) + [k for k in fb if k not in fa]
    return [(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def delete_run(run_dir: str | os.PathLike) -> None:
    """Remove a run folder; refuses a run whose training process is still alive."""
    rd = Path(run_dir)
    if not (rd / rundir.CONFIG_FILE).exists():
        raise RunError(f"{rd}: not a run folder (no {rundir.CONFIG_FILE}); nothing was deleted")
    status = rundir.read_status(rd)
    if status.get("status") == "running" and pid_alive(status.get("pid")):
        raise RunError(f"{rd.name}: still training (pid {status.get('pid')}); stop it first, then delete")
    shutil.rmtree(rd)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def config_table(configs: list[Config]) -> list[tuple[str, list[Any]]]:
    """The dotted keys whose values are not the same in every config, with each config's value, in config order."""
    flat = [_flatten(c.to_dict()) for c in configs]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    rows = []
    for k in keys:
        values = [f.get(k) for f in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append((k, values))
    return rows
