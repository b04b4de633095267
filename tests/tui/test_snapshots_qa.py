"""Snapshots of the extractive-QA screens at 80x24 and 100x30: the Template preview (windows, start/end
tokens), the EM/F1 chart, the Evaluate screen's QA rows and the QA Playground.

Update with ``pytest tests/tui/test_snapshots_qa.py --snapshot-update`` and look at the SVGs
(tests/tui/__snapshots__/) before committing them.
"""

from __future__ import annotations

from functools import partial

from engine.config import load_config
from qa_fixtures import qa_bert, qa_settings, squad_path  # noqa: F401
from tui.app import TuneDeckApp
from tui.state import AppState
import tui_helpers

until = partial(tui_helpers.until, timeout=60.0)


def qa_app(qa_bert, data, screen="template", **settings) -> TuneDeckApp:
    cfg = load_config(None, {**qa_settings(qa_bert, data), **settings})
    return TuneDeckApp(AppState(config=cfg), start_screen=screen)


async def _preview_on(pilot, qid: str):
    screen = pilot.app.screen
    await until(pilot, lambda: screen.windows is not None and screen.stats is not None, what="preview")
    while screen.rows[screen.index]["id"] != qid:
        await pilot.press("n")
        await until(pilot, lambda: screen.windows is not None, what="next")
    await until(pilot, lambda: screen.windows is not None and screen.rows[screen.index]["id"] == qid, what=qid)
    await pilot.pause(0.2)


def test_qa_template_80x24(snap_compare, qa_bert, squad_path):
    async def run_before(pilot):
        await _preview_on(pilot, "q2")

    assert snap_compare(qa_app(qa_bert, "tiny.json"), terminal_size=(80, 24), run_before=run_before)


def test_qa_template_tokens_100x30(snap_compare, qa_bert, squad_path):
    async def run_before(pilot):
        await _preview_on(pilot, "q2")
        await pilot.press("v")
        await pilot.pause(0.2)

    assert snap_compare(qa_app(qa_bert, "tiny.json"), terminal_size=(100, 30), run_before=run_before)


def test_qa_template_no_answer_window_100x30(snap_compare, qa_bert, squad_path):
    async def run_before(pilot):
        await _preview_on(pilot, "q2")
        screen = pilot.app.screen
        while screen.windows[screen.window].has_answer:
            await pilot.press("w")
        await pilot.pause(0.2)

    assert snap_compare(qa_app(qa_bert, "tiny.json"), terminal_size=(100, 30), run_before=run_before)
