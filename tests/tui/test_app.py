"""The app as a whole: light imports, screen switching (keys, mouse, palette), run_app, quitting during a run.

Screen-specific tests live in test_data_screen.py, test_template_screen.py,
test_config_screen.py and test_train_screen.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import until

import engine.train
from engine.config import load_config
from engine.events import RunStarted, RunStopped, StepLogged
from tui.app import TuneDeckApp, run_app
from tui.state import AppState
from tui.widgets.confirm import Confirm

ROOT = Path(__file__).resolve().parents[2]


def make_app(tmp_path, **kw) -> TuneDeckApp:
    cfg = load_config(None, {"data.path": "sample_data/tunedeck_qa.jsonl", "output.runs_dir": str(tmp_path / "runs")})
    return TuneDeckApp(AppState(config=cfg), **kw)


def test_app_module_does_not_import_heavy_libraries():
    code = ("import sys, tui.app; "
            "print(','.join(m for m in ('torch','transformers','datasets','peft','bitsandbytes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


async def test_switch_screens_by_digits_function_keys_and_mouse(tmp_path):
    app = make_app(tmp_path, start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.current_mode == "config"
        await pilot.press("4")
        assert app.current_mode == "train"
        await pilot.press("3")
        assert app.current_mode == "config"
        app.screen.query_one("#cfg-path", Input).focus()
        await pilot.press("1")  # typed into the field, no switch
        assert app.current_mode == "config" and app.screen.query_one("#cfg-path", Input).value.endswith("1")
        await pilot.press("f5")  # F-keys switch even while typing
        assert app.current_mode == "train"
        await pilot.press("f4")
        assert app.current_mode == "config"
        await pilot.click("#nav-train")
        assert app.current_mode == "train"
        await pilot.click("#nav-config")
        assert app.current_mode == "config"
        await pilot.press("f3")
        assert app.current_mode == "template"
        await pilot.press("f2")
        assert app.current_mode == "data"


async def test_command_palette_switches_screen_and_applies_preset(tmp_path):
    app = make_app(tmp_path, start_screen="train")
    async with app.run_test(size=(100, 30)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in ("Go to Config screen", "Start training", "Save config", "Load config",
                         "Load preset: CPU smoke test", "Load preset: QLoRA 4-bit (default)", "Load preset: LoRA 16-bit"):
            assert expected in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"preset cpu smoke")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.state.config.training.max_steps == 5, what="the preset")
        assert app.current_mode == "config"
        app.state.invalid["training.learning_rate"] = "must be > 0, got -1"
        start = [c for c in app.get_system_commands(app.screen) if c.title == "Start training"]
        assert "Not yet: training.learning_rate: must be > 0" in start[0].help  # it says what to fix, and where


def test_run_app_reports_bad_config_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  learning_rate: -1\n")
    assert run_app(str(bad)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "training.learning_rate: must be > 0, got -1" in err and "Traceback" not in err
    assert run_app(str(tmp_path / "missing.yaml")) == 2
    assert run_app(None, ["training.nope=1"]) == 2
    assert "unknown key" in capsys.readouterr().err


def test_start_screen_is_checked():
    with pytest.raises(ValueError):
        TuneDeckApp(start_screen="nowhere")


async def test_quit_during_a_run_asks_then_stops_with_checkpoint(tmp_path, monkeypatch):
    stopped = threading.Event()

    def endless(cfg, *, run_dir=None, on_event=None, stop=None, resume=None, save_now=None):
        on_event(RunStarted(run_dir="runs/x", config={}, device="cpu", trainable_params=1, total_params=2,
                            train_samples=1, val_samples=0, max_steps=10_000, epochs=1.0))
        step = 0
        while not stop.is_set():
            step += 1
            on_event(StepLogged(step=step, max_steps=10_000, epoch=0.0, loss=1.0, learning_rate=1e-4))
            time.sleep(0.02)
        stopped.set()
        ev = RunStopped(step=step, checkpoint=f"runs/x/checkpoints/checkpoint-{step}")
        on_event(ev)
        return engine.train.RunResult(Path("runs/x"), "stopped", ev)

    monkeypatch.setattr(engine.train, "train", endless)
    app = make_app(tmp_path, start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+t")  # start from the Config screen
        await until(pilot, lambda: app.current_mode == "train" and app.state.training, what="the run")
        await pilot.press("f2")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, Confirm), what="the quit question")
        assert "quitting stops it" in app.screen.question and "start it with d" in app.screen.question
        await pilot.press("escape")  # no: keep training
        await pilot.pause(0.2)
        assert app.is_running and app.state.training and not stopped.is_set()
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, Confirm), what="the quit question")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, what="the app to exit after the checkpoint")
    assert stopped.is_set()
