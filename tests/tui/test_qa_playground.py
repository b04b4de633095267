"""The Playground of an extractive-QA run (tui/widgets/qa_play.py) on a real tiny QA run: a context and a
question in, the tuned and the base model's answers highlighted in the context, as `tunedeck generate` gives them."""

from __future__ import annotations

from functools import partial

import tui_helpers
from qa_fixtures import SHORT_B, qa_bert, qa_run  # noqa: F401
from tui_helpers import text

from engine.config import load_config
from engine.tasks.qa_infer import answer_question
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=120.0)


def spans_with(widget, style_part: str) -> list[str]:
    body = str(widget.render())
    return [body[s.start:s.end] for s in widget.content.spans if style_part in str(s.style)]


async def test_qa_playground_answers_with_the_tuned_and_the_base_head(qa_run):
    question = "Which key looks for new runs?"
    tuned = answer_question(qa_run, question, SHORT_B)
    base = answer_question(qa_run, question, SHORT_B, base=True)
    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": str(qa_run.parent)})), start_screen="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: getattr(app.screen, "listed", False), what="the listing")
        await pilot.press("p")  # a QA run from the Runs screen opens the QA playground
        await until(pilot, lambda: type(app.screen).__name__ == "QaPlayScreen" and app.screen.runs, what="QA playground")
        screen = app.screen
        assert screen.query_one("#qap-run").value == str(qa_run)
        screen.query_one("#qap-question").value = question
        screen.query_one("#qap-context").text = SHORT_B
        screen.query_one("#qap-question").focus()
        await pilot.press("enter")
        await until(pilot, lambda: not screen.asking and len(screen.answers) == 2, what="both answers")
        await pilot.pause(0.1)
        got_t, got_b = screen.answers["tuned"], screen.answers["base"]
        assert (got_t.text, got_t.start_char) == (tuned.text, tuned.start_char)
        assert (got_b.text, got_b.start_char) == (base.text, base.start_char)
        assert abs(got_t.score - tuned.score) < 1e-4 and abs(got_b.score - base.score) < 1e-4
        for kind, pred, style in (("tuned", tuned, "on green"), ("base", base, "on yellow")):
            pane = screen.query_one(f"#qap-{kind}")
            assert f"score {pred.score:.2f}" in str(pane.render())
            assert SHORT_B in str(pane.render())
            if pred.text:  # highlighted in the answer line and in the context
                assert spans_with(pane, style).count(pred.text) == 2
        # Esc goes back to the Runs screen.
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "RunsScreen", what="back to Runs")


async def test_qa_playground_is_the_playground_mode_of_a_qa_config(qa_run):
    cfg = load_config(None, {"task": "extractive_qa", "output.runs_dir": str(qa_run.parent)})
    app = TuneDeckApp(AppState(config=cfg), start_screen="playground")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert type(screen).__name__ == "QaPlayScreen"
        await until(pilot, lambda: screen.runs, what="the QA runs")
        assert screen.runs == [str(qa_run)]
        screen.query_one("#qap-question").value = ""
        await pilot.press("ctrl+s")
        assert "give both a question and a context" in text(app, "#qap-state")
