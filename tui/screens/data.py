"""Data screen: choose a file, see its detected format, page through rows, search, map columns.

Rows come from engine.data.rowsource in worker threads; the table only ever holds
the rows on screen (see tui/widgets/data_table.py), so a million-row JSONL
scrolls as smoothly as a ten-row file. Counting runs in the background while
the first page is already shown.

Keys: PgUp/PgDn, Home/End, ↑/↓ past the edge and the mouse wheel move the
window; ``/`` search (Enter: next match, ``n`` again from the table); ``g`` go
to row; ``m`` column mapping; ``o`` type a path (with completion); ``b``
browse folders.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DirectoryTree, Footer, Input, Label, Select, Static

from engine.data import detect_format
from engine.errors import TuneDeckError

from ..messages import CountProgress, LoadFailed, Opened, Page, SearchDone
from ..widgets import qa_data
from ..widgets.column_mapping import ColumnMapping, column_label
from ..widgets.data_info import info_line
from ..widgets.data_table import RowWindow, cell, column_widths, spread
from ..widgets.fields import PathInput
from ..widgets.nav import NavTabs
from ..widgets.path_input import DataFiles, PathSuggester, browse_root, read_error, shown_path
from ..widgets.sample_view import ERROR_KEY, row_text

FIRST_ROWS = 60  # read with the file, before counting


class DataScreen(Screen):
    CSS_PATH = "data.tcss"
    AUTO_FOCUS = "#rows"
    BINDINGS = [
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "search_next", "Next"),
        Binding("g", "goto_row", "Go to row"),
        Binding("m", "toggle_mapping", "Map"),
        Binding("o", "open_file", "Open"),
        Binding("b", "browse", "Browse"),
        Binding("escape", "close_bars", "Close", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.source = None  # engine.data.rowsource.RowSource of the file on show
        self.row_offset = 0  # index of the table's first row
        self.page_rows: list[dict] = []
        self.columns: list[str] = []
        self.fmt: str | None = None
        self.mapping: dict[str, str] = {}
        self.detect_error: str | None = None
        self.load_error: str | None = None
        self.total: int | None = None  # row count once counted
        self.counting: tuple[int, float] | None = None
        self.last_search = ""
        self.status = ""  # last search / go-to result, shown in the info line
        self._cancel = threading.Event()
        self._loaded_path: str | None = None
        self._detected_for = None  # (data.format, data.columns) the detection used
        self._requested: int | None = None  # start of the page asked for and not yet shown
        self._seq = 0  # page requests; only the latest one's answer is shown

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield NavTabs("data")
        with Horizontal(id="file-bar"):
            yield Label("File", classes="data-label")
            yield PathInput(str(self.app.state.config.data.path), id="path", suggester=PathSuggester(),
                        placeholder="path to .json .jsonl .csv .parquet or a datasets folder (Tab completes)",
                        compact=True)
            yield Button("Load", id="load", variant="primary", compact=True)
        yield Static("", id="data-info")
        with Horizontal(id="data-main"):
            yield RowWindow(id="rows")
            with VerticalScroll(id="detail"):
                yield Static("", id="detail-text")
            yield DataFiles(browse_root(self.app.state.config.data.path), id="files", classes="hidden")
        with Horizontal(id="search-bar", classes="hidden"):
            yield Label("Find", classes="data-label")
            yield Input(id="search", placeholder="text (Enter: next match, Esc: close)", compact=True)
            yield Label("Row", classes="data-label")
            yield Input(id="goto", placeholder="number", type="integer", compact=True)
        yield ColumnMapping(id="mapping", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.load(str(self.app.state.config.data.path))

    def on_screen_resume(self) -> None:
        cfg = self.app.state.config.data
        path = str(cfg.path)
        if path != self._loaded_path:
            self.query_one("#path", Input).value = path
            self.load(path)
        elif self.source is not None and self._detected_for != (cfg.format, dict(cfg.columns)):
            self._detect(self.page_rows)  # the Config screen changed data.format or data.columns
            self._fill_mapping_selects()
            self._fill_table(self.table.cursor_row)

    @property
    def table(self) -> RowWindow:
        return self.query_one("#rows", RowWindow)

    @property
    def page_size(self) -> int:
        return self.table.visible_rows if self.table.size.height else 20

    # -- loading ----------------------------------------------------------------------------------
    def load(self, path: str) -> None:
        self._cancel.set()  # stop the previous file's count
        self._cancel = threading.Event()
        self.source, self.total, self.counting, self.status = None, None, None, ""
        self._requested = None
        self.load_error = None
        self._loaded_path = path
        self.query_one("#data-info", Static).update(Text(f"Opening {path} …", style="italic"))
        self._open(path, self._cancel)

    @work(thread=True, exclusive=True, group="data-open", exit_on_error=False)
    def _open(self, path: str, cancel: threading.Event) -> None:
        from engine.data.rowsource import open_rows

        try:
            source = open_rows(path, split=self.app.state.config.data.split)
            rows = source.rows(0, FIRST_ROWS)
            columns = source.columns()
        except Exception as e:  # every failure becomes one line; the app stays up
            self.post_message(LoadFailed(path, read_error(e, path)))
            return
        if cancel.is_set():
            return
        self.post_message(Opened(source, rows, columns))
        last = [0.0]

        def progress(n: int, frac: float) -> None:
            import time

            now = time.monotonic()
            if now - last[0] > 0.1:  # at most ten updates a second
                last[0] = now
                self.post_message(CountProgress(source, n, frac, False))

        try:
            n = source.count(progress=progress, cancel=cancel)
        except Exception as e:
            self.post_message(LoadFailed(path, read_error(e, path)))
            return
        if not cancel.is_set():
            self.post_message(CountProgress(source, n, 1.0, True))

    def on_opened(self, msg: Opened) -> None:
        self.source = msg.source
        self.columns = msg.columns
        self.total = msg.source.num_rows
        self._detect(msg.rows)
        self._fill_mapping_selects()
        self.row_offset = 0
        self.page_rows = msg.rows[: self.page_size]
        self._fill_table(0, new_columns=True)
        qa_data.start_probe(self)  # QA data: the task and its questions (tui/widgets/qa_data.py)
        self._update_info()
        if self.detect_error:
            self.query_one("#mapping").remove_class("hidden")

    def on_load_failed(self, msg: LoadFailed) -> None:
        if msg.path != self._loaded_path:
            return
        self.source, self.page_rows, self.columns = None, [], []
        self.load_error = msg.error
        self.query_one("#data-info", Static).update(Text(f"⚠ {msg.error}", style="bold red"))
        self.table.clear(columns=True)
        self.query_one("#detail-text", Static).update("")
        self.notify(msg.error, title="Cannot load data", severity="error")

    def on_count_progress(self, msg: CountProgress) -> None:
        if msg.source is not self.source:
            return
        if msg.done:
            self.total, self.counting = msg.rows, None
        else:
            self.counting = (msg.rows, msg.fraction)
        self._update_info()

    def _detect(self, rows: list[dict]) -> None:
        cfg = self.app.state.config.data
        self._detected_for = (cfg.format, dict(cfg.columns))
        rows = [r for r in rows if ERROR_KEY not in r][:5]
        try:
            self.fmt, self.mapping = detect_format(self.columns, rows, cfg.format, cfg.columns,
                                                   source=Path(str(cfg.path)).name or "data")
            self.detect_error = None
        except TuneDeckError as e:
            self.fmt, self.mapping, self.detect_error = None, {}, str(e)

    def _update_info(self) -> None:
        if self.source is None:
            return
        cfg = self.app.state.config.data
        qa_line, qa_task = qa_data.info_text(self)
        self.query_one("#data-info", Static).update(info_line(
            fmt=None if self.detect_error else str(self.fmt), detected=cfg.format == "auto" and not cfg.columns,
            counting=self.counting, total=self.total, limit=cfg.limit,
            row=self._current_index() + 1 if self.page_rows else None, status=self.status,
            columns=list(self.columns) if qa_task else [column_label(c, self.mapping) for c in self.columns],
            detect_error=self.detect_error, task_line=qa_line, task_is_format=qa_task))

    # -- the table --------------------------------------------------------------------------------
    def _fill_table(self, cursor: int = 0, new_columns: bool = False) -> None:
        table = self.table
        number_width = max(3, len(f"{self.row_offset + len(self.page_rows):,}"))
        current = table.columns.get("#")
        if new_columns or len(table.columns) != len(self.columns) + 1 or current is None or current.width < number_width:
            table.clear(columns=True)
            table.add_column("#", key="#", width=number_width)
            for c, w in zip(self.columns, self._column_widths(number_width), strict=False):
                table.add_column(Text(c, style="bold", no_wrap=True, overflow="ellipsis"), key=c, width=w)
        else:
            table.clear()
        for i, row in enumerate(self.page_rows):
            index = self.row_offset + i
            number = Text(f"{index + 1:,}", style="dim", justify="right")
            if ERROR_KEY in row:
                table.add_row(number, *self._spread(row[ERROR_KEY]), key=str(index))
            else:
                table.add_row(number, *[cell(row.get(c)) for c in self.columns], key=str(index))
        if self.page_rows:
            cursor = max(0, min(cursor, len(self.page_rows) - 1))
            table.move_cursor(row=cursor, animate=False)
            table.scroll_to(y=0, animate=False)
            self._show_detail(cursor)
        self._update_info()

    def _spread(self, message: str) -> list[Text]:
        return spread(message, [self.table.columns[k].width for k in list(self.table.columns)[1:]])

    def _column_widths(self, number_width: int) -> list[int]:
        if not self.columns:
            return []
        pad = 2 * self.table.cell_padding
        avail = (self.table.scrollable_content_region.width or 60) - number_width - pad - pad * len(self.columns)
        return column_widths(self.columns, self.page_rows, avail, skip=ERROR_KEY)

    def on_resize(self) -> None:
        if self.source is not None and self.page_rows:
            self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        if len(self.page_rows) != self.page_size:
            self._go(self.row_offset, self.table.cursor_row)
        else:
            self._fill_table(self.table.cursor_row, new_columns=True)

    @on(RowWindow.RowHighlighted, "#rows")
    def _row_highlighted(self, event: RowWindow.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)
        self._update_info()

    def _show_detail(self, i: int) -> None:
        if 0 <= i < len(self.page_rows):
            qa_detail = qa_data.row_detail(self, self.page_rows[i], self.row_offset + i)
            self.query_one("#detail-text", Static).update(
                qa_detail or row_text(self.page_rows[i], self.row_offset + i, self.fmt, self.mapping))
            self.query_one("#detail", VerticalScroll).scroll_home(animate=False)

    def _current_index(self) -> int:
        return self.row_offset + max(0, self.table.cursor_row)

    # -- moving the window ------------------------------------------------------------------------
    @on(RowWindow.Move, "#rows")
    def _move(self, event: RowWindow.Move) -> None:
        if self.source is None or not self.page_rows:
            return
        size = self.page_size
        cursor = self.table.cursor_row
        if event.kind == "first":
            self._go(0, 0)
        elif event.kind == "last":
            self._go(-1, size - 1)
        elif event.kind == "page":
            self._go(self._base() + event.amount * size, cursor)
        else:  # a line (or a few, from the wheel) past the window's edge
            self._go(self._base() + event.amount, cursor)

    def _base(self) -> int:
        """Where the window is, or is about to be (keys pressed faster than pages arrive add up)."""
        return self._requested if self._requested is not None else self.row_offset

    def _go(self, start: int, cursor: int = 0) -> None:
        """Show rows from ``start`` (-1: the last page) with the cursor on window row ``cursor``."""
        if self.source is None:
            return
        size = self.page_size
        if start >= 0:
            target = start + cursor
            if self.total is not None:
                start = min(start, self.total - size)
            start = max(0, start)
            cursor = target - start  # the same row, wherever the window ends up
        self._requested = start if start >= 0 else None
        self._seq += 1
        self._fetch(self.source, self._seq, start, size, cursor)

    @work(thread=True, exclusive=True, group="data-page", exit_on_error=False)
    def _fetch(self, source, seq: int, start: int, n: int, cursor: int) -> None:
        try:
            if start < 0:  # the last page, cursor on its last row
                start = max(0, source.count() - n)
                target = start + n - 1
            else:
                target = start + cursor  # the row the cursor should land on, wherever the window ends up
                if source.num_rows is not None:
                    start = min(start, source.num_rows - n)
                start = max(0, start)
            rows = source.rows(start, n)
            if len(rows) < n and start > 0:  # past the end while counting: show the last rows known
                start = max(0, source.count() - n)
                rows = source.rows(start, n)
            cursor = max(0, min(target - start, len(rows) - 1))
        except Exception as e:
            self.post_message(LoadFailed(str(source.path), read_error(e, str(source.path))))
            return
        self.post_message(Page(source, seq, start, rows, cursor, source.num_rows))

    def on_page(self, msg: Page) -> None:
        if msg.source is not self.source or msg.seq != self._seq or not msg.rows:
            return  # a file since replaced, or a page overtaken by a later request
        self._requested = None
        if msg.total is not None:
            self.total = msg.total
        self.row_offset = msg.start
        self.page_rows = msg.rows
        self._fill_table(msg.cursor)

    # -- search and go to -------------------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one("#search-bar").remove_class("hidden")
        self.query_one("#search", Input).focus()

    def action_goto_row(self) -> None:
        self.query_one("#search-bar").remove_class("hidden")
        self.query_one("#goto", Input).focus()

    def action_close_bars(self) -> None:
        for sel in ("#search-bar", "#mapping", "#files"):
            self.query_one(sel).add_class("hidden")
        self.query_one("#detail").remove_class("hidden")
        self.table.focus()

    def action_search_next(self) -> None:
        if self.last_search:
            self._start_search(self.last_search)
        else:
            self.action_search()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.last_search = text
            self._start_search(text)

    def _start_search(self, text: str) -> None:
        if self.source is None:
            return
        self.status = f"searching {text!r}…"
        self._update_info()
        self._search(self.source, text, self._current_index() + 1)

    @work(thread=True, exclusive=True, group="data-search", exit_on_error=False)
    def _search(self, source, text: str, start: int) -> None:
        index = source.search(text, start)
        wrapped = False
        if index is None and start > 0:
            index, wrapped = source.search(text, 0), True
        self.post_message(SearchDone(text, index, wrapped))

    def on_search_done(self, msg: SearchDone) -> None:
        if msg.index is None:
            self.status = f"{msg.text!r} not found"
            self._update_info()
            self.notify(f"No row contains {msg.text!r}", severity="warning", timeout=3)
            return
        self.status = f"found {msg.text!r}" + (" (wrapped to the top)" if msg.wrapped else "")
        self._jump(msg.index)

    def _jump(self, index: int) -> None:
        size = self.page_size
        start = max(0, index - size // 3)
        self._go(start, cursor=index - start)

    @on(Input.Submitted, "#goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        try:
            n = int(event.value)
        except ValueError:
            return
        if self.total is not None:
            n = min(n, self.total)
        n = max(1, n)
        self.status = ""
        self._jump(n - 1)
        self.query_one("#search-bar").add_class("hidden")
        self.table.focus()

    # -- choosing a file --------------------------------------------------------------------------
    def action_open_file(self) -> None:
        self.query_one("#path", Input).focus()

    def action_browse(self) -> None:
        files = self.query_one("#files", DataFiles)
        show = files.has_class("hidden")
        files.set_class(not show, "hidden")
        self.query_one("#detail").set_class(show, "hidden")
        if show:
            files.focus()
        else:
            self.table.focus()

    @on(DirectoryTree.FileSelected, "#files")
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path = shown_path(event.path)
        self.query_one("#path", Input).value = path
        self._choose(path)
        self.action_browse()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#load")
    def _load_pressed(self, event) -> None:
        self._choose(self.query_one("#path", Input).value.strip())
        self.table.focus()

    def _choose(self, path: str) -> None:
        state = self.app.state
        if path != str(state.config.data.path):
            state.set_field("data.path", path)
            state.set_field("data.columns", {})  # a mapping is for one file's columns
            state.set_field("data.format", "auto")
        self.load(path)

    # -- column mapping ---------------------------------------------------------------------------
    def action_toggle_mapping(self) -> None:
        """Show the mapping panel and go there; from inside it, hide it."""
        panel = self.query_one("#mapping")
        inside = self.focused is not None and panel in self.focused.ancestors
        if panel.has_class("hidden") or not inside:
            panel.remove_class("hidden")
            self.query_one("#map-format", Select).focus()
        else:
            panel.add_class("hidden")
            self.table.focus()

    def _fill_mapping_selects(self) -> None:
        self.query_one(ColumnMapping).fill(self.columns, self.mapping, self.app.state.config.data.format)

    @on(Button.Pressed, "#map-apply")
    def apply_mapping(self) -> None:
        cfg = self.app.state.config.data
        mapping, fmt = self.query_one(ColumnMapping).chosen()
        rows = [r for r in self.page_rows if ERROR_KEY not in r][:5]
        try:
            found_fmt, found = detect_format(self.columns, rows, fmt, mapping, source=Path(str(cfg.path)).name)
        except TuneDeckError as e:
            self.notify(str(e), title="Column mapping", severity="error")
            self.status = "mapping not applied"
            self._update_info()
            return
        # Keep only what the user chose (plus the format when forced): detection fills the rest each time.
        self.app.state.set_field("data.columns", mapping)
        self.app.state.set_field("data.format", fmt)
        self._detect(self.page_rows)
        self._fill_mapping_selects()
        self.status = "mapping applied"
        self._fill_table(self.table.cursor_row)
        self.notify(f"Format {found_fmt}: " + ", ".join(f"{k}={v}" for k, v in found.items()), timeout=3)

    @on(Button.Pressed, "#map-clear")
    def clear_mapping(self) -> None:
        self.app.state.set_field("data.columns", {})
        self.app.state.set_field("data.format", "auto")
        self.query_one(ColumnMapping).clear()
        self._detect(self.page_rows)
        self._fill_mapping_selects()
        self.status = "mapping cleared"
        self._fill_table(self.table.cursor_row)
