"""What every TUI test shares: cursors that do not blink.

A blinking cursor (Input, TextArea) is drawn or not depending on when the picture is taken, so a
snapshot would pass or fail by timing. Every TUI test sees them steady; nothing else changes.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def steady_cursors(monkeypatch):
    from textual.widgets import Input, TextArea

    for widget in (Input, TextArea):
        monkeypatch.setattr(widget.cursor_blink, "_default", False)
