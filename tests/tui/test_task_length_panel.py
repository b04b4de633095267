"""The token-length panel on the classification and extractive-QA Template screens
(tui/widgets/task_length_hist.py): `l` shows the histogram of every row as the task's trainer tokenises it,
`m`/`M` set cls.max_length / qa.max_length to p95/p99 through AppState.set_field."""

from __future__ import annotations

from functools import partial

import pytest
import tui_helpers
from cls_fixtures import cls_bert, cls_settings, tickets_path  # noqa: F401
from qa_fixtures import qa_bert, squad_path  # noqa: F401
from tui_helpers import text

from engine import lengths as lengths_mod
from engine.config import load_config
from engine.tasks import get_task
from engine.tasks.task_lengths import measure_task, suggest_max_length
from tui.app import TuneDeckApp
from tui.state import AppState
from tui.widgets.task_length_hist import TaskLengthPanel

until = partial(tui_helpers.until, timeout=90.0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(lengths_mod, "cache_root", lambda: tmp_path / "lengths-cache")


def _tok(cfg):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(cfg.model.name)


async def opened_panel(pilot, screen, rows_are: str) -> TaskLengthPanel:
    """Once the Template screen has its rows (``rows_are`` names them), l opens the lengths panel; it
    returns when the lengths are measured."""
    await until(pilot, lambda: screen.rows is not None, what=rows_are)
    await pilot.press("l")
    panel = screen.query_one(TaskLengthPanel)
    await until(pilot, lambda: panel.lengths is not None, what="the lengths measured")
    return panel


async def test_cls_lengths_panel_sets_cls_max_length_to_p95_then_p99(cls_bert, tickets_path):
    cfg = load_config(None, {**cls_settings(cls_bert, tickets_path), "cls.max_length": 64})
    rows, _ = get_task("classification").load_examples(cfg)
    tl = measure_task(cfg, rows, _tok(cfg), use_cache=False)
    fig = tl.figures(64)
    assert fig.p95 != 64
    app = TuneDeckApp(AppState(config=cfg), start_screen="template")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        panel = await opened_panel(pilot, screen, "the rows")
        assert panel.display and not screen.query_one("#qat-view").display
        figs = text(screen, "#len-figs")
        assert f"p95 {fig.p95:,} · p99 {fig.p99:,} · max {fig.max:,}" in figs and "over cls.max_length 64" in figs
        await pilot.press("m")
        await until(pilot, lambda: cfg.cls.max_length == fig.p95, what="cls.max_length = p95")
        assert app.state.dirty and "cls.max_length" not in app.state.invalid
        await until(pilot, lambda: f"over cls.max_length {fig.p95:,}" in text(screen, "#len-figs"), what="redrawn")
        await pilot.press("M")
        await until(pilot, lambda: cfg.cls.max_length == fig.p99, what="cls.max_length = p99")
        await pilot.press("escape")  # back to the row, whose head counts against the new max_length
        await until(pilot, lambda: screen.query_one("#qat-view").display and not panel.display, what="the row back")
        await until(pilot, lambda: f"cls.max_length {fig.p99}" in text(screen, "#qat-head"), what="the head's max_length")


async def test_qa_lengths_panel_shows_windows_and_sets_qa_max_length(qa_bert, squad_path):
    cfg = load_config(None, {"task": "extractive_qa", "model.name": str(qa_bert), "data.path": str(squad_path),
                             "qa.max_length": 48, "qa.doc_stride": 16})
    rows, _ = get_task("extractive_qa").load_examples(cfg)
    tl = measure_task(cfg, rows, _tok(cfg), use_cache=False)
    lo, _med, hi, total = tl.window_figures()
    want = suggest_max_length(tl, cfg, 95, _tok(cfg).model_max_length)
    assert want % 8 == 0 and want != 48
    app = TuneDeckApp(AppState(config=cfg), start_screen="template")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await opened_panel(pilot, screen, "the questions")
        figs = text(screen, "#len-figs")
        assert f"{total:,} windows at qa.max_length 48, doc_stride 16: per question {lo:,}-{hi:,}" in figs
        assert f"{tl.lost:,} answers lost to truncation" in figs
        await pilot.press("m")
        await until(pilot, lambda: cfg.qa.max_length == want, what="qa.max_length = p95, a multiple of 8")
        # the windows follow: measured again at the new max_length
        after = measure_task(cfg, rows, _tok(cfg), use_cache=False).window_figures()[3]
        await until(pilot, lambda: f"{after:,} windows at qa.max_length {want}" in text(screen, "#len-figs"),
                    what="the windows at the new max_length")
