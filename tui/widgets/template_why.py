"""The Template screen's line saying which template renders and why, and the template's checks against the
model's tokenizer (engine/template_checks.py), cached per template, format and tokenizer."""

from __future__ import annotations

from rich.text import Text

_CACHE: dict[tuple, tuple[str, list[str]]] = {}


def why_text(data_cfg, info, tokenizer) -> Text:
    """``↳ why`` (dim) and one ``⚠`` line per warning (yellow), or empty Text for a custom template's reason."""
    from engine.template_checks import template_choice, template_warnings

    key = (data_cfg.template, info.format, data_cfg.system_prompt, id(tokenizer))
    if key not in _CACHE:
        try:
            name, why = template_choice(data_cfg.template, info.format, tokenizer)
            warnings = template_warnings(name, tokenizer, info.format, system_prompt=data_cfg.system_prompt)
        except Exception:  # the template check on the screen says what is wrong
            return Text("")
        _CACHE[key] = (why, warnings)
    why, warnings = _CACHE[key]
    t = Text()
    t.append(f"\n↳ {why}", style="dim")
    for w in warnings:
        t.append(f"\n⚠ {w}", style="bold yellow")
    return t
