"""d on the Train screen: a single-process run started detached (`tunedeck train` in its own process group),
followed through its run folder like a multi-process run (chart, stop, checkpoint); quitting the app leaves
it training, where a run in the app's thread would stop."""

from __future__ import annotations

from test_train_processes import make_app, stop_with_one_checkpoint, trains_on_then_stops, until

from engine.events import RunStarted, StepLogged
from tui.widgets.charts import TrainingCharts


async def test_a_detached_single_process_run_shows_the_chart_and_stops(tmp_path, tiny_model_dir):
    app = make_app(tmp_path, tiny_model_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.state.config.training.processes == 1
        screen = app.screen
        await pilot.press("d")
        await until(pilot, lambda: screen.child is not None or not screen.running, what="the detached run to start")
        child = screen.child
        assert child is not None and child.proc.poll() is None
        await until(pilot, lambda: len(screen.query_one(TrainingCharts).history.steps) >= 2, what="two steps on the chart")
        started = [e for e in screen.events if isinstance(e, RunStarted)]
        assert started and started[0].world_size == 1 and started[0].run_dir == str(child.run_dir)
        await stop_with_one_checkpoint(pilot, screen, child)


async def test_quitting_the_app_leaves_a_detached_run_training(tmp_path, tiny_model_dir):
    app = make_app(tmp_path, tiny_model_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("d")
        await until(pilot, lambda: any(isinstance(e, StepLogged) for e in screen.events) or not screen.running,
                    what="a first step")
        child = screen.child
        assert child is not None
        await app.action_quit()  # no "stop it?" question: the detached run trains on
        await pilot.pause()
    assert not app.is_running
    trains_on_then_stops(child)
