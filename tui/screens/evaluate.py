"""Evaluate screen: a finished run's loss and perplexity on its validation split, and sample generations.

Pushed over another screen (the Runs screen opens it)::

    self.app.push_screen(EvalScreen("runs/20261124-093000-demo"))
    self.app.push_screen(EvalScreen(run_dir, checkpoint="checkpoint-40"))

The run's saved ``eval.json`` (engine.evaluate.load_report) is shown at once.
``e`` runs (or re-runs) engine.evaluate.evaluate_run in a thread worker: torch
and transformers load there, never on the UI thread, and its progress and
result reach the screen only as EvalProgress / EvalEnded messages. ``x``
cancels between samples (eval.json is then left as it was).

The table lists every scored sample: prompt, reference, generated answer and
per-sample loss. ``w`` (or a click on the loss header) puts the worst samples
first; Enter (or ``d``) opens the full prompt/reference/generated text of a row below the
table. Esc closes the detail, then the screen; ``q`` closes the screen. Errors
(a run without an adapter, a data file gone) are one line on the screen.
"""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Label, ProgressBar, Select, Static

# Light imports (no torch/transformers): the report's dataclasses, and the adapter check.
from engine.errors import TuneDeckError
from engine.evaluate import EVAL_FILE, EvalReport, EvalSample, load_report

from ..messages import EvalEnded, EvalProgress
from ..notify import Notifying, error_line
from ..text import cut, fmt_loss, printable
from ..widgets.checkpoint_pick import CheckpointPicker

__all__ = ["EvalScreen"]

SORTS = ("index", "worst", "best")  # table order: as evaluated, highest loss first, lowest loss first


_SPECIAL = re.compile(r"<\|[^|<>]{1,40}\|>|</?s>|\[/?INST\]")
_ROLES = {"system", "user", "assistant", "human", "gpt"}


def prompt_gist(prompt: str) -> str:
    """The part of a formatted prompt worth a table cell: its last line of content, without template markup.

    ``"### Question:\nWhat is LoRA?\n\n### Answer:\n"`` gives ``"What is LoRA?"``; a ChatML prompt its
    last user line. Falls back to the whole prompt on one line.
    """
    lines = []
    for line in _SPECIAL.sub("\n", prompt or "").splitlines():
        line = line.strip()
        if not line or line.lower() in _ROLES or (line.startswith("#") and line.endswith(":")):
            continue
        lines.append(line)
    return _flat(lines[-1]) if lines else _flat(prompt)


def _flat(text: str | None) -> str:
    return " ".join(printable(text).split())


def summary_text(report: EvalReport) -> Text:
    """One line: split, loss, perplexity, samples and tokens."""
    t = Text()
    if report.split == "validation":
        t.append("validation split", style="bold")
    else:
        t.append(f"{report.split} split", style="bold yellow")
        if not report.note:  # the note line says why
            t.append(" (no validation split)", style="yellow")
    t.append("  loss ")
    t.append(fmt_loss(report.loss), style="bold cyan")
    t.append("  perplexity ")
    ppl = report.perplexity
    t.append("–" if ppl is None or not math.isfinite(ppl) else f"{ppl:.3f}", style="bold cyan")
    generated = sum(1 for s in report.samples if s.generated is not None)
    t.append(f"  ·  {report.num_samples} samples, {report.num_tokens} scored tokens, {generated} generated",
             style="dim")
    return t


class EvalScreen(Notifying, Screen):
    ERROR_LINE = "#ev-error"
    CSS_PATH = "evaluate.tcss"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("e", "evaluate", "Evaluate"),
        Binding("x", "cancel", "Cancel"),
        Binding("w", "worst_first", "Worst first"),
        Binding("d", "detail", "Detail"),  # Enter on a row too (the table's own key)
        Binding("escape", "back", "Back"),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, run_dir: str | Path, checkpoint: str | None = None, *, max_samples: int = 50,
                 generate_samples: int = 10, max_new_tokens: int = 64):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.max_samples, self.generate_samples, self.max_new_tokens = max_samples, generate_samples, max_new_tokens
        self.report: EvalReport | None = None
        self.from_disk = False  # the report shown was read from eval.json (not computed here)
        self.running = False
        self.stop_event: threading.Event | None = None
        self.error: str | None = None  # the last error, one line
        self.sort = "index"
        self.detail_index: int | None = None  # the sample shown in the detail pane (None: pane closed)
        self.progress_seen: list[tuple[str, int, int]] = []  # (stage, done, total) as received, for tests
        self.notifications: list[tuple[str, str]] = []  # (severity, text), for tests

    # -- layout ---------------------------------------------------------------------------------
    def _title(self) -> Text:
        title = Text()
        title.append(" Evaluate ", style="bold reverse")
        title.append(f" {self.run_dir.name}", style="bold")
        if self.checkpoint:
            title.append(f"  ({self.checkpoint})", style="dim")
        return title

    def compose(self) -> ComposeResult:
        picker = CheckpointPicker(self.run_dir, self.checkpoint, id="ev-ckpt")
        self.checkpoint = picker.start or None  # the final adapter, else the newest complete checkpoint
        yield Label(self._title(), id="ev-title")
        with Horizontal(id="ev-bar"):
            yield Button("▶ Evaluate", id="ev-run", variant="success", compact=True,
                         tooltip="e: score the validation split, generate answers, save eval.json")
            yield Button("■ Cancel", id="ev-cancel", variant="error", compact=True, disabled=True,
                         tooltip="x: stop after this sample (eval.json is left as it was)")
            yield ProgressBar(total=None, show_eta=False, id="ev-progress", classes="hidden")
            yield Label("", id="ev-state")
        yield picker
        yield Static("", id="ev-summary")
        yield Static("", id="ev-note", classes="hidden")
        yield Static("", id="ev-error", classes="hidden")
        yield DataTable(id="ev-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="ev-detail", classes="hidden"):
            yield Static("", id="ev-detail-text")
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#ev-table", DataTable)

    def on_mount(self) -> None:
        report = load_report(self.run_dir)
        if report is not None:
            self.from_disk = True
            self._show_report(report)
        else:
            self._show_report(None)
        self._check_weights()
        self._set_state(Text(f"saved report: {EVAL_FILE}" if report is not None else "no report yet", style="dim"))
        self._update_controls()
        self.table.focus()

    def _check_weights(self) -> None:
        """Cheap check (no model loading): say at once when there is nothing to evaluate."""
        from engine.infer import adapter_source

        try:
            adapter_source(self.run_dir, self.checkpoint)
        except TuneDeckError as e:
            self._set_error(str(e), notify=False)
        else:
            self._set_error(None, notify=False)

    @on(Select.Changed, "#ev-ckpt-select")
    def _weights_changed(self, event: Select.Changed) -> None:
        picker = self.query_one("#ev-ckpt", CheckpointPicker)
        if picker.checkpoint == self.checkpoint:
            return
        self.checkpoint = picker.checkpoint
        picker.picked()
        self.query_one("#ev-title", Label).update(self._title())
        self._check_weights()

    def on_unmount(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()  # a closed screen's evaluation stops at the next sample

    def _column_widths(self) -> tuple[int, int, int]:
        """Widths of the prompt, reference and generated columns for the current screen width."""
        free = max(30, (self.size.width or self.app.size.width) - 3 - 5 - 8 - 6 * 2 - 2)  # #, tokens, loss, padding
        w = free // 3
        return w, w, free - 2 * w

    def _fill_table(self) -> None:
        table = self.table
        keep = self._cursor_index()
        table.clear(columns=True)
        wp, wr, wg = self._column_widths()
        table.add_column("#", key="index", width=3)
        table.add_column(self._loss_label(), key="loss", width=8)
        table.add_column("tok", key="tokens", width=5)
        table.add_column("prompt", key="prompt", width=wp)
        table.add_column("reference", key="reference", width=wr)
        table.add_column("generated", key="generated", width=wg)
        if self.report is None:
            return
        for s in self.report.samples:
            prompt = cut(prompt_gist(s.prompt), wp)  # the question, not the template around it
            gen = Text("(not generated)", style="dim") if s.generated is None else Text(cut(_flat(s.generated), wg))
            table.add_row(Text(str(s.index), justify="right"), Text(fmt_loss(s.loss), justify="right"),
                          Text(str(s.tokens), justify="right"), prompt, cut(_flat(s.reference), wr), gen,
                          key=str(s.index))
        self._apply_sort(keep_cursor=keep)

    # -- report ---------------------------------------------------------------------------------
    def _show_report(self, report: EvalReport | None) -> None:
        self.report = report
        summary = self.query_one("#ev-summary", Static)
        note = self.query_one("#ev-note", Static)
        if report is None:
            summary.update(Text(f"No evaluation yet. Press e to score up to {self.max_samples} validation samples "
                                f"and generate answers for {self.generate_samples} (saved to {EVAL_FILE}).",
                                style="dim"))
            note.add_class("hidden")
        else:
            summary.update(summary_text(report))
            note.update(Text(f"note: {report.note}", style="yellow"))
            note.set_class(not report.note, "hidden")
        self._fill_table()
        if self.detail_index is not None:
            self._show_detail(self.detail_index)

    def _sample(self, index: int) -> EvalSample | None:
        if self.report is None:
            return None
        return next((s for s in self.report.samples if s.index == index), None)

    def _cursor_index(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return int(key.value) if key.value is not None else None

    def rows_in_order(self) -> list[int]:
        """Sample indexes in the order the table shows them (top first)."""
        table = self.table
        return [int(table.coordinate_to_cell_key((r, 0)).row_key.value) for r in range(table.row_count)]

    # -- sorting --------------------------------------------------------------------------------
    def _loss_label(self) -> str:
        return {"worst": "loss ▼", "best": "loss ▲"}.get(self.sort, "loss")

    def _apply_sort(self, keep_cursor: int | None = None) -> None:
        table = self.table
        if self.report is None or not table.row_count:
            return
        losses = {s.index: s.loss for s in self.report.samples}

        def key(cell: Text):
            i = int(cell.plain)
            loss = losses.get(i)
            missing = loss is None or not math.isfinite(loss)
            if self.sort == "worst":
                return (missing, 0.0 if missing else -loss, i)
            if self.sort == "best":
                return (missing, 0.0 if missing else loss, i)
            return (False, 0.0, i)

        table.columns[next(c.key for c in table.ordered_columns if c.key.value == "loss")].label = Text(
            self._loss_label())
        table.sort("index", key=key)
        if keep_cursor is not None and str(keep_cursor) in {k.value for k in table.rows}:
            table.move_cursor(row=table.get_row_index(str(keep_cursor)), animate=False)
        else:
            table.move_cursor(row=0, animate=False)

    def set_sort(self, sort: str) -> None:
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        self.sort = sort
        self._apply_sort()  # the cursor goes to the top row: the worst sample after w
        if self.detail_index is not None:
            self._show_detail(self._cursor_index())

    def action_worst_first(self) -> None:
        self.set_sort("index" if self.sort == "worst" else "worst")

    @on(DataTable.HeaderSelected, "#ev-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        if event.column_key.value == "loss":
            self.set_sort("best" if self.sort == "worst" else "worst")
        elif event.column_key.value == "index":
            self.set_sort("index")

    # -- detail ---------------------------------------------------------------------------------
    def action_detail(self) -> None:
        """Open (or close) the detail of the row under the cursor."""
        index = self._cursor_index()
        if index is None or self.detail_index == index:
            self._close_detail()
        else:
            self._show_detail(index)

    @on(DataTable.RowSelected, "#ev-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        index = int(event.row_key.value)
        if self.detail_index == index:
            self._close_detail()
        else:
            self._show_detail(index)

    @on(DataTable.RowHighlighted, "#ev-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.detail_index is not None and event.row_key.value is not None:
            self._show_detail(int(event.row_key.value))  # an open detail follows the cursor

    def _show_detail(self, index: int | None) -> None:
        sample = self._sample(index) if index is not None else None
        if sample is None:
            self._close_detail()
            return
        self.detail_index = index
        t = Text()
        t.append(f"sample {sample.index}", style="bold")
        t.append(f"   loss {fmt_loss(sample.loss)} over {sample.tokens} tokens   (Enter, d or Esc: close)\n", style="dim")
        t.append("PROMPT\n", style="bold magenta")
        t.append(printable(sample.prompt).rstrip() + "\n")
        t.append("REFERENCE\n", style="bold green")
        t.append(printable(sample.reference) + "\n")
        t.append("GENERATED\n", style="bold cyan")
        if sample.generated is None:
            t.append(f"(not generated: only the first {self.generate_samples} samples are)", style="dim")
        else:
            t.append(printable(sample.generated) or "(empty)")
        self.query_one("#ev-detail-text", Static).update(t)
        pane = self.query_one("#ev-detail")
        pane.remove_class("hidden")
        pane.scroll_home(animate=False)

    def _close_detail(self) -> None:
        self.detail_index = None
        self.query_one("#ev-detail").add_class("hidden")

    # -- running --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "evaluate":
            return None if self.running else True
        if action == "cancel":
            return True if self.running and not (self.stop_event and self.stop_event.is_set()) else None
        return True

    def _update_controls(self) -> None:
        self.query_one("#ev-run", Button).disabled = self.running
        self.query_one("#ev-run", Button).label = "▶ Re-evaluate" if self.report is not None else "▶ Evaluate"
        self.query_one("#ev-ckpt-select", Select).disabled = self.running or not self.query_one(
            "#ev-ckpt", CheckpointPicker).options
        self.query_one("#ev-cancel", Button).disabled = not self.running or bool(
            self.stop_event and self.stop_event.is_set())
        self.refresh_bindings()

    def _set_state(self, text: Text | str) -> None:
        self.query_one("#ev-state", Label).update(text)

    @on(Button.Pressed, "#ev-run")
    def action_evaluate(self) -> None:
        if self.running:
            return
        self.running = True
        self.stop_event = threading.Event()
        self.progress_seen.clear()
        self._set_error(None)
        bar = self.query_one("#ev-progress", ProgressBar)
        bar.update(total=None, progress=0)  # pulses while the model loads
        bar.remove_class("hidden")
        self._set_state(Text("loading the model…", style="bold yellow"))
        self._update_controls()
        self._evaluate(self.stop_event)

    @on(Button.Pressed, "#ev-cancel")
    def action_cancel(self) -> None:
        if self.running and self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            self._set_state(Text("cancelling after this sample…", style="bold yellow"))
            self._update_controls()

    @work(thread=True, exclusive=True, exit_on_error=False, group="eval", name="eval")
    def _evaluate(self, stop: threading.Event) -> None:
        """Worker thread: run the evaluation; everything goes back as messages."""
        from engine.evaluate import EvalCancelled, evaluate_run  # torch and transformers load in here

        post = self.post_message
        try:
            report = evaluate_run(
                self.run_dir, checkpoint=self.checkpoint, max_samples=self.max_samples,
                generate_samples=self.generate_samples, max_new_tokens=self.max_new_tokens, stop=stop,
                on_progress=lambda stage, done, total: post(EvalProgress(stage, done, total)),
                on_message=lambda text: post(EvalProgress("load", text=text)),
            )
        except EvalCancelled:
            post(EvalEnded(cancelled=True))
        except Exception as e:  # noqa: BLE001 - one line on the screen, not a traceback
            post(EvalEnded(error=error_line(e)))
        else:
            post(EvalEnded(report=report))

    def on_eval_progress(self, msg: EvalProgress) -> None:
        if msg.stage == "load":
            self._set_state(Text(cut(msg.text, 60) + "…", style="yellow"))
            return
        self.progress_seen.append((msg.stage, msg.done, msg.total))
        bar = self.query_one("#ev-progress", ProgressBar)
        bar.update(total=max(1, msg.total), progress=msg.done)
        verb = "scoring" if msg.stage == "loss" else "generating"
        self._set_state(Text(f"{verb} {msg.done}/{msg.total}", style="bold yellow"))

    def on_eval_ended(self, msg: EvalEnded) -> None:
        self.running = False
        bar = self.query_one("#ev-progress", ProgressBar)
        if msg.report is not None:
            self.from_disk = False
            self._show_report(msg.report)
            bar.update(total=1, progress=1)
            self._set_state(Text(f"done: saved {EVAL_FILE}", style="green"))
            self._notify(f"{self.run_dir.name}: loss {fmt_loss(msg.report.loss)} on the {msg.report.split} split",
                         "information")
        elif msg.cancelled:
            bar.add_class("hidden")
            self._set_state(Text(f"cancelled ({EVAL_FILE} unchanged)", style="yellow"))
            self._notify("Evaluation cancelled; nothing was saved.", "warning")
        else:
            bar.add_class("hidden")
            self._set_state(Text("failed", style="bold red"))
            self._set_error(msg.error or "evaluation failed")
        self.stop_event = None
        self._update_controls()

    # -- closing and resizing -------------------------------------------------------------------
    def action_back(self) -> None:
        if self.detail_index is not None:
            self._close_detail()
        else:
            self.action_close()

    def action_close(self) -> None:
        if self.running and self.stop_event is not None:
            self.stop_event.set()
            self._notify("Evaluation cancelled; nothing was saved.", "warning")
        self.dismiss()

    def on_resize(self, event: Resize) -> None:
        if self.report is not None and self.is_mounted:
            self._fill_table()
