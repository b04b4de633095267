"""Data screen: choose a file, see its detected format, page through rows, search, map columns.

Rows come from engine.rowsource in worker threads; the table only ever holds
the rows on screen (see tui/widgets/data_table.py), so a million-row JSONL
scrolls as smoothly as a ten-row file. Counting runs in the background while
the first page is already shown.

Keys: PgUp/PgDn, Home/End, ↑/↓ past the edge and the mouse wheel move the
window; ``/`` search (Enter: next match, ``n`` again from the table); ``g`` go
to row; ``m`` column mapping; ``o`` type a path (with completion); ``b``
browse folders.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import Button, DirectoryTree, Footer, Input, Label, Select, Static

from engine.data import FORMATS, ROLES, detect_format
from engine.errors import TuneDeckError

from ..widgets.data_table import RowWindow
from ..widgets.fields import PathInput
from ..widgets import qa_data
from ..widgets.nav import NavTabs
from ..widgets.sample_view import ERROR_KEY, row_text

CELL_WIDTH = 60  # widest a column gets (characters)
MIN_CELL = 8
FIRST_ROWS = 60  # read with the file, before counting
DATA_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq"}


class PathSuggester(Suggester):
    """Completes file and folder names from the folder typed so far (Tab or → accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        p = Path(value).expanduser()
        folder, stem = (p, "") if value.endswith("/") else (p.parent, p.name)
        try:
            names = sorted(c.name + ("/" if c.is_dir() else "") for c in folder.iterdir()
                           if c.name.startswith(stem) and not c.name.startswith(".")
                           and (c.is_dir() or c.suffix.lower() in DATA_SUFFIXES or c.suffix.lower() == ".gz"))
        except OSError:
            return None
        if not names:
            return None
        return value[: len(value) - len(stem)] + names[0]


class DataFiles(DirectoryTree):
    """A folder tree that lists only data files (and folders)."""

    def filter_paths(self, paths):
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.suffix.lower() in DATA_SUFFIXES)]


class Opened(Message):
    def __init__(self, source, rows: list[dict], columns: list[str]):
        super().__init__()
        self.source, self.rows, self.columns = source, rows, columns


class Page(Message):
    def __init__(self, source, seq: int, start: int, rows: list[dict], cursor: int, total: int | None):
        super().__init__()
        self.source, self.seq, self.start, self.rows, self.cursor, self.total = source, seq, start, rows, cursor, total


class LoadFailed(Message):
    def __init__(self, path: str, error: str):
        super().__init__()
        self.path, self.error = path, error


class CountProgress(Message):
    def __init__(self, source, rows: int, fraction: float, done: bool):
        super().__init__()
        self.source, self.rows, self.fraction, self.done = source, rows, fraction, done


class SearchDone(Message):
    def __init__(self, text: str, index: int | None, wrapped: bool):
        super().__init__()
        self.text, self.index, self.wrapped = text, index, wrapped


def _one_line(e: BaseException, path: str) -> str:
    if isinstance(e, TuneDeckError):
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    first = str(e).splitlines()[0][:160] if str(e) else ""
    return f"{path}: cannot read ({type(e).__name__}{': ' + first if first else ''})"


def _cell(value) -> Text:
    if value is None:
        return Text("∅", style="dim")
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        value = _turns(value)
    elif not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    value = " ".join(value.split())  # newlines and runs of spaces -> one space
    if len(value) > CELL_WIDTH:
        value = value[: CELL_WIDTH - 1] + "…"
    return Text(value, no_wrap=True, overflow="ellipsis")


def _turns(messages: list[dict]) -> str:
    """A chat column in one line: "3 turns · user: … · assistant: …"."""
    parts = []
    for m in messages:
        role = m.get("role") or m.get("from") or "?"
        content = m.get("content", m.get("value"))
        content = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
        parts.append(f"{role}: {content}")
    return f"{len(messages)} turn{'s' if len(messages) != 1 else ''} · " + " · ".join(parts)


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
        self.source = None  # engine.rowsource.RowSource of the file on show
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
            yield DataFiles(self._browse_root(), id="files", classes="hidden")
        with Horizontal(id="search-bar", classes="hidden"):
            yield Label("Find", classes="data-label")
            yield Input(id="search", placeholder="text (Enter: next match, Esc: close)", compact=True)
            yield Label("Row", classes="data-label")
            yield Input(id="goto", placeholder="number", type="integer", compact=True)
        with Vertical(id="mapping", classes="hidden"):
            with Horizontal(classes="map-row"):
                yield Label("Map columns · format", classes="map-label")
                yield Select([(Text("auto"), "auto")] + [(Text(f), f) for f in FORMATS], value="auto",
                             id="map-format", allow_blank=False, compact=True)
                yield Button("Apply", id="map-apply", variant="primary", compact=True)
                yield Button("Clear", id="map-clear", compact=True)
            with Horizontal(classes="map-row"):
                for role in ("instruction", "input", "output", "system"):
                    yield Select([], prompt=f"{role}: –", id=f"map-{role}", compact=True)
            with Horizontal(classes="map-row"):
                for role in ("text", "messages", "conversations"):
                    yield Select([], prompt=f"{role}: –", id=f"map-{role}", compact=True)
        yield Footer()

    def _browse_root(self) -> Path:
        """The folder of the current file, else sample_data/, else the working folder."""
        parent = Path(str(self.app.state.config.data.path)).expanduser().parent
        for folder in (parent, Path("sample_data")):
            if str(folder) != "." and folder.is_dir():
                return folder
        return Path(".")

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
        from engine.rowsource import open_rows

        try:
            source = open_rows(path, split=self.app.state.config.data.split)
            rows = source.rows(0, FIRST_ROWS)
            columns = source.columns()
        except Exception as e:  # every failure becomes one line; the app stays up
            self.post_message(LoadFailed(path, _one_line(e, path)))
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
            self.post_message(LoadFailed(path, _one_line(e, path)))
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
        cfg = self.app.state.config.data
        t = Text(no_wrap=True, overflow="ellipsis")
        if self.source is None:
            return
        qa_line, qa_task = qa_data.info_text(self)
        t.append_text(qa_line)
        if qa_task:  # the columns are read as questions, not mapped to causal-LM roles
            pass
        elif self.detect_error:
            t.append("format ? ", style="bold red")
        else:
            how = "detected" if cfg.format == "auto" and not cfg.columns else "set"
            t.append(str(self.fmt), style="bold green")
            t.append(f" ({how}) · ", style="dim")
        if self.counting is not None and self.total is None:
            t.append(f"counting… {self.counting[0]:,} rows {self.counting[1]:.0%}", style="yellow")
        elif self.total is not None:
            t.append(f"{self.total:,} rows", style="bold")
        if cfg.limit and self.total is not None and cfg.limit < self.total:
            t.append(f" (training uses the first {cfg.limit:,})", style="yellow")
        if self.page_rows:
            t.append(f" · row {self._current_index() + 1:,}", style="cyan")
        if self.status:
            t.append(f" · {self.status}", style="bold cyan")
        t.append(" · " + ", ".join(c if qa_task else self._column_label(c) for c in self.columns), style="dim")
        if self.detect_error and not qa_task:
            t.append("\n")
            short = self.detect_error
            if "cannot detect the format" in short:
                short = "format unknown: pick a column for the roles below, then Apply"
            t.append("⚠ " + short, style="bold red")
        self.query_one("#data-info", Static).update(t)

    def _column_label(self, column: str) -> str:
        roles = [r for r, c in self.mapping.items() if c == column]
        return f"{column}→{'/'.join(roles)}" if roles and roles != [column] else column

    # -- the table --------------------------------------------------------------------------------
    def _fill_table(self, cursor: int = 0, new_columns: bool = False) -> None:
        table = self.table
        number_width = max(3, len(f"{self.row_offset + len(self.page_rows):,}"))
        current = table.columns.get("#")
        if new_columns or len(table.columns) != len(self.columns) + 1 or current is None or current.width < number_width:
            table.clear(columns=True)
            table.add_column("#", key="#", width=number_width)
            for c, w in zip(self.columns, self._column_widths(number_width)):
                table.add_column(Text(c, style="bold", no_wrap=True, overflow="ellipsis"), key=c, width=w)
        else:
            table.clear()
        for i, row in enumerate(self.page_rows):
            index = self.row_offset + i
            number = Text(f"{index + 1:,}", style="dim", justify="right")
            if ERROR_KEY in row:
                table.add_row(number, *self._spread(row[ERROR_KEY]), key=str(index))
            else:
                table.add_row(number, *[_cell(row.get(c)) for c in self.columns], key=str(index))
        if self.page_rows:
            cursor = max(0, min(cursor, len(self.page_rows) - 1))
            table.move_cursor(row=cursor, animate=False)
            table.scroll_to(y=0, animate=False)
            self._show_detail(cursor)
        self._update_info()

    def _spread(self, message: str) -> list[Text]:
        """An error message laid word by word across the table's columns, so it reads along the row."""
        widths = [self.table.columns[k].width for k in list(self.table.columns)[1:]] or [len(message)]
        words = message.split(" ")
        cells = []
        for i, w in enumerate(widths):
            if i == len(widths) - 1:
                piece, words = " ".join(words), []
            else:
                taken: list[str] = []
                while words and len(" ".join(taken + [words[0]])) <= w:
                    taken.append(words.pop(0))
                if not taken and words:  # a word longer than the column: cut it
                    taken, words[0] = [words[0][:w]], words[0][w:]
                piece = " ".join(taken)
            cells.append(Text(piece, style="bold red", no_wrap=True, overflow="ellipsis"))
        return cells

    def _column_widths(self, number_width: int) -> list[int]:
        """Each column as wide as its content on this page (at most CELL_WIDTH), shrunk to fit the table."""
        if not self.columns:
            return []
        pad = 2 * self.table.cell_padding
        avail = (self.table.scrollable_content_region.width or 60) - number_width - pad - pad * len(self.columns)
        natural = []
        for c in self.columns:
            lengths = [len(c)] + [len(_cell(r.get(c)).plain) for r in self.page_rows if ERROR_KEY not in r]
            natural.append(max(MIN_CELL if len(c) < MIN_CELL else len(c), min(CELL_WIDTH, max(lengths))))
        if sum(natural) <= avail:
            return natural
        widths = [MIN_CELL] * len(natural)
        spare = avail - sum(widths)
        if spare > 0:  # share what is left in proportion to what each column would like
            want = [max(0, n - MIN_CELL) for n in natural]
            total = sum(want) or 1
            widths = [w + spare * x // total for w, x in zip(widths, want)]
        return widths

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
            self.post_message(LoadFailed(str(source.path), _one_line(e, str(source.path))))
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
        path = str(event.path)
        try:
            path = str(event.path.resolve().relative_to(Path.cwd()))
        except ValueError:
            pass
        self.query_one("#path", Input).value = path
        self._choose(path)
        self.action_browse()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#load")
    def _load_pressed(self, event) -> None:
        self._choose(self.query_one("#path", Input).value.strip())
        self.table.focus()

    def _choose(self, path: str) -> None:
        cfg = self.app.state.config.data
        if path != str(cfg.path):
            cfg.path = path
            cfg.columns = {}  # a mapping is for one file's columns
            cfg.format = "auto"
            self.app.state.dirty = True
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
        for role in ROLES:
            sel = self.query_one(f"#map-{role}", Select)
            sel.set_options([(Text(f"{role}: {c}"), c) for c in self.columns])
            if role in self.mapping and self.mapping[role] in self.columns:
                sel.value = self.mapping[role]
        fmt = self.app.state.config.data.format
        self.query_one("#map-format", Select).value = fmt if fmt in FORMATS else "auto"

    def _chosen_mapping(self) -> dict[str, str]:
        mapping = {}
        for role in ROLES:
            sel = self.query_one(f"#map-{role}", Select)
            if not sel.is_blank():
                mapping[role] = str(sel.value)
        return mapping

    @on(Button.Pressed, "#map-apply")
    def apply_mapping(self) -> None:
        cfg = self.app.state.config.data
        mapping = self._chosen_mapping()
        fmt = str(self.query_one("#map-format", Select).value)
        rows = [r for r in self.page_rows if ERROR_KEY not in r][:5]
        try:
            found_fmt, found = detect_format(self.columns, rows, fmt, mapping, source=Path(str(cfg.path)).name)
        except TuneDeckError as e:
            self.notify(str(e), title="Column mapping", severity="error")
            self.status = "mapping not applied"
            self._update_info()
            return
        # Keep only what the user chose (plus the format when forced): detection fills the rest each time.
        cfg.columns, cfg.format = mapping, fmt
        self.app.state.dirty = True
        self._detect(self.page_rows)
        self._fill_mapping_selects()
        self.status = "mapping applied"
        self._fill_table(self.table.cursor_row)
        self.notify(f"Format {found_fmt}: " + ", ".join(f"{k}={v}" for k, v in found.items()), timeout=3)

    @on(Button.Pressed, "#map-clear")
    def clear_mapping(self) -> None:
        cfg = self.app.state.config.data
        cfg.columns, cfg.format = {}, "auto"
        self.app.state.dirty = True
        for role in ROLES:
            self.query_one(f"#map-{role}", Select).clear()
        self._detect(self.page_rows)
        self._fill_mapping_selects()
        self.status = "mapping cleared"
        self._fill_table(self.table.cursor_row)
