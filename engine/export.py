"""Take a run's result elsewhere: a merged model folder, or the formatted training data.

``export_merged`` folds the LoRA adapter into an unquantized copy of the base
(a 4-bit run's base is loaded unquantized first: the merge needs real weights)
and writes a plain transformers folder (safetensors + tokenizer)::

    export_merged("runs/20261124-093000-demo", "merged/")
    AutoModelForCausalLM.from_pretrained("merged/")      # no peft needed

``export_data`` writes what the model was trained on, as JSON Lines with one
``{"prompt", "completion", "prompt_tokens", "completion_tokens", "truncated"}``
object per sample, rendered and tokenised by the same code as training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import rundir
from .config import Config
from .errors import RunError

Progress = Callable[[str], None]


def _dir_nonempty(p: Path) -> bool:
    return p.exists() and (not p.is_dir() or any(p.iterdir()))


def check_target(out: str | os.PathLike, *, folder: bool = True) -> None:
    """Raise RunError (one line) when ``out`` cannot be written without overwriting something.

    A merged model (``folder=True``) needs a new or empty folder; a data file a
    path that is not a folder and not an existing non-empty file.
    """
    p = Path(out)
    if str(out).strip() == "":
        raise RunError("no output path given")
    if folder and _dir_nonempty(p):
        raise RunError(f"{p}: already exists and is not empty; choose a new folder (nothing was overwritten)")
    if not folder:
        if p.is_dir():
            raise RunError(f"{p}: is a folder; give a file name such as {p / 'samples.jsonl'}")
        if p.exists() and p.stat().st_size > 0:
            raise RunError(f"{p}: already exists and is not empty; choose a new file name (nothing was overwritten)")


def refuse_input_data(out: str | os.PathLike, cfg: Config) -> None:
    """RunError when ``out`` is the run's own training or validation data: never written over, even with overwrite."""
    p = Path(out)
    for field, given in (("data.path", cfg.data.path), ("data.val_path", cfg.data.val_path)):
        if not given:
            continue
        src = Path(str(given)).expanduser()
        try:
            same = src.exists() and p.exists() and os.path.samefile(src, p)
        except OSError:
            same = False
        if same or (not p.exists() and src.resolve() == p.resolve()):
            raise RunError(f"{p}: is this run's own {field}; it is never overwritten; choose another output file")


def merge_dtype(cfg: Config, model_dir: str) -> str:
    """The dtype to merge and save in: the run's explicit compute dtype, else the base's own (float32 when unknown)."""
    if cfg.model.compute_dtype != "auto":
        return cfg.model.compute_dtype
    try:
        data = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "float32"
    dtype = data.get("dtype") or data.get("torch_dtype")
    return dtype if dtype in ("float32", "bfloat16", "float16") else "float32"


def _load_base_for_merge(cfg: Config, dtype: str, original_base: bool, say):
    """The base to merge into, in ``dtype`` on CPU: as trained (a quantized base dequantized), or the original."""
    import torch

    from .model import load_base_model

    quant = cfg.model.quantization
    if quant == "none" or original_base:
        why = f" (the run trained on a {quant} base; merging into the original weights)" if quant != "none" else ""
        say(f"Loading {cfg.model.name} in {dtype} on cpu{why}")
        return load_base_model(dataclasses.replace(cfg.model, quantization="none", device="cpu", compute_dtype=dtype), say)
    say(f"Loading {cfg.model.name} {quant} as the run trained it, then dequantizing to {dtype}")
    # Dequantize before any forward pass: bitsandbytes' CPU kernels repack the weights on their first use.
    quantized = load_base_model(dataclasses.replace(cfg.model, device="cpu", compute_dtype="float32"), say)
    try:
        base = quantized.dequantize()
    except (AttributeError, NotImplementedError, ValueError, RuntimeError) as e:
        raise RunError(f"{cfg.model.name}: cannot dequantize the {quant} base ({str(e).splitlines()[0][:160]}); "
                       "export with --original-base to merge into the original weights") from None
    return base.to(getattr(torch, dtype))


@dataclass
class MergedExport:
    out_dir: Path
    dtype: str
    adapter: Path
    seconds: float


def export_merged(run_dir: str | os.PathLike, out_dir: str | os.PathLike, on_progress: Progress | None = None, *,
                  checkpoint=None, dtype: str | None = None, original_base: bool = False) -> MergedExport:
    """Merge the run's adapter into its base on CPU and save a standalone model folder.

    A run that trained on a 4-bit base learned its adapter against the 4-bit
    weights, so by default the base is loaded 4-bit as trained and dequantized
    before merging: the export computes what the run's model computed.
    ``original_base=True`` merges into the original full-precision weights
    instead (the adapter then sits on weights it never saw).
    """
    from .infer import adapter_source, run_config

    say = on_progress or (lambda text: None)
    t0 = time.time()
    rd = Path(run_dir)
    out = Path(out_dir)
    check_target(out)
    adapter = adapter_source(rd, checkpoint)  # both refusals come before anything heavy is imported

    from peft import PeftModel

    from .model import load_tokenizer, local_model_dir

    cfg = run_config(rd)
    from .tasks.stages import weights_model

    weights = dataclasses.replace(cfg, model=weights_model(rd, cfg.model))  # a stage: its start point
    source = local_model_dir(weights.model, say)
    dtype = dtype or merge_dtype(cfg, source)
    base = _load_base_for_merge(weights, dtype, original_base, say)
    say(f"Applying adapter {adapter}")
    try:
        model = PeftModel.from_pretrained(base, str(adapter), is_trainable=False)
    except (ValueError, OSError, RuntimeError, KeyError) as e:
        raise RunError(f"{adapter}: cannot load the adapter onto {cfg.model.name}: {str(e).splitlines()[0][:200]}") from None
    say("Merging the adapter into the base weights")
    try:
        merged = model.merge_and_unload(safe_merge=True)
    except ValueError as e:
        raise RunError(f"{rd.name}: merging produced broken weights ({str(e).splitlines()[0][:160]}); the adapter may hold NaNs") from None
    merged.config.use_cache = True  # training switched the cache off; generation wants it
    tokenizer = load_tokenizer(cfg.model, say)
    from .chat_template import chat_template_for

    tokenizer.chat_template = chat_template_for(cfg, tokenizer)  # apply_chat_template gives the trained prompt

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        say(f"Saving safetensors to {out}")
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info = {"base_model": cfg.model.name, "run": str(rd.resolve()), "adapter": str(Path(adapter).resolve()),
                "dtype": dtype, "trained_quantization": cfg.model.quantization,
                "merged_into": "original" if original_base or cfg.model.quantization == "none" else "dequantized",
                "exported": time.time()}
        (tmp / "tunedeck_export.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if out.exists():
            if _dir_nonempty(out):  # someone wrote there meanwhile
                raise RunError(f"{out}: already exists and is not empty; choose a new folder (nothing was overwritten)")
            out.rmdir()
        os.chmod(tmp, rundir.default_mode(0o777))  # mkdtemp makes 0700
        for f in tmp.rglob("*"):  # safetensors writes model.safetensors 0600: the umask's mode, as for other files
            if f.is_file():
                os.chmod(f, rundir.default_mode(0o666))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"Merged model written to {out}")
    return MergedExport(out, dtype, Path(adapter), round(time.time() - t0, 2))


@dataclass
class DataExport:
    path: Path
    rows: int = 0
    written: int = 0
    truncated: int = 0
    dropped: int = 0  # rows with no trained token (not written)


def export_data(run: str | os.PathLike | Config, out_jsonl: str | os.PathLike, on_progress: Progress | None = None,
                *, tokenizer: Any = None, overwrite: bool = True) -> DataExport:
    """Write the formatted samples (prompt/completion split at the first trained segment) as JSON Lines.

    ``run`` is a run folder (its config.yaml is used) or a Config. Rows with
    nothing to train are left out, as training leaves them out. With
    ``overwrite=False`` an existing non-empty file is refused (RunError).
    """
    import jsonlines

    from .data import load_dataset
    from .infer import run_config
    from .model import load_tokenizer
    from .rundir import atomic_path
    from .tasks import get_task
    from .tokenize import prompt_ids

    say = on_progress or (lambda text: None)
    cfg = run if isinstance(run, Config) else run_config(Path(run))
    out = Path(out_jsonl)
    refuse_input_data(out, cfg)
    if not overwrite:
        check_target(out, folder=False)
    if tokenizer is None:
        tokenizer = load_tokenizer(cfg.model, say)
    raw, info = load_dataset(cfg.data)
    stats = DataExport(out)
    with atomic_path(out) as tmp, jsonlines.open(tmp, mode="w") as writer:
        for _, sample in get_task(cfg.task).samples(raw, info, cfg, tokenizer, cfg.data.path):
            stats.rows += 1
            if not sample.trainable:  # the trainer drops these too
                stats.dropped += 1
                continue
            text = sample.rendered.text
            prompt = sample.rendered.prompt
            prompt_tokens = min(len(prompt_ids(prompt, tokenizer)), len(sample.input_ids))
            writer.write({
                "prompt": prompt,
                "completion": text[len(prompt):],
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(sample.input_ids) - prompt_tokens,
                "truncated": bool(sample.truncated),
            })
            stats.written += 1
            stats.truncated += bool(sample.truncated)
    say(f"Wrote {stats.written} samples to {out} ({stats.truncated} truncated, {stats.dropped} without a trained token left out)")
    return stats
