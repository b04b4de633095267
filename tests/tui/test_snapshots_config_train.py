"""Snapshots of the Config and Train screens at 100x30 and 80x24 with fixed data (pytest-textual-snapshot).

The Train screen is drawn from a fixed, recorded list of events (no clocks, no
training), the memory estimate from a fixed device. After an intended change:
    pytest tests/tui/test_snapshots_config_train.py --snapshot-update
and look at the pictures in tests/tui/__snapshots__/test_snapshots_config_train/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static
from tui_helpers import until

import engine.memory
from engine.config import load_config
from engine.events import CheckpointSaved, EvalLogged, MessageLogged, RunFinished, RunStarted, StepLogged
from tui.app import TuneDeckApp
from tui.screens.config import widget_id
from tui.state import AppState

ROOT = Path(__file__).resolve().parents[2]
SIZES = [(100, 30), (80, 24)]


def scripted_events(run_dir: str = "runs/20250101-000000-demo", max_steps: int = 40):
    """A recorded-looking run with fixed numbers: falling, noisy loss; warmup then cosine LR; evals every 10."""
    import math

    yield MessageLogged("Loading tokenizer for smollm2-135m-instruct", time=0)
    yield MessageLogged("Tokenised with template chatml: 285 samples (14025 tokens, 7800 trained)", time=0)
    yield RunStarted(run_dir=run_dir, config={}, device="cpu (2 cores)", trainable_params=4_884_480,
                     total_params=139_399_488, train_samples=285, val_samples=15, max_steps=max_steps, epochs=1.0, time=0)
    for step in range(1, max_steps + 1):
        warm = min(1.0, step / 4)
        lr = 2e-4 * warm * (0.5 * (1 + math.cos(math.pi * max(0, step - 4) / (max_steps - 4))))
        loss = 2.4 * math.exp(-step / 15) + 1.1 + 0.15 * math.sin(step * 1.7)
        yield StepLogged(step=step, max_steps=max_steps, epoch=step / max_steps, loss=round(loss, 4), learning_rate=lr,
                         grad_norm=1.0, tokens_per_second=900 + 40 * math.sin(step), tokens_seen=256 * step,
                         elapsed=3.0 * step, eta=3.0 * (max_steps - step), memory_mb=1900.0, time=0)
        if step % 10 == 0:
            yield EvalLogged(step=step, eval_loss=round(2.3 * math.exp(-step / 15) + 1.2, 4), perplexity=4.0, time=0)
            yield CheckpointSaved(step=step, path=f"{run_dir}/checkpoints/checkpoint-{step}", time=0)
    yield RunFinished(step=max_steps, adapter_path=f"{run_dir}/adapter", elapsed=120.0, final_loss=1.2, time=0)


@pytest.fixture(autouse=True)
def fixed_world(monkeypatch):
    monkeypatch.chdir(ROOT)  # relative paths in the pictures
    monkeypatch.setattr(engine.memory, "device_memory", lambda: ("RAM", 16.0))
    # The demo model's shape as documented, whether or not it was downloaded on this machine.
    monkeypatch.setattr(engine.memory, "model_shape", lambda name: dict(engine.memory.DEMO_SHAPE))


FIXED = {"data.path": "sample_data/tunedeck_qa.jsonl", "data.template": "chatml", "data.max_length": 256,
         "training.max_steps": 60, "output.runs_dir": "runs"}


def app_on(screen: str) -> TuneDeckApp:
    return TuneDeckApp(AppState(config=load_config(None, FIXED)), start_screen=screen)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_config_with_an_invalid_field(snap_compare, size):
    async def run_before(pilot):
        app = pilot.app
        lr = app.screen.query_one("#" + widget_id("training.learning_rate"), Input)
        lr.value = "-1"
        app.screen.query_one("#" + widget_id("lora.r"), Input).value = "8"
        lr.cursor_blink = False  # a blinking cursor would make the picture depend on timing
        lr.focus()  # scrolls the form to the field in error
        memory = app.screen.query_one("#cfg-memory", Static)
        await until(pilot, lambda: "fit" in str(memory.render()))
        await pilot.pause(0.5)  # the scroll animation

    assert snap_compare(app_on("config"), terminal_size=size, run_before=run_before)


def test_config_valid_with_command_line_80x24(snap_compare):
    async def run_before(pilot):
        app = pilot.app
        await pilot.click("#preset-smoke")
        app.screen.query_one("#" + widget_id("model.gradient_checkpointing")).focus()
        await pilot.press("space")
        memory = app.screen.query_one("#cfg-memory", Static)
        await until(pilot, lambda: "fit" in str(memory.render()))
        await pilot.pause(0.5)
        app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app_on("config"), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_mid_run(snap_compare, size):
    async def run_before(pilot):
        screen = pilot.app.screen
        screen.running = True  # as while the worker runs
        for e in scripted_events():
            if isinstance(e, StepLogged) and e.step > 26:
                break
            screen.handle_event(e)
        screen._update_controls()
        await pilot.pause(0.5)  # a redraw tick
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app_on("train"), terminal_size=size, run_before=run_before)


def test_train_finished_80x24(snap_compare):
    async def run_before(pilot):
        screen = pilot.app.screen
        for e in scripted_events():
            screen.handle_event(e)
        screen._update_controls()
        await pilot.press("c")  # tokens/s beside the loss
        await pilot.pause(0.5)
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app_on("train"), terminal_size=(80, 24), run_before=run_before)
