"""Records: each raw row in the one shape the templates consume (:func:`to_record`; the shapes and
conventions are in :mod:`engine.data`'s docstring)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import DataError
from .common import as_text, json_type, quote_name
from .detect import FORMATS, REQUIRED

# Chat roles, ShareGPT (``from``) and OpenAI (``role``) spellings alike.
CHAT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "model": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "function_call": "assistant",
    "system": "system", "developer": "system",
    "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
}
NO_INPUT = {"noinput", "<noinput>", "no input", "<no input>"}


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"{what}: expected a list of turns, got text that is not a JSON list") from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise DataError(f"{what}: expected a list of turns, got {json_type(value)}")
    return value


def _content(value: Any, where: str) -> str:
    """A turn's content; OpenAI content parts ([{type: text, text}]) keep their text."""
    if isinstance(value, list) and value and all(isinstance(part, dict) for part in value):
        texts = []
        for j, part in enumerate(value):
            if part.get("text") is not None:
                texts.append(as_text(part["text"]))
            elif part.get("type") not in (None, "text"):
                raise DataError(f"{where}.content[{j}]: a {quote_name(part.get('type'))} part; only text can be "
                                "trained, remove it from the row")
        return "".join(texts)
    return as_text(value)


def _tool_calls(calls: Any) -> str:
    if isinstance(calls, str):
        return calls.strip()
    if not isinstance(calls, list):
        return as_text(calls)
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) and isinstance(call.get("function"), dict) else call
        if isinstance(fn, dict):
            args = fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    pass
            out.append(json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False, default=str))
        else:
            out.append(as_text(fn))
    return "\n".join(out)


def _chat(turns: list, what: str, row: dict) -> list[dict[str, str]]:
    sharegpt = what == "conversations"
    shape = "{from, value}" if sharegpt else "{role, content}"
    known = "human, gpt, system, function_call or observation" if sharegpt else "system, user, assistant or tool"
    messages = []
    for i, m in enumerate(turns):
        where = f"{what}[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"{where}: expected {shape}, got {json_type(m)}")
        who = m.get("from") if m.get("from") is not None else m.get("role")
        if who is None:
            raise DataError(f"{where}: has no {'from' if sharegpt else 'role'}; expected {shape}")
        role = CHAT_ROLES.get(str(who).strip().lower())
        if role is None:
            raise DataError(f"{where}: unknown role {quote_name(who)!r}; use {known}")
        value = m.get("value") if m.get("value") is not None else m.get("content")
        content = _content(value, where)
        if m.get("tool_calls"):
            calls = _tool_calls(m["tool_calls"])
            content = f"{content}\n{calls}" if content else calls
        messages.append({"role": role, "content": content})
    tools = row.get("tools")
    tools = tools.strip() if isinstance(tools, str) else ("" if tools is None else as_text(tools))
    if tools and tools not in ("[]", "{}", "null"):
        at = 1 if messages and messages[0]["role"] == "system" else 0
        messages.insert(at, {"role": "system", "content": "Tools available:\n" + tools})
    return messages


def to_record(row: dict, fmt: str, mapping: dict[str, str]) -> dict:
    """One raw row -> the internal shape the templates consume (see the module docstring).

    Never fails on odd values (None -> "", numbers -> text); raises DataError only for
    a row that cannot be a record (e.g. a chat turn that is not an object).
    """
    if not isinstance(row, dict):
        raise DataError(f"expected a row object, got {json_type(row)}")
    mapping = mapping or {}

    def get(role: str) -> Any:
        return row.get(mapping[role]) if role in mapping else None

    if fmt not in FORMATS:
        raise DataError(f"data.format: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    missing = [r for r in REQUIRED[fmt] if r not in mapping]
    if missing == ["instruction"] and "input" in mapping:
        missing = []  # {input, output}: the input is the instruction
    if missing:
        need = ", ".join(f"{r}: <column>" for r in missing)
        raise DataError(f"format {fmt} needs the role(s) {', '.join(missing)}; map them with data.columns: {{{need}}}")
    if fmt in ("alpaca", "qa"):
        if "instruction" in mapping:
            instruction, inp = as_text(get("instruction")), as_text(get("input"))
        else:  # {input, output} only: the input is the instruction
            instruction, inp = as_text(get("input")), ""
        if inp.strip().lower() in NO_INPUT:
            inp = ""
        return {"kind": "instruction", "system": as_text(get("system")), "instruction": instruction, "input": inp,
                "output": as_text(get("output"))}
    if fmt == "text":
        return {"kind": "text", "text": as_text(get("text"))}
    what = "messages" if fmt == "messages" else "conversations"
    return {"kind": "chat", "messages": _chat(_as_list(get(what), what), what, row)}
