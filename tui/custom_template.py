"""The Template screen's custom-template editor: a starter that fits the data, and a clean cancel.

:func:`starter` writes a prompt template from the data's own columns (the ones mapped to the
instruction and input roles), so the first thing the editor shows already renders: on
``lamini_docs_raw.jsonl`` (columns question, answer) it is ``### Question:\\n{question}\\n\\n### Answer:\\n``.
:func:`unfit` says why a custom template cannot render the data at all (chat and plain-text data).
"""

from __future__ import annotations

FALLBACK = "### Question:\n{instruction}\n\n### Answer:\n"


def name_of(template: str) -> str:
    """How to name a template in a message: a built-in by its name, a custom one by what it is."""
    from engine.config import BUILTIN_TEMPLATES

    return template if template in BUILTIN_TEMPLATES else "the earlier custom template"


def unfit(info) -> str | None:
    """Why custom templates cannot render data of this kind (None when they can, or when it is not known yet)."""
    if info is not None and info.format in ("messages", "sharegpt", "text"):
        fits = "text" if info.format == "text" else "chatml or tokenizer"
        return (f"custom {{column}} templates need instruction/output rows, but this data is {info.format}; "
                f"use template {fits}")
    return None


def starter(info) -> str:
    """A custom template naming the data's real prompt columns (the output column is appended by the trainer)."""
    mapping = getattr(info, "mapping", None) or {}
    instruction = mapping.get("instruction")
    if not instruction:
        return FALLBACK
    extra = mapping.get("input")
    if extra:
        return f"### Instruction:\n{{{instruction}}}\n\n### Input:\n{{{extra}}}\n\n### Response:\n"
    return f"### Question:\n{{{instruction}}}\n\n### Answer:\n"
