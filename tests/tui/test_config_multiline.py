"""Multi-line values in the Config form (issue 13): a custom template with a newline shows whole, on its
own lines, and is edited with a multi-line editor."""

from __future__ import annotations

from textual.widgets import TextArea

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.screens.config import widget_id
from tui.state import AppState


async def test_multi_line_template_shows_whole_and_edits_in_the_form(tmp_path):
    cfg = load_config(None, {"data.path": "sample_data/tunedeck_qa.jsonl", "output.runs_dir": str(tmp_path / "runs"),
                             "data.template": "Q: {question}\nA: "})
    app = TuneDeckApp(AppState(config=cfg), start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        area = app.screen.query_one("#" + widget_id("data.template"))
        assert isinstance(area, TextArea) and area.text == "Q: {question}\nA: "
        area.scroll_visible(animate=False)
        await pilot.pause()
        # Two lines of its own: the next field's row starts below the template's second line (no stray "A:").
        row = area.parent
        nxt = app.screen.query_one("#" + widget_id("data.system_prompt")).parent
        assert area.size.height == 2 and row.region.height == 2 and nxt.region.y == row.region.y + 2
        assert app.screen.query_one("#" + widget_id("data.template") + "-err").region.y == row.region.y
        area.focus()
        area.move_cursor(area.document.end)
        await pilot.press(*"{answer", "enter")  # typing and Enter edit the template; no screen key fires
        await pilot.pause()
        assert app.current_mode == "config"
        assert app.state.config.data.template == "Q: {question}\nA: {answer\n"
        await pilot.press("backspace")
        await pilot.press("}")
        await pilot.pause()
        assert app.state.config.data.template == "Q: {question}\nA: {answer}"
        assert "--set data.template='Q: {question}\nA: {answer}'" in str(app.screen.query_one("#cfg-command").render())
        await pilot.press("tab")  # Tab leaves the editor for the next field
        assert app.focused.id == widget_id("data.system_prompt")
