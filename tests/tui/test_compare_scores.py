"""Runs table and compare view: EM/F1 for extractive-QA runs, accuracy/macro F1 for classification runs (from
eval.json, else the last eval event) beside the loss; causal-LM runs show their loss as before."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from qa_fixtures import make_qa_run
from run_fixtures import T0, make_run, step_events
from tui_helpers import text, until

from engine import rundir
from engine.config import load_config, save_config
from engine.events import EvalLogged, MetricsWriter, RunFinished, RunStarted
from tui.app import TuneDeckApp
from tui.screens.compare import CompareScreen
from tui.state import AppState

CLS_EVALS = {20: (0.75, 0.7), 40: (0.85, 0.8123)}  # step: (accuracy, macro F1), 0..1


def make_cls_run(runs_dir: str, name: str) -> Path:
    """A finished classification run as training leaves it, eval events every 20 steps."""
    rd = Path(runs_dir) / name
    rd.mkdir(parents=True)
    save_config(load_config(None, {"task": "classification", "model.name": "minilm-l6-v2", "data.path": "tickets.csv",
                                   "training.max_steps": 40, "output.runs_dir": runs_dir}), rd / rundir.CONFIG_FILE)
    w = MetricsWriter(rd / rundir.METRICS_FILE)
    w(RunStarted(run_dir=str(rd), config={}, device="cpu (2 cores)", trainable_params=22_000_000,
                 total_params=22_000_000, train_samples=90, val_samples=10, max_steps=40, epochs=3.0, time=T0))
    for e in step_events(str(rd), 1, 40, 40, scale=0.8, eval_every=0):
        w(e)
        if e.name == "step" and e.step in CLS_EVALS:
            acc, f1 = CLS_EVALS[e.step]
            w(EvalLogged(step=e.step, eval_loss=round(1.2 - e.step / 50, 4), accuracy=acc, f1=f1, time=e.time))
    (rd / "model").mkdir()
    w(RunFinished(step=40, adapter_path=str(rd / "model"), elapsed=120.0, final_loss=0.5, time=T0 + 121))
    rundir.write_status(rd, "finished", step=40)
    w.close()
    return rd


@pytest.fixture
def three_tasks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    make_run("runs", "20251124-090000-base", "finished")
    qa = make_qa_run("runs", "20251124-100000-qa")
    cls = make_cls_run("runs", "20251124-110000-cls")
    yield qa, cls
    monkeypatch.delenv("TZ")
    time.tzset()


def runs_app() -> TuneDeckApp:
    return TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs")


async def open_compare(pilot) -> CompareScreen:
    app = pilot.app
    await until(pilot, lambda: getattr(app.screen, "listed", False), what="the listing")
    for name in ("20251124-090000-base", "20251124-100000-qa", "20251124-110000-cls"):
        app.screen.select(name)
        await pilot.press("space")
    await until(pilot, lambda: len(app.screen.marked) == 3, what="three marked")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.histories, what="compare")
    await until(pilot, lambda: "acc" in text(app, "#cmp-legend"), what="the scores in the legend")
    return app.screen


async def test_runs_table_and_compare_show_each_tasks_scores_beside_the_loss(three_tasks):
    qa, cls = three_tasks
    app = runs_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: getattr(app.screen, "listed", False), what="the listing")
        table = app.screen.query_one("DataTable")
        cells = {str(table.get_row_at(i)[2]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        assert "EM 71.4 F1 76.5" in cells["20251124-100000-qa"]  # the last eval event's
        assert "acc 0.850 F1 0.812" in cells["20251124-110000-cls"]  # accuracy and macro F1, not "F1 0.8"
        assert not any("EM" in c or "acc" in c for c in cells["20251124-090000-base"])  # causal LM: losses only
        app.screen.select("20251124-110000-cls")
        await until(pilot, lambda: "classification" in text(app, "#runs-detail"), what="the details")
        assert "last eval: accuracy 0.850, macro F1 0.812" in text(app, "#runs-detail")
        cmp_ = await open_compare(pilot)
        legend = text(app, "#cmp-legend")
        assert "20251124-100000-qa" in legend and "EM 71.4 F1 76.5" in legend and "acc 0.850 F1 0.812" in legend
        assert legend.count("·") == 2  # the causal-LM run shows its loss alone
        assert [s.source if s else None for s in cmp_.scores] == [None, "last eval", "last eval"]

    # eval.json (tunedeck eval, the Evaluate screen) wins over the last eval event; the base head's does not
    (cls / rundir.EVAL_FILE).write_text(json.dumps({"task": "classification", "accuracy": 0.9, "f1": 0.875, "base": False}))
    (qa / rundir.EVAL_FILE).write_text(json.dumps({"task": "extractive_qa", "exact_match": 0.0, "f1": 9.0, "base": True}))
    app = runs_app()
    async with app.run_test(size=(100, 30)) as pilot:
        cmp_ = await open_compare(pilot)
        legend = text(app, "#cmp-legend")
        assert "acc 0.900 F1 0.875" in legend and "EM 71.4 F1 76.5" in legend
        assert [s.source if s else None for s in cmp_.scores] == [None, "last eval", "eval.json"]


def test_compare_three_tasks_snapshot(snap_compare, three_tasks):
    async def run_before(pilot):
        await open_compare(pilot)
        await pilot.pause(0.2)

    assert snap_compare(runs_app(), terminal_size=(100, 30), run_before=run_before)
