"""Keys go where the user means them (issue 13): navigation never edits the config, Ctrl+T says what is
wrong, keys typed during a switch never land in the Playground's prompt, Tab completes a data path."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import Input
from tui_helpers import until

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.screens.config import widget_id
from tui.state import AppState

ROOT = Path(__file__).resolve().parents[2]


def make_app(tmp_path, start_screen="data", **sets) -> TuneDeckApp:
    over = {"data.path": "sample_data/tunedeck_qa.jsonl", "output.runs_dir": str(tmp_path / "runs"), **sets}
    return TuneDeckApp(AppState(config=load_config(None, over)), start_screen=start_screen)


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_navigation_keys_never_edit_the_config(tmp_path):
    """The issue's exact sequence: 3, Tab (focus on model.name), F5, 3, 4 must land on Train with model.name intact."""
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        assert app.current_mode == "config"
        await pilot.press("tab")
        assert app.focused.id == "cfg-task-select"  # the form's first line: the task picker
        await pilot.press("tab")
        assert app.focused.id == widget_id("model.name")
        await pilot.press("f5", "3")
        assert app.current_mode == "config"
        assert not isinstance(app.focused, Input)  # arriving puts no field under the keys
        await pilot.press("4")
        assert app.current_mode == "train"
        assert app.state.config.model.name == "smollm2-135m-instruct" and not app.state.dirty
        # Template -> 3 -> 4 -> 6 with a field focused before (eval_steps 10 became 46 in the issue).
        await pilot.press("3")
        app.screen.query_one("#" + widget_id("training.eval_steps")).focus()
        await pilot.press("2")  # typed into the field: appended, never replacing the whole value
        assert app.screen.query_one("#" + widget_id("training.eval_steps")).value == "502"
        await pilot.press("f3", "3", "4", "6")
        assert app.current_mode == "playground"
        assert app.state.config.training.eval_steps == 502  # the one digit typed on purpose, nothing else


async def test_tab_into_a_field_does_not_select_its_value(tmp_path):
    app = make_app(tmp_path, start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("tab", "tab")  # past the task picker
        w = app.focused
        assert isinstance(w, Input) and w.id.startswith("f-")
        before = w.value
        await pilot.press("7")
        assert w.value == before + "7"


async def test_ctrl_t_with_an_invalid_config_says_what_and_where_on_every_screen(tmp_path):
    app = make_app(tmp_path, start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        w = app.screen.query_one("#" + widget_id("training.learning_rate"), Input)
        w.focus()
        w.value = "-1"
        await pilot.pause()
        assert "training.learning_rate" in app.state.invalid
        for key, mode in (("f4", "config"), ("f5", "train"), ("f2", "data"), ("f6", "runs"), ("f3", "template"),
                          ("f7", "playground")):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert app.current_mode == mode and not app.state.training
            said = notes(app)
            assert any("Fix the config first" in n and "training.learning_rate: must be > 0" in n and "Config screen" in n
                       for n in said), (mode, said)


async def test_keys_typed_while_the_playground_opens_never_land_in_its_prompt(tmp_path):
    app = make_app(tmp_path, start_screen="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        # Keys the terminal read while the first switch was still building the screen: stamped before it showed.
        typed = [events.Key(c, c) for c in "hi"]
        await app.switch_mode("playground")
        await pilot.pause()
        for key in typed:
            app.post_message(key)
        await pilot.pause()
        prompt = app.screen.query_one("#pg-prompt", Input)
        assert app.focused is prompt and prompt.value == ""
        await pilot.press("o", "k")  # typed once it is there: for the prompt
        assert prompt.value == "ok"


async def test_every_screen_css_is_read_at_start_so_first_switches_restyle_nothing(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        reparsed = []
        real = app.stylesheet.reparse
        app.stylesheet.reparse = lambda: (reparsed.append(app.current_mode), real())[1]
        for key in ("2", "3", "4", "5", "6"):
            await pilot.press(key)
            await pilot.pause()
        app.screen.query_one("#pg-prompt")
        assert reparsed == []


async def test_tab_completes_the_data_path(tmp_path):
    (tmp_path / "my_data").mkdir()
    (tmp_path / "my_data" / "questions.jsonl").write_text('{"question": "a", "answer": "b"}\n')
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("o")
        path = app.screen.query_one("#path", Input)
        assert app.focused is path
        path.value = str(tmp_path / "my_d")
        path.cursor_position = len(path.value)
        await until(pilot, lambda: path._suggestion, what="a suggestion")
        await pilot.press("tab")
        assert app.focused is path and path.value == str(tmp_path / "my_data") + "/"
        await until(pilot, lambda: path._suggestion, what="the file inside")
        await pilot.press("tab")
        assert app.focused is path and path.value == str(tmp_path / "my_data" / "questions.jsonl")
        await pilot.pause(0.2)
        await pilot.press("tab")  # nothing left to complete: Tab moves on
        assert app.focused is not path
