"""Helpers shared by the TUI tests: wait for a condition, read a widget's text, host one screen."""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import App

ROOT = Path(__file__).resolve().parents[2]


async def until(pilot, check, timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until ``check()`` is true; fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def text(app_or_screen, selector: str) -> str:
    """The rendered text of the widget matching ``selector`` on the current screen."""
    return str(app_or_screen.screen.query_one(selector).render())


class Host(App):
    """A bare app that opens one screen on top of its default screen, as the Runs screen does."""

    CSS_PATH = str(ROOT / "tui" / "app.tcss")

    def __init__(self, make_screen):
        super().__init__()
        self.make_screen = make_screen

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())


async def compared(pilot) -> None:
    """Wait for the Compare screen drawn: its histories loaded and the settings table filled."""
    from tui.screens.compare import CompareScreen

    await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.histories,
                what="compare")
    screen = pilot.app.screen
    table = screen.query_one("#cmp-diff")
    await until(pilot, lambda: table.row_count == len(screen.diff), what="the settings table filled")
