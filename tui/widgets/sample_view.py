"""Rich Text for a data row and for a tokenized sample (pure functions; no torch, no textual).

* :func:`row_text` — a raw row in full, turn by turn for chats (Data screen detail pane).
* :func:`sample_text` — a sample as the trainer sees it: prompt dim, trained completion
  bold green, the cut at ``max_length`` marked and the text past it struck through.
* :func:`token_text` — every token, coloured by whether it carries loss.

The sample functions only draw an ``engine.tokenize.TokenizedSample``; they never format text themselves.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

ERROR_KEY = "⚠ error"  # engine.data.rowsource.ERROR_KEY (not imported: keeps this module dependency-free)

PROMPT_STYLE = "dim"
TRAINED_STYLE = "bold green"
PROMPT_TRAINED_STYLE = "green"  # prompt text when data.train_on_prompt is on
CUT_STYLE = "bold white on red"
ROLE_STYLE = {"system": "bold magenta", "user": "bold cyan", "assistant": "bold green", "tool": "bold yellow"}


def _value_text(v: Any) -> str:
    if v is None:
        return "∅ (null)"
    if isinstance(v, str):
        return v if v.strip() else "∅ (empty)"
    return json.dumps(v, ensure_ascii=False, indent=1, default=str)


def row_text(row: dict, index: int, fmt: str | None = None, mapping: dict | None = None) -> Text:
    """Row ``index`` (0-based) in full: chats turn by turn with role labels, otherwise field by field."""
    from engine.data import to_record
    from engine.errors import TuneDeckError

    t = Text()
    t.append(f"Row {index + 1:,}\n", style="bold reverse")
    if ERROR_KEY in row:
        t.append(row[ERROR_KEY], style="bold red")
        return t
    rec = None
    if fmt is not None:
        try:
            rec = to_record(row, fmt, mapping or {})
        except TuneDeckError as e:
            t.append(f"⚠ as {fmt}: {e}\n\n", style="bold red")
        except Exception as e:  # a row that does not fit the mapping at all
            t.append(f"⚠ as {fmt}: {type(e).__name__}: {e}\n\n", style="bold red")
    if rec is not None and rec["kind"] == "chat":
        if not rec["messages"]:
            t.append("∅ no turns\n", style="yellow")
        for n, m in enumerate(rec["messages"], start=1):
            t.append(f"── {n}. {m['role']} ", style=ROLE_STYLE.get(m["role"], "bold"))
            t.append("\n")
            t.append(_value_text(m["content"]) + "\n")
        return t
    if rec is not None and rec["kind"] == "instruction":
        for key in ("system", "instruction", "input", "output"):
            if rec[key] or key in ("instruction", "output"):
                t.append(f"{key}\n", style="bold green" if key == "output" else "bold cyan")
                t.append(_value_text(rec[key]) + "\n\n")
        return t
    if rec is not None and rec["kind"] == "text":
        t.append("text\n", style="bold green")
        t.append(_value_text(rec["text"]) + "\n")
        return t
    for k, v in row.items():
        t.append(f"{k}\n", style="bold cyan")
        t.append(_value_text(v) + "\n\n")
    return t


def kept_chars(sample, tokenizer) -> int:
    """How many characters of ``sample.rendered.text`` fall within ``max_length`` tokens."""
    if not sample.truncated:
        return len(sample.rendered.text)
    view = sample.token_view(tokenizer)
    joined = sum(len(t) for t, _, _ in view)
    lead = max(0, joined - len(sample.rendered.text))  # a BOS token shows text that is not in the rendered sample
    return max(0, sum(len(t) for t, _, beyond in view if not beyond) - lead)


def sample_text(sample, tokenizer, *, train_on_prompt: bool = False) -> Text:
    """The rendered sample as the trainer sees it, with the truncation point marked."""
    rendered = sample.rendered
    cut = kept_chars(sample, tokenizer)
    out = Text()
    pos = 0
    marked = False
    for seg in rendered.segments:
        style = TRAINED_STYLE if seg.trained else (PROMPT_TRAINED_STYLE if train_on_prompt else PROMPT_STYLE)
        end = pos + len(seg.text)
        if pos < cut:
            out.append(rendered.text[pos:min(end, cut)], style=style)
        if end > cut:
            if not marked:
                out.append(f" ✂ truncated at {len(sample.input_ids)} tokens ✂ ", style=CUT_STYLE)
                marked = True
            out.append(rendered.text[max(pos, cut):end], style=f"{style} strike")
        pos = end
    if sample.truncated and not marked:
        out.append(f" ✂ truncated at {len(sample.input_ids)} tokens ✂ ", style=CUT_STYLE)
    return out


def token_text(sample, tokenizer) -> Text:
    """Every token: green carries loss, dim does not, red struck through past max_length."""
    out = Text()
    out.append("loss", style="black on green")
    out.append(" trained  ")
    out.append("prompt", style="reverse dim")
    out.append(" no loss  ")
    out.append("cut", style="red strike")
    out.append(" beyond max_length  ")
    out.append("·", style="dim")
    out.append(" space  ⏎ newline\n\n", style="dim")
    for i, (tok, trained, beyond) in enumerate(sample.token_view(tokenizer)):
        shown = tok.replace(" ", "·").replace("\n", "⏎").replace("\t", "→") or "∅"
        if i == len(sample.input_ids) and beyond:
            out.append(f"\n✂ truncated at {len(sample.input_ids)} tokens ✂\n", style=CUT_STYLE)
        style = "red strike" if beyond else ("black on green" if trained else "reverse dim")
        out.append(shown, style=style)
        out.append(" ")
        if "\n" in tok:
            out.append("\n")
    return out


def token_counts(sample) -> tuple[int, int, int]:
    """(prompt tokens, trained tokens, total) within max_length."""
    total = len(sample.input_ids)
    return total - sample.num_trained, sample.num_trained, total
