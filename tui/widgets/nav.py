"""The one-line screen bar at the top of every screen: where you are, click to switch.

``NavTabs("config")`` shows ``1 Data  2 Template  3 Config  4 Train  5 Runs  6 Playground`` with the
current screen highlighted, and on the right the keys that switch screens.
Each label is clickable (mouse works over SSH and in tmux with mouse mode on).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Click
from textual.widgets import Label

SCREENS = (("data", "1 Data"), ("template", "2 Template"), ("config", "3 Config"), ("train", "4 Train"),
           ("runs", "5 Runs"), ("playground", "6 Playground"))
KEYS_HINT = "F2-F7 · ^P commands"


class NavTab(Label):
    """One clickable screen name."""

    def __init__(self, name: str, label: str, active: bool):
        super().__init__(f" {label} ", id=f"nav-{name}", classes="nav-tab -active" if active else "nav-tab")
        self.screen_name = name

    def on_click(self, event: Click) -> None:
        event.stop()
        self.app.action_goto(self.screen_name)


class NavTabs(Horizontal):
    def __init__(self, active: str):
        super().__init__(id="nav")
        self.active = active

    def compose(self) -> ComposeResult:
        for name, label in SCREENS:
            yield NavTab(name, label, name == self.active)
        yield Label(KEYS_HINT, id="nav-keys")
