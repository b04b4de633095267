"""A DataTable that shows a window of a larger row list.

It only ever holds the rows on screen. Moving past its first or last row, the
page keys, Home/End and the mouse wheel do not scroll it: they post
:class:`RowWindow.Move` so the screen can fetch the next window from its row
source (engine.data.rowsource) and refill it.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

CELL_WIDTH = 60  # widest a column gets (characters)
MIN_CELL = 8


def cell(value) -> Text:
    if value is None:
        return Text("∅", style="dim")
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        value = turns(value)
    elif not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    value = " ".join(value.split())  # newlines and runs of spaces -> one space
    if len(value) > CELL_WIDTH:
        value = value[: CELL_WIDTH - 1] + "…"
    return Text(value, no_wrap=True, overflow="ellipsis")


def turns(messages: list[dict]) -> str:
    """A chat column in one line: "3 turns · user: … · assistant: …"."""
    parts = []
    for m in messages:
        role = m.get("role") or m.get("from") or "?"
        content = m.get("content", m.get("value"))
        content = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
        parts.append(f"{role}: {content}")
    return f"{len(messages)} turn{'s' if len(messages) != 1 else ''} · " + " · ".join(parts)


def spread(message: str, widths: list[int]) -> list[Text]:
    """An error message laid word by word across columns of these ``widths``, so it reads along the row."""
    widths = widths or [len(message)]
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


def column_widths(columns: list[str], rows: list[dict], avail: int, skip: str = "") -> list[int]:
    """Each column as wide as its content in ``rows`` (at most CELL_WIDTH), shrunk to fit ``avail``
    (rows holding the key ``skip`` are not measured)."""
    natural = []
    for c in columns:
        lengths = [len(c)] + [len(cell(r.get(c)).plain) for r in rows if skip not in r]
        natural.append(max(MIN_CELL if len(c) < MIN_CELL else len(c), min(CELL_WIDTH, max(lengths))))
    if sum(natural) <= avail:
        return natural
    widths = [MIN_CELL] * len(natural)
    spare = avail - sum(widths)
    if spare > 0:  # share what is left in proportion to what each column would like
        want = [max(0, n - MIN_CELL) for n in natural]
        total = sum(want) or 1
        widths = [w + spare * x // total for w, x in zip(widths, want, strict=False)]
    return widths


class RowWindow(DataTable):
    BINDINGS = [
        Binding("pagedown", "page_down", "Next page", show=False),
        Binding("pageup", "page_up", "Prev page", show=False),
        Binding("home,ctrl+home", "first", "First row", show=False),
        Binding("end,ctrl+end", "last", "Last row", show=False),
    ]

    class Move(Message):
        """Ask for another window: ``kind`` is "line" or "page" (with ``amount`` ±n), "first" or "last"."""

        def __init__(self, table: "RowWindow", kind: str, amount: int = 0) -> None:
            super().__init__()
            self.table, self.kind, self.amount = table, kind, amount

        @property
        def control(self) -> "RowWindow":
            return self.table

    WHEEL_ROWS = 3

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    @property
    def visible_rows(self) -> int:
        """Rows that fit without scrolling (what a window should hold)."""
        height = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        return max(3, height)

    def _move(self, kind: str, amount: int = 0) -> None:
        self.post_message(self.Move(self, kind, amount))

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self._move("line", 1)
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self._move("line", -1)
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        self._move("page", 1)

    def action_page_up(self) -> None:
        self._move("page", -1)

    def action_first(self) -> None:
        self._move("first")

    def action_last(self) -> None:
        self._move("last")

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        event.prevent_default()
        self._move("line", self.WHEEL_ROWS)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        event.prevent_default()
        self._move("line", -self.WHEEL_ROWS)
