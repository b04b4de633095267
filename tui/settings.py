"""The user's settings file: key overrides by binding id, and the theme (remembered when picked in the app).

It lives in the user's config folder, ``$XDG_CONFIG_HOME/tunedeck/settings.yaml``
(else ``~/.config/tunedeck/settings.yaml``)::

    theme: nord
    keys:
      template.random: R          # a binding id (README, "Binding ids") -> keys, comma-separated
      app.goto_data: 1,ctrl+d

A bad entry is one line naming the file, line and entry (``tunedeck ui`` exits 2).
A theme changed in the app (command palette, "Change theme") is written back,
keeping every other entry (and its comments are lost only when the file is rewritten).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.errors import TuneDeckError

ENTRIES = ("theme", "keys")
_KEY = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$|^[^\s,]$")


class SettingsError(TuneDeckError):
    """A bad settings file (one line: file, line, entry, what to do); exit code 2."""


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "tunedeck" / "settings.yaml"


@dataclass
class Settings:
    path: Path | None = None
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)


def _lines(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of each mapping key: ('theme',) and ('keys', id)."""
    out: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            out[(str(k.value),)] = k.start_mark.line + 1
            if isinstance(v, yaml.MappingNode):
                for k2, _ in v.value:
                    out[(str(k.value), str(k2.value))] = k2.start_mark.line + 1
    return out


def _hint(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def load_settings(path: Path | None = None, *, binding_ids: set[str] | None = None,
                  themes: set[str] | None = None) -> Settings:
    """Read and check the settings file; a missing file is no settings."""
    path = Path(path) if path else settings_path()
    if not path.exists():
        return Settings(path=path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SettingsError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e}); fix or delete the file") from None
    except OSError as e:
        raise SettingsError(f"{path}: cannot be read ({e.strerror or e})") from None
    lines = _lines(text)

    def at(*key: str) -> str:
        return f"{path}:{lines[key]}" if key in lines else str(path)

    if raw is None:
        return Settings(path=path)
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected entries theme: and keys:, got {type(raw).__name__}")
    for name in raw:
        if name not in ENTRIES:
            raise SettingsError(f"{at(str(name))}: unknown entry {name!r}{_hint(str(name), ENTRIES)}; "
                                f"settings take {' and '.join(ENTRIES)}")
    out = Settings(path=path)
    theme = raw.get("theme")
    if theme is not None:
        if not isinstance(theme, str) or (themes is not None and theme not in themes):
            listed = f"; themes are {', '.join(sorted(themes))}" if themes else ""
            raise SettingsError(f"{at('theme')}: theme: unknown theme {theme!r}{_hint(str(theme), themes or [])}{listed}")
        out.theme = theme
    keys = raw.get("keys") or {}
    if not isinstance(keys, dict):
        raise SettingsError(f"{at('keys')}: keys: expected binding id: keys lines (e.g. template.random: R), "
                            f"got {type(keys).__name__}")
    for bid, value in keys.items():
        bid = str(bid)
        if binding_ids is not None and bid not in binding_ids:
            raise SettingsError(f"{at('keys', bid)}: keys.{bid}: unknown binding id{_hint(bid, binding_ids)}; "
                                "the README lists them (Binding ids)")
        parts = [p.strip() for p in str(value).split(",")] if isinstance(value, (str, int)) and str(value).strip() else []
        bad = [p for p in parts if not _KEY.match(p)]
        if not parts or bad:
            raise SettingsError(f"{at('keys', bid)}: keys.{bid}: {value!r} is not a key; write keys as Textual names "
                                "separated by commas, e.g. R, ctrl+r, f5")
        out.keys[bid] = ",".join(parts)
    return out


def save_theme(path: Path, theme: str) -> None:
    """Write ``theme`` into the settings file, keeping its other entries."""
    raw: dict = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return  # never overwrite a file we cannot read back
        if loaded is not None and not isinstance(loaded, dict):
            return
        raw = loaded or {}
    if raw.get("theme") == theme:
        return
    raw["theme"] = theme
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, path)
