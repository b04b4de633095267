"""State shared by the screens: the config being edited and where it lives.

Screens read ``app.state`` (see tui/app.py) and change the config only through
:meth:`AppState.set_field`, the one writer: it validates the field (pydantic,
via ``Config.set``), runs the cross-field rules, marks the config dirty and
records what is wrong in ``invalid``. A judgement only a screen can make (the
Template screen checks a template against the data's columns) is recorded with
:meth:`AppState.judge`. No screen keeps its own copy of the config. Importing
this module must stay cheap: no torch, transformers or datasets (engine.config
only needs PyYAML and pydantic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import Config, ConfigError, config_from_dict, spec

from .text import to_text


@dataclass
class AppState:
    config: Config = field(default_factory=Config)
    config_path: Path | None = None
    dirty: bool = False  # edited since last load/save
    invalid: dict[str, str] = field(default_factory=dict)  # field path -> message (field and cross-field rules)
    training: bool = False  # a run is in progress in this app
    _cross_field_keys: set[str] = field(default_factory=set, repr=False)
    field_errors: set[str] = field(default_factory=set, repr=False)  # invalid because of set_field's own check

    def set_field(self, path: str, raw: Any) -> str | None:
        """Validate and store one field; returns what is wrong now (the field's own error, or a
        cross-field rule it breaks, named ``key: message``), or None when all is well.

        A value that fails its own rule is not stored (the config keeps its last
        good value) and is recorded in ``invalid``; a value that breaks a rule
        across fields is stored and the rule's fields are recorded. A screen's
        judgement (:meth:`judge`) of a field stands until the field's value changes.
        """
        before = self.config.get(path)
        try:
            value = self.config.set(path, raw)
        except ConfigError as e:
            msg = e.errors[0][1]
            if isinstance(raw, str) and not raw.strip():
                msg = f"needs a value (default {to_text(spec(path).default)})"
            self.invalid[path] = msg
            self.field_errors.add(path)
            self._cross_field_keys.discard(path)
        else:
            changed = value != before
            if changed:
                self.dirty = True
            if changed or path in self.field_errors:
                self.invalid.pop(path, None)
            self.field_errors.discard(path)
        self.recheck()
        if path in self.invalid:
            return self.invalid[path]
        for key in sorted(self._cross_field_keys):
            return f"{key}: {self.invalid[key]}"
        return None

    def judge(self, path: str, message: str | None) -> None:
        """Record (or clear, with None) what a screen found wrong with a field's current value."""
        if message:
            self.invalid[path] = message
        else:
            self.invalid.pop(path, None)
        self.field_errors.discard(path)
        self._cross_field_keys.discard(path)

    def replace_config(self, cfg: Config, path: Path | None = None) -> None:
        """A config loaded or reset as a whole: nothing edited, nothing wrong yet."""
        self.config = cfg
        self.config_path = path
        self.dirty = False
        self.invalid = {}
        self.field_errors = set()
        self._cross_field_keys = set()
        self.recheck()

    def saved(self, path: Path) -> None:
        """The config was written to ``path``: nothing left unsaved."""
        self.config_path, self.dirty = path, False

    def recheck(self) -> None:
        """Re-run the rules between fields (the whole config as the CLI would load it); their verdicts
        replace the last ones, and never hide a field's own error."""
        for key in self._cross_field_keys:
            self.invalid.pop(key, None)
        self._cross_field_keys = set()
        try:
            config_from_dict(self.config.to_dict())
        except ConfigError as e:
            for key, message in e.errors:
                if key not in self.invalid:
                    self.invalid[key] = message
                    self._cross_field_keys.add(key)
