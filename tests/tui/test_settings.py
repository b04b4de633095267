"""Your keys, your theme: binding ids (tui/keys.py), the settings file (tui/settings.py) and the app using it."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import tui_helpers
import yaml
from textual.theme import BUILTIN_THEMES

from engine.config import Config
from tui.app import TuneDeckApp
from tui.keys import END, START, binding_ids, markdown_table
from tui.settings import Settings, SettingsError, load_settings, save_theme, settings_path
from tui.state import AppState

until = partial(tui_helpers.until, timeout=30.0)
ROOT = Path(__file__).resolve().parents[2]
THEMES = set(BUILTIN_THEMES)


def _load(path):
    return load_settings(path, binding_ids=binding_ids(), themes=THEMES)


def test_every_binding_has_an_id_and_the_readme_lists_them():
    from tui.keys import _classes

    for cls in _classes():
        for b in cls.BINDINGS:
            assert b.id, f"{cls.__name__}: {b.key} -> {b.action} has no id"
    assert {"app.goto_data", "template.random", "template.max_length_p95", "runs.compare"} <= binding_ids()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == markdown_table(), "README's binding table is stale: python -m tui.keys --update README.md"


def test_settings_round_trip_keeps_other_entries(tmp_path):
    path = tmp_path / "tunedeck" / "settings.yaml"
    path.parent.mkdir()
    path.write_text("# mine\nkeys:\n  template.random: R\n  app.goto_data: 1, ctrl+d\n", encoding="utf-8")
    s = _load(path)
    assert s.keys == {"template.random": "R", "app.goto_data": "1,ctrl+d"} and s.theme is None
    save_theme(path, "nord")
    again = _load(path)
    assert again.theme == "nord" and again.keys == s.keys
    save_theme(tmp_path / "new" / "settings.yaml", "gruvbox")  # no file yet: made
    assert yaml.safe_load((tmp_path / "new" / "settings.yaml").read_text()) == {"theme": "gruvbox"}


def test_settings_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert settings_path() == tmp_path / "tunedeck" / "settings.yaml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings_path() == tmp_path / ".config" / "tunedeck" / "settings.yaml"
    assert load_settings(tmp_path / "absent.yaml").keys == {}  # no file: no settings


@pytest.mark.parametrize("text, message", [
    ("keys:\n  template.randon: R\n", ":2: keys.template.randon: unknown binding id (did you mean template.random?)"),
    ("theme: nord\nkeys:\n  template.random: 'ctrl r'\n", ":3: keys.template.random: 'ctrl r' is not a key"),
    ("theme: nordd\n", ":1: theme: unknown theme 'nordd' (did you mean nord?)"),
    ("colours: dark\n", ":1: unknown entry 'colours'"),
    ("keys: [a, b]\n", ":1: keys: expected binding id: keys lines"),
    ("keys:\n  a: [\n", ": not valid YAML"),
    ("- theme\n", ": expected entries theme: and keys:"),
])
def test_a_bad_entry_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as e:
        _load(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value) and "\n" not in str(e.value)


def test_tunedeck_ui_exits_2_on_a_bad_settings_file(tmp_path, monkeypatch, capsys):
    from tui.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "tunedeck").mkdir()
    (tmp_path / "tunedeck" / "settings.yaml").write_text("keys:\n  nope.nothing: x\n")
    assert main(["ui"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "settings.yaml:2: keys.nope.nothing: unknown binding id" in err


async def test_an_override_moves_the_key(tmp_path):
    settings = Settings(path=tmp_path / "settings.yaml", keys={"app.goto_runs": "ctrl+g"})
    app = TuneDeckApp(AppState(config=Config()), start_screen="config", settings=settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.current_mode == "config", what="the config screen")
        app.screen.set_focus(None)
        await pilot.press("5")  # the default key no longer goes to Runs
        await pilot.pause(0.3)
        assert app.current_mode == "config"
        await pilot.press("ctrl+g")
        await until(pilot, lambda: app.current_mode == "runs", what="ctrl+g opens Runs")
        await pilot.press("3")  # keys not overridden still work
        await until(pilot, lambda: app.current_mode == "config", what="3 opens Config")


async def test_the_theme_picked_in_the_app_is_remembered(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("theme: gruvbox\nkeys:\n  template.random: R\n", encoding="utf-8")
    app = TuneDeckApp(AppState(config=Config()), start_screen="config", settings=_load(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.current_mode == "config", what="the config screen")
        assert app.theme == "gruvbox"
        app.theme = "nord"  # what the palette's "Change theme" does
        await until(pilot, lambda: "nord" in path.read_text(), what="the theme written back")
    assert yaml.safe_load(path.read_text()) == {"theme": "nord", "keys": {"template.random": "R"}}
