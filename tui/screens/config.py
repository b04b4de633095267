"""Config screen: the whole config as a validated form, presets, YAML load/save, memory estimate.

The form is generated from engine.config.field_specs(), and every edit is
checked with engine.config.coerce_field, the validator the CLI uses. A field
in error shows its message beside it and keeps Start disabled.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import yaml
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, Switch

from engine.config import Config, ConfigError, coerce_field, config_from_dict, field_specs, load_config, save_config

from ..widgets.nav import NavTabs

SECTION_TITLES = {"model": "Model and quantization", "lora": "LoRA", "data": "Data and template",
                  "training": "Training", "output": "Output"}

PRESETS = {
    "qlora": ("QLoRA 4-bit (default)", {"model.quantization": "4bit", "model.compute_dtype": "auto", "lora.r": 16,
                                        "lora.alpha": 32, "lora.dropout": 0.05, "training.learning_rate": 2e-4,
                                        "training.batch_size": 4, "model.gradient_checkpointing": False}),
    "lora16": ("LoRA 16-bit", {"model.quantization": "none", "model.compute_dtype": "auto", "lora.r": 16, "lora.alpha": 32,
                               "lora.dropout": 0.05, "training.learning_rate": 1e-4, "training.batch_size": 4}),
    "smoke": ("CPU smoke test", {"model.device": "cpu", "model.quantization": "none", "model.compute_dtype": "float32",
                                 "training.max_steps": 5, "training.batch_size": 2, "data.max_length": 128,
                                 "data.limit": 40, "data.val_split": 0.0, "training.save_steps": 5,
                                 "training.eval_steps": 5, "lora.r": 8, "lora.alpha": 16}),
}


def widget_id(path: str) -> str:
    return "f-" + path.replace(".", "--")


def path_of(widget_id_: str) -> str:
    return widget_id_.removeprefix("f-").replace("--", ".")


def to_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def cli_command(cfg: Config, config_path: Path | None) -> str:
    """The `tunedeck train` command line that reproduces the form."""
    base = load_config(config_path) if config_path and config_path.exists() else Config()
    sets = []
    for spec in field_specs():
        new, old = cfg.get(spec.path), base.get(spec.path)
        if new != old:
            value = to_text(new)
            if not value or any(c in value for c in " {}[],:'\"#\n"):
                value = "'" + value.replace("'", "'\\''") + "'"
            sets.append(f"--set {spec.path}={value}")
    head = f"tunedeck train --config {config_path}" if config_path else "tunedeck train"
    return " ".join([head, *sets])


class ConfigScreen(Screen):
    CSS_PATH = "config.tcss"
    AUTO_FOCUS = "#cfg-form"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save YAML"),
        Binding("ctrl+o", "load", "Load YAML"),
        Binding("escape", "leave_field", "Leave field", show=False),
        Binding("f6", "preset('qlora')", "QLoRA", show=False),
        Binding("f7", "preset('lora16')", "LoRA16", show=False),
        Binding("f8", "preset('smoke')", "Smoke", show=False),
    ]

    def __init__(self):
        super().__init__()
        self._syncing = False
        self._overwrite_armed: tuple[str, float] | None = None

    def compose(self) -> ComposeResult:
        state = self.app.state
        yield NavTabs("config")
        with Horizontal(id="cfg-bar"):
            yield Input(str(state.config_path or "tunedeck.yaml"), id="cfg-path", placeholder="config file")
            yield Button("Save", id="cfg-save", variant="primary")
            yield Button("Load", id="cfg-load")
        with Horizontal(id="cfg-presets"):
            yield Label("Presets:", classes="bar-label")
            for key, (label, _) in PRESETS.items():
                yield Button(label, id=f"preset-{key}", classes="preset")
        with VerticalScroll(id="cfg-form"):
            section = None
            for spec in field_specs():
                sec = spec.path.split(".")[0]
                if sec != section:
                    section = sec
                    yield Static(SECTION_TITLES[sec], classes="section")
                value = state.config.get(spec.path)
                with Horizontal(classes="field"):
                    yield Label(spec.path.split(".", 1)[1], classes="field-label")
                    if spec.choices:
                        yield Select([(c, c) for c in spec.choices], value=value, id=widget_id(spec.path), allow_blank=False)
                    elif spec.type == "bool":
                        yield Switch(bool(value), id=widget_id(spec.path))
                    else:
                        yield Input(to_text(value), id=widget_id(spec.path))
                    yield Static("", classes="field-error", id=widget_id(spec.path) + "-err")
        yield Static("", id="cfg-help")
        yield Static("", id="cfg-memory")
        yield Static("", id="cfg-command")
        yield Footer()

    def on_mount(self) -> None:
        self._after_change()

    def on_screen_resume(self) -> None:
        self.sync_from_config()

    # -- form <-> config ------------------------------------------------------------------------
    def sync_from_config(self) -> None:
        """Show the shared config's values (it may have changed on another screen or by a preset)."""
        self._syncing = True
        try:
            cfg = self.app.state.config
            for spec in field_specs():
                w = self.query_one("#" + widget_id(spec.path))
                value = cfg.get(spec.path)
                if spec.path in self.app.state.invalid and spec.path != "data.template":
                    continue
                if isinstance(w, Select):
                    w.value = value
                elif isinstance(w, Switch):
                    w.value = bool(value)
                elif w.value != to_text(value) and not w.has_focus:
                    w.value = to_text(value)
        finally:
            self.call_after_refresh(self._end_sync)
        self._after_change()

    def _end_sync(self) -> None:
        self._syncing = False

    def _set(self, path: str, raw) -> None:
        err = self.query_one("#" + widget_id(path) + "-err", Static)
        state = self.app.state
        try:
            value = coerce_field(path, raw)
        except ConfigError as e:
            msg = e.errors[0][1]
            state.invalid[path] = msg
            err.update(Text(f"✗ {msg}", style="bold red"))
        else:
            section, key = path.split(".")
            if getattr(getattr(state.config, section), key) != value:
                setattr(getattr(state.config, section), key, value)
                state.dirty = True
            state.invalid.pop(path, None)
            err.update("")
        self._cross_check()
        self._after_change()

    def _cross_check(self) -> None:
        """Checks between fields (e.g. token budget vs max_length), shown beside the first field they name."""
        state = self.app.state
        state.invalid.pop("cross", None)
        if any(p != "cross" for p in state.invalid):
            return
        try:
            config_from_dict(state.config.to_dict())
        except ConfigError as e:
            path, msg = e.errors[0]
            state.invalid["cross"] = f"{path}: {msg}"
            try:
                self.query_one("#" + widget_id(path) + "-err", Static).update(Text(f"✗ {msg}", style="bold red"))
            except Exception:
                pass

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-") and not self._syncing:
            self._set(path_of(event.input.id), event.value)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id and event.select.id.startswith("f-") and not self._syncing:
            self._set(path_of(event.select.id), event.value)

    @on(Switch.Changed)
    def _switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id and event.switch.id.startswith("f-") and not self._syncing:
            self._set(path_of(event.switch.id), event.value)

    def on_descendant_focus(self, event) -> None:
        wid = getattr(event.widget, "id", None) or ""
        if wid.startswith("f-"):
            path = path_of(wid)
            spec = next(s for s in field_specs() if s.path == path)
            self.query_one("#cfg-help", Static).update(Text(f"{path}: {spec.help}", style="italic"))

    def _after_change(self) -> None:
        state = self.app.state
        cmd = self.query_one("#cfg-command", Static)
        if state.invalid:
            first = next(iter(state.invalid.items()))
            cmd.update(Text(f"✗ {len(state.invalid)} field(s) need fixing before training: {first[0]}: {first[1]}", style="bold red"))
        else:
            cmd.update(Text("$ " + cli_command(state.config, state.config_path), style="cyan"))
        self._memory()

    @work(thread=True, exclusive=True, group="cfg-memory", exit_on_error=False)
    def _memory(self) -> None:
        from engine.memory import estimate_memory

        est = estimate_memory(copy.deepcopy(self.app.state.config))
        style = {True: "green", False: "bold red", None: "yellow"}[est.fits]
        parts = "" if est.params is None else (
            f"  (weights {est.weights_gb:.2f} · LoRA {est.lora_gb:.2f} · optimizer {est.optimizer_gb:.2f} · "
            f"activations {est.activations_gb:.2f} GB)")
        self.app.call_from_thread(self.query_one("#cfg-memory", Static).update,
                                  Text(f"Memory {est.verdict()}{parts}", style=style))

    def action_leave_field(self) -> None:
        self.query_one("#cfg-form").focus()

    # -- presets, save, load --------------------------------------------------------------------
    def run_action(self, action: str) -> None:
        if action == "save":
            self.action_save()
        elif action.startswith("preset_"):
            self.action_preset(action.removeprefix("preset_"))

    def action_preset(self, key: str) -> None:
        label, values = PRESETS[key]
        cfg = self.app.state.config
        for path, value in values.items():
            section, name = path.split(".")
            setattr(getattr(cfg, section), name, value)
            self.app.state.invalid.pop(path, None)
            self.query_one("#" + widget_id(path) + "-err", Static).update("")
        self.app.state.dirty = True
        self.sync_from_config()
        self.notify(f"Preset applied: {label}")

    @on(Button.Pressed, ".preset")
    def _preset_pressed(self, event: Button.Pressed) -> None:
        self.action_preset((event.button.id or "").removeprefix("preset-"))

    @on(Button.Pressed, "#cfg-save")
    def action_save(self) -> None:
        state = self.app.state
        if state.invalid:
            self.notify("Fix the fields marked ✗ first; nothing was saved.", severity="error")
            return
        path = Path(self.query_one("#cfg-path", Input).value.strip() or "tunedeck.yaml")
        if path.exists() and path != state.config_path:
            armed = self._overwrite_armed
            if not armed or armed[0] != str(path) or time.monotonic() - armed[1] > 10:
                self._overwrite_armed = (str(path), time.monotonic())
                self.notify(f"{path} exists. Press Save again to overwrite it.", severity="warning")
                return
        try:
            save_config(state.config, path)
        except OSError as e:
            self.notify(f"Cannot save {path}: {e.strerror}", severity="error")
            return
        self._overwrite_armed = None
        state.config_path, state.dirty = path, False
        self._after_change()
        self.notify(f"Saved {path}")

    @on(Button.Pressed, "#cfg-load")
    def action_load(self) -> None:
        path = Path(self.query_one("#cfg-path", Input).value.strip())
        try:
            cfg = load_config(path)
        except ConfigError as e:
            self.notify(str(e), title="Cannot load config", severity="error")
            return
        self.app.state.config, self.app.state.config_path, self.app.state.dirty = cfg, path, False
        self.app.state.invalid.clear()
        for spec in field_specs():
            self.query_one("#" + widget_id(spec.path) + "-err", Static).update("")
        self.sync_from_config()
        self.notify(f"Loaded {path}")
