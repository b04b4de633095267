"""Snapshots of the extractive-QA screens at 80x24 and 100x30: the Template preview (windows, start/end
tokens), the EM/F1 chart, the Evaluate screen's QA rows and the QA Playground.

Update with ``pytest tests/tui/test_snapshots_qa.py --snapshot-update`` and look at the SVGs
(tests/tui/__snapshots__/) before committing them.
"""

from __future__ import annotations

from functools import partial

import pytest
import tui_helpers
from qa_fixtures import make_qa_run, qa_bert, qa_settings, squad_path, write_qa_eval  # noqa: F401
from run_fixtures import make_run

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

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


@pytest.fixture
def recorded_qa(tmp_path, monkeypatch):
    import time as _time

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    _time.tzset()
    make_run("runs", "20251124-090000-base", "finished")
    yield make_qa_run("runs", "20251124-100000-qa")
    monkeypatch.delenv("TZ")
    _time.tzset()


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_qa_run_view_em_f1_chart(snap_compare, recorded_qa, size):
    async def run_before(pilot):
        await until(pilot, lambda: getattr(pilot.app.screen, "loaded", False), what="the run view")
        await pilot.pause(0.3)

    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs",
                      attach=recorded_qa)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_qa_runs_list_80x24(snap_compare, recorded_qa):
    async def run_before(pilot):
        await until(pilot, lambda: getattr(pilot.app.screen, "listed", False), what="the listing")
        await pilot.pause(0.2)

    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_qa_eval_screen(snap_compare, recorded_qa, size):
    write_qa_eval(recorded_qa)

    async def run_before(pilot):
        await until(pilot, lambda: getattr(pilot.app.screen, "listed", False), what="the listing")
        pilot.app.open_eval(recorded_qa)
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "QaEvalScreen", what="the QA eval screen")
        await pilot.pause(0.3)

    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_qa_playground(snap_compare, recorded_qa, size):
    """The layout, with two fixed answers drawn (the real answering is tests/tui/test_qa_playground.py)."""
    from engine.tasks.qa_postprocess import Prediction
    from tui.widgets.qa_play import EXAMPLE_CONTEXT, QaAnswered

    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.runs, what="the QA runs")
        key = (screen.run_dir, screen.query_one("#qap-question").value, EXAMPLE_CONTEXT)
        screen._key = key
        start = EXAMPLE_CONTEXT.index("s to start")
        screen.post_message(QaAnswered(key, "tuned", Prediction("q", "s", 0.91, start, "s", -3.0)))
        wrong = EXAMPLE_CONTEXT.index("Press x")
        screen.post_message(QaAnswered(key, "base", Prediction("q", "Press x to stop", 0.04, wrong, "Press x to stop", 0.2)))
        await pilot.pause(0.3)

    cfg = load_config(None, {"task": "extractive_qa", "output.runs_dir": "runs"})
    app = TuneDeckApp(AppState(config=cfg), start_screen="playground")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_qa_data_80x24(snap_compare, squad_path):
    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.page_rows and getattr(screen, "qa_probed", False), what="QA data")
        def on_q2() -> bool:  # (re)move the cursor until the detail follows: a loaded machine lays out late
            if screen.table.cursor_row != 2:
                screen.table.move_cursor(row=2)
            return "id q2" in str(screen.query_one("#detail-text").render())
        await until(pilot, on_q2, what="q2")
        await pilot.pause(0.2)

    cfg = load_config(None, {"task": "extractive_qa", "data.path": "tiny.json"})
    assert snap_compare(TuneDeckApp(AppState(config=cfg), start_screen="data"), terminal_size=(80, 24),
                        run_before=run_before)


def test_qa_config_100x30(snap_compare, squad_path, monkeypatch):
    import engine.memory

    monkeypatch.setattr(engine.memory, "device_memory", lambda: ("RAM", 16.0))  # the estimate from a fixed device
    monkeypatch.setattr(engine.memory, "model_shape", lambda name: dict(engine.memory.DEMO_SHAPE))

    async def run_before(pilot):
        await pilot.pause(0.3)
        form = pilot.app.screen.query_one("#cfg-form")
        form.scroll_to_widget(pilot.app.screen.query_one("#cfg-qa"), animate=False, top=True)
        await pilot.pause(0.3)

    cfg = load_config(None, {"task": "extractive_qa", "data.path": "tiny.json", "model.name": "minilm-l6-v2"})
    assert snap_compare(TuneDeckApp(AppState(config=cfg), start_screen="config"), terminal_size=(100, 30),
                        run_before=run_before)
