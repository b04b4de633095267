"""The Config screen's task picker and QA settings (tui/widgets/qa_config.py), and the Data screen of QA data."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState
import tui_helpers
from tui_helpers import text

until = partial(tui_helpers.until, timeout=60.0)
ROOT = Path(__file__).resolve().parents[2]


def row_of(screen, path: str):
    return screen.query_one("#f-" + path.replace(".", "--")).parent


async def test_the_task_picker_sets_the_task_and_shows_the_task_fields():
    app = TuneDeckApp(AppState(config=load_config(None, {"data.template": "chatml"})), start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        qa = screen.query_one("#cfg-qa")
        assert not qa.display and row_of(screen, "data.max_length").display  # causal LM: no QA settings
        screen.query_one("#cfg-task-select").value = "extractive_qa"
        await pilot.pause(0.2)
        state = app.state
        assert state.config.task == "extractive_qa" and state.dirty
        assert qa.display
        # Causal-LM-only fields: hidden at their defaults, greyed with their error when set (data.template).
        assert not row_of(screen, "data.max_length").display and not row_of(screen, "training.batching").display
        tpl = row_of(screen, "data.template")
        assert tpl.display and tpl.has_class("-not-for-task")
        assert "applies to causal_lm runs only" in state.invalid["data.template"]
        assert "applies to causal_lm runs only" in text(app, "#f-data--template-err")
        # LoRA does not apply to a full fine-tune: greyed.
        assert row_of(screen, "lora.r").has_class("-not-for-task")
        # A QA setting goes through the one config writer, checked like --set.
        screen.query_one("#qa-f-qa--max_length").value = "256"
        await pilot.pause(0.1)
        assert state.config.qa.max_length == 256
        screen.query_one("#qa-f-qa--doc_stride").value = "-3"
        await pilot.pause(0.1)
        assert state.config.qa.doc_stride == 128 and "qa.doc_stride" in state.invalid
        assert "✗" in text(app, "#qa-f-qa--doc_stride-err")
        screen.query_one("#qa-f-qa--doc_stride").value = "64"
        screen.query_one("#qa-f-qa--method").value = "lora"
        await pilot.pause(0.1)
        assert state.config.qa.doc_stride == 64 and "qa.doc_stride" not in state.invalid
        assert state.config.qa.method == "lora" and not row_of(screen, "lora.r").has_class("-not-for-task")
        assert "task: extractive_qa" in state.config.to_yaml() and "max_length: 256" in state.config.to_yaml()
        # Back to causal LM: the QA settings hide, the LM fields are plain again.
        screen.query_one("#cfg-task-select").value = "causal_lm"
        await pilot.pause(0.2)
        assert state.config.task == "causal_lm" and not qa.display
        assert row_of(screen, "data.max_length").display and not tpl.has_class("-not-for-task")
        assert "data.template" not in state.invalid
        # The Template screen follows the task.
        await app.switch_mode("template")
        assert type(app.screen).__name__ == "TemplateScreen"
