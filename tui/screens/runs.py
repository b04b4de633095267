"""Runs screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..widgets.nav import NavTabs


class RunsScreen(Screen):
    def compose(self) -> ComposeResult:
        yield NavTabs("runs")
        yield Static("Runs")
        yield Footer()
