"""Helpers shared by the TUI tests: wait for a condition, read a widget's text."""

from __future__ import annotations

import time


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
