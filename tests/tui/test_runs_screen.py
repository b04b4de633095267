"""Runs screen, run view, compare and attach, driven with Pilot over recorded run folders and a real tiny-model run."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from run_fixtures import append_steps, make_run
from textual.widgets import DataTable
from tui_helpers import text, until

from engine import rundir
from engine.config import load_config
from engine.events import RunStarted, StepLogged, read_events
from tui.app import TuneDeckApp
from tui.cli import main as cli_main
from tui.screens.compare import CompareScreen
from tui.screens.run_view import RunScreen
from tui.screens.runs import RunsScreen
from tui.screens.train import TrainScreen
from tui.state import AppState
from tui.widgets.confirm import Confirm

ROOT = Path(__file__).resolve().parents[2]


def app_for(runs: Path, **kw) -> TuneDeckApp:
    cfg = load_config(None, {"output.runs_dir": str(runs), "data.path": str(ROOT / "sample_data" / "tunedeck_qa.jsonl")})
    return TuneDeckApp(AppState(config=cfg), start_screen="runs", **kw)


@pytest.fixture
def runs(tmp_path) -> Path:
    r = tmp_path / "runs"
    make_run(r, "20251124-090000-base", "finished")
    make_run(r, "20251124-100000-lr-high", "stopped", steps=25, scale=1.3, sets={"training.learning_rate": 5e-4})
    make_run(r, "20251124-110000-oom", "failed", steps=5, sets={"training.batch_size": 16})
    make_run(r, "20251124-120000-killed", "killed", steps=12)
    return r


def table_rows(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_lists_runs_newest_first_with_status_and_losses(runs):
    app = app_for(runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listed, what="the listing")
        rows = table_rows(app)
        assert [r[2] for r in rows] == ["20251124-120000-killed", "20251124-110000-oom", "20251124-100000-lr-high",
                                        "20251124-090000-base"]
        assert [r[1] for r in rows] == ["killed", "failed", "stopped", "finished"]
        assert rows[2][3] == "25/40" and rows[3][3] == "40/40"
        assert rows[3][4] == "1.2000"  # the final loss the run reported
        assert "4 runs" in text(app, "#runs-title")
        # The highlighted run's details say what can be done with it.
        assert "killed" in text(app, "#runs-detail") and "r: resume" in text(app, "#runs-detail")
        await pilot.press("down")
        assert "CUDA out of memory" in text(app, "#runs-detail") and "hint: Lower" in text(app, "#runs-detail")


async def test_empty_runs_folder_says_how_to_make_one(tmp_path):
    app = app_for(tmp_path / "nothing")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.listed, what="the listing")
        assert "No runs in" in text(app, "#runs-detail") and "tunedeck train" in text(app, "#runs-detail")
        await pilot.press("enter", "d", "r")  # nothing to act on: nothing happens, nothing breaks
        assert isinstance(app.screen, RunsScreen)


async def test_open_a_run_rebuilds_its_charts_from_metrics_and_shows_config(runs):
    app = app_for(runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.listed, what="the listing")
        assert app.screen.select("20251124-100000-lr-high")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded, what="the run view")
        view = app.screen
        h = view.monitor.charts.history
        assert h.steps == list(range(1, 26)) and h.eval_steps == [10, 20]
        assert "step 25/40" in text(app, "#progress-text")
        assert "stopped" in text(app, "#run-state")
        assert "learning_rate: 0.0005" in text(app, "#run-config")
        assert "checkpoint-10, checkpoint-20" in text(app, "#run-config")
        # A stopped run offers resume, not stop.
        assert view.check_action("resume", ()) is True and view.check_action("stop_run", ()) is False
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_run_view_follows_a_running_run_and_stops_it_through_the_run_folder(tmp_path):
    runs = tmp_path / "runs"
    live = make_run(runs, "20251124-130000-live", "running", steps=5, max_steps=40, pid=os.getpid())
    app = app_for(runs, attach=live)  # tunedeck attach opens the run view at once
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded, what="the run view")
        view = app.screen
        assert view.state == "running" and view.monitor.charts.history.steps == [1, 2, 3, 4, 5]
        append_steps(live, 6, 9, 40)  # the training process writes on
        await until(pilot, lambda: view.monitor.charts.history.steps[-1:] == [9], what="the new steps")
        assert "step 9/40" in text(app, "#progress-text") and "ETA" in text(app, "#progress-text")
        await pilot.press("k")
        assert (live / rundir.SAVE_REQUEST).exists()
        await pilot.press("x")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await pilot.pause()
        assert (live / rundir.STOP_REQUEST).exists()  # the training process polls this file
        assert "stop requested" in text(app, "#run-state")
        # The process finishes: the view notices from status.json.
        rundir.write_status(live, "stopped", step=9)
        await until(pilot, lambda: view.state == "stopped", what="the new state")
        assert "stopped" in text(app, "#run-state")


async def test_compare_overlays_loss_curves_and_lists_config_differences(runs):
    app = app_for(runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.listed, what="the listing")
        app.screen.select("20251124-100000-lr-high")
        await pilot.press("c")  # nothing marked yet: a warning, no screen
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("space", "down", "space")
        assert app.screen.marked == {"20251124-100000-lr-high", "20251124-090000-base"}
        assert "2 marked" in text(app, "#runs-title")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.histories, what="compare")
        cmp_ = app.screen
        chart = cmp_.query_one("#cmp-chart")
        assert len(chart.series) == 2
        assert [len(xs) for xs, _, _ in chart.series] == [40, 25]  # oldest run first
        legend = text(app, "#cmp-legend")
        assert "20251124-090000-base" in legend and "20251124-100000-lr-high" in legend
        assert dict(cmp_.diff) == {"training.learning_rate": [0.0002, 0.0005]}
        rows = table_rows(app)
        assert rows == [["training.learning_rate", "0.0002", "0.0005"]]
        await pilot.press("v")
        assert chart.title == "eval loss" and [len(xs) for xs, _, _ in chart.series] == [4, 2]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_delete_asks_first_and_refuses_a_running_run(tmp_path, runs):
    live = make_run(runs, "20251124-130000-live", "running", steps=3, pid=os.getpid())
    app = app_for(runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.listed, what="the listing")
        screen = app.screen
        screen.select("20251124-130000-live")
        assert screen.check_action("delete", ()) is None  # shown disabled
        await pilot.press("d")
        assert isinstance(app.screen, RunsScreen) and live.exists()
        screen.select("20251124-110000-oom")
        await pilot.press("d")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        assert (runs / "20251124-110000-oom").exists()
        await pilot.press("d")
        await pilot.press("y")
        await until(pilot, lambda: "20251124-110000-oom" not in [r[2] for r in table_rows(app)], what="the row to go")
        assert not (runs / "20251124-110000-oom").exists()
        assert (runs / "20251124-090000-base").exists() and live.exists()


def test_attach_without_a_running_run_is_one_line_and_exit_2(runs, capsys):
    assert cli_main(["attach", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no run is training in") and "tunedeck attach RUN" in err and err.count("\n") == 1
    assert cli_main(["attach", "no-such-run", "--runs-dir", str(runs)]) == 2
    assert "no-such-run: no such run" in capsys.readouterr().err


# -- the real engine: a run stopped halfway, resumed from the Runs screen ------------------------------------------

@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, tiny_model_dir) -> Path:
    from engine.train import train

    tmp = tmp_path_factory.mktemp("resume")
    data = tmp / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i}?", "answer": f"It is {i}."}) + "\n" for i in range(24)))
    cfg = load_config(None, {"model.name": str(tiny_model_dir), "model.quantization": "none", "model.device": "cpu",
                             "data.path": str(data), "data.template": "qa", "data.max_length": 48,
                             "training.max_steps": 8, "training.batch_size": 4, "training.save_steps": 100,
                             "training.learning_rate": 0.005, "output.runs_dir": str(tmp / "runs")})
    stop = threading.Event()

    def on_event(e):
        if isinstance(e, StepLogged) and e.step == 3:
            stop.set()  # the engine saves a checkpoint, then ends the run as stopped

    result = train(cfg, on_event=on_event, stop=stop)
    assert result.status == "stopped", result.last_event
    return result.run_dir


async def test_resume_from_the_runs_screen_continues_the_curve(stopped_run):
    runs = stopped_run.parent
    app = app_for(runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.listed, what="the listing")
        assert app.screen.select(stopped_run.name)
        assert app.screen.check_action("on_current", ("resume_run",)) is True
        ckpt_step = int(rundir.last_checkpoint(stopped_run).name.split("-")[1])
        assert 3 <= ckpt_step < 8
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the Train screen")
        train_screen = app.screen
        await until(pilot, lambda: train_screen.outcome is not None, timeout=120, what="the resumed run to end")
        assert type(train_screen.outcome).__name__ == "RunFinished", train_screen.outcome
        assert train_screen.run_dir == str(stopped_run)
        started = [e for e in read_events(stopped_run / "metrics.jsonl") if isinstance(e, RunStarted)]
        assert [s.resumed_from_step for s in started] == [0, ckpt_step]
        # One continuous curve: the steps before the stop (from metrics.jsonl) and after it.
        assert train_screen.monitor.charts.history.steps == list(range(1, 9))
        assert rundir.read_status(stopped_run)["status"] == "finished"
        assert (stopped_run / "adapter" / "adapter_config.json").exists()
