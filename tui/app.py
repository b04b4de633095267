"""TuneDeck's Textual app: Data, Template, Config and Train screens over one shared config.

Nothing heavy is imported here: torch, transformers and datasets load inside
worker threads, so the first frame paints at once. Screens are Textual modes;
switch with 1-4 (or F2-F5), the tabs at the top, or the command palette (Ctrl+P).
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding

from engine.config import Config, ConfigError, load_config

from .screens.config import ConfigScreen
from .screens.data import DataScreen
from .screens.template import TemplateScreen
from .screens.train import TrainScreen
from .state import AppState

SCREENS = ("data", "template", "config", "train")
TITLES = {"data": "1 Data", "template": "2 Template", "config": "3 Config", "train": "4 Train"}


class TuneDeckApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "TuneDeck"
    ENABLE_COMMAND_PALETTE = True
    MODES = {"data": DataScreen, "template": TemplateScreen, "config": ConfigScreen, "train": TrainScreen}
    DEFAULT_MODE = "data"
    BINDINGS = [
        Binding("1", "goto('data')", "Data"),
        Binding("2", "goto('template')", "Template"),
        Binding("3", "goto('config')", "Config"),
        Binding("4", "goto('train')", "Train"),
        # While typing in a field the digits go to the field; F2-F5 switch screens from anywhere.
        Binding("f2", "goto('data')", "Data", show=False, priority=True),
        Binding("f3", "goto('template')", "Template", show=False, priority=True),
        Binding("f4", "goto('config')", "Config", show=False, priority=True),
        Binding("f5", "goto('train')", "Train", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, state: AppState | None = None, *, start_screen: str = "data", autostart: bool = False,
                 run_dir: str | None = None):
        super().__init__()
        self.state = state or AppState()
        self.start_screen = "train" if autostart else start_screen
        self.autostart = autostart
        self.run_dir = run_dir
        self._tokenizers: dict[str, object] = {}

    def on_mount(self) -> None:
        self.switch_mode(self.start_screen)

    def action_goto(self, screen: str) -> None:
        if screen in SCREENS and self.current_mode != screen:
            self.switch_mode(screen)

    # -- shared helpers -----------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self.state.config

    @property
    def config_valid(self) -> bool:
        return not self.state.invalid

    def tokenizer(self):
        """The tokenizer for the configured model (cached). Call from a worker thread only."""
        from engine.model import load_tokenizer

        key = self.state.config.model.name
        if key not in self._tokenizers:
            self._tokenizers[key] = load_tokenizer(self.state.config.model)
        return self._tokenizers[key]

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for name in SCREENS:
            yield SystemCommand(f"Go to {name.title()}", f"Open the {name} screen", partial(self.action_goto, name))
        yield SystemCommand("Start training", "Start a run with the current config", self._start_training)
        yield SystemCommand("Stop training", "Save a checkpoint and stop the run", self._stop_training)
        yield SystemCommand("Save config", "Save the config as YAML", partial(self._config_action, "save"))
        for preset in ("qlora", "lora16", "smoke"):
            yield SystemCommand(f"Preset: {preset}", "Load a preset into the config form",
                                partial(self._config_action, f"preset_{preset}"))

    def _train_screen(self):
        self.switch_mode("train")
        return self.screen

    def _start_training(self) -> None:
        screen = self._train_screen()
        self.call_after_refresh(screen.action_start)

    def _stop_training(self) -> None:
        screen = self._train_screen()
        self.call_after_refresh(screen.action_stop)

    def _config_action(self, action: str) -> None:
        self.switch_mode("config")
        self.call_after_refresh(lambda: self.screen.run_action(action))


def run_app(config_path: str | None = None, overrides: list[str] | None = None, screen: str = "data",
            start: bool = False, run_dir: str | None = None) -> int:
    """Load the config (one-line error and exit 2 when it is wrong) and run the app."""
    try:
        cfg = load_config(config_path, overrides or [])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    state = AppState(config=cfg, config_path=Path(config_path) if config_path else None)
    app = TuneDeckApp(state, start_screen=screen, autostart=start, run_dir=run_dir)
    app.run()
    return app.return_code or 0
