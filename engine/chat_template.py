"""A Jinja chat template that reproduces a run's training template, for the exported tokenizer.

A merged export used to keep the base tokenizer's own chat template (SmolLM2's
injects "You are a helpful AI assistant named SmolLM..." as a system turn), so
``apply_chat_template`` gave the exported model a prompt it never trained on.
:func:`chat_template_for` writes one that renders exactly what
:func:`engine.templates.render` rendered in training, for every template::

    tok.chat_template = chat_template_for(cfg, tok)
    tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
    # == engine.infer.format_prompt(cfg, q)

``chatml`` (with the run's ``data.system_prompt`` when the conversation has no
system turn), ``qa``, ``alpaca``, ``text`` and custom ``{column}`` templates
are written out; ``tokenizer`` keeps the model's own (what it trained with),
adding the run's system prompt in front when one is set. Assistant turns end as
training ended them (``<|im_end|>`` for chatml, the EOS token otherwise), so a
whole conversation renders as the training text too.
"""

from __future__ import annotations

import json

from .templates import _PLACEHOLDER, ALPACA_PREAMBLE, IM_END, IM_START, is_custom


def _lit(text: str) -> str:
    """A Jinja string literal for ``text`` (any characters)."""
    return json.dumps(text, ensure_ascii=False)


def _chatml(system_prompt: str) -> str:
    head = ""
    if system_prompt:
        head = ("{%- if messages | selectattr('role', 'equalto', 'system') | list | length == 0 -%}"
                "{{ " + _lit(f"{IM_START}system\n{system_prompt}{IM_END}\n") + " }}{%- endif -%}")
    return (head
            + "{%- for message in messages -%}"
            + "{{ " + _lit(IM_START) + " + message['role'] + '\\n' + message['content'] + " + _lit(IM_END + "\n") + " }}"
            + "{%- endfor -%}"
            + "{%- if add_generation_prompt -%}{{ " + _lit(IM_START + "assistant\n") + " }}{%- endif -%}")


def _single_turn(user_expr: str, answer_head: str, eos: str) -> str:
    """Turns as a single-turn template renders them: system turns feed the next user turn, the answer follows
    ``answer_head`` and ends with ``eos``; ``user_expr`` is the Jinja expression for a user turn's text."""
    return ("{%- set ns = namespace(system='') -%}"
            "{%- for message in messages -%}"
            "{%- if message['role'] == 'system' -%}{%- set ns.system = message['content'] -%}"
            "{%- elif message['role'] == 'assistant' -%}"
            "{{ " + _lit(answer_head) + " + message['content'] + " + _lit(eos) + " }}"
            "{%- else -%}{{ " + user_expr + " }}{%- set ns.system = '' -%}"
            "{%- endif -%}"
            "{%- endfor -%}"
            "{%- if add_generation_prompt and (messages | length == 0 or messages[-1]['role'] != 'assistant') -%}"
            "{{ " + _lit(answer_head) + " }}{%- endif -%}")


def _qa(eos: str) -> str:
    user = "(ns.system + '\\n\\n' if ns.system else '') + " + _lit("### Question:\n") + " + message['content']"
    return _single_turn(user, "\n\n### Answer:\n", eos)


def _alpaca(eos: str) -> str:
    user = "(ns.system if ns.system else " + _lit(ALPACA_PREAMBLE) + ") + " + _lit("\n\n### Instruction:\n") \
        + " + message['content']"
    return _single_turn(user, "\n\n### Response:\n", eos)


def _text(eos: str, fmt: str) -> str:
    if fmt == "text":  # plain-text data: the prompt is the text as typed, the model continues it
        return _single_turn("message['content']", "", eos)
    return _single_turn("(ns.system + '\\n' if ns.system else '') + message['content'] + '\\n'", "", eos)


def _custom(template: str, mapping: dict, eos: str) -> str:
    """The custom template's text with its placeholders filled from the turn (instruction, system) or left empty."""
    instruction = {"instruction", mapping.get("instruction")}
    system = {"system", mapping.get("system")}
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(_lit(template[pos:m.start()]))
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(_lit(token[0]))
        elif m.group(1) in instruction:
            parts.append("message['content']")
        elif m.group(1) in system:
            parts.append("ns.system")
        pos = m.end()
    if pos < len(template):
        parts.append(_lit(template[pos:]))
    return _single_turn(" + ".join(parts) or "''", "", eos)


def _tokenizer(own: str | None, system_prompt: str) -> str | None:
    if not own or not system_prompt:
        return own
    return ("{%- if messages | selectattr('role', 'equalto', 'system') | list | length == 0 -%}"
            "{%- set messages = [{'role': 'system', 'content': " + _lit(system_prompt) + "}] + messages -%}"
            "{%- endif -%}" + own)


def chat_template_for(cfg, tokenizer) -> str | None:
    """The chat template that reproduces ``cfg``'s training template with ``tokenizer``'s EOS token."""
    from .infer import resolved_template

    template, fmt, mapping = resolved_template(cfg, tokenizer)
    eos = tokenizer.eos_token or ""
    own = getattr(tokenizer, "chat_template", None)
    own = own if isinstance(own, str) else None
    if template == "chatml":
        return _chatml(cfg.data.system_prompt)
    if template == "qa":
        return _qa(eos)
    if template == "alpaca":
        return _alpaca(eos)
    if template == "text":
        return _text(eos, fmt)
    if template == "tokenizer":
        return _tokenizer(own, cfg.data.system_prompt)
    if is_custom(template):
        return _custom(template, mapping, eos)
    return own
