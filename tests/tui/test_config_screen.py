"""Config screen driven with Pilot: validation as you type, presets, YAML save/load, command line, memory estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Select, TextArea
from tui_helpers import text, until

import engine.memory
from engine.config import Config, field_specs, load_config
from engine.memory import estimate_memory, model_shape
from tui.app import TuneDeckApp
from tui.screens.config import MULTILINE, PRESETS, ConfigScreen, cli_command, widget_id
from tui.state import AppState
from tui.widgets.confirm import Confirm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fixed_device(monkeypatch):
    monkeypatch.setattr(engine.memory, "device_memory", lambda: ("RAM", 16.0))


def make_app(tmp_path, config_path: Path | None = None, **sets) -> TuneDeckApp:
    over = {"data.path": "sample_data/tunedeck_qa.jsonl", "output.runs_dir": str(tmp_path / "runs"), **sets}
    cfg = load_config(config_path, over)
    return TuneDeckApp(AppState(config=cfg, config_path=config_path), start_screen="config")


def field(app, path: str):
    return app.screen.query_one("#" + widget_id(path))


async def type_into(pilot, app, path: str, value: str) -> None:
    """Focus a field, clear it and type like a person."""
    w = field(app, path)
    w.focus()
    if isinstance(w, TextArea):  # a multi-line field (data.template, data.system_prompt)
        w.text = ""
    else:
        w.value = ""
    await pilot.press(*value)
    await pilot.pause()


async def test_form_has_every_field_with_the_right_widget(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)):
        for spec in field_specs():
            w = field(app, spec.path)
            kind = (Select if spec.choices else Checkbox if spec.type == "bool" else TextArea if spec.path in MULTILINE
                    else Input)
            assert isinstance(w, kind), spec.path
        assert str(field(app, "training.learning_rate").value) == "0.0002"


async def test_invalid_field_shows_message_and_disables_start_everywhere(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_into(pilot, app, "training.learning_rate", "-1")
        assert "must be > 0, got -1" in text(app, f"#{widget_id('training.learning_rate')}-err")
        assert "training.learning_rate" in app.state.invalid
        assert app.state.config.training.learning_rate == 2e-4  # the config keeps the last valid value
        assert "Fix before training" in text(app, "#cfg-command")
        await pilot.press("ctrl+t")
        assert app.current_mode == "config" and not app.state.training  # Start refused, saying why
        assert any("Fix the config first" in str(n.title) and "training.learning_rate" in n.message
                   for n in app._notifications)
        await pilot.press("f5")
        assert app.screen.query_one("#start", Button).disabled
        assert "training.learning_rate" in str(app.screen.query_one("#train-state").render())
        await pilot.press("f4")
        await type_into(pilot, app, "training.learning_rate", "1e-4")
        assert app.state.config.training.learning_rate == 1e-4 and not app.state.invalid
        assert text(app, f"#{widget_id('training.learning_rate')}-err") == ""
        assert app.check_action("start_training", ()) is True
        await pilot.press("f5")
        assert not app.screen.query_one("#start", Button).disabled


async def test_text_in_number_field_and_cross_field_error_clear(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_into(pilot, app, "lora.r", "abc")
        assert "must be a whole number" in text(app, f"#{widget_id('lora.r')}-err")
        await type_into(pilot, app, "lora.r", "8")
        assert app.state.config.lora.r == 8 and not app.state.invalid
        # A token budget smaller than max_length is an error between two fields; fixing either clears it.
        await type_into(pilot, app, "training.max_tokens_per_batch", "100")
        assert "must be >= data.max_length" in text(app, f"#{widget_id('training.max_tokens_per_batch')}-err")
        assert "training.max_tokens_per_batch" in (app.config_problem() or "")
        await type_into(pilot, app, "data.max_length", "64")
        assert not app.state.invalid and text(app, f"#{widget_id('training.max_tokens_per_batch')}-err") == ""


async def test_select_and_checkbox_edit_the_config(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        field(app, "model.quantization").value = "8bit"
        cb = field(app, "model.gradient_checkpointing")
        cb.focus()
        await pilot.press("space")
        await pilot.pause()
        assert app.state.config.model.quantization == "8bit"
        assert app.state.config.model.gradient_checkpointing is True and str(cb.label) == "yes"
        assert "model.gradient_checkpointing" in text(app, "#cfg-help")  # help for the focused field
        assert "--set model.quantization=8bit" in text(app, "#cfg-command")
        assert "--set model.gradient_checkpointing=true" in text(app, "#cfg-command")
        await pilot.press("f12")
        assert app.clipboard == app.screen.command_line() and app.clipboard.startswith("tunedeck train --set")


async def test_presets_apply_values_in_any_order(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.click("#preset-smoke")
        await pilot.pause()
        cfg = app.state.config
        assert cfg.training.max_steps == 5 and cfg.model.quantization == "none" and cfg.model.device == "cpu"
        assert field(app, "training.max_steps").value == "5" and field(app, "model.device").value == "cpu"
        await pilot.click("#preset-lora16")
        await pilot.pause()
        assert cfg.model.quantization == "none" and cfg.training.max_steps == 0 and cfg.data.limit is None
        assert field(app, "data.limit").value == ""
        await pilot.press("f8")  # QLoRA
        await pilot.pause()
        assert cfg.model.quantization == "4bit" and field(app, "model.quantization").value == "4bit"
        assert not app.state.invalid
    for _, values in PRESETS.values():
        load_config(None, values)  # every preset is a valid config


async def test_save_and_load_round_trip_with_overwrite_confirmation(tmp_path):
    target = tmp_path / "saved.yaml"
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.click("#preset-smoke")
        await type_into(pilot, app, "lora.r", "12")
        app.screen.query_one("#cfg-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert load_config(target) == app.state.config and app.state.config_path == target and not app.state.dirty
        assert text(app, "#cfg-command").startswith(f"$ tunedeck train --config {target}")
        assert "--set" not in text(app, "#cfg-command")
        # Change a field: the command line names it; saving again asks before overwriting.
        await type_into(pilot, app, "lora.r", "4")
        assert text(app, "#cfg-command").endswith("--set lora.r=4")
        await pilot.click("#cfg-save")
        await until(pilot, lambda: isinstance(app.screen, Confirm), what="the overwrite question")
        await pilot.press("escape")
        await pilot.pause()
        assert load_config(target).lora.r == 12  # not overwritten
        # Load discards the edit (after confirming, since it is unsaved).
        await pilot.click("#cfg-load")
        await until(pilot, lambda: isinstance(app.screen, Confirm), what="the discard question")
        await pilot.press("y")
        await pilot.pause()
        assert app.state.config.lora.r == 12 and field(app, "lora.r").value == "12"
        await type_into(pilot, app, "lora.r", "4")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, Confirm), what="the overwrite question")
        await pilot.click("#confirm-yes")
        await pilot.pause()
        assert load_config(target).lora.r == 4


async def test_load_errors_are_shown_not_raised(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  learning_rate: -1\n")
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#cfg-path", Input).value = str(bad)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert any("must be > 0" in n.message and n.severity == "error" for n in app._notifications)
        assert app.state.config.training.learning_rate == 2e-4 and app.is_running


async def test_command_line_quotes_and_lists_changes(tmp_path):
    quick = ROOT / "sample_data" / "quickstart.yaml"
    cfg = load_config(quick)
    assert cli_command(cfg, quick, load_config(quick)) == f"tunedeck train --config {quick}"
    cfg.data.system_prompt = "You are terse."
    cfg.training.max_steps = 10
    cmd = cli_command(cfg, quick, load_config(quick))
    assert "--set 'data.system_prompt=You are terse.'" not in cmd and "--set data.system_prompt='You are terse.'" in cmd
    assert "--set training.max_steps=10" in cmd
    assert cli_command(Config(), None) == "tunedeck train"


async def test_memory_estimate_on_screen(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "should fit" in text(app, "#cfg-memory"), what="the estimate")
        assert "16.0 GB RAM" in text(app, "#cfg-memory")
        await type_into(pilot, app, "training.batch_size", "4096")
        await until(pilot, lambda: "will NOT fit" in text(app, "#cfg-memory"), what="the new estimate")
        await type_into(pilot, app, "model.name", "someone/unknown-model")
        await until(pilot, lambda: "unknown" in text(app, "#cfg-memory"), what="unknown model")


def test_memory_estimate_numbers(tiny_model_dir):
    cfg = Config()
    est = estimate_memory(cfg, device=("RAM", 16.0))
    assert est.params == pytest.approx(134.5e6, rel=0.01)  # the demo model's known shape
    assert est.fits is True and est.total_gb < 4
    assert est.weights_gb < estimate_memory(Config(model=type(cfg.model)(quantization="none")), device=("RAM", 16.0)).weights_gb
    big = Config()
    big.training.batch_size = 4096
    assert estimate_memory(big, device=("RAM", 16.0)).fits is False
    checkpointed = Config()
    checkpointed.model.gradient_checkpointing = True
    assert estimate_memory(checkpointed, device=("RAM", 16.0)).activations_gb < est.activations_gb
    local = Config()
    local.model.name = str(tiny_model_dir)
    shape = json.loads((tiny_model_dir / "config.json").read_text())
    assert model_shape(str(tiny_model_dir))["hidden_size"] == shape["hidden_size"]
    assert estimate_memory(local, device=("RAM", 16.0)).params > 0
    unknown = Config()
    unknown.model.name = "nobody/nothing"
    est = estimate_memory(unknown, device=("RAM", 16.0))
    assert est.fits is None and "unknown" in est.verdict()
    assert estimate_memory(Config(), device=("RAM", None)).fits is None


def test_memory_module_stays_light():
    import subprocess
    import sys

    code = ("import sys, engine.memory as m; m.estimate_memory(m.Config()); "
            "print(','.join(x for x in ('torch','transformers','textual') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


async def test_config_edits_from_other_screens_show_up(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        app.state.config.data.max_length = 77  # as the Template screen would
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen) and field(app, "data.max_length").value == "77"


async def test_verdicts_of_other_screens_are_kept(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f5")
        # As the Template screen does for a custom template naming a missing column:
        app.state.config.data.template = "Q: {qestion}\nA: "
        app.state.invalid["data.template"] = "unknown field {qestion} (did you mean question?)"
        await pilot.press("f4")
        await pilot.pause(0.3)
        assert field(app, "data.template").text == "Q: {qestion}\nA: "
        assert "did you mean question" in text(app, f"#{widget_id('data.template')}-err")
        assert "data.template" in (app.config_problem() or "")
        await type_into(pilot, app, "data.template", "qa")  # fixing it here clears it
        assert app.state.config.data.template == "qa" and not app.state.invalid


async def test_memory_estimate_per_device_for_the_strategy(tmp_path, monkeypatch):
    import engine.memory_dist

    monkeypatch.setattr(engine.memory, "device_memory", lambda: ("GPU test", 24.0))
    monkeypatch.setattr(engine.memory_dist, "visible_gpus", lambda: 2)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "should fit" in text(app, "#cfg-memory"), what="the estimate")
        one = text(app, "#cfg-memory")
        assert "per device" not in one
        await type_into(pilot, app, "training.processes", "2")
        app.state.set_field("training.distributed", "fsdp")
        app.screen.sync_from_config()
        await until(pilot, lambda: "per device (fsdp, 2 processes) ≈" in text(app, "#cfg-memory"), what="the fsdp estimate")
        assert "÷2" in text(app, "#cfg-memory")
