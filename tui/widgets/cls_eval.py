"""The Evaluate screen of a classification run: accuracy, macro precision/recall/F1 (and weighted F1), the
confusion matrix with label names coloured by count, per-class figures, one row per validation text (the
misclassified first), and the highlighted row's full text, gold and predicted labels and probabilities.

Pushed by the app for a classification run (tui/app.py open_eval)::

    self.app.push_screen(ClsEvalScreen("runs/20261201-130000-cls"))

It is the extractive-QA Evaluate screen (tui/widgets/qa_eval.py: its keys, worker and states) with its
own report: the run's ``eval.json`` written by engine.tasks.cls_infer.evaluate_cls_run (and ``tunedeck eval``)
is shown at once; ``e`` evaluates again in a thread worker and saves it; ``b`` scores the base model with an
untrained head on the same rows (not saved). Esc/q close.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Label, Static

from .cls_view import cut, matrix_cell, prob_bars
from .qa_eval import QaEvalScreen, load_report


def load_cls_report(run_dir: Path) -> tuple[dict | None, str | None]:
    """The run's classification eval.json (None when there is none), or a one-line error."""
    return load_report(run_dir, "classification", "rows")


def order_wrong_first(rows: list[dict]) -> list[int]:
    """Row indexes: misclassified first (most confident mistakes first), then the right ones, in file order."""
    def key(i):
        r = rows[i]
        p = (r.get("probabilities") or {}).get(r.get("predicted") if isinstance(r.get("predicted"), str) else "", 0.0)
        return (bool(r.get("correct")), -p if not r.get("correct") else 0.0, i)
    return sorted(range(len(rows)), key=key)


def summary_text(report: dict, base: dict | None = None) -> Text:
    t = Text()
    t.append(f"accuracy {report['accuracy']:.3f} · F1 {report['f1']:.3f}", style="bold")
    t.append(f" · precision {report['precision']:.3f} · recall {report['recall']:.3f} (macro)")
    w = report.get("weighted") or {}
    if w:
        t.append(f" · weighted F1 {w['f1']:.3f}", style="dim")
    t.append(f" · {report.get('num_rows', len(report.get('rows', [])))} {report.get('split', 'validation')} rows", style="dim")
    if report.get("note"):
        t.append(f" ({report['note']})", style="yellow")
    if base is not None:
        t.append(f"\nbase model, untrained head: accuracy {base['accuracy']:.3f} · F1 {base['f1']:.3f}", style="yellow")
    return t


def label_text(value) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def detail_text(r: dict, width: int = 24) -> Text:
    """The row's full text (and pair), gold and predicted labels, and a bar per label's probability."""
    t = Text()
    ok = bool(r.get("correct"))
    t.append(f"row {r.get('row')}  ", style="dim")
    t.append("✓ right" if ok else "✗ misclassified", style="bold green" if ok else "bold red")
    t.append("   gold: ", style="bold")
    t.append(label_text(r.get("gold")), style="bold yellow")
    t.append("   predicted: ", style="bold")
    t.append(label_text(r.get("predicted")), style="bold green" if ok else "bold red")
    t.append("\n")
    t.append(r.get("text", ""))
    if r.get("text_pair") is not None:
        t.append("\npair: ", style="bold")
        t.append(r["text_pair"])
    t.append("\n")
    gold = r.get("gold") if isinstance(r.get("gold"), str) else None
    t.append_text(prob_bars(r.get("probabilities") or {}, width, mark=gold))
    t.append("\n* the gold label", style="dim")
    return t


class ClsEvalScreen(QaEvalScreen):
    NO_REPORT = "No evaluation yet: press e to classify the validation rows (saved to eval.json)."

    def compose(self) -> ComposeResult:
        title = Text()
        title.append(" Evaluate ", style="bold reverse")
        title.append(f" {self.run_dir.name}", style="bold")
        title.append("  classification" + (f" ({self.checkpoint})" if self.checkpoint else ""), style="dim")
        yield Label(title, id="qae-title")
        yield Static("", id="qae-state")
        yield Static("", id="qae-summary")
        with Horizontal(id="clse-top"):
            yield DataTable(id="clse-matrix", cursor_type="none", show_cursor=False)
            yield DataTable(id="clse-classes", cursor_type="none", show_cursor=False, zebra_stripes=True)
        yield DataTable(id="qae-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="qae-detail"):
            yield Static("", id="qae-detail-text")
        yield Footer()

    def load_report(self):
        return load_cls_report(self.run_dir)

    def run_eval(self, base: bool, on_message) -> dict:
        from engine.tasks.cls_infer import evaluate_cls_run

        return evaluate_cls_run(self.run_dir, checkpoint=self.checkpoint, base=base, save=not base, on_message=on_message)

    def summary(self) -> Text:
        return summary_text(self.report, self.base_report)

    def _show(self, report: dict | None) -> None:
        self.report = report
        table = self.table
        table.clear(columns=True)
        matrix, classes = self.query_one("#clse-matrix", DataTable), self.query_one("#clse-classes", DataTable)
        matrix.clear(columns=True)
        classes.clear(columns=True)
        summary = self.query_one("#qae-summary", Static)
        self.query_one("#clse-top").display = report is not None
        if report is None:
            summary.update("")
            self.query_one("#qae-detail-text", Static).update("")
            self.order = []
            return
        summary.update(self.summary())
        self._matrix(report, matrix)
        classes.add_columns("class", "prec", "recall", "F1", "rows")
        for name, s in report.get("per_class", {}).items():
            classes.add_row(Text(name, style="bold"), *(Text(f"{s[k]:.2f}", justify="right") for k in ("precision", "recall", "f1")),
                            Text(str(s["support"]), justify="right"))
        rows = report["rows"]
        self.order = order_wrong_first(rows)
        width = max(40, (self.size.width or self.app.size.width) - 2)
        w_label = max(5, min(12, max((len(n) for n in report.get("labels", [])), default=5)))
        w_text = max(12, width - 2 - 2 * w_label - 5 - 2 * 5)
        table.add_column("", key="ok", width=2)
        table.add_column("gold", key="gold", width=w_label)
        table.add_column("predicted", key="predicted", width=max(w_label, 9))
        table.add_column("p", key="p", width=4)
        table.add_column("text", key="text", width=w_text)
        for i in self.order:
            r = rows[i]
            ok = bool(r.get("correct"))
            pred = label_text(r.get("predicted"))
            p = (r.get("probabilities") or {}).get(pred)
            table.add_row(Text("✓" if ok else "✗", style="green" if ok else "bold red"), cut(label_text(r.get("gold")), w_label),
                          Text(pred, style="" if ok else "red"), Text(f"{p:.2f}" if p is not None else "", justify="right"),
                          cut(r.get("text", ""), w_text), key=str(i))
        self._detail(0)

    def _matrix(self, report: dict, matrix: DataTable) -> None:
        cm = report.get("confusion_matrix") or {}
        names = cm.get("labels") or report.get("labels") or []
        if "matrix" in cm:  # rows: gold, columns: predicted
            top = max((v for row in cm["matrix"] for v in row), default=1)
            matrix.add_column(Text("gold \\ pred", style="dim"), key="gold")
            for n in names:
                matrix.add_column(Text(n, justify="right"), key=n)
            for gi, (n, row) in enumerate(zip(names, cm["matrix"], strict=False)):
                matrix.add_row(Text(n, style="bold"), *(matrix_cell(v, top, gi == pi) for pi, v in enumerate(row)))
        else:  # multi-label: [[tn, fp], [fn, tp]] per label
            matrix.add_columns("label", "tp", "fp", "fn", "tn")
            per = cm.get("per_label") or {}
            top = max((v for m in per.values() for row in m for v in row), default=1)
            for n, ((tn, fp), (fn, tp)) in per.items():
                matrix.add_row(Text(n, style="bold"), matrix_cell(tp, top, True), matrix_cell(fp, top, False),
                               matrix_cell(fn, top, False), Text(str(tn), justify="right", style="dim"))

    def _detail(self, row: int | None) -> None:
        if self.report is None or row is None or not (0 <= row < len(self.order)):
            return
        r = self.report["rows"][self.order[row]]
        width = max(10, min(40, (self.size.width or 80) - 30))
        self.query_one("#qae-detail-text", Static).update(detail_text(r, width))
