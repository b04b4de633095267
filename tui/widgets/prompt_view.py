"""The Playground's "model gets" line: the formatted prompt as the model receives it, newlines shown."""

from __future__ import annotations

from rich.text import Text

from ..text import printable


def one_line_prompt(text: str) -> Text:
    """A formatted prompt on one line: each newline shown as a dim ↵."""
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, part in enumerate(printable(text).split("\n")):
        if i:
            out.append("↵", style="dim")
        out.append(part)
    return out


def sees_line(formatted: str | None, raw: bool, full: bool) -> Text:
    """``model gets ▸ ...``: on one line, or (``full``) every line as it is, each newline marked."""
    head = Text("model gets (raw) ▸ " if raw else "model gets ▸ ", style="dim")
    if formatted is None:
        body = Text("the run's template is applied once the model has loaded", style="dim italic")
    elif full:  # every line as it is, each newline marked so trailing ones show
        body = Text()
        for i, part in enumerate(printable(formatted).split("\n")):
            if i:
                body.append("↵\n", style="dim")
            body.append(part)
    else:
        body = one_line_prompt(formatted)
    return Text.assemble(head, body, no_wrap=not full, overflow="ellipsis", end="")
