"""EM/F1 in the app for extractive-QA runs: the chart beside the loss on the Train screen (a real tiny QA run
trained in the app) and in the run view, the Runs table's EM/F1 cell; a causal-LM run shows no EM/F1 chart."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import tui_helpers
from qa_fixtures import QA_SCORES, make_qa_run, qa_bert, qa_run, qa_settings, squad_path  # noqa: F401
from run_fixtures import make_run
from tui_helpers import text

from engine.config import load_config
from engine.events import EvalLogged, read_events
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=180.0)


async def test_training_a_qa_run_charts_em_and_f1_beside_the_loss(qa_bert, squad_path):
    cfg = load_config(None, {**qa_settings(qa_bert, squad_path), "output.name": "qa"})
    app = TuneDeckApp(AppState(config=cfg), start_screen="train")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        charts = screen.monitor.charts
        qa_chart = screen.query_one("#chart-qa")
        assert not qa_chart.display  # nothing scored yet: the side chart is the learning rate
        await pilot.press("s")
        await until(pilot, lambda: screen.outcome is not None, what="the run to end")
        await pilot.pause(0.6)
        assert type(screen.outcome).__name__ == "RunFinished", screen.outcome
        evals = [e for e in read_events(Path(screen.run_dir) / "metrics.jsonl") if isinstance(e, EvalLogged)]
        assert [e.step for e in evals] == [10, 20, 30, 40]
        # The chart holds every eval's EM and F1, as the engine logged them, and is the side chart shown.
        assert charts.history.eval_f1 == [e.f1 for e in evals]
        assert charts.history.eval_em == [e.exact_match for e in evals]
        assert qa_chart.display and not screen.query_one("#chart-lr").display
        last = evals[-1]
        assert f"EM {last.exact_match:.1f}" in qa_chart.title and f"F1 {last.f1:.1f}" in qa_chart.title
        assert f"EM {last.exact_match:.1f} · F1 {last.f1:.1f}" in text(app, "#status-line")
        log = "\n".join(str(line.text) for line in screen.query_one("#log").lines)
        assert f"exact match {last.exact_match:.1f}, F1 {last.f1:.1f}" in log
        # c cycles EM/F1 -> learning rate -> tokens/s -> EM/F1.
        await pilot.press("c")
        await pilot.pause(0.1)
        assert screen.query_one("#chart-lr").display and not qa_chart.display
        await pilot.press("c", "c")
        await pilot.pause(0.1)
        assert qa_chart.display


async def test_run_view_and_runs_table_show_em_f1_of_a_real_qa_run(qa_run, tmp_path, monkeypatch):
    evals = [e for e in read_events(qa_run / "metrics.jsonl") if isinstance(e, EvalLogged)]
    last = evals[-1]
    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": str(qa_run.parent)})), start_screen="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: getattr(app.screen, "listed", False), what="the listing")
        await pilot.pause(0.1)
        table = app.screen.query_one("DataTable")
        row = [str(c) for c in table.get_row_at(0)]
        assert f"EM {last.exact_match:.1f} F1 {last.f1:.1f}" in row
        assert f"exact match {last.exact_match:.1f}, F1 {last.f1:.1f}" in text(app, "#runs-detail")
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "loaded", False), what="the run view")
        await pilot.pause(0.2)
        h = app.screen.monitor.charts.history
        assert h.eval_f1 == [e.f1 for e in evals] and app.screen.query_one("#chart-qa").display


async def test_a_causal_lm_run_has_no_em_f1_chart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rd = make_run("runs", "20251124-090000-base", "finished")
    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run(rd)
        await until(pilot, lambda: getattr(app.screen, "loaded", False), what="the run view")
        await pilot.pause(0.2)
        h = app.screen.monitor.charts.history
        assert h.eval_loss and all(math.isnan(v) for v in h.eval_f1)
        assert not app.screen.query_one("#chart-qa").display and app.screen.query_one("#chart-lr").display
        assert "EM" not in text(app, "#status-line")
