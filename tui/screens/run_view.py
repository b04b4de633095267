"""One run, live: charts rebuilt from its metrics.jsonl and followed as it grows, its config and state.

Opened from the Runs screen (Enter) and by ``tunedeck attach [RUN]``. It only
reads the run folder and, for actions, writes request files into it
(``stop.request``, ``save.request``) that the training process polls, so it
works for a run trained by any process (headless, another terminal, this app)
and closing it never touches training. Several viewers can watch one run.

Keys: x stop (the run saves a checkpoint first), k checkpoint now, r resume
(stopped, failed or killed runs), e evaluate, E export, p playground,
c switch the side chart, Esc back to the list.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static, TabbedContent, TabPane

from engine import rundir
from engine.follow import MetricsTail, run_state

from ..messages import HistoryLoaded
from ..widgets.confirm import Confirm
from ..widgets.monitor import RunMonitor
from ..widgets.nav import NavTabs
from ..widgets.run_status import STATE_STYLE

POLL_S = 0.5  # how often the metrics file and the status are read


class RunScreen(Screen):
    CSS_PATH = "run_view.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "stop_run", "Stop"),
        Binding("k", "save_now", "Checkpoint"),
        Binding("r", "resume", "Resume"),
        Binding("e", "evaluate", "Eval"),
        Binding("E", "export", "Export"),
        Binding("p", "playground", "Playground"),
        Binding("c", "cycle_chart", "LR/tok/s", show=False),
    ]

    def __init__(self, run_dir: str | Path, *, follow: bool = True):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.follow = follow
        self.tail = MetricsTail(self.run_dir / rundir.METRICS_FILE)
        self.state = run_state(self.run_dir)
        self.loaded = False  # the history is in
        self.events_seen = 0
        self.stop_requested = False

    def compose(self) -> ComposeResult:
        yield NavTabs("runs")
        with Horizontal(id="run-bar"):
            yield Label(self.run_dir.name, id="run-name")
            yield Label("", id="run-state")
            yield Button("■ Stop", id="run-stop", variant="error", compact=True, tooltip="x: checkpoint, then stop")
            yield Button("Checkpoint", id="run-save", compact=True, tooltip="k: save a checkpoint now")
            yield Button("Resume", id="run-resume", variant="success", compact=True,
                         tooltip="r: continue from the last checkpoint")
        with TabbedContent(id="run-tabs"):
            with TabPane("Run", id="tab-run"):
                yield RunMonitor(id="monitor")
            with TabPane("Config", id="tab-config"):
                yield Static("", id="run-config")
        yield Footer()

    @property
    def monitor(self) -> RunMonitor:
        return self.query_one(RunMonitor)

    def on_mount(self) -> None:
        self.query_one("#run-config", Static).update(self._config_text())
        self.monitor.log_line(f"Watching {self.run_dir} (Esc: back; the run goes on without this view)", "hint")
        self._show_state()
        self._read_history()

    # -- reading the run ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _read_history(self) -> None:
        events = []
        while True:  # a huge file comes in pieces of MetricsTail.max_bytes
            chunk = self.tail.poll()
            if not chunk:
                break
            events += chunk
        self.post_message(HistoryLoaded(events))

    def on_history_loaded(self, msg: HistoryLoaded) -> None:
        for e in msg.events:
            self._record(e)
        self.loaded = True
        self.monitor.redraw_if_dirty(force=True)
        if self.follow:
            self.set_interval(POLL_S, self.poll)

    def poll(self) -> None:
        """Read what the run appended since the last poll, and its state (UI thread: small reads)."""
        new = self.tail.poll()
        if self.tail.restarted:
            self.monitor.reset()
        for e in new:
            self._record(e)
        self.monitor.redraw_if_dirty()
        state = run_state(self.run_dir)
        if state != self.state:
            self.state = state
            if state != "running":
                self.stop_requested = False
            self._show_state()

    def _record(self, e) -> None:
        self.events_seen += 1
        self.monitor.handle_event(e)

    def _config_text(self) -> Text:
        try:
            text = (self.run_dir / rundir.CONFIG_FILE).read_text(encoding="utf-8")
        except OSError as e:
            return Text(f"cannot read {rundir.CONFIG_FILE}: {e.strerror}", style="red")
        status = rundir.read_status(self.run_dir)
        out = Text()
        if status.get("error"):
            out.append(f"error: {status['error']}\n", style="bold red")
            if status.get("hint"):
                out.append(f"hint: {status['hint']}\n", style="yellow")
        ckpts = rundir.checkpoints(self.run_dir)
        out.append(f"# {self.run_dir}\n# checkpoints: {', '.join(p.name for p in ckpts) or 'none'}"
                   f" · adapter: {'yes' if (self.run_dir / rundir.ADAPTER_DIR / 'adapter_config.json').exists() else 'no'}\n",
                   style="dim")
        out.append(text)
        return out

    def _show_state(self) -> None:
        state = self.state
        label = state + (" · stop requested" if self.stop_requested and state == "running" else "")
        self.query_one("#run-state", Label).update(Text(label, style=STATE_STYLE.get(state, "")))
        running = state == "running"
        self.query_one("#run-stop", Button).display = running
        self.query_one("#run-save", Button).display = running
        self.query_one("#run-resume", Button).display = self._resumable()
        self.query_one("#run-stop", Button).disabled = self.stop_requested
        self.monitor.waiting = running
        self.query_one("#run-config", Static).update(self._config_text())
        self.refresh_bindings()

    def _resumable(self) -> bool:
        return self.state in ("stopped", "failed", "killed") and rundir.last_checkpoint(self.run_dir) is not None

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("stop_run", "save_now"):  # hidden unless the run is training
            return (None if self.stop_requested else True) if self.state == "running" else False
        if action == "resume":
            return True if self._resumable() else False
        if action in ("evaluate", "export", "playground"):
            return True if self.state != "running" else None
        return True

    # -- actions --------------------------------------------------------------------------------
    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_cycle_chart(self) -> None:
        self.monitor.charts.cycle()

    @on(Button.Pressed, "#run-stop")
    def action_stop_run(self) -> None:
        if self.state != "running" or self.stop_requested:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                rundir.request_stop(self.run_dir)
                self.stop_requested = True
                self.monitor.log_line("Stop requested: the run saves a checkpoint after its current step, then ends.",
                                      "warning")
                self._show_state()

        self.app.push_screen(Confirm(f"Stop {self.run_dir.name}? It saves a checkpoint first; resume it later with r.",
                                     "Stop run"), answer)

    @on(Button.Pressed, "#run-save")
    def action_save_now(self) -> None:
        if self.state == "running":
            rundir.request_save(self.run_dir)
            self.monitor.log_line("Checkpoint requested: saved after the current step.")

    @on(Button.Pressed, "#run-resume")
    def action_resume(self) -> None:
        if self._resumable():
            self.app.resume_run(self.run_dir)

    def action_evaluate(self) -> None:
        self.app.open_eval(self.run_dir)

    def action_export(self) -> None:
        self.app.open_export(self.run_dir)

    def action_playground(self) -> None:
        self.app.open_playground(self.run_dir)
