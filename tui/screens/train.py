"""Train screen: start and stop a run, live charts, progress with ETA, device status and a log.

The run happens in a Textual thread worker calling engine.train.train (torch
and transformers are imported there, never on the UI thread). The engine's
events reach this screen only as EngineEvent messages (post_message is
thread-safe); handling one only records it. Charts, progress and status are
redrawn by a 5 Hz timer when something new arrived, so a burst of fast steps
costs one repaint. Stop sets a threading.Event the engine polls between steps;
it saves a checkpoint before it ends the run.

Keys: s start, x stop (checkpoint, then stop), k checkpoint now, c switch the
side chart (learning rate / tokens/s). Ctrl+T starts from any screen.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from engine.events import (
    CheckpointSaved,
    Event,
    EvalLogged,
    MessageLogged,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
)

from ..messages import EngineEvent, TrainingEnded
from ..widgets.charts import TrainingCharts
from ..widgets.nav import NavTabs

REDRAW_HZ = 5


def hms(seconds: float | None) -> str:
    """Seconds as h:mm:ss ('-:--:--' when unknown)."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    s = int(max(0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TrainScreen(Screen):
    CSS_PATH = "train.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("k", "save_now", "Checkpoint"),
        Binding("c", "cycle_chart", "LR/tok/s"),
    ]

    def __init__(self):
        super().__init__()
        self.running = False
        self.stopping = False
        self.stop_event: threading.Event | None = None
        self.save_event: threading.Event | None = None
        self.started: RunStarted | None = None
        self.last_step: StepLogged | None = None
        self.run_dir: str | None = None
        self.outcome: Event | None = None  # the last run's RunFinished / RunStopped / RunFailed
        self.events: list[Event] = []  # every event of this screen's runs, in order
        self.notifications: list[tuple[str, str]] = []  # (severity, text): what was notified, for tests
        self._dirty = False

    def compose(self) -> ComposeResult:
        yield NavTabs("train")
        with Horizontal(id="train-bar"):
            yield Button("▶ Start", id="start", variant="success", compact=True, tooltip="s or Ctrl+T")
            yield Button("■ Stop", id="stop", variant="error", compact=True, disabled=True,
                         tooltip="x: save a checkpoint, then stop")
            yield Button("Checkpoint", id="savenow", compact=True, disabled=True, tooltip="k: save a checkpoint now")
            yield Label("", id="train-state")
        yield TrainingCharts(id="charts")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False, show_percentage=True)
            yield Static("", id="progress-text")
        yield Static("", id="status-line")
        yield RichLog(id="log", wrap=True, markup=False, max_lines=5000)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1 / REDRAW_HZ, self._redraw_if_dirty)
        self._update_controls()
        self._show_progress()
        self._log("Press s (or Ctrl+T anywhere) to train with the current config; x stops with a checkpoint.", "hint")
        if self.app.autostart:
            self.app.autostart = False
            self.call_after_refresh(self.action_start)

    def on_screen_resume(self) -> None:
        self._update_controls()

    # -- controls -------------------------------------------------------------------------------
    def _update_controls(self) -> None:
        invalid = self.app.state.invalid
        self.query_one("#start", Button).disabled = self.running or bool(invalid)
        self.query_one("#stop", Button).disabled = not self.running or self.stopping
        self.query_one("#savenow", Button).disabled = not self.running or self.stopping
        state = self.query_one("#train-state", Label)
        if self.running:
            state.update(Text("stopping: saving a checkpoint…" if self.stopping else "training…",
                              style="bold yellow" if self.stopping else "bold green"))
        elif invalid:
            path, msg = next(iter(invalid.items()))
            state.update(Text(f"config error: {path}: {msg} (fix on Config, F4)", style="bold red"))
        elif isinstance(self.outcome, RunFinished):
            state.update(Text(f"finished: {Path(self.run_dir or '').name}", style="green"))
        elif isinstance(self.outcome, RunStopped):
            state.update(Text(f"stopped at step {self.outcome.step}", style="yellow"))
        elif isinstance(self.outcome, RunFailed):
            state.update(Text(f"failed: {self.outcome.error}", style="bold red"))
        else:
            cfg = self.app.state.config
            steps = f"{cfg.training.max_steps} steps" if cfg.training.max_steps else f"{cfg.training.epochs:g} epoch(s)"
            state.update(Text(f"ready: {steps}, {cfg.model.quantization}", style="dim"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return None if (self.running or self.app.state.invalid) else True
        if action in ("stop", "save_now"):
            return None if (not self.running or self.stopping) else True
        return True

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        state = self.app.state
        if self.running or state.training:
            return  # one run at a time
        if state.invalid:
            path, msg = next(iter(state.invalid.items()))
            self._notify(f"{path}: {msg}. Fix it on the Config screen (F4).", "error")
            return
        self.running, self.stopping = True, False
        state.training = True
        self.stop_event, self.save_event = threading.Event(), threading.Event()
        self.started = self.last_step = self.outcome = None
        self.run_dir = None
        self.query_one(TrainingCharts).reset()
        self.query_one("#log", RichLog).clear()
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#status-line", Static).update("")
        self._show_progress()
        self._update_controls()
        run_dir, self.app.run_dir = self.app.run_dir, None  # --run-dir names the first run only
        self._log(f"Starting: {state.config.model.name} on {state.config.data.path}")
        self._train(copy.deepcopy(state.config), self.stop_event, self.save_event, run_dir)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if self.running and self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            self.stopping = True
            self._log("Stop requested: the run saves a checkpoint after this step, then ends.", "warning")
            self._update_controls()

    @on(Button.Pressed, "#savenow")
    def action_save_now(self) -> None:
        if self.running and not self.stopping and self.save_event is not None:
            self.save_event.set()
            self._log("Checkpoint requested: saved after this step.")

    def action_cycle_chart(self) -> None:
        self.query_one(TrainingCharts).cycle()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train", name="train")
    def _train(self, cfg, stop: threading.Event, save_now: threading.Event, run_dir: str | None) -> None:
        from engine.train import train  # torch and transformers load here, in the worker thread

        result = train(cfg, run_dir=run_dir, on_event=lambda e: self.post_message(EngineEvent(e)), stop=stop,
                       save_now=save_now)
        self.post_message(TrainingEnded(result))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """train() never raises; should something else break in the worker, say so and unlock Start."""
        if event.worker.group == "train" and event.state == WorkerState.ERROR and self.running:
            err = event.worker.error
            self._log(f"Training worker crashed: {type(err).__name__}: {err}", "error")
            self._notify(f"Training crashed: {type(err).__name__}: {err}", "error")
            self._ended()

    # -- engine events (UI thread) --------------------------------------------------------------
    def on_engine_event(self, msg: EngineEvent) -> None:
        self.handle_event(msg.event)

    def handle_event(self, e: Event) -> None:
        """Record one engine event: history and log now, charts and progress at the next redraw tick."""
        self.events.append(e)
        charts = self.query_one(TrainingCharts)
        if isinstance(e, StepLogged):
            charts.history.add_step(e)
            self.last_step = e
        elif isinstance(e, EvalLogged):
            charts.history.add_eval(e)
            ppl = f", perplexity {e.perplexity:.2f}" if e.perplexity else ""
            self._log(f"eval at step {e.step}: loss {e.eval_loss:.4f}{ppl}")
        elif isinstance(e, RunStarted):
            self.started = e
            self.run_dir = e.run_dir
            resumed = f", resuming at step {e.resumed_from_step}" if e.resumed_from_step else ""
            self._log(f"Run {e.run_dir} on {e.device}: {e.train_samples} samples ({e.val_samples} validation), "
                      f"{e.max_steps} steps, {e.trainable_params:,} trainable of {e.total_params:,} parameters{resumed}")
            if e.truncated_samples or e.dropped_samples:
                self._log(f"{e.truncated_samples} samples truncated, {e.dropped_samples} dropped (nothing to train)", "warning")
        elif isinstance(e, MessageLogged):
            self._log(e.text, e.level)
        elif isinstance(e, CheckpointSaved):
            self._log(f"Checkpoint saved at step {e.step}: {e.path}")
            self._notify(f"Checkpoint saved at step {e.step}", "information")
        elif isinstance(e, RunFinished):
            self.outcome = e
            loss = f", final loss {e.final_loss:.4f}" if e.final_loss is not None else ""
            self._log(f"Finished at step {e.step} in {hms(e.elapsed)}{loss}. Adapter: {e.adapter_path}")
            self._notify(f"Training finished{loss}. Run saved in {self.run_dir or e.adapter_path}", "information")
        elif isinstance(e, RunStopped):
            self.outcome = e
            self._log(f"Stopped at step {e.step}; checkpoint {e.checkpoint or 'none'}", "warning")
            self._notify(f"Training stopped at step {e.step}; checkpoint {e.checkpoint or 'none saved'}", "warning")
        elif isinstance(e, RunFailed):
            self.outcome = e
            self._log(f"Failed: {e.error}", "error")
            if e.hint:
                self._log(f"Hint: {e.hint}", "warning")
            self._notify(f"{e.error}" + (f"\nHint: {e.hint}" if e.hint else ""), "error")
        self._dirty = True

    def on_training_ended(self, msg: TrainingEnded) -> None:
        self._ended()

    def _ended(self) -> None:
        self.running = self.stopping = False
        self.app.state.training = False
        self._dirty = True
        self._redraw_if_dirty()
        self._update_controls()
        self.app.refresh_bindings()
        ended = getattr(self.app, "training_ended", None)
        if ended is not None:
            ended()

    # -- drawing --------------------------------------------------------------------------------
    def _redraw_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.query_one(TrainingCharts).redraw()
        self._show_progress()

    def _show_progress(self) -> None:
        e = self.last_step
        bar = self.query_one("#progress", ProgressBar)
        text = self.query_one("#progress-text", Static)
        status = self.query_one("#status-line", Static)
        if e is None:
            total = self.started.max_steps if self.started else None
            bar.update(total=total, progress=self.started.resumed_from_step if self.started else 0)
            text.update(f"step 0/{total}" if total else ("loading…" if self.running else "no run yet"))
            if self.started:
                status.update(f"device {self.started.device}")
            return
        bar.update(total=max(e.max_steps, 1), progress=e.step)
        text.update(f"step {e.step}/{e.max_steps} · epoch {e.epoch:.2f} · {hms(e.elapsed)} · ETA {hms(e.eta)}")
        parts = [f"loss {e.loss:.3f}" if e.loss is not None and e.loss == e.loss else "loss –"]
        h = self.query_one(TrainingCharts).history
        if h.eval_loss:
            parts.append(f"eval {h.eval_loss[-1]:.3f}")
        parts.append(f"lr {e.learning_rate:.1e}")
        if e.tokens_per_second:
            parts.append(f"{e.tokens_per_second:,.0f} tok/s")
        if self.started:
            parts.append(self.started.device)
        if e.memory_mb:
            parts.append(f"mem {e.memory_mb / 1024:.1f} GB")
        status.update(" · ".join(parts))

    def _log(self, text: str, level: str = "info") -> None:
        style = {"warning": "yellow", "error": "bold red", "hint": "dim italic"}.get(level, "")
        self.query_one("#log", RichLog).write(Text(text, style=style))

    def _notify(self, text: str, severity: str) -> None:
        self.notifications.append((severity, text))
        self.app.notify(text, severity=severity, timeout=10 if severity == "error" else 5)
