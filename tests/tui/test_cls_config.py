"""The Config screen's classification settings (tui/widgets/qa_config.py): the task picker offers
classification, the ``cls.*`` fields show only for it and go through AppState.set_field, the causal-LM-only
fields hide, and LoRA is greyed for a full fine-tune (cls.method full, or auto on an unquantized base)."""

from __future__ import annotations

from functools import partial

import tui_helpers
from tui_helpers import text

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=60.0)


def row_of(screen, path: str):
    return screen.query_one("#f-" + path.replace(".", "--")).parent


async def test_the_task_picker_offers_classification_and_its_settings():
    app = TuneDeckApp(AppState(config=load_config(None, {})), start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        cls, qa = screen.query_one("#cfg-cls"), screen.query_one("#cfg-qa")
        assert not cls.display and not qa.display
        screen.query_one("#cfg-task-select").value = "classification"
        await until(pilot, lambda: app.state.config.task == "classification" and cls.display, what="the cls fields")
        state = app.state
        assert not qa.display and state.dirty
        assert "sort texts into classes" in text(app, "#cfg-task-help")
        assert not row_of(screen, "data.max_length").display and not row_of(screen, "training.batching").display
        # cls.method auto on an unquantized base is a full fine-tune: LoRA greyed, the title says why.
        state.set_field("model.quantization", "none")
        screen._revalidate()
        assert row_of(screen, "lora.r").has_class("-not-for-task")
        assert any("cls.method: auto fully fine-tunes an unquantized base" in str(t.render()) for t in screen.query(".section"))
        # A cls setting goes through the one config writer, checked like --set.
        screen.query_one("#qa-f-cls--max_length").value = "96"
        await until(pilot, lambda: state.config.cls.max_length == 96, what="cls.max_length")
        screen.query_one("#qa-f-cls--max_length").value = "0"
        await until(pilot, lambda: "cls.max_length" in state.invalid, what="the bad value refused")
        assert state.config.cls.max_length == 96 and "✗" in text(app, "#qa-f-cls--max_length-err")
        screen.query_one("#qa-f-cls--max_length").value = "128"
        screen.query_one("#qa-f-cls--method").value = "lora"
        await until(pilot, lambda: state.config.cls.method == "lora" and state.config.cls.max_length == 128,
                    what="cls.method lora")
        assert "cls.max_length" not in state.invalid
        await until(pilot, lambda: not row_of(screen, "lora.r").has_class("-not-for-task"), what="LoRA applies")
        assert "--set task=classification" in text(app, "#cfg-command") and "cls.method=lora" in text(app, "#cfg-command")
        assert "task: classification" in state.config.to_yaml() and "max_length: 128" in state.config.to_yaml()
        # The Template and Playground modes follow the task.
        await app.switch_mode("playground")
        assert type(app.screen).__name__ == "ClsPlayScreen"
        await app.switch_mode("config")
        # Back to causal LM: the cls settings hide.
        screen.query_one("#cfg-task-select").value = "causal_lm"
        await until(pilot, lambda: state.config.task == "causal_lm" and not cls.display, what="causal LM again")
        assert row_of(screen, "data.max_length").display
        await app.switch_mode("playground")
        assert type(app.screen).__name__ == "PlaygroundScreen"


async def test_a_loaded_classification_config_shows_its_task_and_settings(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "sample_data" / "classify_quickstart.yaml")
    app = TuneDeckApp(AppState(config=cfg), start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.query_one("#cfg-cls").display, what="the cls fields")
        assert screen.query_one("#cfg-task-select").value == "classification"
        assert screen.query_one("#qa-f-cls--max_length").value == "64"
        assert not screen.query_one("#cfg-qa").display
