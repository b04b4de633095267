"""The Data screen's column mapping panel: the format and which column plays which role.

It shows choices and reads them back; the screen checks them (engine.data.detect_format) and stores
them through the one writer. Apply and Clear reach the screen as ``Button.Pressed`` (``#map-apply``,
``#map-clear``).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Select

from engine.data import FORMATS, ROLES


def column_label(column: str, mapping: dict[str, str]) -> str:
    """A column's name with the roles it plays (``q→instruction``), when they differ from its name."""
    roles = [r for r, c in mapping.items() if c == column]
    return f"{column}→{'/'.join(roles)}" if roles and roles != [column] else column


class ColumnMapping(Vertical):
    def compose(self) -> ComposeResult:
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

    def fill(self, columns: list[str], mapping: dict[str, str], fmt: str) -> None:
        """Offer ``columns`` for every role, showing ``mapping`` (role -> column) and the format ``fmt``."""
        for role in ROLES:
            sel = self.query_one(f"#map-{role}", Select)
            sel.set_options([(Text(f"{role}: {c}"), c) for c in columns])
            if role in mapping and mapping[role] in columns:
                sel.value = mapping[role]
        self.query_one("#map-format", Select).value = fmt if fmt in FORMATS else "auto"

    def chosen(self) -> tuple[dict[str, str], str]:
        """(role -> column the user picked, the format picked)."""
        mapping = {}
        for role in ROLES:
            sel = self.query_one(f"#map-{role}", Select)
            if not sel.is_blank():
                mapping[role] = str(sel.value)
        return mapping, str(self.query_one("#map-format", Select).value)

    def clear(self) -> None:
        for role in ROLES:
            self.query_one(f"#map-{role}", Select).clear()
