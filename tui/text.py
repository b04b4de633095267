"""Text helpers the app and the command line share: one of each.

``printable`` (control characters shown as symbols), ``one_line`` and ``error_line`` (an error in one
line), ``hms`` (a duration), ``cut`` (a cell cut to a width), ``fmt_loss`` (a loss or a dash) and
``stopped_line`` (the one message after a stop). Plain strings only: no Textual, no engine imports
beyond the error type, so the headless CLI can use them.
"""

from __future__ import annotations

import math

import yaml

from engine.errors import TuneDeckError

# Control characters a random or half-trained model can emit would garble the terminal: show them as symbols.
_CONTROL = {i: chr(0x2400 + i) for i in range(32) if i not in (9, 10)}
_CONTROL[127] = "\u2421"
_CONTROL.update({i: "\ufffd" for i in range(0x80, 0xA0)})


def printable(text: str | None) -> str:
    """``text`` with control characters (other than newline and tab) replaced by visible symbols."""
    return (text or "").translate(_CONTROL)


def one_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of an error message, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return cut(line, limit)


def error_line(e: BaseException) -> str:
    """One line for an exception a worker caught: a TuneDeck error says what to do as it is; anything else
    (a broken model folder, out of memory...) is named by its type, so the app stays up without a traceback."""
    return one_line(str(e) if isinstance(e, TuneDeckError) else f"{type(e).__name__}: {e}")


def hms(seconds: float | None, unknown: str = "-:--:--") -> str:
    """Seconds as h:mm:ss (``unknown`` when there is no finite number)."""
    if seconds is None or not math.isfinite(seconds):
        return unknown
    s = int(max(0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def fmt_loss(loss: float | None, missing: str = "–") -> str:
    """A loss with four decimals, or ``missing`` (a dash) when there is none (or it is not finite)."""
    return missing if loss is None or not math.isfinite(loss) else f"{loss:.4f}"


def stopped_line(step: int, checkpoint: str | None, lead: str = "Stopped") -> str:
    """The one message after a stop: where it stopped and the checkpoint it saved (no separate "saved" line)."""
    saved = f"checkpoint saved: {checkpoint}" if checkpoint else "no checkpoint saved"
    return f"{lead} at step {step}; {saved}"


def to_text(value) -> str:
    """A config value as a text box shows it (and as ``--set`` takes it): YAML flow style for mappings and lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return str(value)
