"""Every TuneDeck key binding gets an id, so a user's settings file can move it (Textual keymaps).

An id is ``<scope>.<action>``: the scope is the screen's module (``data``,
``template``, ``run_view``...), ``app`` for keys that work everywhere, or the
widget's class in snake case (``length_panel``); the action is the binding's
action with its arguments (``goto('data')`` -> ``goto_data``, ``step(-1)`` ->
``step_minus1``). Bindings that already carry an id keep it. ``assign_ids()``
runs once when the app module loads; ``markdown_table()`` is the README's list
(``python -m tui.keys --update README.md`` rewrites it; a test checks it)::

    app.set_keymap({"template.random": "R"})   # what the settings file's keys: section does
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import sys

from textual.binding import Binding
from textual.dom import DOMNode

_DONE = False
START, END = "<!-- binding-ids:start -->", "<!-- binding-ids:end -->"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.lstrip("_")).lower()


def scope_of(cls: type) -> str:
    from textual.app import App
    from textual.screen import Screen

    if issubclass(cls, App):
        return "app"
    module = cls.__module__
    if module.startswith("tui.screens.") and issubclass(cls, Screen):
        return module.rsplit(".", 1)[1]
    return _snake(cls.__name__).removesuffix("_screen") if issubclass(cls, Screen) else _snake(cls.__name__)


def action_slug(action: str) -> str:
    m = re.fullmatch(r"\s*([\w.]+)\s*(?:\((.*)\))?\s*", action)
    if not m:
        return re.sub(r"\W+", "_", action).strip("_")
    name, args = m.group(1).replace(".", "_"), m.group(2)
    if not args:
        return name
    parts = [re.sub(r"\W+", "_", a.strip().strip("'\"").replace("-", "minus")).strip("_").lower() for a in args.split(",")]
    return "_".join([name, *[p for p in parts if p]])


def _classes() -> list[type]:
    """TuneDeck's widgets, screens and the App that declare bindings of their own (every module imported)."""
    import tui.screens
    import tui.widgets

    for package in (tui.screens, tui.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    importlib.import_module("tui.app")
    found: list[type] = []
    stack = [DOMNode]
    seen: set[type] = set()
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub in seen:
                continue
            seen.add(sub)
            stack.append(sub)
            if sub.__module__.startswith("tui.") and sub.__dict__.get("BINDINGS"):
                found.append(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def assign_ids() -> None:
    """Give every TuneDeck binding without an id its ``scope.action`` id (once)."""
    global _DONE
    if _DONE:
        return
    _DONE = True
    classes = _classes()
    for cls in classes:
        scope = scope_of(cls)
        out = []
        for b in cls.__dict__["BINDINGS"]:
            if isinstance(b, tuple):
                b = Binding(*b)
            out.append(b if b.id else dataclasses.replace(b, id=f"{scope}.{action_slug(b.action)}"))
        cls.BINDINGS = out
    # merged bindings were built when each class was made: rebuild them (subclasses included)
    stack, seen = [DOMNode], set()
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
                if any(base in classes for base in sub.__mro__):
                    sub._merged_bindings = sub._merge_bindings()


def binding_rows() -> list[tuple[str, str, str]]:
    """(id, default keys, what it does) for every TuneDeck binding, in module order."""
    assign_ids()
    rows: dict[str, tuple[list[str], str]] = {}
    for cls in _classes():
        for b in cls.__dict__["BINDINGS"]:
            keys, what = rows.setdefault(b.id, ([], b.tooltip or b.description or b.action))
            keys.extend(k.strip() for k in b.key.split(",") if k.strip() not in keys)
    return [(bid, ", ".join(keys), what) for bid, (keys, what) in rows.items()]


def binding_ids() -> set[str]:
    return {bid for bid, _, _ in binding_rows()}


def markdown_table() -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| id | default keys | what it does |", "| --- | --- | --- |"]
    lines += [f"| `{bid}` | `{cell(keys)}` | {cell(what)} |" for bid, keys, what in binding_rows()]
    return "\n".join(lines)


def update_readme(path: str) -> bool:
    """Rewrite the table between the markers in ``path``; True when it changed."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{markdown_table()}\n{END}{tail}"
    if new != text:
        p.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # python -m tui.keys [--update README.md]
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        print("updated" if update_readme(sys.argv[2]) else "up to date")
    else:
        print(markdown_table())
