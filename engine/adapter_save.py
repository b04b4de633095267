"""The finished run's adapter/: copied from the final checkpoint when it holds this very step, else saved.

When a run finishes, transformers' Trainer has just written ``checkpoint-N`` at the last step (adapter,
optimizer, scheduler, RNG, trainer state: everything ``--resume RUN --max-steps M`` needs to continue a
finished run, so it stays). Its adapter files are byte for byte what ``save_pretrained`` would write to
``adapter/`` a moment later, so they are copied instead of serialised a second time (and the copy goes
to a temporary name first, then into place, so ``adapter/`` never holds a half-written file).
Without such a checkpoint (a NaN stop, a custom trainer) the adapter is saved as before.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import rundir

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")  # required; README.md copied when there
OPTIONAL_FILES = ("README.md",)


def final_checkpoint(rd: Path, step: int) -> Path | None:
    """``checkpoint-<step>`` when it is complete and holds the adapter files, else None."""
    ckpt = Path(rd) / rundir.CHECKPOINTS_DIR / f"checkpoint-{step}"
    if ckpt.is_dir() and rundir.checkpoint_is_complete(ckpt) and all((ckpt / n).is_file() for n in ADAPTER_FILES):
        return ckpt
    return None


def save_final_adapter(model, tokenizer, rd: Path, step: int) -> str:
    """Write ``rd/adapter``: the adapter and the tokenizer. Returns "copied" or "saved" (how the weights got there)."""
    out = Path(rd) / rundir.ADAPTER_DIR
    out.mkdir(parents=True, exist_ok=True)
    ckpt = final_checkpoint(rd, step)
    how = "saved"
    if ckpt is not None:
        for name in ADAPTER_FILES + OPTIONAL_FILES:
            src = ckpt / name
            if src.is_file():
                tmp = out / f".{name}.tmp"
                shutil.copyfile(src, tmp)
                os.replace(tmp, out / name)
        how = "copied"
    else:
        model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return how
