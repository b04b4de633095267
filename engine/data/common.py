"""Small text helpers shared by the data modules: names as they can appear in a one-line message, and values as text."""

from __future__ import annotations

import json
from typing import Any

from ..errors import innermost


def quote_name(column: Any) -> str:
    """A column name (or id) as it can appear in a one-line message."""
    column = str(column)
    return column if column and column.isprintable() and column.strip() == column else repr(column)


def quote_names(columns) -> str:
    return ", ".join(quote_name(c) for c in columns)


def first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line[:limit]


def cause_line(e: BaseException) -> str:
    """The innermost exception's first line: datasets wraps the useful message (pandas, arrow) in generic ones."""
    inner = innermost(e)
    return first_line(str(inner)) or type(inner).__name__


def json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false",
            type(None): "null"}.get(type(obj), type(obj).__name__)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
