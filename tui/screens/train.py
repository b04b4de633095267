"""Train screen: start and stop a run, live charts, progress with ETA, device status and a log.

The run happens in a Textual thread worker calling engine.train.train (torch
and transformers are imported there, never on the UI thread). The engine's
events reach this screen only as EngineEvent messages (post_message is
thread-safe); handling one only records it. Charts, progress and status are
redrawn by a 5 Hz timer when something new arrived, so a burst of fast steps
costs one repaint. Stop sets a threading.Event the engine polls between steps;
it saves a checkpoint before it ends the run.

Keys: s start, d start detached (its own process: it keeps training after you
quit, followed through its folder like multi-process runs), x stop (checkpoint, then stop), k checkpoint now, c switch the
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
from textual.widgets import Button, Footer, Label
from textual.worker import Worker, WorkerState

from engine.events import CheckpointSaved, Event, RunFailed, RunFinished, RunStarted, RunStopped
from engine.model import quantization_words
from engine.rundir import METRICS_FILE

from ..messages import EngineEvent, TrainingEnded, TrainingOver
from ..notify import Notifying
from ..text import hms, stopped_line
from ..widgets.charts import History
from ..widgets.monitor import RunMonitor
from ..widgets.nav import NavTabs

REDRAW_HZ = 2
__all__ = ["TrainScreen", "hms"]


class TrainScreen(Notifying, Screen):
    CSS_PATH = "train.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("d", "start_detached", "Start detached", show=False),
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
        self.run_dir: str | None = None
        self.outcome: Event | None = None  # the last run's RunFinished / RunStopped / RunFailed
        self.events: list[Event] = []  # every event of this screen's runs, in order
        self.notifications: list[tuple[str, str]] = []  # (severity, text): what was notified, for tests
        self.resuming: str | None = None  # the run folder being resumed, if this run is a resume
        self.child = None  # a tui.child_run.ChildRun: training.processes > 1 trains in a child process group

    def compose(self) -> ComposeResult:
        yield NavTabs("train")
        with Horizontal(id="train-bar"):
            yield Button("▶ Start", id="start", variant="success", compact=True, tooltip="s or Ctrl+T; d: detached, keeps training after you quit")
            yield Button("■ Stop", id="stop", variant="error", compact=True, disabled=True,
                         tooltip="x: save a checkpoint, then stop")
            yield Button("Checkpoint", id="savenow", compact=True, disabled=True, tooltip="k: save a checkpoint now")
            yield Label("", id="train-state")
        yield RunMonitor(id="monitor")
        yield Footer()

    @property
    def monitor(self) -> RunMonitor:
        return self.query_one(RunMonitor)

    def on_mount(self) -> None:
        self.set_interval(1 / REDRAW_HZ, self.monitor.redraw_if_dirty)
        self.set_interval(1 / REDRAW_HZ, self._follow_child)
        self._update_controls()
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
            doing = f"resuming {Path(self.resuming).name}…" if self.resuming else "training…"
            state.update(Text("stopping: saving a checkpoint…" if self.stopping else doing,
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
            state.update(Text(f"ready: {steps}, {quantization_words(cfg.model.quantization)}", style="dim"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("start", "start_detached"):
            return None if (self.running or self.app.state.invalid) else True
        if action in ("stop", "save_now"):
            return None if (not self.running or self.stopping) else True
        return True

    @on(Button.Pressed, "#start")
    def action_start(self, resume: str | None = None, detach: bool = False) -> None:
        """Start a run with the current config, or resume the run folder ``resume`` from its last checkpoint.

        ``detach``: in its own process group (``tunedeck train``) even on one process, so it outlives the app."""
        state = self.app.state
        if self.running or state.training:
            self._notify("A run is already training in this app; stop it first (x).", "warning")
            return  # one run at a time
        if state.invalid and not resume:
            path, msg = next(iter(state.invalid.items()))
            self._notify(f"{path}: {msg}. Fix it on the Config screen (F4).", "error")
            return
        self.running, self.stopping = True, False
        state.training = True
        self.stop_event, self.save_event = threading.Event(), threading.Event()
        self.started = self.outcome = None
        self.run_dir = None
        self.resuming = str(resume) if resume else None
        self.monitor.waiting = True
        self.monitor.reset()
        self._update_controls()
        if resume:
            run_dir = None
            self._log(f"Resuming {resume} from its last checkpoint")
            self._load_history(str(resume))
        else:
            run_dir, self.app.run_dir = self.app.run_dir, None  # --run-dir names the first run only
            self._log(f"Starting: {state.config.model.name} on {state.config.data.path}")
        if state.config.training.processes > 1 or detach:  # several processes: `tunedeck train --nproc N`, followed by its folder
            self._start_child(copy.deepcopy(state.config), run_dir, self.resuming)
            return
        self._train(copy.deepcopy(state.config), self.stop_event, self.save_event, run_dir, self.resuming)

    def _start_child(self, cfg, run_dir: str | None, resume: str | None) -> None:
        from ..child_run import ChildRun

        n = cfg.training.processes
        self.child = ChildRun.start(None if resume else cfg, n, run_dir=run_dir, resume=resume)
        self.app.child_training = True
        how = f"on {n} processes (tunedeck train --nproc {n})" if n > 1 else "in its own process (tunedeck train)"
        self._log(f"Training {how} in {self.child.run_dir}; "
                  "quitting the app leaves it training (tunedeck attach follows it)")

    def _follow_child(self) -> None:
        """The child run's new events, as the run view reads them; its end when the launcher exits."""
        if self.child is None:
            return
        ended = self.child.ended()  # read before the last poll: every event written before the exit is seen
        for e in self.child.poll():
            self.handle_event(e)
        if ended:
            refusal = self.child.refusal() if self.outcome is None else None
            if refusal is not None:
                self.handle_event(refusal)
            self.child = self.app.child_training = None
            self._ended()

    def _load_history(self, run_dir: str) -> None:
        """A resumed run's chart starts with the steps it already took (one continuous curve)."""
        from engine.events import read_events

        self.monitor.charts.history = History.from_events(read_events(Path(run_dir) / METRICS_FILE))
        self.monitor.charts.redraw()

    def action_start_detached(self) -> None:
        """Start in its own process group, as multi-process runs are: quitting the app leaves it training."""
        self.action_start(detach=True)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        if self.running and self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            if self.child is not None:
                self.child.stop()  # stop.request: rank 0 reads it, every rank stops at the same step
            self.stopping = True
            self._log("Stop requested: the run saves a checkpoint after this step, then ends.", "warning")
            self._update_controls()

    @on(Button.Pressed, "#savenow")
    def action_save_now(self) -> None:
        if self.running and not self.stopping and self.save_event is not None:
            self.save_event.set()
            if self.child is not None:
                self.child.save()
            self._log("Checkpoint requested: saved after this step.")

    def action_cycle_chart(self) -> None:
        self.monitor.charts.cycle()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train", name="train")
    def _train(self, cfg, stop: threading.Event, save_now: threading.Event, run_dir: str | None,
               resume: str | None = None) -> None:
        from engine.train import train  # torch and transformers load here, in the worker thread

        kwargs = {"resume": resume} if resume else {}
        result = train(None if resume else cfg, run_dir=run_dir, on_event=lambda e: self.post_message(EngineEvent(e)),
                       stop=stop, save_now=save_now, **kwargs)
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
        self.monitor.handle_event(e)
        if isinstance(e, RunStarted):
            self.started = e
            self.run_dir = e.run_dir
        elif isinstance(e, CheckpointSaved) and not e.stopping:  # a stop's checkpoint: the stop message names it
            self._notify(f"Checkpoint saved at step {e.step}", "information")
        elif isinstance(e, RunFinished):
            self.outcome = e
            loss = f", final loss {e.final_loss:.4f}" if e.final_loss is not None else ""
            self._notify(f"Training finished{loss}. Run saved in {self.run_dir or e.adapter_path}", "information")
        elif isinstance(e, RunStopped):
            self.outcome = e
            self._notify(stopped_line(e.step, e.checkpoint, "Training stopped"), "warning")
        elif isinstance(e, RunFailed):
            self.outcome = e
            self._notify(f"{e.error}" + (f"\nHint: {e.hint}" if e.hint else ""), "error")

    def on_training_ended(self, msg: TrainingEnded) -> None:
        self._ended()

    def _ended(self) -> None:
        self.running = self.stopping = False
        self.monitor.waiting = False
        self.app.state.training = False
        self.monitor.redraw_if_dirty(force=True)
        self._update_controls()
        self.app.refresh_bindings()
        self.post_message(TrainingOver())

    # -- drawing --------------------------------------------------------------------------------
    def _log(self, text: str, level: str = "info") -> None:
        self.monitor.log_line(text, level)
