"""One run's live view: charts, progress with ETA, a status line and a log, fed with engine events.

The Train screen feeds it the events of the run it trains; the run view
(Runs screen, ``tunedeck attach``) feeds it the events it reads from a run's
``metrics.jsonl``. Both draw the same picture from the same events::

    monitor.handle_event(StepLogged(...))   # records only: cheap, call it per event
    monitor.redraw_if_dirty()               # draws; call it from a timer (a burst costs one repaint)
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, RichLog, Static

from engine.events import (
    CheckpointSaved,
    EvalLogged,
    Event,
    MessageLogged,
    OomRecovered,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
)

from ..text import hms, stopped_line
from .charts import TrainingCharts

# While a run streams, chart frames are spaced so that drawing them takes at most CHART_CPU_SHARE of the UI
# thread's time, and never less than CHART_MIN_INTERVAL_S nor more than CHART_MAX_INTERVAL_S apart.
CHART_CPU_SHARE = 0.02
CHART_MIN_INTERVAL_S = 1.0
CHART_MAX_INTERVAL_S = 5.0


def describe(e: Event) -> tuple[str, str] | None:
    """The log line (text, level) for an event, or None for events the log does not show (steps)."""
    if isinstance(e, EvalLogged):
        from .qa_charts import eval_line

        ppl = f", perplexity {e.perplexity:.2f}" if e.perplexity else ""
        return f"eval at step {e.step}: loss {e.eval_loss:.4f}{ppl}{eval_line(e) or ''}", "info"
    if isinstance(e, RunStarted):
        resumed = f", resuming at step {e.resumed_from_step}" if e.resumed_from_step else ""
        return (f"Run {e.run_dir} on {e.device}: {e.train_samples} samples ({e.val_samples} validation), "
                f"{e.max_steps} steps, {e.trainable_params:,} trainable of {e.total_params:,} parameters{resumed}", "info")
    if isinstance(e, MessageLogged):
        return e.text, e.level
    if isinstance(e, OomRecovered):
        from ..device_line import oom_words

        return oom_words(e).capitalize(), "warning"
    if isinstance(e, CheckpointSaved):
        if e.stopping:  # the stop line that follows names it: one message
            return None
        return f"Checkpoint saved at step {e.step}: {e.path}", "info"
    if isinstance(e, RunFinished):
        loss = f", final loss {e.final_loss:.4f}" if e.final_loss is not None else ""
        return f"Finished at step {e.step} in {hms(e.elapsed)}{loss}. Adapter: {e.adapter_path}", "info"
    if isinstance(e, RunStopped):
        return stopped_line(e.step, e.checkpoint), "warning"
    if isinstance(e, RunFailed):
        return f"Failed: {e.error}" + (f"\nHint: {e.hint}" if e.hint else ""), "error"
    return None


class RunMonitor(Vertical):
    """Charts, progress row, status line and log for one run."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.started: RunStarted | None = None
        self.last_step: StepLogged | None = None
        self.outcome: Event | None = None  # RunFinished / RunStopped / RunFailed
        self.waiting = False  # a run is starting: "loading…" until its first event
        self._dirty = self._charts_dirty = False
        self._charts_drawn = 0.0  # time.monotonic() of the last chart frame

    def compose(self) -> ComposeResult:
        yield TrainingCharts(id="charts")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False, show_percentage=True)
            yield Static("", id="progress-text")
        yield Static("", id="status-line")
        yield Static("", id="device-line")
        yield RichLog(id="log", wrap=True, markup=False, max_lines=5000)

    def on_mount(self) -> None:
        self.show_progress()

    @property
    def charts(self) -> TrainingCharts:
        return self.query_one(TrainingCharts)

    def reset(self) -> None:
        self.started = self.last_step = self.outcome = None
        self.charts.reset()
        self.query_one("#log", RichLog).clear()
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#status-line", Static).update("")
        self.query_one("#device-line", Static).update("")
        self.show_progress()

    def handle_event(self, e: Event) -> None:
        """Record one event: history and log now, charts and progress at the next redraw."""
        line = describe(e)
        if line is not None:
            for i, part in enumerate(line[0].split("\n")):
                self.log_line(part, line[1] if i == 0 else "warning")
        if isinstance(e, StepLogged):
            self.charts.history.add_step(e)
            self.last_step = e
        elif isinstance(e, (EvalLogged, OomRecovered)):
            self.charts.history.record(e)
        elif isinstance(e, RunStarted):
            self.started = e
            if e.truncated_samples or e.dropped_samples:
                self.log_line(f"{e.truncated_samples} samples truncated, {e.dropped_samples} dropped (nothing to train)",
                              "warning")
        elif isinstance(e, (RunFinished, RunStopped, RunFailed)):
            self.outcome = e
        self._dirty = self._charts_dirty = True

    def redraw_if_dirty(self, force: bool = False) -> None:
        """Draw what changed: the progress and status lines at once, the charts at most every
        ``chart_interval()`` seconds while a run streams (``force``, or the run's end, draws them now).

        A plotext chart frame costs tens of milliseconds of the UI thread, which shares the interpreter
        (and, on small machines, the cores) with training: drawing every step of a fast run made training
        inside the app 0.72x as fast as headless on 2 cores (bench/ui.py). Frames spaced by their own cost
        keep the curves live and the app's share of the machine small."""
        if self._dirty or force:
            self._dirty = False
            self.show_progress()
        now = time.monotonic()
        if self._charts_dirty and (force or self.outcome is not None or now - self._charts_drawn >= self.chart_interval()):
            self._charts_dirty = False
            self._charts_drawn = now
            self.charts.redraw()

    def chart_interval(self) -> float:
        """Seconds between chart frames while a run streams: the last frame's cost over CHART_CPU_SHARE."""
        return min(CHART_MAX_INTERVAL_S, max(CHART_MIN_INTERVAL_S, self.charts.frame_cost / CHART_CPU_SHARE))

    def show_progress(self) -> None:
        # The text widgets have fixed sizes (app.tcss: one line, 1fr wide), so no update needs a layout pass:
        # a layout pass re-renders the whole screen, charts included, and training pays for it on small machines.
        e = self.last_step
        bar = self.query_one("#progress", ProgressBar)
        text = self.query_one("#progress-text", Static)
        status = self.query_one("#status-line", Static)
        from ..device_line import device_line

        self.query_one("#device-line", Static).update(device_line(e, self.started.device if self.started else ""),
                                                      layout=False)
        if e is None:
            total = self.started.max_steps if self.started else None
            bar.update(total=total, progress=self.started.resumed_from_step if self.started else 0)
            text.update(f"step 0/{total}" if total else ("loading…" if self.waiting else "no run yet"), layout=False)
            return
        bar.update(total=max(e.max_steps, 1), progress=e.step)
        text.update(f"step {e.step}/{e.max_steps} · epoch {e.epoch:.2f} · {hms(e.elapsed)} · ETA {hms(e.eta)}", layout=False)
        parts = [f"loss {e.loss:.3f}" if e.loss is not None and e.loss == e.loss else "loss –"]
        h = self.charts.history
        if h.eval_loss:
            ev = h.eval_loss[-1]
            parts.append(f"eval {ev:.3f}" + (f" (ppl {h.eval_ppl[-1]:.2f})" if h.eval_ppl and h.eval_ppl[-1] else ""))
            from .qa_charts import qa_words

            if qa_words(h):
                parts.append(qa_words(h))
        parts.append(f"lr {e.learning_rate:.1e}")
        if e.tokens_per_second:
            parts.append(f"{e.tokens_per_second:,.0f} tok/s")
        mfu = getattr(e, "mfu", None)
        if mfu:
            parts.append(f"MFU {mfu:.0%}")
        status.update(" · ".join(parts), layout=False)

    def log_line(self, text: str, level: str = "info") -> None:
        style = {"warning": "yellow", "error": "bold red", "hint": "dim italic"}.get(level, "")
        self.query_one("#log", RichLog).write(Text(text, style=style))
