"""Accuracy and F1 in the app for classification runs: the scores chart beside the loss on the Train screen
(a real tiny classification run trained in the app, its eval events' ``accuracy`` and ``f1``, 0..1), the
status line and the log; the same chart in the run view of a recorded run."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import tui_helpers
from cls_fixtures import CLS_SCORES, cls_bert, cls_settings, make_cls_run, tickets_path  # noqa: F401
from tui_helpers import text

from engine.config import load_config
from engine.events import EvalLogged, read_events
from tui.app import TuneDeckApp
from tui.state import AppState
from tui.widgets.charts import History

until = partial(tui_helpers.until, timeout=180.0)


async def test_training_a_classification_run_charts_accuracy_and_f1_beside_the_loss(cls_bert, tickets_path):
    cfg = load_config(None, {**cls_settings(cls_bert, tickets_path), "output.name": "cls"})
    app = TuneDeckApp(AppState(config=cfg), start_screen="train")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        charts = screen.monitor.charts
        chart = screen.query_one("#chart-qa")
        assert not chart.display  # nothing scored yet
        await pilot.press("s")
        await until(pilot, lambda: screen.outcome is not None, what="the run to end")
        assert type(screen.outcome).__name__ == "RunFinished", screen.outcome
        evals = [e for e in read_events(Path(screen.run_dir) / "metrics.jsonl") if isinstance(e, EvalLogged)]
        assert [e.step for e in evals] == [10, 20, 30] and all(e.accuracy is not None for e in evals)
        await until(pilot, lambda: chart.display and charts.history.eval_acc == [e.accuracy for e in evals],
                    what="the accuracy chart")
        assert charts.history.eval_f1 == [e.f1 for e in evals]
        assert chart.cls and all(math.isnan(v) for v in charts.history.eval_em)  # no exact match here
        assert not screen.query_one("#chart-lr").display  # the scores are the side chart shown
        last = evals[-1]
        await until(pilot, lambda: f"acc {last.accuracy:.2f}" in chart.title, what="the chart's title")
        assert f"F1 {last.f1:.2f}" in chart.title
        assert f"accuracy {last.accuracy:.3f} · F1 {last.f1:.3f}" in text(app, "#status-line")
        log = "\n".join(str(line.text) for line in screen.query_one("#log").lines)
        assert f"accuracy {last.accuracy:.3f}, F1 {last.f1:.3f}" in log and "exact match" not in log


def test_the_history_of_a_recorded_classification_run_holds_accuracy_and_f1(tmp_path):
    rd = make_cls_run(tmp_path, "20261201-130000-cls")
    h = History.from_events(read_events(rd / "metrics.jsonl"))
    assert h.eval_steps == sorted(CLS_SCORES)
    assert h.eval_acc == [a for a, _ in CLS_SCORES.values()] and h.eval_f1 == [f for _, f in CLS_SCORES.values()]


def test_a_qa_history_has_no_accuracy(tmp_path):
    from qa_fixtures import make_qa_run

    h = History.from_events(read_events(make_qa_run(tmp_path, "20261201-120000-qa") / "metrics.jsonl"))
    assert all(math.isnan(v) for v in h.eval_acc) and all(math.isfinite(v) for v in h.eval_em)
