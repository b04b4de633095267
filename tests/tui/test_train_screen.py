"""Train screen driven with Pilot: scripted engine events (fast, exact) and the real engine on the tiny model."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

import pytest
import tui_helpers
from textual.widgets import Button, Input
from tui_helpers import text

import engine.train
from engine.config import load_config
from engine.events import (
    CheckpointSaved,
    EvalLogged,
    MessageLogged,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
)
from tui.app import TuneDeckApp
from tui.screens.train import TrainScreen, hms
from tui.state import AppState
from tui.widgets.charts import TrainingCharts, drawable, nice_int_ticks

until = partial(tui_helpers.until, timeout=60.0)

ROOT = Path(__file__).resolve().parents[2]
QA = ROOT / "sample_data" / "tunedeck_qa.jsonl"
MAX_STEPS = 8


def scripted_events(run_dir: str = "runs/demo", max_steps: int = MAX_STEPS, fail: bool = False):
    """A run as the engine reports it, with fixed numbers (no clocks)."""
    yield MessageLogged("Loading tokenizer for demo", time=0)
    yield RunStarted(run_dir=run_dir, config={}, device="cpu (2 cores)", trainable_params=1_234, total_params=56_789,
                     train_samples=40, val_samples=4, max_steps=max_steps, epochs=1.0, time=0)
    for step in range(1, max_steps + 1):
        if fail and step == 4:
            yield RunFailed(error="CUDA out of memory", hint="Lower training.batch_size or data.max_length.", step=3, time=0)
            return
        yield StepLogged(step=step, max_steps=max_steps, epoch=step / max_steps, loss=3.0 - 0.25 * step,
                         learning_rate=2e-4 * step / max_steps, grad_norm=1.0, tokens_per_second=1000.0 + 10 * step,
                         tokens_seen=512 * step, elapsed=2.0 * step, eta=2.0 * (max_steps - step),
                         memory_mb=1536.0, time=0)
        if step % 4 == 0:
            yield EvalLogged(step=step, eval_loss=3.1 - 0.2 * step, perplexity=10.0, time=0)
            yield CheckpointSaved(step=step, path=f"{run_dir}/checkpoints/checkpoint-{step}", time=0)
    yield RunFinished(step=max_steps, adapter_path=f"{run_dir}/adapter", elapsed=16.0, final_loss=1.0, time=0)


def fake_train(events_fn=scripted_events, delay: float = 0.0, **kw):
    """A stand-in for engine.train.train with the same signature, replaying events (honours stop)."""

    def train(cfg, *, run_dir=None, on_event=None, stop=None, resume=None, save_now=None):
        last = None
        for e in events_fn(**kw):
            if stop is not None and stop.is_set() and isinstance(e, StepLogged):
                last = RunStopped(step=e.step - 1, checkpoint="runs/demo/checkpoints/checkpoint-x", time=0)
                on_event(last)
                break
            on_event(e)
            last = e
            if delay:
                time.sleep(delay)
        return engine.train.RunResult(Path("runs/demo"), "finished", last)

    return train


def make_app(tmp_path, **sets) -> TuneDeckApp:
    over = {"data.path": str(QA), "output.runs_dir": str(tmp_path / "runs")}
    over.update(sets)
    return TuneDeckApp(AppState(config=load_config(None, over)), start_screen="train")


def test_hms_and_ticks():
    assert hms(0) == "0:00:00" and hms(3725.9) == "1:02:05" and hms(None) == "-:--:--"
    assert nice_int_ticks(1, 6) == [2, 4, 6] and nice_int_ticks(1, 4) == [1, 2, 3, 4] and nice_int_ticks(3, 3) == [3]
    assert nice_int_ticks(0, 1000) == [0, 500, 1000]
    xs, ys = drawable(list(range(10_000)), [1.0] * 9_999 + [float("nan")], 100)
    assert len(xs) <= 101 and xs[0] == 0 and xs[-1] == 9_998


async def test_scripted_run_updates_charts_progress_log_and_notifies(tmp_path, monkeypatch):
    monkeypatch.setattr(engine.train, "train", fake_train())
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TrainScreen) and not screen.query_one("#start", Button).disabled
        await pilot.press("s")
        await until(pilot, lambda: not screen.running and screen.outcome is not None, what="the run to end")
        await pilot.pause(0.3)
        history = screen.query_one(TrainingCharts).history
        assert history.steps == list(range(1, MAX_STEPS + 1))
        assert history.loss[0] == pytest.approx(2.75) and history.eval_steps == [4, 8]
        assert len(history.tps) == MAX_STEPS
        assert "step 8/8" in text(app, "#progress-text") and "ETA 0:00:00" in text(app, "#progress-text")
        assert text(app, "#device-line") == "cpu (2 cores) · mem 1.5 GiB"  # recorded before the device monitor
        notes = screen.notifications
        assert [sev for sev, _ in notes].count("information") == 3  # two checkpoints and the finish
        assert any("Training finished" in t and "runs/demo" in t for _, t in notes)
        assert any("Training finished" in n.message for n in app._notifications)
        assert not screen.query_one("#start", Button).disabled and not app.state.training


async def test_cannot_start_twice_and_stop_sets_the_event(tmp_path, monkeypatch):
    seen: dict = {}
    stop_seen = threading.Event()

    def slow(cfg, *, run_dir=None, on_event=None, stop=None, resume=None, save_now=None):
        seen.setdefault("calls", 0)
        seen["calls"] += 1
        for e in scripted_events(max_steps=1000):
            if isinstance(e, StepLogged) and stop.is_set():
                stop_seen.set()
                ev = RunStopped(step=e.step - 1, checkpoint="runs/demo/checkpoints/checkpoint-9", time=0)
                on_event(ev)
                return engine.train.RunResult(Path("runs/demo"), "stopped", ev)
            on_event(e)
            time.sleep(0.01)
        raise AssertionError("never stopped")

    monkeypatch.setattr(engine.train, "train", slow)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: len(screen.query_one(TrainingCharts).history.steps) >= 3, what="steps")
        assert screen.query_one("#start", Button).disabled and app.state.training
        assert app.check_action("start_training", ()) is None  # Ctrl+T is greyed out too
        await pilot.press("s")
        await pilot.click("#start")
        await pilot.press("ctrl+t")
        await pilot.press("x")
        await until(pilot, lambda: not screen.running, what="the run to stop")
        assert seen["calls"] == 1 and stop_seen.is_set()
        assert isinstance(screen.outcome, RunStopped)
        assert any(sev == "warning" and "stopped" in t for sev, t in screen.notifications)
        assert not screen.query_one("#start", Button).disabled


async def test_failed_run_shows_hint_and_app_stays_up(tmp_path, monkeypatch):
    monkeypatch.setattr(engine.train, "train", fake_train(fail=True))
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: not screen.running and screen.outcome is not None, what="the failure")
        errors = [t for sev, t in screen.notifications if sev == "error"]
        assert errors and "Lower training.batch_size" in errors[0]
        assert any(n.severity == "error" for n in app._notifications)
        await pilot.press("f4")
        assert app.current_mode == "config" and app.is_running


async def test_autostart_starts_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(engine.train, "train", fake_train())
    app = TuneDeckApp(AppState(config=load_config(None, {"data.path": str(QA)})), start_screen="data", autostart=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.current_mode == "train" and app.screen.outcome is not None, what="autostart")
        assert isinstance(app.screen.outcome, RunFinished)


async def test_charts_switch_and_fit_80x24(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for e in scripted_events():
            screen.handle_event(e)
        await until(pilot, lambda: "step 8/8" in text(app, "#progress-text"), what="the last step painted")
        charts = screen.query_one(TrainingCharts)
        assert charts.query_one("#chart-lr").display and not charts.query_one("#chart-tps").display
        await pilot.press("c")
        await pilot.pause()
        assert charts.query_one("#chart-tps").display and not charts.query_one("#chart-lr").display
        assert charts.size.height >= 10  # the charts keep most of a 24-line terminal
        assert "step 8/8" in text(app, "#progress-text")
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        charts = app.screen.query_one(TrainingCharts)
        assert all(charts.query_one(f"#chart-{n}").display for n in ("loss", "lr", "tps"))


@pytest.mark.slow
async def test_real_engine_on_the_tiny_model(tmp_path, tiny_model_dir):
    app = make_app(tmp_path, **{"model.name": str(tiny_model_dir), "model.quantization": "none", "data.path": str(QA),
                                "training.max_steps": 6, "training.batch_size": 2, "training.save_steps": 3,
                                "data.max_length": 64})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: not screen.running, timeout=240, what="the real run to end")
        await pilot.pause(0.4)
        assert isinstance(screen.outcome, RunFinished), screen.notifications
        assert screen.query_one(TrainingCharts).history.steps == [1, 2, 3, 4, 5, 6]
        assert sum(isinstance(e, RunStarted) for e in screen.events) == 1
        assert any(sev == "information" and "Training finished" in t for sev, t in screen.notifications)
        assert any("Checkpoint saved at step 3" in t for _, t in screen.notifications)
        assert "step 6/6" in text(app, "#progress-text")
        assert (Path(screen.run_dir) / "adapter").is_dir() and Path(screen.run_dir).parent == tmp_path / "runs"


@pytest.mark.slow
async def test_real_engine_missing_data_file_fails_with_hint(tmp_path, tiny_model_dir):
    app = make_app(tmp_path, **{"model.name": str(tiny_model_dir), "model.quantization": "none",
                                "data.path": str(tmp_path / "nope.jsonl")})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: not screen.running, timeout=120, what="the failure")
        assert isinstance(screen.outcome, RunFailed)
        errors = [t for sev, t in screen.notifications if sev == "error"]
        assert errors and "nope.jsonl" in errors[0]
        assert app.is_running and not screen.query_one("#start", Button).disabled
        await pilot.press("f4")
        app.screen.query_one("#f-training--max_steps", Input).value = "3"
        await pilot.pause()
        assert app.state.config.training.max_steps == 3
