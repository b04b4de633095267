"""Which template ``data.template: auto`` picked and why, and the template checked against the tokenizer.

::

    name, why = template_choice(cfg.data.template, info.format, tokenizer)
    # "tokenizer", "tokenizer: auto on chat data, and the model has its own chat template"
    for warning in template_warnings(name, tokenizer, info.format):
        ...   # special tokens the template writes that the tokenizer lacks, replies that do not end with a
              # token generation stops on, a doubled BOS: each names the fix

The checks render one probe sample through the trainer's own path
(:func:`engine.templates.render`, :func:`engine.tokenize.tokenize_rendered`),
so what they find is what trains. They warn; they never stop a run.
"""

from __future__ import annotations

import re

from .templates import BUILTINS, has_chat_template, render, resolve_template, stop_strings

_CHAT = ("messages", "sharegpt")
PROBE_USER = "What is the capital of France?"
PROBE_REPLY = "Paris is the capital of France."
# strings that look like special tokens: <|im_start|>, <s>, </s>, <start_of_turn>, [INST]
_SPECIAL = re.compile(r"<\|[^<>|\s]{1,40}\|>|</?s>|<(?:start|end)_of_turn>|\[/?INST\]")


def template_choice(template: str, fmt: str, tokenizer=None) -> tuple[str, str]:
    """(the template that renders, one short line saying why: ``"tokenizer: auto on chat data, ..."``)."""
    name = resolve_template(template, fmt, tokenizer)
    if template != "auto":
        return name, f"{name if name in BUILTINS else 'custom'}: set in data.template"
    if fmt in _CHAT:
        if name == "tokenizer":
            return name, "tokenizer: auto on chat data, and the model has its own chat template"
        if tokenizer is None:
            return name, "chatml: auto on chat data (the model's tokenizer is not loaded yet)"
        return name, "chatml: auto on chat data; the model's tokenizer has no chat template"
    if fmt == "text":
        return name, "text: auto on plain-text data"
    own = " (tokenizer: the model's chat template)" if has_chat_template(tokenizer) else ""
    return name, f"{name}: auto on instruction data{own}"


def _probe(fmt: str) -> dict:
    if fmt in _CHAT:
        return {"kind": "chat", "messages": [{"role": "user", "content": PROBE_USER},
                                             {"role": "assistant", "content": PROBE_REPLY}]}
    if fmt == "text":
        return {"kind": "text", "text": PROBE_REPLY}
    return {"kind": "instruction", "system": "", "instruction": PROBE_USER, "input": "", "output": PROBE_REPLY}


def turn_end(tokenizer) -> str | None:
    """The special token the model's own chat template ends an assistant turn with (``<|im_end|>``,
    ``<|eot_id|>``...), or None (no chat template, or the turn ends with no special token)."""
    if not has_chat_template(tokenizer):
        return None
    try:
        completion = render(_probe("messages"), "tokenizer", eos_token=tokenizer.eos_token or "", tokenizer=tokenizer).completion
    except Exception:
        return None
    at = completion.rfind(PROBE_REPLY)
    if at < 0:
        return None
    tail = completion[at + len(PROBE_REPLY):].lstrip()
    specials = sorted(_added_tokens(tokenizer), key=len, reverse=True)
    return next((t for t in specials if t and tail.startswith(t)), None)


def _added_tokens(tokenizer) -> list[str]:
    try:
        names = list(tokenizer.get_added_vocab())
    except Exception:
        names = []
    return names + [t for t in getattr(tokenizer, "all_special_tokens", []) if t not in names]


def _pieces(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _unknown_specials(name: str, rendered_text: str, tokenizer) -> list[str]:
    scaffold = rendered_text.replace(PROBE_USER, " ").replace(PROBE_REPLY, " ")
    out = []
    for token in dict.fromkeys(_SPECIAL.findall(scaffold)):
        pieces = _pieces(tokenizer, token)
        if len(pieces) != 1:
            fix = ("use template tokenizer (the model's own chat template)" if has_chat_template(tokenizer)
                   else "use template alpaca or qa, or add it as a special token to the tokenizer (and resize the embeddings)")
            out.append(f"template {name} writes {token}, which is not a token of the model's tokenizer "
                       f"(it becomes {len(pieces)} pieces, so turns are not marked as the model knows them); {fix}")
    return out


def _stop_ids(name: str, tokenizer) -> dict[int, str]:
    stops = stop_strings(name, tokenizer.eos_token)
    end = turn_end(tokenizer) if name == "tokenizer" else None
    if end:
        stops.append(end)
    out: dict[int, str] = {}
    for s in stops:
        ids = _pieces(tokenizer, s)
        if len(ids) == 1:
            out[ids[0]] = s
    if tokenizer.eos_token_id is not None:
        out.setdefault(int(tokenizer.eos_token_id), str(tokenizer.eos_token))
    return out


def _ending(name: str, sample, tokenizer) -> str | None:
    trained = [i for i, lab in zip(sample.input_ids, sample.labels, strict=False) if lab != -100]
    while trained and not tokenizer.decode([trained[-1]]).strip():
        trained.pop()  # a newline after the end-of-turn token
    if not trained:
        return None
    stops = _stop_ids(name, tokenizer)
    if trained[-1] in stops:
        return None
    last = tokenizer.decode([trained[-1]])
    if not stops:
        fix = "the tokenizer has no eos_token: set one (tokenizer.eos_token) or pick a template that ends turns (chatml)"
    else:
        fix = f"pick a template whose replies end with {' or '.join(sorted(set(stops.values())))} (chatml, or tokenizer)"
    return (f"template {name}: replies end with {last!r}, not with a token generation stops on, "
            f"so the model does not learn to stop; {fix}")


def _doubled_bos(name: str, sample, tokenizer) -> str | None:
    from .tokenize import _tok_info

    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return None
    added = _tok_info(tokenizer).added
    seen = 0
    for i in sample.input_ids:
        if i == bos:
            seen += 1
        elif i not in added and tokenizer.decode([i]).strip():
            break  # the first real text
    if seen < 2:
        return None
    return (f"template {name}: samples start with {seen} BOS tokens ({tokenizer.bos_token}): the template writes it "
            "and the tokenizer adds one too; remove the BOS from the template's start"
            + (" (or use template chatml)" if name == "tokenizer" else ""))


def template_warnings(name: str, tokenizer, fmt: str, *, system_prompt: str = "") -> list[str]:
    """What is wrong between the (resolved) template ``name`` and ``tokenizer``, one line each with its fix."""
    from .errors import DataError
    from .tokenize import tokenize_rendered

    try:
        rendered = render(_probe(fmt), name, eos_token=tokenizer.eos_token or "", tokenizer=tokenizer,
                          system_prompt=system_prompt)
    except DataError:
        return []  # the data check says what is wrong with this template
    sample = tokenize_rendered(rendered, tokenizer, 10**9)
    out = _unknown_specials(name, rendered.text, tokenizer)
    out += [w for w in (_ending(name, sample, tokenizer), _doubled_bos(name, sample, tokenizer)) if w]
    return out
