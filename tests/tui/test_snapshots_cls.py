"""Snapshots of the classification screens at 80x24 and 100x30: the Template preview (text as tokenised,
label, class bars), the accuracy/F1 chart in the run view, the Evaluate screen (confusion matrix, per-class
figures, misclassified first), the Playground's probability bars, the Data screen and the Config settings.

Update with ``pytest tests/tui/test_snapshots_cls.py --snapshot-update`` and look at the SVGs
(tests/tui/__snapshots__/) before committing them.
"""

from __future__ import annotations

from functools import partial

import pytest
import tui_helpers
from cls_fixtures import cls_bert, cls_settings, make_cls_run, tickets_path, write_cls_eval  # noqa: F401

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=60.0)
SIZES = pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")


@pytest.fixture
def recorded_cls(tmp_path, monkeypatch):
    import time as _time

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    _time.tzset()
    yield make_cls_run("runs", "20251124-100000-cls")
    monkeypatch.delenv("TZ")
    _time.tzset()


@SIZES
def test_cls_template(snap_compare, cls_bert, tickets_path, size):
    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.windows is not None and screen.stats is not None, what="the preview")
        await pilot.pause(0.2)

    cfg = load_config(None, {**cls_settings(cls_bert, "tickets.jsonl"), "cls.max_length": 10})
    assert snap_compare(TuneDeckApp(AppState(config=cfg), start_screen="template"), terminal_size=size,
                        run_before=run_before)


@SIZES
def test_cls_run_view_accuracy_f1_chart(snap_compare, recorded_cls, size):
    async def run_before(pilot):
        await until(pilot, lambda: getattr(pilot.app.screen, "loaded", False), what="the run view")
        await pilot.pause(0.3)

    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs",
                      attach=recorded_cls)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@SIZES
def test_cls_eval_screen(snap_compare, recorded_cls, size):
    write_cls_eval(recorded_cls)

    async def run_before(pilot):
        pilot.app.open_eval(recorded_cls)
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "ClsEvalScreen"
                    and pilot.app.screen.query("#qae-table") and pilot.app.screen.table.row_count == 9, what="the eval")
        await pilot.pause(0.3)

    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="train")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@SIZES
def test_cls_playground(snap_compare, recorded_cls, size):
    """The layout, with two fixed answers drawn (the real classifying is tests/tui/test_cls_playground.py)."""
    from tui.widgets.cls_play import EXAMPLE_TEXT
    from tui.widgets.qa_play import QaAnswered

    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.runs, what="the classification runs")
        key = (screen.run_dir, EXAMPLE_TEXT, None)
        screen._key = key
        screen.post_message(QaAnswered(key, "tuned", {"bug": 0.912, "question": 0.061, "praise": 0.027}))
        screen.post_message(QaAnswered(key, "base", {"bug": 0.318, "question": 0.355, "praise": 0.327}))
        await until(pilot, lambda: "base" in screen.answers, what="the answers")
        await pilot.pause(0.3)

    cfg = load_config(None, {"task": "classification", "output.runs_dir": "runs"})
    assert snap_compare(TuneDeckApp(AppState(config=cfg), start_screen="playground"), terminal_size=size,
                        run_before=run_before)


def test_cls_data_80x24(snap_compare, tickets_path):
    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.page_rows and getattr(screen, "cls_probe", None) is not None, what="the data")
        def on_row_8() -> bool:  # (re)move the cursor until the detail follows: a loaded machine lays out late
            if screen.table.cursor_row != 7:
                screen.table.move_cursor(row=7)
            return "Row 8" in str(screen.query_one("#detail-text").render())
        await until(pilot, on_row_8, what="row 8")
        await pilot.pause(0.2)

    cfg = load_config(None, {"task": "classification", "data.path": "tickets.jsonl"})
    assert snap_compare(TuneDeckApp(AppState(config=cfg), start_screen="data"), terminal_size=(80, 24),
                        run_before=run_before)


def test_cls_config_100x30(snap_compare, tickets_path, monkeypatch):
    import engine.memory

    monkeypatch.setattr(engine.memory, "device_memory", lambda: ("RAM", 16.0))  # the estimate from a fixed device
    monkeypatch.setattr(engine.memory, "model_shape", lambda name: dict(engine.memory.DEMO_SHAPE))

    async def run_before(pilot):
        await pilot.pause(0.3)
        form = pilot.app.screen.query_one("#cfg-form")
        form.scroll_to_widget(pilot.app.screen.query_one("#cfg-cls"), animate=False, top=True)
        await pilot.pause(0.3)

    cfg = load_config(None, {"task": "classification", "data.path": "tickets.jsonl", "model.name": "minilm-l6-v2"})
    assert snap_compare(TuneDeckApp(AppState(config=cfg), start_screen="config"), terminal_size=(100, 30),
                        run_before=run_before)
