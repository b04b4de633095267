"""Format detection: which of FORMATS a file's columns make, and which column plays which role."""

from __future__ import annotations

import json

from ..errors import DataError
from .common import quote_name, quote_names

FORMATS = ("alpaca", "qa", "text", "messages", "sharegpt")
ROLES = ("instruction", "input", "output", "system", "text", "messages", "conversations")

# Column-name pairs that mean "prompt -> answer", tried in order (lower-case names).
QA_PAIRS = [
    ("question", "answer"),
    ("instruction", "response"),
    ("prompt", "completion"),
    ("prompt", "response"),
    ("query", "response"),
    ("query", "answer"),
    ("input", "output"),
    ("input", "target"),
]


def _chat_style(rows: list[dict], column: str) -> str | None:
    """"sharegpt" for {from, value} turns, "messages" for {role, content}, None when the sample cannot tell."""
    for row in rows:
        value = row.get(column) if isinstance(row, dict) else None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if not isinstance(value, list):
            continue
        for turn in value:
            if isinstance(turn, dict):
                if turn.get("from") is not None or turn.get("value") is not None:
                    return "sharegpt"
                if turn.get("role") is not None or turn.get("content") is not None:
                    return "messages"
    return None


def detect_format(columns: list[str], sample_rows: list[dict], forced: str = "auto",
                  mapping: dict[str, str] | None = None, source: str = "data") -> tuple[str, dict[str, str]]:
    """(format, role -> column). Column names match case-insensitively; the first match wins.

    ``mapping`` (config ``data.columns``) overrides or extends detection; ``forced``
    (config ``data.format``) fixes the format. ``sample_rows`` (a few rows) tell a
    ``messages`` column holding ShareGPT turns from OpenAI ones, and vice versa.
    """
    columns = list(columns)
    user = dict(mapping or {})
    _check_user_mapping(user, columns, source)
    candidates = _candidates(columns, sample_rows)
    if forced != "auto":
        return _forced(forced, candidates, user, columns, source)
    if user:
        return _with_user_mapping(user, candidates, sample_rows, columns, source)
    if candidates:
        return candidates[0]
    example = f"data.columns: {{instruction: {quote_name(columns[0])}, output: {quote_name(columns[-1])}}}" if columns else "data.columns"
    raise DataError(
        f"{source}: cannot detect the format from columns [{quote_names(columns)}]; map them in the config, "
        f"e.g. {example}, or set data.format"
    )


def _check_user_mapping(user: dict[str, str], columns: list[str], source: str) -> None:
    """``data.columns`` names known roles and columns the file has."""
    for role, col in user.items():
        if role not in ROLES:
            raise DataError(f"data.columns.{quote_name(role)}: unknown role; roles are {', '.join(ROLES)}")
        if col not in columns:
            raise DataError(f"data.columns.{quote_name(role)}: column {str(col)!r} not in {source}; "
                            f"columns are: {quote_names(columns)}")


def _candidates(columns: list[str], sample_rows: list[dict]) -> list[tuple[str, dict[str, str]]]:
    """Every (format, mapping) the column names make, in order of preference: chat, alpaca, qa, text."""
    lower: dict[str, str] = {}
    for c in columns:
        lower.setdefault(str(c).strip().lower(), c)
    col = lower.get
    candidates: list[tuple[str, dict[str, str]]] = []
    for name, default in (("messages", "messages"), ("conversations", "sharegpt")):
        if col(name):
            fmt = _chat_style(sample_rows, col(name)) or default
            candidates.append((fmt, {"messages" if fmt == "messages" else "conversations": col(name)}))
    if col("instruction") and col("output"):
        m = {"instruction": col("instruction"), "output": col("output")}
        if col("input"):
            m["input"] = col("input")
        candidates.append(("alpaca", m))
    qa = _qa_pair(col)
    if qa:
        candidates.append(("qa", qa))
    if col("text"):
        candidates.append(("text", {"text": col("text")}))
    for fmt, m in candidates:
        if col("system") and fmt in ("alpaca", "qa"):
            m["system"] = col("system")
    return candidates


def _qa_pair(col) -> dict[str, str] | None:
    """The first prompt -> answer pair of column names (QA_PAIRS), with a question's context as input."""
    for a, b in QA_PAIRS:
        if col(a) and col(b):
            m = {"instruction": col(a), "output": col(b)}
            if a in ("question", "query") and col("context"):
                m["input"] = col("context")
            return m
    return None


def _forced(forced: str, candidates, user: dict[str, str], columns: list[str], source: str) -> tuple[str, dict[str, str]]:
    """``data.format`` set: the detected mapping for that format (or a close one), then the user's."""
    if forced not in FORMATS:
        raise DataError(f"data.format: must be one of auto, {', '.join(FORMATS)}, got {forced!r}")
    found = next((m for f, m in candidates if f == forced), None)
    if found is None and forced in ("qa", "alpaca"):  # both make instruction records
        found = next((m for f, m in candidates if f in ("qa", "alpaca")), None)
    if found is None and forced in ("messages", "sharegpt"):  # a chat column under the other name
        other = next((m for f, m in candidates if f in ("messages", "sharegpt")), None)
        if other:
            found = {"messages" if forced == "messages" else "conversations": next(iter(other.values()))}
    m = {**(found or {}), **user}
    if forced == "messages" and "conversations" in m and "messages" not in m:
        m["messages"] = m.pop("conversations")
    if forced == "sharegpt" and "messages" in m and "conversations" not in m:
        m["conversations"] = m.pop("messages")
    _check_roles(forced, m, columns, source)
    return forced, m


def _with_user_mapping(user: dict[str, str], candidates, sample_rows: list[dict], columns: list[str],
                       source: str) -> tuple[str, dict[str, str]]:
    """``data.columns`` set (format auto): the format its roles make, extending what was detected."""
    chat_col = user.get("messages") or user.get("conversations")
    if chat_col is not None:
        fmt = _chat_style(sample_rows, chat_col) or ("messages" if "messages" in user else "sharegpt")
        m = {k: v for k, v in user.items() if k not in ("messages", "conversations")}
        m["messages" if fmt == "messages" else "conversations"] = chat_col
    elif {"instruction", "input", "output"} & user.keys():
        # the detected qa/alpaca mapping, extended or overridden by the user's
        fmt, base = next(((f, m) for f, m in candidates if f in ("qa", "alpaca")),
                         ("alpaca" if "input" in user else "qa", {}))
        m = {**base, **user}
    elif "text" in user:
        fmt, m = "text", dict(user)
    elif candidates:  # only extras such as system: keep what was detected
        fmt, base = candidates[0]
        m = {**base, **user} if fmt in ("qa", "alpaca") else base
    else:
        fmt, m = "qa", dict(user)
    _check_roles(fmt, m, columns, source)
    return fmt, m


REQUIRED = {"alpaca": ("instruction", "output"), "qa": ("instruction", "output"), "text": ("text",),
            "messages": ("messages",), "sharegpt": ("conversations",)}


def _check_roles(fmt: str, mapping: dict[str, str], columns: list[str], source: str) -> None:
    missing = [r for r in REQUIRED[fmt] if r not in mapping]
    if missing:
        need = ", ".join(f"{r}: <column>" for r in missing)
        raise DataError(f"{source}: format {fmt} needs the role(s) {', '.join(missing)}; columns are: "
                        f"{quote_names(columns)}; map them with data.columns: {{{need}}}")
