"""Data screen: choose a file, see its detected format, page through rows, search, map columns.

Rows come from engine.rowsource in a worker thread; the table only ever holds
one page of rows (about a screenful), so a million-row file scrolls as
smoothly as a ten-row one.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static

from engine.data import FORMATS, ROLES, detect_format, to_record
from engine.errors import TuneDeckError

from ..widgets.nav import NavTabs

CELL_WIDTH = 40


class PathSuggester(Suggester):
    """Completes file paths from the folder typed so far."""

    def __init__(self):
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        p = Path(value or ".")
        folder, stem = (p, "") if value.endswith("/") else (p.parent, p.name)
        try:
            names = sorted(c.name + ("/" if c.is_dir() else "") for c in folder.iterdir() if c.name.startswith(stem) and not c.name.startswith("."))
        except OSError:
            return None
        if not names:
            return None
        base = value[: len(value) - len(stem)] if stem else value
        return base + names[0]


class RowsLoaded(Message):
    def __init__(self, source, start: int, rows: list[dict], cursor: int = 0):
        super().__init__()
        self.source, self.start, self.rows, self.cursor = source, start, rows, cursor


class LoadFailed(Message):
    def __init__(self, error: str):
        super().__init__()
        self.error = error


class CountProgress(Message):
    def __init__(self, rows: int, fraction: float, done: bool):
        super().__init__()
        self.rows, self.fraction, self.done = rows, fraction, done


class SearchDone(Message):
    def __init__(self, text: str, index: int | None):
        super().__init__()
        self.text, self.index = text, index


class DataScreen(Screen):
    CSS_PATH = "data.tcss"
    BINDINGS = [
        Binding("pagedown,right_square_bracket", "page(1)", "Next page", key_display="PgDn"),
        Binding("pageup,left_square_bracket", "page(-1)", "Prev page", key_display="PgUp", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "search_next", "Next match", show=False),
        Binding("g", "goto_row", "Go to row"),
        Binding("m", "toggle_mapping", "Map columns"),
        Binding("o", "open_file", "Open file"),
        Binding("escape", "close_bars", "Close", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.source = None
        self.row_offset = 0
        self.page_rows: list[dict] = []
        self.columns: list[str] = []
        self.fmt: str | None = None
        self.mapping: dict[str, str] = {}
        self.detect_error: str | None = None
        self.total: int | None = None
        self.last_search = ""

    def compose(self) -> ComposeResult:
        yield NavTabs("data")
        with Horizontal(id="file-bar"):
            yield Label("File", classes="bar-label")
            yield Input(str(self.app.state.config.data.path), id="path", suggester=PathSuggester(),
                        placeholder="path to .json .jsonl .csv .parquet or a datasets folder")
            yield Button("Load", id="load", variant="primary")
        yield Static("", id="data-info")
        with Horizontal(id="data-main"):
            yield DataTable(id="rows", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="detail"):
                yield Static("", id="detail-text")
        with Horizontal(id="search-bar", classes="hidden"):
            yield Label("Find", classes="bar-label")
            yield Input(id="search", placeholder="text to find (Enter: next match)")
            yield Label("Row", classes="bar-label")
            yield Input(id="goto", placeholder="number", type="integer")
        with Vertical(id="mapping", classes="hidden"):
            yield Label("Map columns to roles (when detection is wrong or fails), then Apply")
            with Horizontal(classes="map-row"):
                yield Label("format", classes="map-label")
                yield Select([("auto", "auto")] + [(f, f) for f in FORMATS], value="auto", id="map-format", allow_blank=False)
                yield Button("Apply", id="map-apply", variant="primary")
                yield Button("Clear", id="map-clear")
            with Horizontal(classes="map-row"):
                for role in ("instruction", "input", "output", "system"):
                    yield Select([], prompt=role, id=f"map-{role}")
            with Horizontal(classes="map-row"):
                for role in ("text", "messages", "conversations"):
                    yield Select([], prompt=role, id=f"map-{role}")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rows", DataTable).focus()
        self.load(self.app.state.config.data.path)

    def on_screen_resume(self) -> None:
        path = str(self.app.state.config.data.path)
        if self.source is None or Path(path) != getattr(self.source, "path", None):
            self.query_one("#path", Input).value = path
            self.load(path)

    # -- loading --------------------------------------------------------------------------------
    @property
    def page_size(self) -> int:
        return max(5, self.query_one("#rows", DataTable).size.height - 1 or 20)

    def load(self, path: str) -> None:
        self.source = None
        self.total = None
        self.query_one("#data-info", Static).update(Text(f"Loading {path} …", style="italic"))
        self._open(path)

    @work(thread=True, exclusive=True, group="data-load", exit_on_error=False)
    def _open(self, path: str) -> None:
        from engine.rowsource import open_rows

        try:
            source = open_rows(path)
            rows = source.rows(0, 60)
        except TuneDeckError as e:
            self.post_message(LoadFailed(str(e)))
            return
        except Exception as e:  # unreadable file of any kind: say so, keep the app up
            self.post_message(LoadFailed(f"{path}: cannot read ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"))
            return
        self.post_message(RowsLoaded(source, 0, rows))

        def progress(n: int, frac: float) -> None:
            self.post_message(CountProgress(n, frac, False))

        n = source.count(progress=progress)
        self.post_message(CountProgress(n, 1.0, True))

    def on_rows_loaded(self, msg: RowsLoaded) -> None:
        first = self.source is None or msg.source is not self.source
        self.source = msg.source
        if first:
            self.columns = msg.source.columns()
            self._detect(msg.rows)
            self._fill_mapping_selects()
        self.row_offset = msg.start
        self.page_rows = msg.rows[: self.page_size]
        self._fill_table(msg.cursor)
        self._update_info()

    def on_load_failed(self, msg: LoadFailed) -> None:
        self.query_one("#data-info", Static).update(Text(f"⚠ {msg.error}", style="bold red"))
        self.query_one("#rows", DataTable).clear(columns=True)
        self.query_one("#detail-text", Static).update("")
        self.notify(msg.error, title="Cannot load data", severity="error")

    def on_count_progress(self, msg: CountProgress) -> None:
        if msg.done:
            self.total = msg.rows
        self._update_info(counting=None if msg.done else (msg.rows, msg.fraction))

    def _detect(self, rows: list[dict]) -> None:
        cfg = self.app.state.config.data
        try:
            self.fmt, self.mapping = detect_format(self.columns, rows[:5], cfg.format, cfg.columns, source=str(cfg.path))
            self.detect_error = None
        except TuneDeckError as e:
            self.fmt, self.mapping, self.detect_error = None, {}, str(e)

    def _update_info(self, counting: tuple[int, float] | None = None) -> None:
        t = Text()
        if self.detect_error:
            t.append("format: ? ", style="bold red")
        else:
            how = "detected" if self.app.state.config.data.format == "auto" and not self.app.state.config.data.columns else "set"
            t.append(f"{self.fmt}", style="bold green")
            t.append(f" ({how})  ")
        if counting is not None:
            t.append(f"counting… {counting[0]:,} rows ({counting[1]:.0%})  ", style="yellow")
        elif self.total is not None:
            t.append(f"{self.total:,} rows  ", style="bold")
        t.append("columns: " + ", ".join(self.columns), style="dim")
        if self.detect_error:
            t.append("\n" + self.detect_error + " — press m to map columns", style="red")
        self.query_one("#data-info", Static).update(t)

    def _fill_table(self, cursor: int = 0) -> None:
        table = self.query_one("#rows", DataTable)
        table.clear(columns=True)
        rows = [[str(self.row_offset + i + 1)] + [_cell(row.get(c)) for c in self.columns] for i, row in enumerate(self.page_rows)]
        labels = ["#", *self.columns]
        for k, label in enumerate(labels):
            width = max([len(label)] + [len(r[k]) for r in rows])
            table.add_column(label, key=label, width=min(CELL_WIDTH, width))
        for i, cells in enumerate(rows):
            table.add_row(*cells, key=str(self.row_offset + i))
        if self.page_rows:
            table.move_cursor(row=min(cursor, len(self.page_rows) - 1))
            self._show_detail(min(cursor, len(self.page_rows) - 1))

    @on(DataTable.RowHighlighted, "#rows")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    def _show_detail(self, i: int) -> None:
        if not 0 <= i < len(self.page_rows):
            return
        row = self.page_rows[i]
        self.query_one("#detail-text", Static).update(render_row(row, self.fmt, self.mapping, self.row_offset + i))

    # -- paging ---------------------------------------------------------------------------------
    def _go(self, start: int, cursor: int = 0) -> None:
        if self.source is None:
            return
        size = self.page_size
        if self.total is not None:
            start = max(0, min(start, max(0, self.total - size)))
        start = max(0, start)
        self._fetch(start, size, cursor)

    @work(thread=True, exclusive=True, group="data-page", exit_on_error=False)
    def _fetch(self, start: int, n: int, cursor: int) -> None:
        source = self.source
        rows = source.rows(start, n)
        if rows:
            self.post_message(RowsLoaded(source, start, rows, cursor))

    def action_page(self, direction: int) -> None:
        self._go(self.row_offset + direction * self.page_size)

    def action_first(self) -> None:
        self._go(0)

    def action_last(self) -> None:
        if self.total is not None:
            self._go(self.total - self.page_size, cursor=self.page_size - 1)

    def on_key(self, event) -> None:
        table = self.query_one("#rows", DataTable)
        if not table.has_focus or not self.page_rows:
            return
        if event.key == "down" and table.cursor_row == len(self.page_rows) - 1:
            if self.total is None or self.row_offset + len(self.page_rows) < self.total:
                event.stop()
                self._go(self.row_offset + 1, cursor=len(self.page_rows) - 1)
        elif event.key == "up" and table.cursor_row == 0 and self.row_offset > 0:
            event.stop()
            self._go(self.row_offset - 1, cursor=0)

    # -- search and go to -----------------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one("#search-bar").remove_class("hidden")
        self.query_one("#search", Input).focus()

    def action_goto_row(self) -> None:
        self.query_one("#search-bar").remove_class("hidden")
        self.query_one("#goto", Input).focus()

    def action_close_bars(self) -> None:
        self.query_one("#search-bar").add_class("hidden")
        self.query_one("#mapping").add_class("hidden")
        self.query_one("#rows", DataTable).focus()

    def action_search_next(self) -> None:
        if self.last_search:
            self._search(self.last_search, self._current_index() + 1)

    def _current_index(self) -> int:
        return self.row_offset + max(0, self.query_one("#rows", DataTable).cursor_row)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.last_search = event.value.strip()
            self._search(self.last_search, self._current_index() + 1)

    @work(thread=True, exclusive=True, group="data-search", exit_on_error=False)
    def _search(self, text: str, start: int) -> None:
        index = self.source.search(text, start) if self.source is not None else None
        if index is None and start > 0 and self.source is not None:
            index = self.source.search(text, 0)  # wrap around
        self.post_message(SearchDone(text, index))

    def on_search_done(self, msg: SearchDone) -> None:
        if msg.index is None:
            self.notify(f"No row contains {msg.text!r}", severity="warning")
            return
        self.notify(f"{msg.text!r} found in row {msg.index + 1}", timeout=2)
        self._jump(msg.index)

    def _jump(self, index: int) -> None:
        size = self.page_size
        start = max(0, index - size // 2)
        if self.total is not None:
            start = max(0, min(start, self.total - size))
        self._go(start, cursor=index - start)

    @on(Input.Submitted, "#goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        try:
            n = int(event.value)
        except ValueError:
            return
        if self.total is not None:
            n = max(1, min(n, self.total))
        self._jump(n - 1)
        self.query_one("#rows", DataTable).focus()

    # -- file and mapping -----------------------------------------------------------------------
    def action_open_file(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#load")
    def _load_pressed(self, event) -> None:
        path = self.query_one("#path", Input).value.strip()
        cfg = self.app.state.config.data
        if path != cfg.path:
            cfg.path = path
            cfg.columns = {}
            cfg.format = "auto"
            self.app.state.dirty = True
        self.load(path)
        self.query_one("#rows", DataTable).focus()

    def action_toggle_mapping(self) -> None:
        panel = self.query_one("#mapping")
        panel.toggle_class("hidden")
        if not panel.has_class("hidden"):
            self.query_one("#map-format", Select).focus()

    def _fill_mapping_selects(self) -> None:
        options = [(c, c) for c in self.columns]
        for role in ROLES:
            sel = self.query_one(f"#map-{role}", Select)
            sel.set_options(options)
            if role in self.mapping:
                sel.value = self.mapping[role]
        self.query_one("#map-format", Select).value = self.app.state.config.data.format

    @on(Button.Pressed, "#map-apply")
    def _apply_mapping(self) -> None:
        cfg = self.app.state.config.data
        mapping = {}
        for role in ROLES:
            value = self.query_one(f"#map-{role}", Select).value
            if value is not Select.BLANK and value:
                mapping[role] = value
        fmt = self.query_one("#map-format", Select).value
        try:
            detect_format(self.columns, self.page_rows[:5], fmt, mapping, source=str(cfg.path))
        except TuneDeckError as e:
            self.notify(str(e), title="Mapping", severity="error")
            return
        cfg.columns, cfg.format = mapping, fmt
        self.app.state.dirty = True
        self._detect(self.page_rows)
        self._fill_table(self.query_one("#rows", DataTable).cursor_row)
        self._update_info()
        self.notify(f"Using format {self.fmt} with {', '.join(f'{k}={v}' for k, v in self.mapping.items())}")

    @on(Button.Pressed, "#map-clear")
    def _clear_mapping(self) -> None:
        cfg = self.app.state.config.data
        cfg.columns, cfg.format = {}, "auto"
        for role in ROLES:
            self.query_one(f"#map-{role}", Select).clear()
        self.query_one("#map-format", Select).value = "auto"
        self._detect(self.page_rows)
        self._update_info()


def _cell(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    value = value.replace("\n", "⏎ ")
    return value if len(value) <= CELL_WIDTH else value[: CELL_WIDTH - 1] + "…"


ROLE_STYLE = {"system": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


def render_row(row: dict, fmt: str | None, mapping: dict, index: int) -> Text:
    """A row in full: turn by turn for chats, field by field otherwise."""
    t = Text(f"Row {index + 1}\n", style="bold")
    if "⚠ error" in row:
        t.append(row["⚠ error"], style="bold red")
        return t
    if fmt is not None:
        try:
            rec = to_record(row, fmt, mapping)
        except TuneDeckError as e:
            rec = None
            t.append(f"⚠ {e}\n\n", style="red")
        if rec and rec["kind"] == "chat":
            for m in rec["messages"]:
                t.append(f"{m['role']}\n", style=f"bold {ROLE_STYLE.get(m['role'], 'white')}")
                t.append((m["content"] or "∅ (empty)") + "\n\n")
            return t
        if rec and rec["kind"] == "instruction":
            for key in ("system", "instruction", "input", "output"):
                if rec[key] or key in ("instruction", "output"):
                    t.append(f"{key}\n", style="bold cyan" if key != "output" else "bold green")
                    t.append((rec[key] or "∅ (empty)") + "\n\n")
            return t
    for k, v in row.items():
        t.append(f"{k}\n", style="bold cyan")
        t.append((v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=1, default=str)) + "\n\n")
    return t
