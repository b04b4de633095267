"""Warnings (not errors) for config values that are allowed but far outside what usually works.

    for line in config_warnings(cfg, tokenizer):
        print("warning:", line)

Each line names the field, the value, the usual range and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LORA_MAX_LR = 1e-2
MAX_EPOCHS = 100


def model_context(tokenizer: Any) -> int | None:
    """The longest sequence the model was built for, when the tokenizer (or its model config) says."""
    n = getattr(tokenizer, "model_max_length", None)
    if isinstance(n, int) and 0 < n < 10**7:  # transformers puts 1e30 there when unknown
        return n
    folder = Path(str(getattr(tokenizer, "name_or_path", "") or "")) / "config.json"
    try:
        n = json.loads(folder.read_text(encoding="utf-8")).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return n if isinstance(n, int) and n > 0 else None


def config_warnings(cfg, tokenizer: Any = None) -> list[str]:
    out = []
    t = cfg.training
    if t.learning_rate > LORA_MAX_LR:
        out.append(f"training.learning_rate: {t.learning_rate:g} is far above the usual LoRA range (1e-5 to 1e-3); "
                   "the loss will likely diverge; try 2e-4")
    if t.max_steps == 0 and t.epochs > MAX_EPOCHS:
        out.append(f"training.epochs: {t.epochs:g} passes over the data will overfit it; 1 to 5 is usual, "
                   "or set training.max_steps")
    context = model_context(tokenizer) if tokenizer is not None else None
    if context is not None and cfg.data.max_length > context:
        out.append(f"data.max_length: {cfg.data.max_length} is beyond the model's context of {context} tokens; "
                   f"positions past {context} were never trained; set data.max_length: {context} or less")
    return out
