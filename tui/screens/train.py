"""Train screen: start and stop a run, live charts, progress with ETA, device status and a log.

The run happens in a Textual thread worker calling engine.train.train; its
events reach this screen only as EngineEvent messages (post_message is
thread-safe). Charts and progress redraw on a 4 Hz timer, so fast steps are
coalesced into one repaint. Stop sets a threading.Event the engine polls; it
saves a checkpoint before ending.
"""

from __future__ import annotations

import copy
import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, ProgressBar, RichLog, Static

from engine.events import (
    CheckpointSaved,
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


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(max(0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class TrainScreen(Screen):
    CSS_PATH = "train.tcss"
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("k", "save_now", "Checkpoint now"),
        Binding("c", "cycle_chart", "LR / tok/s"),
    ]

    def __init__(self):
        super().__init__()
        self.stop_event: threading.Event | None = None
        self.save_event: threading.Event | None = None
        self.running = False
        self.last_step: StepLogged | None = None
        self.started: RunStarted | None = None
        self.run_dir: str | None = None
        self.events: list = []  # full history of this screen's runs
        self._dirty = False
        self.notifications: list[tuple[str, str]] = []  # (severity, text), for tests and the log

    def compose(self) -> ComposeResult:
        yield NavTabs("train")
        with Horizontal(id="train-bar"):
            yield Button("Start", id="start", variant="success")
            yield Button("Stop", id="stop", variant="error", disabled=True)
            yield Button("Checkpoint", id="savenow", disabled=True)
            yield Label("", id="train-state")
        yield TrainingCharts(id="charts")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False, show_percentage=True)
            yield Static("", id="progress-text")
        yield Static("", id="status-line")
        yield RichLog(id="log", wrap=True, markup=False, max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(0.25, self._redraw_if_dirty)
        self._update_buttons()
        if self.app.autostart:
            self.app.autostart = False
            self.call_after_refresh(self.action_start)

    def on_screen_resume(self) -> None:
        self._update_buttons()

    # -- start / stop ---------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        invalid = self.app.state.invalid
        start = self.query_one("#start", Button)
        start.disabled = self.running or bool(invalid)
        self.query_one("#stop", Button).disabled = not self.running
        self.query_one("#savenow", Button).disabled = not self.running
        state = self.query_one("#train-state", Label)
        if self.running:
            state.update(Text(" training…", style="bold green"))
        elif invalid:
            path, msg = next(iter(invalid.items()))
            state.update(Text(f" config has errors ({path}: {msg}); fix them on the Config screen (3)", style="bold red"))
        else:
            state.update(Text(" ready", style="dim"))

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.running or self.app.state.invalid:
            if self.app.state.invalid:
                self._notify("Fix the config errors first (Config screen).", "error")
            return
        self.running = True
        self.app.state.training = True
        self.stop_event = threading.Event()
        self.save_event = threading.Event()
        self.last_step = None
        self.started = None
        self.query_one(TrainingCharts).reset()
        self.query_one("#log", RichLog).clear()
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self._update_buttons()
        self._train(copy.deepcopy(self.app.state.config), self.stop_event, self.save_event, self.app.run_dir)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if self.running and self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            self._log("Stop requested: saving a checkpoint after this step …", "warning")
            self.query_one("#stop", Button).disabled = True

    @on(Button.Pressed, "#savenow")
    def action_save_now(self) -> None:
        if self.running and self.save_event is not None:
            self.save_event.set()
            self._log("Checkpoint requested for the next step.")

    def action_cycle_chart(self) -> None:
        self.query_one(TrainingCharts).cycle()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def _train(self, cfg, stop: threading.Event, save_now: threading.Event, run_dir: str | None) -> None:
        from engine.train import train  # heavy imports happen here, in the worker thread

        result = train(cfg, run_dir=run_dir, on_event=lambda e: self.post_message(EngineEvent(e)), stop=stop,
                       save_now=save_now)
        self.post_message(TrainingEnded(result))

    # -- events ---------------------------------------------------------------------------------
    def on_engine_event(self, msg: EngineEvent) -> None:
        e = msg.event
        self.events.append(e)
        charts = self.query_one(TrainingCharts)
        if isinstance(e, StepLogged):
            charts.history.add_step(e)
            self.last_step = e
            self._dirty = True
        elif isinstance(e, EvalLogged):
            charts.history.add_eval(e)
            ppl = f", perplexity {e.perplexity:.2f}" if e.perplexity else ""
            self._log(f"eval at step {e.step}: loss {e.eval_loss:.4f}{ppl}")
            self._dirty = True
        elif isinstance(e, RunStarted):
            self.started = e
            self.run_dir = e.run_dir
            self.query_one("#progress", ProgressBar).update(total=e.max_steps, progress=e.resumed_from_step)
            self._log(f"Run {e.run_dir} on {e.device}: {e.train_samples} samples, {e.max_steps} steps, "
                      f"{e.trainable_params:,} trainable of {e.total_params:,} parameters, {e.batching} batches")
            self._dirty = True
        elif isinstance(e, MessageLogged):
            self._log(e.text, e.level)
        elif isinstance(e, CheckpointSaved):
            self._log(f"checkpoint saved: {e.path}")
            self._notify(f"Checkpoint saved at step {e.step}", "information")
        elif isinstance(e, RunFinished):
            self._log(f"Finished at step {e.step}: adapter in {e.adapter_path}")
            self._notify(f"Training finished: adapter in {e.adapter_path}", "information")
        elif isinstance(e, RunStopped):
            self._log(f"Stopped at step {e.step}; checkpoint {e.checkpoint}")
            self._notify(f"Training stopped at step {e.step}; checkpoint saved", "warning")
        elif isinstance(e, RunFailed):
            self._log(f"Failed: {e.error}", "error")
            if e.hint:
                self._log(f"Hint: {e.hint}", "warning")
            self._notify(f"{e.error}\n{e.hint}".strip(), "error")

    def on_training_ended(self, msg: TrainingEnded) -> None:
        self.running = False
        self.app.state.training = False
        self._dirty = True
        self._redraw_if_dirty()
        self._update_buttons()

    def _redraw_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.query_one(TrainingCharts).redraw()
        e = self.last_step
        bar = self.query_one("#progress", ProgressBar)
        text = self.query_one("#progress-text", Static)
        if e is not None:
            bar.update(total=e.max_steps, progress=e.step)
            text.update(f"step {e.step}/{e.max_steps} · epoch {e.epoch:.2f} · {hms(e.elapsed)} · ETA {hms(e.eta)}")
            parts = [f"loss {e.loss:.4f}", f"lr {e.learning_rate:.2e}"]
            if e.tokens_per_second:
                parts.append(f"{e.tokens_per_second:,.0f} tok/s")
            h = self.query_one(TrainingCharts).history
            if h.eval_loss:
                parts.append(f"eval {h.eval_loss[-1]:.4f}")
            if self.started:
                parts.append(self.started.device)
            if e.memory_mb:
                parts.append(f"mem {e.memory_mb / 1024:.2f} GB")
            self.query_one("#status-line", Static).update(" · ".join(parts))

    def _log(self, text: str, level: str = "info") -> None:
        style = {"info": "", "warning": "yellow", "error": "bold red"}.get(level, "")
        self.query_one("#log", RichLog).write(Text(text, style=style))

    def _notify(self, text: str, severity: str) -> None:
        self.notifications.append((severity, text))
        self.app.notify(text, severity=severity, timeout=8 if severity == "error" else 4)
