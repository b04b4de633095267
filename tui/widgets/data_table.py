"""A DataTable that shows a window of a larger row list.

It only ever holds the rows on screen. Moving past its first or last row, the
page keys, Home/End and the mouse wheel do not scroll it: they post
:class:`RowWindow.Move` so the screen can fetch the next window from its row
source (engine.rowsource) and refill it.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable


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
