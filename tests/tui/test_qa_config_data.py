"""The Config screen's task picker and QA settings (tui/widgets/qa_config.py), and the Data screen of QA data."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import tui_helpers
from tui_helpers import text

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

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


async def _data_ready(pilot, screen):
    await until(pilot, lambda: screen.page_rows and getattr(screen, "qa_probe", None) is not None, what="QA data")
    await pilot.pause(0.1)


async def test_data_screen_names_the_task_and_shows_each_question_with_its_context(tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from qa_fixtures import LONG, write_squad

    monkeypatch.chdir(tmp_path)
    write_squad(tmp_path / "tiny.json")
    cfg = load_config(None, {"task": "extractive_qa", "data.path": "tiny.json"})
    app = TuneDeckApp(AppState(config=cfg), start_screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await _data_ready(pilot, screen)
        info = text(app, "#data-info")
        assert info.startswith("task extractive_qa · 6 answerable, 1 unanswerable · 7 rows")
        assert "→instruction" not in info  # the columns are questions here, not causal-LM roles
        # The row detail: question, gold answer, the context with the answer highlighted.
        screen.table.move_cursor(row=2)  # q2: the long context
        detail = screen.query_one("#detail-text")
        await until(pilot, lambda: "id q2" in str(detail.render()), what="q2's detail")
        body = str(detail.render())
        assert "id q2" in body and "What does the run view show" in body and LONG in body
        marked = [body[s.start:s.end] for s in detail.content.spans if "on green" in str(s.style)]
        assert marked == ["the exact match and F1 chart", "the exact match and F1 chart"]  # the answer, in the context
        screen.table.move_cursor(row=6)  # q6: unanswerable
        await until(pilot, lambda: "id q6" in str(detail.render()), what="q6's detail")
        assert "unanswerable: trained to point at CLS" in str(detail.render())


async def test_data_screen_says_extractive_qa_fits_squad_data_on_a_causal_lm_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TuneDeckApp(AppState(config=load_config(None, {"data.path": str(ROOT / "sample_data" / "tunedeck_squad.json")})),
                      start_screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await _data_ready(pilot, screen)
        assert text(app, "#data-info").startswith(
            "extractive_qa fits this data (Config: task) · 536 questions: 412 answerable, 124 unanswerable")


async def test_data_screen_of_causal_lm_data_shows_no_task_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TuneDeckApp(AppState(config=load_config(None, {"data.path": str(ROOT / "sample_data" / "tunedeck_alpaca.json")})),
                      start_screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.page_rows and getattr(screen, "qa_probed", False), what="the data")
        await pilot.pause(0.2)
        assert screen.qa_probe is None and "extractive_qa" not in text(app, "#data-info")


async def test_loading_a_qa_config_shows_its_task_and_settings(tmp_path):
    app = TuneDeckApp(AppState(config=load_config(None, {})), start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        screen.query_one("#cfg-path").value = str(ROOT / "sample_data" / "squad_quickstart.yaml")
        await pilot.pause(0.1)
        screen.action_load()
        await until(pilot, lambda: app.state.config.task == "extractive_qa", what="the QA config")
        await pilot.pause(0.3)
        assert screen.query_one("#cfg-task-select").value == "extractive_qa"
        assert screen.query_one("#cfg-qa").display and screen.query_one("#qa-f-qa--max_length").value == "192"
        assert "--set" not in text(app, "#cfg-command")  # the file says it all
