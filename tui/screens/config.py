"""Config screen: the whole config as a validated form, presets, YAML load/save, memory estimate.

The form is generated from engine.config.field_specs() (a Select for fields
with choices, a Checkbox for booleans, an Input for the rest), one line per
field so that most of it fits at 80x24. Every edit is checked with
``app.state.set_field`` (tui/state.py), the one writer, with the validator the
CLI uses: a field in error shows its message beside it, is listed in
``app.state.invalid`` and keeps Start disabled everywhere. The config itself only ever holds valid values.

Keys: Tab/Shift+Tab move between fields, Ctrl+S save, Ctrl+O load, Ctrl+T
start training, F8/F9/F10 presets, F12 copy the `tunedeck train` command,
Esc leaves a field.
"""

from __future__ import annotations

import copy
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static, TextArea

from engine.config import Config, ConfigError, FieldSpec, field_specs, load_config, save_config

from ..text import to_text
from ..widgets.confirm import Confirm
from ..widgets.nav import NavTabs
from ..widgets.qa_config import ClsFields, QaFields, TaskPicker, apply_task, task_sets

SECTION_TITLES = {"model": "Model and quantization", "lora": "LoRA adapter", "data": "Data and template",
                  "training": "Training", "output": "Output"}

# Each preset is a complete answer for every key any preset touches (the rest keep their defaults),
# so applying presets in any order gives the same result.
_PRESET_VALUES = {
    "qlora": ("QLoRA 4-bit (default)", {"model.quantization": "4bit", "lora.r": 16, "lora.alpha": 32,
                                        "training.learning_rate": 2e-4}),
    "lora16": ("LoRA 16-bit", {"model.quantization": "none", "lora.r": 16, "lora.alpha": 32,
                               "training.learning_rate": 1e-4}),
    "smoke": ("CPU smoke test", {"model.device": "cpu", "model.quantization": "none", "model.compute_dtype": "float32",
                                 "training.max_steps": 5, "training.batch_size": 2, "data.max_length": 128,
                                 "data.limit": 40, "training.save_steps": 5, "training.eval_steps": 5,
                                 "training.logging_steps": 1, "lora.r": 8, "lora.alpha": 16}),
}
_PRESET_KEYS = sorted({k for _, values in _PRESET_VALUES.values() for k in values})
_DEFAULTS = Config()
PRESETS: dict[str, tuple[str, dict]] = {
    key: (label, {k: values.get(k, _DEFAULTS.get(k)) for k in _PRESET_KEYS})
    for key, (label, values) in _PRESET_VALUES.items()
}

SPECS: dict[str, FieldSpec] = {s.path: s for s in field_specs()}
MULTILINE = {"data.template", "data.system_prompt"}  # edited in a TextArea (Enter: new line, Tab: next field)


def widget_id(path: str) -> str:
    return "f-" + path.replace(".", "--")


def path_of(widget_id_: str) -> str:
    return widget_id_.removeprefix("f-").replace("--", ".")


def yes_no(value) -> str:
    return "yes" if value else "no"


def _quote(value: str) -> str:
    if value and not any(c in value for c in " {}[],:'\"#\n\\$`*?&;|<>()!~"):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def cli_command(cfg: Config, config_path: Path | None, base: Config | None = None) -> str:
    """The `tunedeck train` command line that reproduces the form: the file plus --set for each change."""
    if base is None:
        base = Config()
    sets = task_sets(cfg, base, _quote)  # --set task=... and qa.* (tui/widgets/qa_config.py)
    for spec in SPECS.values():
        new = cfg.get(spec.path)
        if new != base.get(spec.path):
            sets.append(f"--set {spec.path}={_quote(to_text(new) if new is not None else 'null')}")
    head = f"tunedeck train --config {_quote(str(config_path))}" if config_path else "tunedeck train"
    return " ".join([head, *sets])


class ConfigScreen(Screen):
    CSS_PATH = "config.tcss"
    AUTO_FOCUS = "#cfg-form"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+o", "load", "Load"),
        Binding("ctrl+t", "app.start_training", "Start training"),
        Binding("f12", "copy_command", "Copy command"),
        # F2-F7 switch screens (app bindings); presets sit right after them.
        Binding("f8", "preset('qlora')", "QLoRA", show=False),
        Binding("f9", "preset('lora16')", "LoRA16", show=False),
        Binding("f10", "preset('smoke')", "Smoke", show=False),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self):
        super().__init__()
        self._syncing = 0
        self._base_cache: tuple[Path, float, Config] | None = None

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        state = self.app.state
        yield NavTabs("config")
        with Horizontal(id="cfg-bar"):
            yield Label("File", classes="bar-label")
            yield Input(str(state.config_path or "tunedeck.yaml"), id="cfg-path", placeholder="config file (.yaml)",
                        compact=True)
            yield Button("Save ^S", id="cfg-save", variant="primary", compact=True)
            yield Button("Load ^O", id="cfg-load", compact=True)
        with Horizontal(id="cfg-presets"):
            yield Label("Presets", classes="bar-label")
            for i, (key, (label, _)) in enumerate(PRESETS.items()):
                yield Button(label, id=f"preset-{key}", classes="preset", compact=True,
                             tooltip=f"F{8 + i}: " + ", ".join(f"{k}={to_text(v)}" for k, v in _PRESET_VALUES[key][1].items()))
        with VerticalScroll(id="cfg-form"):
            yield TaskPicker()  # task: causal_lm | extractive_qa | classification (tui/widgets/qa_config.py)
            yield QaFields()  # qa.*, shown for task: extractive_qa
            yield ClsFields()  # cls.*, shown for task: classification
            section = None
            for spec in SPECS.values():
                sec, name = spec.path.split(".", 1)
                if sec != section:
                    section = sec
                    yield Static(SECTION_TITLES[sec], classes="section")
                value = state.config.get(spec.path)
                wid = widget_id(spec.path)
                with Horizontal(classes="field"):
                    label = Label(name, classes="field-label")
                    label.tooltip = spec.help
                    yield label
                    if spec.choices:
                        yield Select([(c, c) for c in spec.choices], value=value, id=wid, allow_blank=False,
                                     compact=True, classes="field-input")
                    elif spec.type == "bool":
                        yield Checkbox(yes_no(value), bool(value), id=wid, compact=True, classes="field-input")
                    elif spec.path in MULTILINE:  # may hold newlines: a one-line Input cannot show or edit them
                        yield TextArea(to_text(value), id=wid, compact=True, classes="field-input -text -multi",
                                       soft_wrap=False, show_line_numbers=False, tab_behavior="focus")
                    else:
                        # No select-all on focus: a key typed into a field never replaces its whole value.
                        yield Input(to_text(value), id=wid, compact=True, select_on_focus=False,
                                    classes="field-input -text" if spec.type in ("str", "any", "dict") else "field-input",
                                    placeholder="none" if spec.rules.get("nullable") else "")
                    yield Static("", classes="field-error", id=wid + "-err")
        yield Static(Text("Tab: next field · the focused field's help shows here · F8/F9/F10: presets",
                          style="italic"), id="cfg-help")
        yield Static("", id="cfg-memory")
        yield Static("", id="cfg-command")
        yield Footer()

    def on_mount(self) -> None:
        self._memory_timer = self.set_interval(0.3, self._estimate_memory, pause=True)
        self._revalidate()

    def on_screen_resume(self) -> None:
        self.sync_from_config()

    # -- form <-> config ------------------------------------------------------------------------
    def sync_from_config(self) -> None:
        """Show the shared config's values (another screen, a preset or a load may have changed it)."""
        cfg = self.app.state.config
        self._syncing += 1
        try:
            for spec in SPECS.values():
                if spec.path in self.app.state.field_errors:
                    continue  # keep what the user typed, with its message
                w = self.query_one("#" + widget_id(spec.path))
                value = cfg.get(spec.path)
                if isinstance(w, Select):
                    if value in (spec.choices or ()) and w.value != value:
                        w.value = value
                elif isinstance(w, Checkbox):
                    if w.value != bool(value):
                        w.value = bool(value)
                    w.label = yes_no(value)
                elif isinstance(w, TextArea):
                    if w.text != to_text(value):
                        w.text = to_text(value)
                elif w.value != to_text(value):
                    w.value = to_text(value)
        finally:
            # Changed messages from these assignments arrive later; ignore them.
            self.call_after_refresh(self._end_sync)
        self._revalidate()

    def _end_sync(self) -> None:
        self._syncing = max(0, self._syncing - 1)

    def set_field(self, path: str, raw) -> None:
        """Check and store one field's value as typed (the same check as --set on the command line)."""
        self.app.state.set_field(path, raw)
        self._revalidate()

    def _revalidate(self) -> None:
        """Redraw the fields' messages (field and cross-field rules, from app.state), the command line and the estimate."""
        state = self.app.state
        for spec in SPECS.values():
            msg = state.invalid.get(spec.path)
            err = self.query_one("#" + widget_id(spec.path) + "-err", Static)
            err.update(Text(f"✗ {msg}", style="bold red") if msg else "")
            err.set_class(bool(msg), "-error")
        self._show_command()
        apply_task(self)  # the task's fields: QA settings, causal-LM-only fields hidden or greyed
        self.app.refresh_bindings()
        timer = getattr(self, "_memory_timer", None)
        if timer is not None:  # debounce: estimate 0.3 s after the last edit
            timer.reset()
            timer.resume()

    @on(Input.Changed, ".field-input")
    @on(Select.Changed, ".field-input")
    @on(Checkbox.Changed, ".field-input")
    @on(TextArea.Changed, ".field-input")
    def _field_changed(self, event) -> None:
        if isinstance(event.control, Checkbox):
            event.control.label = yes_no(event.value)
        if not self._syncing:
            value = event.control.text if isinstance(event.control, TextArea) else event.value
            self.set_field(path_of(event.control.id), value)

    def on_descendant_focus(self, event) -> None:
        wid = getattr(event.widget, "id", None) or ""
        if wid.startswith("f-"):
            spec = SPECS[path_of(wid)]
            choices = f" [{' | '.join(spec.choices)}]" if spec.choices else ""
            lead = ""
            if spec.path == "training.processes":  # the devices found, where the processes are chosen
                from ..child_run import devices_line

                lead = f"{devices_line()} · "
            self.query_one("#cfg-help", Static).update(
                Text.assemble((lead, "bold cyan"), (spec.path, "bold"), f": {spec.help}{choices}", (f"  default {to_text(spec.default) or '–'}", "dim")))

    def _base_config(self) -> Config:
        """The config file's own values (cached by mtime), so the command line lists only the changes."""
        path = self.app.state.config_path
        if path is None:
            return Config()
        try:
            mtime = path.stat().st_mtime
            if self._base_cache and self._base_cache[:2] == (path, mtime):
                return self._base_cache[2]
            base = load_config(path)
        except (OSError, ConfigError):
            return Config()
        self._base_cache = (path, mtime, base)
        return base

    def _show_command(self) -> None:
        state = self.app.state
        cmd = self.query_one("#cfg-command", Static)
        if state.invalid:
            path, msg = next(iter(state.invalid.items()))
            more = f" (+{len(state.invalid) - 1} more)" if len(state.invalid) > 1 else ""
            cmd.update(Text(f"✗ Fix before training: {path}: {msg}{more}", style="bold red"))
        else:
            cmd.update(Text.assemble(("$ ", "dim"), (self.command_line(), "cyan")))

    def command_line(self) -> str | None:
        state = self.app.state
        return None if state.invalid else cli_command(state.config, state.config_path, self._base_config())

    def action_copy_command(self) -> None:
        """Copy the equivalent `tunedeck train` command (OSC 52: works over SSH in most terminals)."""
        cmd = self.command_line()
        if cmd is None:
            self.notify("Fix the fields marked ✗ first.", severity="error")
            return
        self.app.copy_to_clipboard(cmd)
        self.notify(cmd, title="Copied to the clipboard", timeout=8)

    # -- memory estimate (in a worker: it reads files and asks the OS) ---------------------------
    def _estimate_memory(self) -> None:
        self._memory_timer.pause()
        self._memory(copy.deepcopy(self.app.state.config))

    @work(thread=True, exclusive=True, group="cfg-memory", exit_on_error=False)
    def _memory(self, cfg: Config) -> None:
        from engine.memory import estimate_memory

        est = estimate_memory(cfg)
        style = {True: "green", False: "bold red", None: "yellow"}[est.fits]
        text = Text.assemble(("Memory ", "bold"), (est.verdict(), style))
        if est.params is not None:
            text.append(f"  {est.breakdown()}", style="dim")
        self.app.call_from_thread(self._show_memory, text)

    def _show_memory(self, text: Text) -> None:
        if self.is_attached:
            self.query_one("#cfg-memory", Static).update(text)

    # -- actions --------------------------------------------------------------------------------
    def action_leave_field(self) -> None:
        self.query_one("#cfg-form").focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "app.start_training":
            return self.app.check_action("start_training", parameters)
        return True

    def action_preset(self, key: str) -> None:
        label, values = PRESETS[key]
        cfg = self.app.state.config
        changed = [p for p, v in values.items() if cfg.get(p) != v]
        for path, value in values.items():
            self.app.state.set_field(path, value)
        self.sync_from_config()
        self.notify(f"{len(changed)} field(s) changed" + (": " + ", ".join(changed) if changed else ""),
                    title=f"Preset: {label}")

    @on(Button.Pressed, ".preset")
    def _preset_pressed(self, event: Button.Pressed) -> None:
        self.action_preset((event.button.id or "").removeprefix("preset-"))

    def _path(self) -> Path:
        return Path(self.query_one("#cfg-path", Input).value.strip() or "tunedeck.yaml").expanduser()

    @on(Button.Pressed, "#cfg-save")
    def action_save(self) -> None:
        state = self.app.state
        if state.invalid:
            path, msg = next(iter(state.invalid.items()))
            self.notify(f"{path}: {msg}", title="Not saved: fix the fields marked ✗ first", severity="error")
            return
        path = self._path()
        if path.is_dir():
            self.notify(f"{path} is a folder; type a file name ending in .yaml", severity="error")
            return
        if path.exists():
            self.app.push_screen(Confirm(f"{path} exists. Overwrite it with this config?", "Overwrite"),
                                 lambda yes: self._save(path) if yes else self.notify("Not saved", severity="warning"))
            return
        self._save(path)

    def _save(self, path: Path) -> None:
        state = self.app.state
        try:
            save_config(state.config, path)
        except OSError as e:
            self.notify(f"Cannot save {path}: {e.strerror or e}", severity="error")
            return
        state.saved(path)
        self._revalidate()
        self.notify(f"Saved {path}")

    @on(Button.Pressed, "#cfg-load")
    def action_load(self) -> None:
        path = self._path()
        try:
            cfg = load_config(path)
        except ConfigError as e:
            self.notify(str(e), title="Cannot load config", severity="error", timeout=10)
            return
        if self.app.state.dirty:
            self.app.push_screen(Confirm(f"Discard the unsaved edits and load {path}?", "Load"),
                                 lambda yes: self._load(cfg, path) if yes else None)
            return
        self._load(cfg, path)

    def _load(self, cfg: Config, path: Path) -> None:
        self.app.state.replace_config(cfg, path)
        self.sync_from_config()
        self.notify(f"Loaded {path}")
