"""State shared by the screens: the config being edited and where it lives.

Screens read ``app.state`` (see tui/app.py) and change the config only through
:meth:`AppState.set_field`, the one writer: it validates the field, runs the
cross-field rules, marks the config dirty and records what is wrong. No screen
keeps its own copy of the config. Importing this module must stay cheap: no
torch, transformers or datasets (engine.config only needs PyYAML and pydantic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import Config, ConfigError, cross_field_errors


@dataclass
class AppState:
    config: Config = field(default_factory=Config)
    config_path: Path | None = None
    dirty: bool = False  # edited since last load/save
    invalid: dict[str, str] = field(default_factory=dict)  # field path -> message (field and cross-field rules)
    training: bool = False  # a run is in progress in this app
    _cross_field_keys: set[str] = field(default_factory=set, repr=False)

    def set_field(self, path: str, raw: Any) -> str | None:
        """Validate and store one field; returns what is wrong now (the field's own error, or a
        cross-field rule it breaks, named ``key: message``), or None when all is well.

        A value that fails its own rule is not stored (the config keeps its last
        good value) and is recorded in ``invalid``; a value that breaks a rule
        across fields is stored and the rule's fields are recorded.
        """
        try:
            self.config.set(path, raw)
        except ConfigError as e:
            self.invalid[path] = e.errors[0][1]
            return self.invalid[path]
        self.invalid.pop(path, None)
        self.dirty = True
        self._recheck_cross_fields()
        if path in self.invalid:
            return self.invalid[path]
        for key in sorted(self._cross_field_keys):
            return f"{key}: {self.invalid[key]}"
        return None

    def replace_config(self, cfg: Config, path: Path | None = None) -> None:
        """A config loaded or reset as a whole: nothing edited, nothing wrong yet."""
        self.config = cfg
        self.config_path = path
        self.dirty = False
        self.invalid = {}
        self._recheck_cross_fields()

    def _recheck_cross_fields(self) -> None:
        for key in self._cross_field_keys:
            self.invalid.pop(key, None)
        self._cross_field_keys = set()
        for key, message in cross_field_errors(self.config):
            if key not in self.invalid:
                self.invalid[key] = message
                self._cross_field_keys.add(key)
