"""Prompt templates: one function turns a normalized record into prompt and completion text.

The preview screen and the trainer both call :func:`render`, so what the user
previews is exactly what trains::

    r = render({"kind": "instruction", "system": "", "instruction": "Hi", "input": "", "output": "Hello"},
               "alpaca", eos_token="</s>")
    r.prompt                  # the Stanford Alpaca prompt ending in "### Response:\\n"
    [s.trained for s in r.segments]   # [False, True]: only "Hello</s>" carries loss

Built-in templates: ``alpaca``, ``qa``, ``chatml``, ``tokenizer`` (the model's
own chat template), ``text``; anything else containing ``{column}``
placeholders is a custom prompt template over the raw row. Field values are
always inserted literally (never through ``str.format``), so data containing
``{x}`` or ``{0}`` renders as written.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import DataError

BUILTINS = ("alpaca", "qa", "chatml", "tokenizer", "text")
FORMATS = ("alpaca", "qa", "text", "messages", "sharegpt")
AUTO_TEMPLATE = {"alpaca": "alpaca", "qa": "qa", "text": "text", "messages": "chatml", "sharegpt": "chatml"}

ALPACA_PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
ALPACA_PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# {{ and }} are literal braces; {name} is a placeholder (name: anything without braces).
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass
class Segment:
    text: str
    trained: bool  # True = completion (carries loss), False = prompt


@dataclass
class Rendered:
    template: str  # resolved template name, or "custom"
    segments: list[Segment] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    @property
    def prompt(self) -> str:
        """Text before the first trained segment (what generation starts from)."""
        out = []
        for s in self.segments:
            if s.trained:
                break
            out.append(s.text)
        return "".join(out)

    @property
    def completion(self) -> str:
        """Text of every trained segment, concatenated."""
        return "".join(s.text for s in self.segments if s.trained)


def is_custom(template: str) -> bool:
    return template not in BUILTINS and template != "auto" and "{" in template


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None)) if tokenizer is not None else False


def resolve_template(template: str, fmt: str, tokenizer=None) -> str:
    """``auto`` -> the template that fits the data format (chat data: the model's own chat template when its
    ``tokenizer`` has one, else chatml); built-ins and custom strings pass through."""
    if template == "auto":
        if fmt not in AUTO_TEMPLATE:
            raise DataError(f"cannot pick a template for data format {fmt!r}; formats are {', '.join(FORMATS)}")
        picked = AUTO_TEMPLATE[fmt]
        return "tokenizer" if picked == "chatml" and has_chat_template(tokenizer) else picked
    if template in BUILTINS or is_custom(template):
        return template
    close = difflib.get_close_matches(str(template), BUILTINS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise DataError(f"unknown template {template!r}{hint}; use auto, {', '.join(BUILTINS)} "
                    "or a string with {column} placeholders")


def template_fields(template: str) -> list[str]:
    """The ``{placeholders}`` of a custom template, in order of first use (``{{``/``}}`` are literal)."""
    if not is_custom(template):
        return []
    names: list[str] = []
    for m in _PLACEHOLDER.finditer(template):
        name = m.group(1)
        if name is not None and name not in names:
            names.append(name)
    return names


def validate_template(template: str, columns: list[str], fmt: str) -> None:
    """Raise DataError when the template cannot render data of this format / these columns."""
    template = resolve_template(template, fmt)
    if template in ("alpaca", "qa"):
        if fmt == "text":
            raise DataError(f"template {template} needs instruction/output rows, but the data is plain text; "
                            "use template text (or auto)")
    elif template in ("chatml", "tokenizer"):
        if fmt == "text":
            raise DataError(f"template {template} needs instruction/output or chat rows, but the data is plain text; "
                            "use template text (or auto)")
    elif template == "text":
        return
    else:  # custom
        if fmt in ("messages", "sharegpt", "text"):
            raise DataError(f"custom {{column}} templates are single-turn prompt templates and need instruction/output "
                            f"rows, but the data format is {fmt}; use template chatml or tokenizer for chat data, "
                            "text for plain text")
        cols = [str(c) for c in columns]
        unknown = [f for f in template_fields(template) if f not in cols]
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, cols, n=1)
                hints.append(f"{{{name}}}" + (f" (did you mean {{{close[0]}}}?)" if close else ""))
            raise DataError(f"template field{'s' if len(unknown) > 1 else ''} {', '.join(hints)} "
                            f"not in the data; columns are: {', '.join(cols) or '(none)'}")


def stop_strings(template: str, eos_token: str | None) -> list[str]:
    """Strings that end a generated reply for this template (eos first)."""
    eos = eos_token or ""
    if template == "chatml":
        stops = [IM_END, eos, IM_START]
    elif template == "alpaca":
        stops = [eos, "### Instruction:"]
    elif template == "qa":
        stops = [eos, "### Question:"]
    else:  # tokenizer, text, custom: the model's own eos (the caller adds model-specific end ids)
        stops = [eos]
    out: list[str] = []
    for s in stops:
        if s and s not in out:
            out.append(s)
    return out


# --- rendering ---------------------------------------------------------------------------------------


def _s(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _messages(record: dict) -> list[dict[str, str]]:
    return [{"role": _s(m.get("role")), "content": _s(m.get("content"))} for m in record.get("messages") or []]


def _single_turn(record: dict, template: str) -> dict:
    """An instruction/chat record as {system, instruction, input, output}; DataError for multi-turn chat."""
    if record.get("kind") != "chat":
        return {k: _s(record.get(k)) for k in ("system", "instruction", "input", "output")}
    msgs = _messages(record)
    roles = [m["role"] for m in msgs]
    if roles == ["user", "assistant"] or roles == ["system", "user", "assistant"]:
        system = msgs[0]["content"] if roles[0] == "system" else ""
        return {"system": system, "instruction": msgs[-2]["content"], "input": "", "output": msgs[-1]["content"]}
    raise DataError(f"template {template} takes one user turn and one assistant reply, but this conversation has "
                    f"{len(msgs)} turns ({', '.join(roles) or 'none'}); use template chatml or tokenizer for multi-turn chat")


def _chat_messages(record: dict, system_prompt: str) -> list[dict[str, str]]:
    if record.get("kind") == "chat":
        msgs = _messages(record)
    else:
        r = _single_turn(record, "chatml")
        user = r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
        msgs = ([{"role": "system", "content": r["system"]}] if r["system"] else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}]
    if system_prompt and not any(m["role"] == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": system_prompt})
    return msgs


def _build(template: str, parts: list[tuple[str, bool]]) -> Rendered:
    """Drop empty parts and merge neighbours with the same flag."""
    segments: list[Segment] = []
    for text, trained in parts:
        if not text:
            continue
        if segments and segments[-1].trained == trained:
            segments[-1] = Segment(segments[-1].text + text, trained)
        else:
            segments.append(Segment(text, trained))
    return Rendered(template, segments)


def _render_alpaca(r: dict, eos: str) -> Rendered:
    preamble = r["system"] or (ALPACA_PREAMBLE_INPUT if r["input"] else ALPACA_PREAMBLE)
    prompt = preamble + "\n\n### Instruction:\n" + r["instruction"]
    if r["input"]:
        prompt += "\n\n### Input:\n" + r["input"]
    prompt += "\n\n### Response:\n"
    return _build("alpaca", [(prompt, False), (r["output"] + eos, True)])


def _render_qa(r: dict, eos: str) -> Rendered:
    question = r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
    prompt = (r["system"] + "\n\n" if r["system"] else "") + "### Question:\n" + question + "\n\n### Answer:\n"
    return _build("qa", [(prompt, False), (r["output"] + eos, True)])


def _render_text(record: dict, eos: str) -> Rendered:
    if record.get("kind") == "text":
        return _build("text", [(_s(record.get("text")) + eos, True)])
    r = _single_turn(record, "text")
    prompt = (r["system"] + "\n" if r["system"] else "") + r["instruction"] + ("\n" + r["input"] if r["input"] else "") + "\n"
    return _build("text", [(prompt, False), (r["output"] + eos, True)])


def _render_chatml(msgs: list[dict[str, str]]) -> Rendered:
    parts: list[tuple[str, bool]] = []
    for m in msgs:
        if m["role"] == "assistant":
            parts.append((IM_START + "assistant\n", False))
            parts.append((m["content"] + IM_END, True))
            parts.append(("\n", False))
        else:
            parts.append((IM_START + m["role"] + "\n" + m["content"] + IM_END + "\n", False))
    return _build("chatml", parts)


def _apply(tokenizer, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
    try:
        out = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
    except DataError:
        raise
    except Exception as e:  # jinja raise_exception(), missing roles, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"the model's chat template rejected this conversation: {msg}; "
                        "use template chatml instead") from None
    if isinstance(out, list) and len(out) == 1:
        out = out[0]
    if not isinstance(out, str):
        raise DataError(f"the model's chat template returned {type(out).__name__}, expected text; use template chatml")
    return out


def _render_tokenizer(msgs: list[dict[str, str]], tokenizer) -> Rendered:
    if tokenizer is None:
        raise DataError("template tokenizer needs the model's tokenizer to render; use template chatml")
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("the model's tokenizer has no chat template; use template chatml (or alpaca/qa)")
    full = _apply(tokenizer, msgs, False)
    parts: list[tuple[str, bool]] = []
    pos = 0
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        if i:
            start = _apply(tokenizer, msgs[:i], True)
        else:  # a reply with nothing before it: the template's generation prompt alone, if it renders one
            try:
                start = _apply(tokenizer, [], True)
            except DataError:
                start = ""
        end = _apply(tokenizer, msgs[: i + 1], False)
        if not (full.startswith(start) and full.startswith(end) and pos <= len(start) <= len(end)):
            raise DataError("the model's chat template cannot be split into prompt and reply (a rendered prefix of the "
                            f"conversation is not a prefix of the whole, at turn {i + 1}); use template chatml")
        parts.append((full[pos:len(start)], False))
        parts.append((full[len(start):len(end)], True))
        pos = len(end)
    parts.append((full[pos:], False))
    return _build("tokenizer", parts)


def _fill(template: str, values: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1)
        if name not in values:
            cols = ", ".join(values) or "(none)"
            close = difflib.get_close_matches(name, list(values), n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise DataError(f"template field {{{name}}}{hint} not in the data; columns are: {cols}")
        return values[name]

    return _PLACEHOLDER.sub(sub, template)


def _render_custom(record: dict, template: str, raw: dict | None, eos: str) -> Rendered:
    kind = record.get("kind")
    if kind == "chat":
        raise DataError("custom {column} templates are single-turn; use template chatml or tokenizer for chat data")
    if kind == "text":
        raise DataError("custom {column} templates need instruction/output rows, but this row is plain text; "
                        "use template text")
    r = _single_turn(record, "custom")
    values = {k: v for k, v in r.items()}
    if raw is not None:
        values = {str(k): _s(v) for k, v in raw.items()}
        for k, v in r.items():  # the record's roles fill names the row does not have
            values.setdefault(k, v)
    return _build("custom", [(_fill(template, values), False), (r["output"] + eos, True)])


def render(record: dict, template: str, *, eos_token: str | None, tokenizer=None, system_prompt: str = "",
           raw: dict | None = None) -> Rendered:
    """Render a normalized record with a (resolved) template into prompt/completion segments."""
    eos = eos_token or ""
    kind = record.get("kind")
    if kind not in ("instruction", "chat", "text"):
        raise DataError(f"cannot render a record of kind {kind!r}; expected instruction, chat or text")
    if template == "auto":
        template = {"instruction": "alpaca", "chat": "chatml", "text": "text"}[kind]
    if template == "text":
        return _render_text(record, eos)
    if kind == "text" and template in BUILTINS:
        raise DataError(f"template {template} needs instruction/output or chat rows, but this row is plain text; "
                        "use template text")
    if template == "alpaca":
        return _render_alpaca(_single_turn(record, "alpaca"), eos)
    if template == "qa":
        return _render_qa(_single_turn(record, "qa"), eos)
    if template == "chatml":
        return _render_chatml(_chat_messages(record, system_prompt))
    if template == "tokenizer":
        return _render_tokenizer(_chat_messages(record, system_prompt), tokenizer)
    if is_custom(template):
        return _render_custom(record, template, raw, eos)
    resolve_template(template, "alpaca")  # raises the unknown-template error
    raise AssertionError("unreachable")
