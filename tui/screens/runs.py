"""Runs screen: every run in the runs folder, what became of it, and what to do next.

The list is rebuilt from the run folders (engine.runs.list_summaries) in a
worker every couple of seconds, so runs started by other processes (headless
``tunedeck train``, another terminal) appear and their steps count up.

Keys: Enter open the run (live for a running one: charts, progress, stop),
space mark for comparison, c compare the marked runs (overlaid loss curves and
config differences), l compare a staged run's chain (its stages' curves end to end), d delete (after confirmation), r resume from the last
checkpoint, x stop a running run, e evaluate, E export, p playground.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from engine import rundir
from engine.runs import RunSummary, delete_run, format_duration, list_summaries

from ..device_line import peak_words
from ..messages import RunsListed
from ..text import fmt_loss
from ..widgets.confirm import Confirm
from ..widgets.fit_columns import Col, fit_cell, fit_columns
from ..widgets.nav import NavTabs
from ..widgets.run_lineage import chain_text, is_staged, read_chain, stage_mark
from ..widgets.run_scores import score_cell, score_detail
from ..widgets.run_status import STATE_STYLE

REFRESH_S = 2.0
# Narrow terminals: the run name, data and model shrink first (an ellipsis marks the cut), then the
# least useful columns hide (the title says which; the details below the table show model and data).
COLUMNS = [Col("mark", ""), Col("status", "status"), Col("run", "run", max=40), Col("steps", "steps"),
           Col("loss", "loss"), Col("best", "best eval"), Col("time", "time"), Col("model", "model", max=24),
           Col("data", "data", max=24), Col("started", "started")]
FIT_STEPS = [("data", 16), ("model", 16), ("run", 30), ("started", None), ("data", None), ("run", 24),
             ("model", 14), ("run", 18), ("model", None), ("best", None), ("run", 12)]


def row_cells(s: RunSummary, marked: bool, stages: list | None = None) -> tuple:
    steps = f"{s.steps}/{s.max_steps}" if s.max_steps else str(s.steps)
    started = s.started.strftime("%m-%d %H:%M") if s.started else "-"
    return (Text("●" if marked else " ", style="bold cyan"), Text(s.status, style=STATE_STYLE.get(s.status, "")),
            stage_mark(stages) + Path(s.path).name, steps, fmt_loss(s.final_loss, "-"), score_cell(s) or fmt_loss(s.best_eval_loss, "-"), format_duration(s.duration_s),
            s.model_short, s.dataset_short, started)


class RunsScreen(Screen):
    CSS_PATH = "runs.tcss"
    BINDINGS = [
        Binding("enter", "on_current('open_run')", "Open"),
        Binding("space", "mark", "Mark", key_display="␣"),
        Binding("c", "compare", "Compare"),
        Binding("l", "compare_chain", "Chain", show=False,  # the details say it (the 80-column footer is full)
                tooltip="Compare a staged run's chain: every stage's loss, end to end"),
        Binding("d", "delete", "Delete"),
        Binding("r", "on_current('resume_run')", "Resume"),
        Binding("x", "stop_run", "Stop", show=False),
        Binding("e", "on_current('open_eval')", "Eval"),
        Binding("E", "on_current('open_export')", "Export"),
        Binding("p", "on_current('open_playground')", "Play", tooltip="Open in the Playground"),
    ]

    def __init__(self):
        super().__init__()
        self.summaries: list[RunSummary] = []
        self.chains: dict[str, list] = {}  # staged runs' chains (tui/widgets/run_lineage.py), by run name
        self.marked: set[str] = set()  # run names marked for comparison
        self.listed = False  # the first listing arrived
        self._shown: list[tuple] = []  # what the table shows, to skip redraws when nothing changed
        self._layout: tuple = ()  # the column widths the table has
        self.hidden_columns: list[str] = []  # columns left out at this width (named in the title)

    @property
    def runs_dir(self) -> str:
        return self.app.state.config.output.runs_dir

    def compose(self) -> ComposeResult:
        yield NavTabs("runs")
        yield Label("", id="runs-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_list()
        self.set_interval(REFRESH_S, self.refresh_list)

    def on_screen_resume(self) -> None:
        self.refresh_list()

    def on_resize(self) -> None:
        if self.listed:
            self.call_after_refresh(self._fill_table)  # the columns fit the new width

    # -- listing --------------------------------------------------------------------------------
    def refresh_list(self) -> None:
        self._list(self.runs_dir)

    @work(thread=True, exclusive=True, group="runs-list", exit_on_error=False)
    def _list(self, runs_dir: str) -> None:
        summaries = list_summaries(runs_dir)
        chains = {s.name: read_chain(s.path) for s in summaries if is_staged(s.path)}
        self.post_message(RunsListed(runs_dir, summaries, chains))

    def on_runs_listed(self, msg: RunsListed) -> None:
        if msg.runs_dir != self.runs_dir:
            return  # the runs folder changed meanwhile; a newer listing is on its way
        self.summaries, self.chains = msg.summaries, msg.chains
        self.listed = True
        names = {s.name for s in self.summaries}
        self.marked &= names
        self._fill_table()
        self._show_detail()
        self.refresh_bindings()

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        rows = [row_cells(s, s.name in self.marked, self.chains.get(s.name)) for s in self.summaries]
        plain = [tuple(str(c) for c in r) for r in rows]
        title = self.query_one("#runs-title", Label)
        n = len(self.summaries)
        running = sum(s.status == "running" for s in self.summaries)
        mark = f" · {len(self.marked)} marked" if self.marked else ""
        avail = (table.size.width or self.app.size.width) - 1  # the vertical scrollbar
        widths, self.hidden_columns = fit_columns(COLUMNS, rows, avail, FIT_STEPS)
        hidden = f"  · hidden at this width: {', '.join(self.hidden_columns)} (below)" if self.hidden_columns else ""
        title.update(Text.assemble((f" {self.runs_dir}/", "bold"), f"  {n} run{'s' * (n != 1)}",
                                   (f", {running} running" if running else ""), mark, (hidden, "dim"),
                                   no_wrap=True, overflow="ellipsis"))
        layout = tuple(widths.items())
        if plain == self._shown and layout == self._layout:
            return
        current = self.current()
        table.clear(columns=layout != self._layout)
        if layout != self._layout:
            for c in COLUMNS:
                if c.key in widths:
                    table.add_column(c.label, width=widths[c.key], key=c.key)
            self._layout = layout
        keep = [i for i, c in enumerate(COLUMNS) if c.key in widths]
        for s, cells in zip(self.summaries, rows, strict=False):
            table.add_row(*(fit_cell(cells[i], widths[COLUMNS[i].key], middle=COLUMNS[i].key == "run")
                            for i in keep), key=s.name)
        self._shown = plain
        if current is not None and current.name in {s.name for s in self.summaries}:
            table.move_cursor(row=table.get_row_index(current.name), animate=False)

    def current(self) -> RunSummary | None:
        table = self.query_one(DataTable)
        if not self.summaries or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        return next((s for s in self.summaries if s.name == key), None)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_on_current("open_run")

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()
        self.refresh_bindings()

    def _show_detail(self) -> None:
        detail = self.query_one("#runs-detail", Static)
        if not self.summaries:
            detail.update(Text.assemble(
                (f"No runs in {self.runs_dir}/ yet. ", "bold") if self.listed else ("Reading runs… ", "dim"),
                "Start one on the Train screen (4 or F5), or headless: tunedeck train --config FILE."))
            return
        s = self.current()
        if s is None:
            detail.update("")
            return
        out = Text()
        out.append(f"{s.name}", style="bold")
        out.append(f"  {s.status}", style=STATE_STYLE.get(s.status, ""))
        out.append(f" · {s.model} on {s.dataset}\n")
        out.append(chain_text(self.chains.get(s.name, [])))
        detail.set_class(s.name in self.chains, "-staged")
        if s.error:
            out.append(f"{s.error}\n", style="red")
            if s.hint:
                out.append(f"hint: {s.hint}\n", style="yellow")
        ckpts = ", ".join(c.removeprefix("checkpoint-") for c in s.checkpoints) or "none"
        started = f" · started {s.started:%Y-%m-%d %H:%M}" if s.started else ""
        out.append(score_detail(s))
        out.append(f"checkpoints: {ckpts} · adapter: {'yes' if s.has_adapter else 'no'}{started}\n", style="dim")
        if peak_words(s):  # the device monitor's peak, out-of-memory recoveries (tui/device_line.py)
            out.append(peak_words(s) + "\n", style="yellow" if s.oom_recoveries else "dim")
        out.append(self._next_steps(s, s.name in self.chains), style="italic")
        detail.update(out)

    @staticmethod
    def _next_steps(s: RunSummary, staged: bool = False) -> str:
        if s.status == "running":
            return "Enter: watch live · x: stop (saves a checkpoint)"
        can = ["Enter: charts and config"]
        if s.status in ("stopped", "failed", "killed") and s.checkpoints:
            can.append("r: resume")
        if s.has_adapter or s.checkpoints:
            can += ["p: playground", "e: evaluate", "E: export"]
        can += ["space: mark, c: compare"] + (["l: compare its chain"] if staged else []) + ["d: delete"]
        return " · ".join(can)

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        s = self.current() if self.is_mounted else None
        what = parameters[0] if action == "on_current" and parameters else action
        if what == "open_run":
            return True if s is not None else None
        if what == "resume_run":
            return True if s and s.status in ("stopped", "failed", "killed") and s.checkpoints else None
        if what == "stop_run":
            return True if s and s.status == "running" else None
        if what in ("open_eval", "open_export", "open_playground"):
            return True if s and s.status != "running" and (s.has_adapter or s.checkpoints) else None
        if action == "delete":
            return True if s and s.status != "running" else None
        if action == "compare":
            return True if len(self.marked) >= 2 else None
        if action == "compare_chain":
            return s is not None and s.name in self.chains
        return True


    def action_on_current(self, what: str) -> None:
        """Open, resume, evaluate, export or try (playground) the highlighted run."""
        s = self.current()
        if s is not None:
            getattr(self.app, what)(s.path)

    def action_mark(self) -> None:
        s = self.current()
        if s is None:
            return
        self.marked ^= {s.name}
        self._fill_table()
        self.refresh_bindings()

    def action_compare(self) -> None:
        runs = [s for s in self.summaries if s.name in self.marked]
        if len(runs) < 2:
            self.notify("Mark two or more runs with space first.", severity="warning")
            return
        self.app.open_compare([s.path for s in reversed(runs)])  # oldest first

    def action_compare_chain(self) -> None:
        """The highlighted staged run's chain in the compare view, oldest stage first, steps end to end."""
        s = self.current()
        stages = [st.path for st in self.chains.get(s.name, []) if st.exists] if s is not None else []
        if len(stages) < 2:
            self.notify("Not a staged run (or its earlier stages were deleted): nothing to chain.", severity="warning")
            return
        self.app.open_compare(stages, chain=True)

    def action_delete(self) -> None:
        s = self.current()
        if s is None:
            return

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                delete_run(s.path)
            except Exception as e:  # RunError (still training) or an OSError: one line, nothing lost
                self.notify(str(e), title="Not deleted", severity="error")
                return
            self.marked.discard(s.name)
            self.notify(f"Deleted {s.name}", severity="information")
            self.refresh_list()

        size = "with its checkpoints and adapter" if (s.checkpoints or s.has_adapter) else "and its files"
        self.app.push_screen(Confirm(f"Delete run {s.name} {size}? This cannot be undone.", "Delete"), answer)


    def action_stop_run(self) -> None:
        s = self.current()
        if s is None or s.status != "running":
            return

        def answer(yes: bool | None) -> None:
            if yes:
                rundir.request_stop(s.path)
                self.notify(f"Stop requested for {s.name}: it saves a checkpoint, then ends.", severity="warning")

        self.app.push_screen(Confirm(f"Stop {s.name}? It saves a checkpoint first; resume it later with r.",
                                     "Stop run"), answer)


    def select(self, name: str) -> bool:
        """Move the cursor to the run called ``name`` (tests, attach)."""
        table = self.query_one(DataTable)
        try:
            table.move_cursor(row=table.get_row_index(name), animate=False)
        except Exception:
            return False
        return True
