"""TuneDeck's Textual app: Data, Template, Config, Train, Runs and Playground screens over one shared config.

Nothing heavy is imported here: torch, transformers and datasets load inside
worker threads, so the first frame paints at once, even over a slow SSH link.

Each screen is a Textual mode (its state survives switching away). Keys that
work everywhere, also while typing in a field and inside tmux:

    F2 .. F7          Data, Template, Config, Train, Runs, Playground   (also 1 .. 6 outside text fields)
    Ctrl+T            start training with the current config (disabled while a field is invalid or a run is going)
    Ctrl+P            command palette: switch screen, start/stop training, save/load config, presets
    Ctrl+Q            quit

The bar at the top of every screen is clickable too.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding

from engine.config import Config, ConfigError, load_config

from .messages import TrainingOver
from .qa_modes import for_task, is_cls_run, is_qa_run, sync_mode
from .screens import SCREENS
from .screens.config import PRESETS, ConfigScreen
from .screens.data import DataScreen
from .screens.playground import PlaygroundScreen
from .screens.runs import RunsScreen
from .screens.template import TemplateScreen
from .screens.train import TrainScreen
from .state import AppState
from .widgets.confirm import Confirm
from .widgets.fields import leave_text_field

QUIT_QUESTION = ("A run is training inside the app: quitting stops it (a checkpoint is saved first). To keep a run "
                 "training after you quit, start it with d on the Train screen (detached). Save, stop and quit?")


def _styled_at_birth(cls):
    """A mode's screen factory that spares its first switch a restyle of every screen.

    Textual restyles the whole app (every widget of every screen built so far: seconds at 80x24 on a
    busy CPU) the first time it shows a screen whose CSS generation is behind the app's. All CSS is
    read at start (CSS_PATH below) and a new screen's widgets take the current styles as they mount,
    so a new screen is born up to date.
    """
    def make():
        screen = cls()
        screen._css_update_count = screen.app._css_update_count
        return screen
    make.__name__ = f"make_{cls.__name__}"
    return make


class TuneDeckApp(App):
    # Every screen's CSS up front: a screen's own CSS_PATH would otherwise be parsed on its first
    # switch and restyle every widget of every screen (seconds at first visit to each screen).
    CSS_PATH = ["app.tcss", *(f"screens/{name}.tcss" for name in (*SCREENS, "run_view", "compare", "evaluate", "export")),
                "widgets/qa.tcss", "widgets/cls.tcss"]
    TITLE = "TuneDeck"
    MODES = {name: for_task(name, _styled_at_birth(cls)) for name, cls in (
        ("data", DataScreen), ("template", TemplateScreen), ("config", ConfigScreen), ("train", TrainScreen),
        ("runs", RunsScreen), ("playground", PlaygroundScreen))}
    BINDINGS = [
        # Digits go to a focused text field; F2-F7 switch screens from anywhere.
        *(Binding(str(i + 1), f"goto('{name}')", name.title(), show=False) for i, name in enumerate(SCREENS)),
        *(Binding(f"f{i + 2}", f"goto('{name}')", name.title(), show=False, priority=True)
          for i, name in enumerate(SCREENS)),
        Binding("ctrl+t", "start_training", "Start training", show=False),
        # Not in the footers (room at 80 columns): the palette has Quit, and the README says Ctrl+Q.
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
    ]

    def __init__(self, state: AppState | None = None, *, start_screen: str = "data", autostart: bool = False,
                 run_dir: str | None = None, attach: str | Path | None = None, settings=None):
        super().__init__()
        self.settings = settings  # tui.settings.Settings: key overrides by binding id, the theme (remembered)
        if settings is not None:
            self.set_keymap(settings.keys)
        if start_screen not in SCREENS:
            raise ValueError(f"start_screen must be one of {', '.join(SCREENS)}, got {start_screen!r}")
        self.state = state or AppState()
        self.start_screen = "train" if autostart else ("runs" if attach else start_screen)
        self.attach = Path(attach) if attach else None  # a run to open in the run view at start (tunedeck attach)
        self.autostart = autostart  # the Train screen starts a run when it first mounts
        self.run_dir = run_dir  # the run folder for the first run (tunedeck ui --run-dir)
        self._tokenizers: dict[str, object] = {}
        self._quit_after_run = False
        self.detached = False  # the terminal is gone (SIGHUP); see detach_from_terminal

    async def on_mount(self) -> None:
        if self.settings is not None:
            from .settings import save_theme

            if self.settings.theme:
                self.theme = self.settings.theme
            self.theme_changed_signal.subscribe(self, lambda theme: save_theme(self.settings.path, theme.name))
        await self.switch_mode(self.start_screen)
        if self.attach is not None:
            self.open_run(self.attach)

    # -- screens --------------------------------------------------------------------------------
    def switch_mode(self, mode: str):
        # Leave any text field first: on return, the next key (a digit for another screen) must not edit it.
        # The Playground keeps its prompt focused (it drops keys typed while it was being shown).
        if self.current_mode != "playground" and self.screen_stack:
            leave_text_field(self.screen)
        sync_mode(self, mode)  # a screen built for the other task (causal LM / extractive QA) is rebuilt
        return super().switch_mode(mode)

    def action_goto(self, screen: str) -> None:
        if screen in SCREENS and self.current_mode != screen:
            self.switch_mode(screen)

    async def _show(self, screen: str):
        """Switch to a screen and return it once mounted."""
        if self.current_mode != screen:
            await self.switch_mode(screen)
        return self.screen

    # -- after training: runs, run view, evaluation, export, playground --------------------------
    def open_run(self, run_dir: str | Path) -> None:
        """Show one run (live while it trains) on top of the Runs screen."""
        from .screens.run_view import RunScreen

        if self.current_mode != "runs":
            self.switch_mode("runs")
        self.push_screen(RunScreen(run_dir))

    def open_compare(self, run_dirs: list[str | Path], chain: bool = False) -> None:
        """Overlay the loss curves of two or more runs (oldest first) on top of the Runs screen;
        ``chain``: the stages of one staged run, each curve starting where the previous stage ended."""
        from .screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_dirs, chain=chain))

    def open_eval(self, run_dir: str | Path, checkpoint: str | None = None) -> None:
        from .screens.evaluate import EvalScreen

        if is_qa_run(run_dir):  # extractive QA: EM/F1 and one row per question (tui/widgets/qa_eval.py)
            from .widgets.qa_eval import QaEvalScreen

            return self.push_screen(QaEvalScreen(run_dir, checkpoint))
        if is_cls_run(run_dir):  # classification: confusion matrix, per-class figures (tui/widgets/cls_eval.py)
            from .widgets.cls_eval import ClsEvalScreen

            return self.push_screen(ClsEvalScreen(run_dir, checkpoint))

        self.push_screen(EvalScreen(run_dir, checkpoint))

    def open_export(self, run_dir: str | Path) -> None:
        from .screens.export import ExportScreen

        self.push_screen(ExportScreen(run_dir))

    @work(exclusive=True, group="switch")
    async def open_playground(self, run_dir: str | Path, checkpoint: str | None = None) -> None:
        if is_qa_run(run_dir) and self.state.config.task != "extractive_qa":  # a QA run, the LM playground's mode
            from .widgets.qa_play import QaPlayScreen

            self.push_screen(QaPlayScreen(run_dir))
            return
        if is_cls_run(run_dir) and self.state.config.task != "classification":
            from .widgets.cls_play import ClsPlayScreen

            self.push_screen(ClsPlayScreen(run_dir))
            return
        screen = await self._show("playground")
        screen.open_run(run_dir, checkpoint)

    @work(exclusive=True, group="switch")
    async def resume_run(self, run_dir: str | Path) -> None:
        """Continue a stopped, failed or killed run from its last checkpoint, on the Train screen."""
        if self.state.training:
            self.notify("A run is already training in this app; stop it first (Train screen, x).",
                        title="One run at a time", severity="warning")
            return
        screen = await self._show("train")
        screen.action_start(resume=str(run_dir))

    # -- shared helpers -------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self.state.config

    def tokenizer(self):
        """The tokenizer for the configured model (cached). Call from a worker thread only."""
        from engine.model import load_tokenizer

        key = self.state.config.model.name
        if key not in self._tokenizers:
            self._tokenizers[key] = load_tokenizer(self.state.config.model)
        return self._tokenizers[key]

    # -- training, from any screen --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start_training":
            # Shown disabled only while a run is going; with an invalid config it runs and says what is wrong.
            return None if self.state.training else True
        return True

    def config_problem(self) -> str | None:
        """What is wrong with the config and where to fix it, in one line (None when it is valid)."""
        if not self.state.invalid:
            return None
        path, msg = next(iter(self.state.invalid.items()))
        more = f" (+{len(self.state.invalid) - 1} more)" if len(self.state.invalid) > 1 else ""
        return f"{path}: {msg}{more}. Fix it on the Config screen (3 or F4)."

    async def action_start_training(self) -> None:
        problem = self.config_problem()
        if problem:
            self.notify(problem, title="Fix the config first", severity="error", timeout=10)
            return
        screen = await self._show("train")
        screen.action_start()

    async def action_stop_training(self) -> None:
        screen = await self._show("train")
        screen.action_stop()

    async def action_quit(self) -> None:
        """Quit; a run in progress is first stopped (with a checkpoint) after a confirmation."""
        if not self.state.training or getattr(self, "child_training", None):  # a child process group trains on
            self.exit()
            return
        screen = await self._show("train")
        if screen.stopping or self._quit_after_run:  # asked twice: leave now (the run still gets the stop)
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._quit_after_run = True
                screen.action_stop()
                self.notify("TuneDeck quits once the checkpoint is saved (Ctrl+Q again: quit now).",
                            title="Stopping", severity="warning")

        self.push_screen(Confirm(QUIT_QUESTION, "Stop and quit"), answer)

    def on_training_over(self, msg: TrainingOver) -> None:
        """The Train screen's run is over (the screen posts it; it bubbles here)."""
        if self._quit_after_run or self.detached:
            self.exit()

    async def _config_action(self, action: str, *args) -> None:
        screen = await self._show("config")
        getattr(screen, f"action_{action}")(*args)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for i, name in enumerate(SCREENS):
            yield SystemCommand(f"Go to {name.title()} screen", f"F{i + 2} or {i + 1}", partial(self.action_goto, name))
        if self.state.training:
            yield SystemCommand("Stop training", "Save a checkpoint and stop the run", self.action_stop_training)
        else:
            yield SystemCommand("Start training", ("Not yet: " + self.config_problem()) if self.state.invalid
                                else "Start a run with the current config (Ctrl+T)", self.action_start_training)
        yield SystemCommand("Save config", "Write the config as YAML (Config screen, Ctrl+S)", partial(self._config_action, "save"))
        yield SystemCommand("Load config", "Read the YAML file named on the Config screen (Ctrl+O)",
                            partial(self._config_action, "load"))
        yield SystemCommand("Copy train command", "Copy the `tunedeck train ...` command for this config (F12 on Config)",
                            partial(self._config_action, "copy_command"))
        for key, (label, _) in PRESETS.items():
            yield SystemCommand(f"Load preset: {label}", "Set the config form's values for this preset",
                                partial(self._config_action, "preset", key))


def detach_from_terminal(app: TuneDeckApp) -> None:
    """The terminal went away (SSH dropped: SIGHUP). Keep training; stop drawing to a dead tty.

    stdout/stderr go to /dev/null so drawing never fails, stdin to a pipe that
    never delivers (so the input thread blocks instead of spinning on EOF).
    A run in progress goes on to the end, writing its run folder as usual,
    then the app exits; with nothing running it exits at once.
    """
    import os

    if app.detached:
        return
    app.detached = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    app._hold_stdin_pipe = write_end  # keep the write end open: reads block
    if not app.state.training:
        app.call_later(app.exit)


def run_app(config_path: str | None = None, overrides: list[str] | None = None, screen: str = "data",
            start: bool = False, run_dir: str | None = None, attach: str | Path | None = None) -> int:
    """Load the config (one-line error and exit code 2 when it is wrong) and run the app."""
    try:
        cfg = load_config(config_path, overrides or [])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from textual.theme import BUILTIN_THEMES

    from .keys import binding_ids
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings(binding_ids=binding_ids(), themes=set(BUILTIN_THEMES))
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    state = AppState(config=cfg, config_path=Path(config_path) if config_path else None)
    app = TuneDeckApp(state, start_screen=screen, autostart=start, run_dir=run_dir, attach=attach, settings=settings)
    import signal

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: detach_from_terminal(app))
    app.run()
    if app.detached:
        # No terminal to restore; the run folder holds everything. Don't wait on the driver's tty threads.
        import os

        os._exit(app.return_code or 0)
    return app.return_code or 0


from .keys import assign_ids  # noqa: E402  (after the App class: every binding gets its id)

assign_ids()
