"""The tab bar at the top of every screen: shows where you are, switches screens by mouse."""

from __future__ import annotations

from textual.widgets import Tab, Tabs

SCREENS = (("data", "1 Data"), ("template", "2 Template"), ("config", "3 Config"), ("train", "4 Train"))


class NavTabs(Tabs):
    def __init__(self, active: str):
        super().__init__(*[Tab(label, id=f"nav-{name}") for name, label in SCREENS], active=f"nav-{active}")
        self.can_focus = False

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        name = (event.tab.id or "").removeprefix("nav-")
        if name and self.app.current_mode != name:
            self.app.action_goto(name)
