"""The Evaluate screen of an extractive-QA run (tui/widgets/qa_eval.py) on a real tiny QA run: EM/F1 from
eval.json, one row per question with wrong answers first, and the context with gold and predicted spans."""

from __future__ import annotations

import json
import shutil
from functools import partial

import tui_helpers
from qa_fixtures import qa_bert, qa_run  # noqa: F401
from tui_helpers import text

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=120.0)


def spans_with(widget, style_part: str) -> list[str]:
    body = str(widget.render())
    return [body[s.start:s.end] for s in widget.content.spans if style_part in str(s.style)]


async def test_qa_eval_lists_wrong_answers_first_and_marks_gold_and_predicted(qa_run, tmp_path):
    run = tmp_path / qa_run.name
    shutil.copytree(qa_run, run)
    report = json.loads((run / "eval.json").read_text())
    questions = report["questions"]
    wrong = [q for q in questions if not q["correct"]]
    assert wrong and len(wrong) < len(questions)  # the tiny run gets some right and some wrong
    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": str(tmp_path)})), start_screen="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_eval(run)
        await until(pilot, lambda: type(app.screen).__name__ == "QaEvalScreen", what="the QA eval screen")
        await pilot.pause(0.2)
        screen = app.screen
        summary = text(app, "#qae-summary")
        assert f"EM {report['exact_match']:.1f} · F1 {report['f1']:.1f} on {len(questions)} validation questions" in summary
        assert f"answerable ({report['answerable']['total']})" in summary
        table = screen.table
        assert table.row_count == len(questions)
        marks = [str(table.get_row_at(r)[0]) for r in range(table.row_count)]
        assert marks == ["✗"] * len(wrong) + ["✓"] * (len(questions) - len(wrong))  # wrong answers first
        first = questions[int(table.coordinate_to_cell_key((0, 0)).row_key.value)]
        assert not first["correct"] and str(table.get_row_at(0)[2]).startswith(first["question"][:20])
        # The detail below: the context with the gold answer (green) and the prediction (magenta) marked.
        detail = screen.query_one("#qae-detail-text")
        assert first["question"] in str(detail.render()) and "✗ wrong" in str(detail.render())
        golds = first["gold_answers"]
        marked_gold = spans_with(detail, "on green")
        assert (golds[0] in marked_gold) if golds else "(no answer: unanswerable)" in str(detail.render())
        if first["predicted"]:
            assert first["predicted"] in spans_with(detail, "magenta")
        # Moving down shows the next question's context.
        await pilot.press("down")
        await pilot.pause(0.1)
        second = questions[int(table.coordinate_to_cell_key((1, 0)).row_key.value)]
        assert second["question"] in str(detail.render())

        # e evaluates again (a real model in a worker) and saves eval.json; b scores the untrained head.
        (run / "eval.json").unlink()
        await pilot.press("e")
        await until(pilot, lambda: not screen.running and (run / "eval.json").exists(), what="the evaluation")
        await pilot.pause(0.1)
        again = json.loads((run / "eval.json").read_text())
        assert again["f1"] == report["f1"] and "saved to" in text(app, "#qae-state")
        await pilot.press("b")
        await until(pilot, lambda: not screen.running and screen.base_report is not None, what="the base head")
        await pilot.pause(0.1)
        assert f"untrained head: EM {screen.base_report['exact_match']:.1f}" in text(app, "#qae-summary")
        assert json.loads((run / "eval.json").read_text())["base"] is False  # the base score is not saved over it


async def test_qa_eval_without_a_report_says_what_to_press(qa_run, tmp_path):
    run = tmp_path / qa_run.name
    shutil.copytree(qa_run, run)
    (run / "eval.json").unlink()
    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": str(tmp_path)})), start_screen="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_eval(run)
        await until(pilot, lambda: type(app.screen).__name__ == "QaEvalScreen", what="the QA eval screen")
        await pilot.pause(0.1)
        assert "No evaluation yet: press e" in text(app, "#qae-state")
        assert app.screen.table.row_count == 0
