"""The Template screen of an extractive-QA run (tui/widgets/qa_preview.py), through Pilot on the real app:
the windows the tokenizer makes, their captions, the start/end tokens, and the task switching the screen."""

from __future__ import annotations

from functools import partial

import tui_helpers
from qa_fixtures import qa_bert, qa_settings, squad_path  # noqa: F401
from tui_helpers import text

from engine.config import load_config
from engine.tasks.qa_data import load_examples
from engine.tasks.qa_features import preview_windows
from engine.tasks.qa_metrics import normalize_answer
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=60.0)


def make_app(qa_bert, data, screen="template", **settings) -> TuneDeckApp:
    cfg = load_config(None, {**qa_settings(qa_bert, data), **settings})
    return TuneDeckApp(AppState(config=cfg), start_screen=screen)


async def ready(pilot, screen, qid: str | None = None):
    await until(pilot, lambda: screen.windows is not None and screen.stats is not None
                and (qid is None or screen.rows[screen.index]["id"] == qid), what="QA preview")
    await pilot.pause(0.05)


async def goto(pilot, screen, qid: str):
    for _ in range(len(screen.rows)):
        if screen.rows[screen.index]["id"] == qid and screen.windows:
            break
        await pilot.press("n")
        await until(pilot, lambda i=screen.index: screen.windows is not None, what="next question")
        await pilot.pause(0.05)
    await ready(pilot, screen, qid)


def spans_with(widget, style_part: str) -> list[str]:
    body = str(widget.render())
    return [body[s.start:s.end] for s in widget.content.spans if style_part in str(s.style)]


async def test_qa_preview_windows_captions_and_start_end_tokens(qa_bert, squad_path):
    from transformers import AutoTokenizer

    app = make_app(qa_bert, squad_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert type(screen).__name__ == "QaTemplateScreen"
        await ready(pilot, screen)
        # The whole set: every window counted, no answer lost at these settings.
        assert "7 questions (6 answerable) in 11 windows · 0 answers lost to truncation" in text(app, "#qat-stats")

        # A long context is cut into several windows; the preview opens on the one holding the answer.
        await goto(pilot, screen, "q2")
        windows = screen.windows
        assert len(windows) == 3
        holding = [w.index for w in windows if w.has_answer]
        assert holding and screen.window == holding[0] - 1
        assert text(app, "#qat-window").startswith(f"window {holding[0]} of 3: answer here")
        assert "answer: the exact match and F1 chart" in text(app, "#qat-head")
        assert "What does the run view show" in text(app, "#qat-head")
        # The gold answer is highlighted in the context.
        body = screen.query_one("#qat-body")
        assert spans_with(body, "on green") == ["the exact match and F1 chart"]

        # Another window of the same question: no answer there, trained to point at CLS.
        empty = next(w for w in windows if not w.has_answer)
        while screen.window != empty.index - 1:
            await pilot.press("w")
        assert text(app, "#qat-window").startswith(
            f"window {empty.index} of 3: no answer in this window: trained to point at CLS")

        # Token view of the answer's window: the marked tokens decode to the answer, as the trainer labels them.
        while not screen.windows[screen.window].has_answer:
            await pilot.press("w")
        await pilot.press("v")
        await pilot.pause(0.05)
        view = screen.windows[screen.window]
        tokens_shown = text(app, "#qat-body")
        assert f"▸{view.tokens[view.start]}" in tokens_shown and f"{view.tokens[view.end]}◂" in tokens_shown
        tok = AutoTokenizer.from_pretrained(str(qa_bert))
        decoded = tok.convert_tokens_to_string(view.tokens[view.start:view.end + 1])
        assert normalize_answer(decoded) == normalize_answer("the exact match and F1 chart")
        # ... and they are the labels encode_examples gives (the very function the trainer calls).
        cfg = app.state.config
        rows, _ = load_examples(str(squad_path))
        same = preview_windows(next(r for r in rows if r["id"] == "q2"), tok, cfg.qa)[screen.window]
        assert (same.start, same.end) == (view.start, view.end)

        # An unanswerable question: every window points at CLS, marked on the CLS token.
        await pilot.press("v")
        await goto(pilot, screen, "q6")
        assert "unanswerable" in text(app, "#qat-head")
        assert all(not w.has_answer for w in screen.windows)
        assert "trained to point at CLS" in text(app, "#qat-window")
        await pilot.press("v")
        await pilot.pause(0.05)
        assert text(app, "#qat-body").startswith("[CLS]◂start,end")

        # p goes back.
        before = screen.index
        await pilot.press("p")
        await until(pilot, lambda: screen.index == before - 1 and screen.windows is not None, what="previous")


async def test_qa_preview_counts_answers_lost_to_truncation(qa_bert, squad_path):
    # Windows of 24 tokens with no overlap to speak of: the 6-word answer of q7 no longer fits whole in one.
    app = make_app(qa_bert, squad_path, **{"qa.max_length": 24, "qa.doc_stride": 2})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        stats = screen.stats
        assert stats.lost_to_truncation >= 1
        assert f"{stats.lost_to_truncation} answers lost to truncation ({', '.join(stats.lost_ids[:3])}" \
            in text(app, "#qat-stats")


async def test_the_task_chooses_the_template_screen(qa_bert, squad_path):
    app = make_app(qa_bert, squad_path, screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        await app.switch_mode("template")
        assert type(app.screen).__name__ == "QaTemplateScreen"
        await app.switch_mode("data")
        app.state.set_field("task", "causal_lm")
        await app.switch_mode("template")
        assert type(app.screen).__name__ == "TemplateScreen"
        await app.switch_mode("data")
        app.state.set_field("task", "extractive_qa")
        await app.switch_mode("template")
        assert type(app.screen).__name__ == "QaTemplateScreen"
        await pilot.pause(0.05)
