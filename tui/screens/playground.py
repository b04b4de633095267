"""Playground screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..widgets.nav import NavTabs


class PlaygroundScreen(Screen):
    def compose(self) -> ComposeResult:
        yield NavTabs("playground")
        yield Static("Playground")
        yield Footer()
