"""Data screen through Textual's Pilot on the real app: paging, search, header, mapping, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual import events
from tui_helpers import until

from engine.config import Config
from tui.app import TuneDeckApp
from tui.state import AppState

ROOT = Path(__file__).resolve().parents[2]
SIZE = (100, 30)


def make_app(path) -> TuneDeckApp:
    cfg = Config()
    cfg.data.path = str(path)
    return TuneDeckApp(AppState(config=cfg), start_screen="data")


def info_text(screen) -> str:
    return str(screen.query_one("#data-info").render())


def detail_text(screen) -> str:
    return str(screen.query_one("#detail-text").render())


def table_numbers(screen) -> list[int]:
    table = screen.table
    return [int(str(table.get_row_at(i)[0]).replace(",", "")) for i in range(table.row_count)]


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    lines = [f'{{"question": "Question {i}?", "answer": "Answer number {i}."}}' for i in range(200_000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_large_jsonl_pages_and_searches(big_jsonl):
    app = make_app(big_jsonl)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.page_rows, what="first page")
        page = screen.page_size
        assert 5 <= page <= SIZE[1]
        assert screen.table.row_count <= 2 * page  # a window of rows, never the file
        assert table_numbers(screen)[0] == 1
        await until(pilot, lambda: screen.total == 200_000, what="count")
        assert "200,000 rows" in info_text(screen) and "qa (detected)" in info_text(screen)

        await pilot.press("pagedown")
        await until(pilot, lambda: screen.row_offset == page, what="page down")
        assert table_numbers(screen)[0] == page + 1 and screen.table.row_count <= 2 * page

        await pilot.press("pagedown", "pagedown", "pagedown")  # faster than pages arrive: they add up
        await until(pilot, lambda: screen.row_offset == 4 * page, what="three pages down")
        assert table_numbers(screen)[0] == 4 * page + 1

        await pilot.press("end")
        await until(pilot, lambda: table_numbers(screen)[-1] == 200_000, what="end")
        assert screen._current_index() == 199_999
        assert "Question 199999?" in detail_text(screen)
        await pilot.press("home")
        await until(pilot, lambda: screen.row_offset == 0, what="home")

        # ↓ past the last row moves the window by one
        last = screen.table.row_count - 1
        screen.table.move_cursor(row=last)
        await pilot.press("down")
        await until(pilot, lambda: screen.row_offset == 1, what="line down")
        assert screen._current_index() == last + 1

        await pilot.press("slash")
        await pilot.press(*"question 123456?")
        await pilot.press("enter")
        await until(pilot, lambda: screen._current_index() == 123_456, what="search")
        assert "row 123,457" in info_text(screen) and "found 'question 123456?'" in info_text(screen)
        assert "Question 123456?" in detail_text(screen)
        assert screen.table.row_count <= 2 * page

        # a match near the end: the window stops at the last row and the cursor still lands on the match
        search = screen.query_one("#search")
        search.value = "answer number 199998."
        await pilot.press("enter")
        await until(pilot, lambda: screen._current_index() == 199_998, what="search near the end")
        assert table_numbers(screen)[-1] == 200_000

        await pilot.press("escape", "g")
        await pilot.press(*"150000", "enter")
        await until(pilot, lambda: screen._current_index() == 149_999, what="go to row")
        assert "Answer number 149999." in detail_text(screen)


async def test_mouse_wheel_moves_the_window(big_jsonl):
    app = make_app(big_jsonl)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.page_rows, what="first page")
        table = screen.table

        def wheel(event_class):
            table.post_message(event_class(table, 5, 3, 0, 1, 0, False, False, False, screen_x=5, screen_y=8))

        wheel(events.MouseScrollDown)
        await until(pilot, lambda: screen.row_offset == 3, what="wheel down")
        wheel(events.MouseScrollUp)
        await until(pilot, lambda: screen.row_offset == 0, what="wheel up")
        await pilot.click("#rows", offset=(10, 4))  # a click picks a row: the detail pane follows
        await until(pilot, lambda: screen._current_index() == 3, what="click")
        assert "Question 3?" in detail_text(screen)


async def test_header_on_sample_data():
    path = ROOT / "sample_data" / "tunedeck_alpaca.json"
    n = len(json.loads(path.read_text(encoding="utf-8")))
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.total is not None, what="load")
        info = info_text(screen)
        assert "alpaca (detected)" in info and f"{n:,} rows" in info and "instruction, input, output" in info
        assert "instruction" in detail_text(screen) and "output" in detail_text(screen)


@pytest.mark.parametrize("name, fmt, rows", [
    ("alpaca_en_demo.json", "alpaca", 999),
    ("dummy_conversation.json", "sharegpt", 500),
    ("glaive_toolcall_en_demo.json", "sharegpt", 300),
    ("lamini_docs_raw.jsonl", "qa", 1400),
    ("squad_v2_small.json", "qa", 626),
])
async def test_header_on_real_datasets(shared_datasets, name, fmt, rows):
    app = make_app(shared_datasets / name)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.total is not None or screen.load_error, what="load")
        assert screen.load_error is None
        info = info_text(screen)
        assert f"{fmt} (detected)" in info and f"{rows:,} rows" in info
        if fmt == "sharegpt":  # chats show turn by turn with role labels
            detail = detail_text(screen)
            assert re.search(r"\d\. user", detail) and re.search(r"\d\. assistant", detail)


async def test_column_mapping_fixes_odd_columns(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps({"q_text": f"What is {i}?", "a_text": f"It is {i}.", "meta": i}) + "\n"
                            for i in range(30)), encoding="utf-8")
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.source is not None, what="load")
        assert screen.detect_error and "cannot detect the format" in screen.detect_error
        assert "format ?" in info_text(screen)
        assert not screen.query_one("#mapping").has_class("hidden")  # opened by itself
        screen.query_one("#map-instruction").value = "q_text"
        screen.query_one("#map-output").value = "a_text"
        await pilot.pause()
        await pilot.click("#map-apply")
        await until(pilot, lambda: screen.detect_error is None, what="mapping applied")
        cfg = app.state.config.data
        assert cfg.columns == {"instruction": "q_text", "output": "a_text"} and cfg.format == "auto"
        assert screen.fmt == "qa" and "qa (set)" in info_text(screen)
        assert "What is 0?" in detail_text(screen) and "It is 0." in detail_text(screen)

        # a wrong forced format is refused with a one-line message; the config keeps the good mapping
        screen.query_one("#map-format").value = "messages"
        await pilot.pause()
        screen.query_one("#map-apply").press()  # (a toast may cover the button: press it directly)
        await pilot.pause(0.2)
        assert cfg.format == "auto" and "mapping not applied" in info_text(screen)

        screen.query_one("#map-clear").press()
        await until(pilot, lambda: screen.detect_error is not None, what="mapping cleared")
        assert cfg.columns == {} and cfg.format == "auto"


async def test_broken_files_show_one_line_and_app_stays_up(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"instruction": "a", "output": "b"},\n {"instruction": }]', encoding="utf-8")
    app = make_app(bad)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.load_error, what="error")
        assert "bad.json:2" in screen.load_error and "\n" not in screen.load_error
        assert "⚠" in info_text(screen) and screen.table.row_count == 0

        # a JSONL file with one malformed line: that row shows the error with its line number
        jl = tmp_path / "some_bad.jsonl"
        jl.write_text('{"text": "fine"}\n{"text": broken\n{"text": "also fine"}\n', encoding="utf-8")
        path_input = screen.query_one("#path")
        path_input.value = str(jl)
        path_input.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen.total == 3, what="reload")
        assert app.state.config.data.path == str(jl)
        assert screen.load_error is None and "text (detected)" in info_text(screen)
        assert "some_bad.jsonl:2: not valid JSON" in str(screen.table.get_row_at(1)[1])
        screen.table.move_cursor(row=1)
        await pilot.pause()
        assert "some_bad.jsonl:2" in detail_text(screen)

        # a file that does not exist
        path_input.value = str(tmp_path / "missing.jsonl")
        path_input.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen.load_error and "no such file" in screen.load_error, what="missing")
        assert app.is_running


async def test_path_completion_and_browser(tmp_path):
    (tmp_path / "train_set.jsonl").write_text('{"text": "hello"}\n', encoding="utf-8")
    app = make_app(ROOT / "sample_data" / "tunedeck_qa.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.total is not None, what="load")
        path_input = screen.query_one("#path")
        path_input.value = ""
        path_input.focus()
        await pilot.press(*f"{tmp_path}/tra")
        await pilot.pause(0.2)
        await pilot.press("right")  # → accepts the suggestion
        assert path_input.value == f"{tmp_path}/train_set.jsonl"
        await pilot.press("enter")
        await until(pilot, lambda: screen.total == 1, what="completed file")
        assert app.state.config.data.path == f"{tmp_path}/train_set.jsonl"

        await pilot.press("b")
        files = screen.query_one("#files")
        assert not files.has_class("hidden") and files.has_focus
        await pilot.press("escape")
        assert files.has_class("hidden")
