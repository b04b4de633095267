"""The Evaluate screen of an extractive-QA run: EM/F1, one row per question (wrong answers first), and the
context of the highlighted question with the gold answer and the predicted span marked.

Pushed by the app for a QA run (tui/app.py open_eval)::

    self.app.push_screen(QaEvalScreen("runs/20261201-120000-qa"))

The run's saved ``eval.json`` (written by engine.tasks.qa_infer.evaluate_qa_run, and ``tunedeck eval``)
is shown at once; ``e`` evaluates again in a thread worker (torch and transformers load there) and saves
it; ``b`` scores the untrained head on the same questions for comparison (not saved). Esc/q close.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from ..notify import error_line, one_line
from .qa_preview import GOLD, context_text

EVAL_FILE = "eval.json"  # engine.tasks.qa_infer.EVAL_FILE (not imported: it stays light, but why pay)
PRED = "underline bold magenta"


def load_report(run_dir: Path, task: str, items: str) -> tuple[dict | None, str | None]:
    """The run's eval.json for ``task`` (its per-item list under ``items``): None when there is none, or one
    written for another task (an older, causal-LM report: evaluate again), else a one-line error."""
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        return None, None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, f"{path}: cannot read it ({one_line(e)}); press e to evaluate again"
    if report.get("task") != task or not isinstance(report.get(items), list):
        return None, None
    return report, None


def load_qa_report(run_dir: Path) -> tuple[dict | None, str | None]:
    """The run's QA eval.json (None when there is none), or a one-line error."""
    return load_report(run_dir, "extractive_qa", "questions")


def order_wrong_first(questions: list[dict]) -> list[int]:
    """Row indexes: wrong answers first (lowest F1 first), then the right ones, each in the file's order."""
    return sorted(range(len(questions)), key=lambda i: (bool(questions[i].get("correct")), questions[i].get("f1", 0.0), i))


def summary_text(report: dict, base: dict | None = None) -> Text:
    t = Text()
    t.append(f"EM {report['exact_match']:.1f} · F1 {report['f1']:.1f}", style="bold")
    n = report.get("num_questions", len(report.get("questions", [])))
    t.append(f" on {n} {report.get('split', 'validation')} questions")
    for part in ("answerable", "unanswerable"):
        p = report.get(part) or {}
        if p.get("total"):
            t.append(f" · {part} ({p['total']}): EM {p['exact_match']:.1f} F1 {p['f1']:.1f}", style="dim")
    if base is not None:
        t.append(f"\nuntrained head: EM {base['exact_match']:.1f} · F1 {base['f1']:.1f}", style="yellow")
    return t


def answer_cell(text: str | None, width: int) -> Text:
    if not text:
        return Text("(no answer)", style="dim italic")
    flat = " ".join(text.split())
    return Text(flat if len(flat) <= width else flat[: max(1, width - 1)] + "…")


def detail_text(q: dict) -> Text:
    """Question, gold and predicted answers, and the context with both spans marked."""
    t = Text()
    t.append("Q: ", style="bold")
    t.append(q.get("question", ""))
    ok = q.get("correct")
    t.append("  ✓ right" if ok else f"  ✗ wrong (F1 {q.get('f1', 0):.1f})", style="bold green" if ok else "bold red")
    t.append("\ngold: ", style="bold")
    golds = q.get("gold_answers") or []
    if golds:
        for i, g in enumerate(golds):
            t.append(" | " if i else "")
            t.append(g, style=GOLD)
    else:
        t.append("(no answer: unanswerable)", style="italic yellow")
    t.append("   predicted: ", style="bold")
    if q.get("predicted"):
        t.append(q["predicted"], style=PRED)
    else:
        t.append("(no answer)", style="italic")
    t.append(f"  score {q.get('score', 0):.2f}\n", style="dim")
    starts = q.get("gold_starts") or []
    pred = (q.get("predicted_start"), q.get("predicted") or "")
    t.append_text(context_text(q.get("context", ""), list(zip(starts, golds, strict=False)), None, pred if pred[0] is not None else None))
    return t


class QaEvalDone(Message):
    def __init__(self, report: dict | None, base: bool, error: str | None = None) -> None:
        super().__init__()
        self.report, self.base, self.error = report, base, error


class QaEvalProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class QaEvalScreen(Screen):
    BINDINGS = [
        Binding("e", "evaluate", "Evaluate"),
        Binding("b", "base", "Base", tooltip="Score the untrained head on the same questions (not saved)"),
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, run_dir: str | Path, checkpoint: str | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.report: dict | None = None
        self.base_report: dict | None = None
        self.order: list[int] = []
        self.running = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        title = Text()
        title.append(" Evaluate ", style="bold reverse")
        title.append(f" {self.run_dir.name}", style="bold")
        title.append("  extractive QA" + (f" ({self.checkpoint})" if self.checkpoint else ""), style="dim")
        yield Label(title, id="qae-title")
        yield Static("", id="qae-state")
        yield Static("", id="qae-summary")
        yield DataTable(id="qae-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="qae-detail"):
            yield Static("", id="qae-detail-text")
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#qae-table", DataTable)

    NO_REPORT = "No evaluation yet: press e to answer the validation questions (saved to eval.json)."

    def load_report(self) -> tuple[dict | None, str | None]:
        """The run's saved report (a subclass reads its own task's eval.json)."""
        return load_qa_report(self.run_dir)

    def run_eval(self, base: bool, on_message) -> dict:
        """Evaluate in the worker thread (torch and transformers load there)."""
        from engine.tasks.qa_infer import evaluate_qa_run

        return evaluate_qa_run(self.run_dir, checkpoint=self.checkpoint, base=base, save=not base, on_message=on_message)

    def summary(self) -> Text:
        return summary_text(self.report, self.base_report)

    def on_mount(self) -> None:
        report, error = self.load_report()
        self._show(report)
        if error:
            self._state(Text(error, style="bold red"))
        elif report is None:
            self._state(Text(self.NO_REPORT, style="dim"))
        else:
            self._state(Text(f"saved report: {EVAL_FILE} · e: evaluate again · b: the untrained head", style="dim"))
        self.table.focus()

    def _state(self, text: Text | str) -> None:
        self.query_one("#qae-state", Static).update(text)

    # -- drawing ----------------------------------------------------------------------------------
    def _show(self, report: dict | None) -> None:
        self.report = report
        table = self.table
        table.clear(columns=True)
        summary = self.query_one("#qae-summary", Static)
        if report is None:
            summary.update("")
            self.query_one("#qae-detail-text", Static).update("")
            self.order = []
            return
        summary.update(summary_text(report, self.base_report))
        questions = report["questions"]
        self.order = order_wrong_first(questions)
        free = max(30, (self.size.width or self.app.size.width) - 2 - 6 - 2 * 5 - 2)
        wq = free * 4 // 10
        wg = (free - wq) // 2
        wp = free - wq - wg
        table.add_column("", key="ok", width=2)
        table.add_column("F1", key="f1", width=5)
        table.add_column("question", key="question", width=wq)
        table.add_column("gold", key="gold", width=wg)
        table.add_column("predicted", key="predicted", width=wp)
        for i in self.order:
            q = questions[i]
            ok = bool(q.get("correct"))
            golds = q.get("gold_answers") or []
            table.add_row(Text("✓" if ok else "✗", style="green" if ok else "bold red"),
                          Text(f"{q.get('f1', 0):.0f}", justify="right"), answer_cell(q.get("question"), wq),
                          answer_cell(golds[0] if golds else "", wg), answer_cell(q.get("predicted"), wp), key=str(i))
        self._detail(0)

    def _detail(self, row: int | None) -> None:
        if self.report is None or row is None or not (0 <= row < len(self.order)):
            return
        q = self.report["questions"][self.order[row]]
        self.query_one("#qae-detail-text", Static).update(detail_text(q))

    @on(DataTable.RowHighlighted, "#qae-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    # -- evaluating -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("evaluate", "base"):
            return None if self.running else True
        return True

    def action_evaluate(self) -> None:
        self._start(base=False)

    def action_base(self) -> None:
        self._start(base=True)

    def _start(self, base: bool) -> None:
        if self.running:
            return
        self.running = True
        self.refresh_bindings()
        self._state(Text("answering with the untrained head …" if base else "evaluating …", style="bold yellow"))
        self._evaluate(base)

    @work(thread=True, exclusive=True, group="qa-eval", exit_on_error=False)
    def _evaluate(self, base: bool) -> None:
        try:
            report = self.run_eval(base, lambda t: self.post_message(QaEvalProgress(t)))
        except Exception as e:  # one line; the app stays up
            self.post_message(QaEvalDone(None, base, error_line(e)))
            return
        self.post_message(QaEvalDone(report, base))

    def on_qa_eval_progress(self, msg: QaEvalProgress) -> None:
        self._state(Text(one_line(msg.text), style="yellow"))

    def on_qa_eval_done(self, msg: QaEvalDone) -> None:
        self.running = False
        self.refresh_bindings()
        if msg.error:
            self.error = msg.error
            self._state(Text(f"error: {msg.error}", style="bold red"))
            return
        self.error = None
        if msg.base:
            self.base_report = msg.report
            if self.report is not None:
                self.query_one("#qae-summary", Static).update(self.summary())
            self._state(Text("untrained head scored (not saved) · e: evaluate again", style="dim"))
            return
        self._show(msg.report)
        self._state(Text(f"evaluated: saved to {self.run_dir / EVAL_FILE}", style="green"))

    def action_close(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
