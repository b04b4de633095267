"""training.processes: 2 on the Train screen: the app starts `tunedeck train --nproc 2` as a child process group
and follows it through the run folder (charts, stop, checkpoint); quitting the app leaves it training."""

from __future__ import annotations

import json
import time
from functools import partial

import tui_helpers

from engine import rundir
from engine.config import load_config
from engine.events import CheckpointSaved, RunStarted, RunStopped, StepLogged, read_events
from tui.app import TuneDeckApp
from tui.state import AppState
from tui.widgets.charts import TrainingCharts

until = partial(tui_helpers.until, timeout=240.0)


def make_app(tmp_path, tiny_model_dir) -> TuneDeckApp:
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is item {i}?", "answer": f"Item {i} says {i}."}) + "\n"
                            for i in range(4)), encoding="utf-8")
    cfg = load_config(None, {"model.name": str(tiny_model_dir), "model.quantization": "none", "data.path": str(data),
                             "data.template": "qa", "data.max_length": 64, "training.max_steps": 400,
                             "training.batch_size": 2, "training.save_steps": 1000, "training.warmup_ratio": 0.0,
                             "output.runs_dir": str(tmp_path / "runs")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="train")
    return app


async def stop_with_one_checkpoint(pilot, screen, child) -> None:
    """Press x on the Train screen of a child-process run: it stops, its processes end, one checkpoint at the
    step it stopped, and the chart ends there."""
    await pilot.press("x")
    await until(pilot, lambda: not screen.running, what="the run to stop")
    assert isinstance(screen.outcome, RunStopped), screen.notifications
    assert child.proc.poll() is not None
    assert rundir.read_status(child.run_dir)["status"] == "stopped"
    saves = [e for e in read_events(child.run_dir / rundir.METRICS_FILE) if isinstance(e, CheckpointSaved)]
    assert [e.step for e in saves] == [screen.outcome.step]
    assert screen.query_one(TrainingCharts).history.steps[-1] == screen.outcome.step


def trains_on_then_stops(child) -> None:
    """After the app quit, the child run logs new steps, still running; a stop request then stops it."""
    try:
        steps = lambda: [e.step for e in read_events(child.run_dir / rundir.METRICS_FILE) if isinstance(e, StepLogged)]  # noqa: E731
        seen = len(steps())
        deadline = time.time() + 120
        while len(steps()) <= seen + 1:
            assert child.proc.poll() is None, "the run ended with the app"
            assert time.time() < deadline, "no new step after the app quit"
            time.sleep(0.2)
        assert rundir.read_status(child.run_dir)["status"] == "running"
    finally:
        rundir.request_stop(child.run_dir)
        child.proc.wait(timeout=120)
    assert rundir.read_status(child.run_dir)["status"] == "stopped"


async def test_the_app_trains_on_2_processes_shows_the_chart_and_stops_them(tmp_path, tiny_model_dir):
    app = make_app(tmp_path, tiny_model_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        app.state.set_field("training.processes", "2")  # the one config writer, as the Config screen's field
        assert app.state.config.training.processes == 2 and not app.state.invalid
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: screen.child is not None or not screen.running, what="the child run to start")
        child = screen.child
        assert child is not None and child.proc.poll() is None
        await until(pilot, lambda: len(screen.query_one(TrainingCharts).history.steps) >= 2, what="two steps on the chart")
        started = [e for e in screen.events if isinstance(e, RunStarted)]
        assert started and started[0].world_size == 2
        await stop_with_one_checkpoint(pilot, screen, child)  # the launcher and both ranks end, at one step


async def test_quitting_the_app_leaves_a_multi_process_run_training(tmp_path, tiny_model_dir):
    app = make_app(tmp_path, tiny_model_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        app.state.set_field("training.processes", "2")
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: any(isinstance(e, StepLogged) for e in screen.events) or not screen.running,
                    what="a first step")
        child = screen.child
        assert child is not None
        await app.action_quit()  # no "stop it?" question: the child process group trains on
        await pilot.pause()
    assert not app.is_running
    trains_on_then_stops(child)
