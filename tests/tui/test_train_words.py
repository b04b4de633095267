"""Train screen words (issue 13 items 10 and 13): "16-bit" not "none"; one message after a stop, not two."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import tui_helpers
from textual.widgets import RichLog
from tui_helpers import text

import engine.train
from engine.config import load_config
from engine.events import CheckpointSaved, MessageLogged, RunStarted, RunStopped, StepLogged
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=60.0)
QA = Path(__file__).resolve().parents[2] / "sample_data" / "tunedeck_qa.jsonl"


def make_app(tmp_path, **sets) -> TuneDeckApp:
    over = {"data.path": str(QA), "output.runs_dir": str(tmp_path / "runs"), **sets}
    return TuneDeckApp(AppState(config=load_config(None, over)), start_screen="train")


@pytest.mark.parametrize("quant,words", [("none", "16-bit"), ("4bit", "4-bit"), ("8bit", "8-bit")])
async def test_ready_line_says_the_precision_in_words(tmp_path, quant, words):
    app = make_app(tmp_path, **{"model.quantization": quant, "training.max_steps": 40})
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        line = text(app, "#train-state")
        assert line == f"ready: 40 steps, {words}", line


async def test_a_stop_shows_one_message_naming_its_checkpoint(tmp_path, monkeypatch):
    ckpt = "runs/demo/checkpoints/checkpoint-2"

    def stopped_run(cfg, *, run_dir=None, on_event=None, stop=None, resume=None, save_now=None):
        on_event(MessageLogged("Loading", time=0))
        on_event(RunStarted(run_dir="runs/demo", config={}, device="cpu", trainable_params=1, total_params=2,
                            train_samples=4, val_samples=0, max_steps=8, epochs=1.0, time=0))
        for step in (1, 2):
            on_event(StepLogged(step=step, max_steps=8, epoch=0.1, loss=2.0, learning_rate=1e-4, time=0))
        on_event(CheckpointSaved(step=2, path=ckpt, stopping=True, time=0))  # what the engine sends on a stop
        ev = RunStopped(step=2, checkpoint=ckpt, time=0)
        on_event(ev)
        return engine.train.RunResult(Path("runs/demo"), "stopped", ev)

    monkeypatch.setattr(engine.train, "train", stopped_run)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: not screen.running and screen.outcome is not None, what="the stop")
        await pilot.pause(0.2)
        about = [t for _, t in screen.notifications if "step 2" in t]
        assert about == [f"Training stopped at step 2; checkpoint saved: {ckpt}"], screen.notifications
        log = "\n".join(str(line.text) for line in screen.query_one("#log", RichLog).lines)
        assert "Checkpoint saved at step 2" not in log and log.count(ckpt) == 1, log
        assert text(app, "#train-state") == "stopped at step 2"
