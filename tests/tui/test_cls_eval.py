"""The Evaluate screen of a classification run (tui/widgets/cls_eval.py) on a real tiny run: accuracy and
macro P/R/F1 from eval.json, the confusion matrix with label names coloured by count, per-class figures,
the misclassified rows first, and a row's full text, gold, predicted label and probabilities."""

from __future__ import annotations

import json
import shutil
from functools import partial

import tui_helpers
from cls_fixtures import cls_bert, cls_run, make_cls_run, write_cls_eval  # noqa: F401
from tui_helpers import text

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=120.0)


def runs_app(tmp_path) -> TuneDeckApp:
    # Not the Runs screen: its cells for classification runs are another change (accuracy/F1 there).
    return TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": str(tmp_path)})), start_screen="config")


async def test_cls_eval_shows_scores_matrix_per_class_and_misclassified_first(tmp_path):
    run = make_cls_run(tmp_path, "20261201-130000-cls")
    report = json.loads(write_cls_eval(run).read_text())
    app = runs_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_eval(run)
        await until(pilot, lambda: type(app.screen).__name__ == "ClsEvalScreen", what="the classification eval screen")
        screen = app.screen
        await until(pilot, lambda: screen.query("#qae-table") and screen.table.row_count == 9, what="the rows")
        summary = text(app, "#qae-summary")
        assert "accuracy 0.778 · F1 0.752 · precision 0.806 · recall 0.750 (macro)" in summary
        assert "weighted F1 0.768" in summary and "9 validation rows" in summary
        # The confusion matrix: label names on both axes, counts coloured (green diagonal, red off it).
        matrix = screen.query_one("#clse-matrix")
        assert [str(c.label) for c in matrix.columns.values()] == ["gold \\ pred", "bug", "praise", "question"]
        rows = [[str(c).strip() for c in matrix.get_row_at(r)] for r in range(matrix.row_count)]
        assert rows == [["bug", "3", "0", "1"], ["praise", "1", "1", "0"], ["question", "0", "0", "3"]]
        diag, off, zero = matrix.get_row_at(0)[1], matrix.get_row_at(0)[3], matrix.get_row_at(0)[2]
        assert "on rgb(0," in str(diag.style) and "on rgb(" in str(off.style) and "rgb(0," not in str(off.style)
        assert "dim" in str(zero.style)
        # Per-class figures.
        classes = screen.query_one("#clse-classes")
        per = {str(classes.get_row_at(r)[0]): [str(c) for c in classes.get_row_at(r)[1:]] for r in range(classes.row_count)}
        assert per["praise"] == ["1.00", "0.50", "0.67", "2"] and per["question"][3] == "3"
        # Misclassified first, the most confident mistake first.
        table = screen.table
        marks = [str(table.get_row_at(r)[0]) for r in range(table.row_count)]
        assert marks == ["✗", "✗"] + ["✓"] * 7
        first = report["rows"][int(table.coordinate_to_cell_key((0, 0)).row_key.value)]
        assert first["row"] == 2 and first["predicted"] == "question"  # p 0.62 beats row 8's 0.48
        detail = screen.query_one("#qae-detail-text")
        body = str(detail.render())
        assert first["text"] in body and "✗ misclassified" in body and "gold: bug" in body and "predicted: question" in body
        assert "question*" not in body and "bug*      0.310" in body and "question  0.620" in body  # bars, gold starred
        await pilot.press("down")
        await until(pilot, lambda: report["rows"][8]["text"] in str(detail.render()), what="the next row")


async def test_cls_eval_evaluates_a_real_run_and_scores_the_untrained_head(cls_run, tmp_path):
    run = tmp_path / cls_run.name
    shutil.copytree(cls_run, run)
    saved = json.loads((run / "eval.json").read_text())
    (run / "eval.json").unlink()
    app = runs_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_eval(run)
        await until(pilot, lambda: type(app.screen).__name__ == "ClsEvalScreen", what="the eval screen")
        screen = app.screen
        await until(pilot, lambda: screen.query("#qae-state") and "press e to classify" in text(app, "#qae-state"), what="the empty state")
        await pilot.press("e")
        await until(pilot, lambda: not screen.running and (run / "eval.json").exists(), what="the evaluation")
        again = json.loads((run / "eval.json").read_text())
        assert again["accuracy"] == saved["accuracy"] and again["f1"] == saved["f1"]
        await until(pilot, lambda: screen.table.row_count == len(again["rows"]), what="the rows")
        assert f"accuracy {again['accuracy']:.3f}" in text(app, "#qae-summary") and "saved to" in text(app, "#qae-state")
        await pilot.press("b")
        await until(pilot, lambda: not screen.running and screen.base_report is not None, what="the base head")
        await until(pilot, lambda: "untrained head: accuracy" in text(app, "#qae-summary"), what="the base line")
        assert json.loads((run / "eval.json").read_text())["base"] is False  # the base score is not saved over it
