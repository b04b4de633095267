"""The GPU-only speed paths, decided in one place and checked before anything is written.

* **Varlen attention:** with FlashAttention-2/3 on CUDA, transformers runs packed rows (``position_ids``
  restarting at each sample) through a varlen kernel, so attention costs what each sample costs and a
  packed row need not be capped at ``data.max_length``: the whole micro-batch goes into one row.
  Elsewhere (SDPA with a block mask, every CPU) a long row costs attention over its whole width, so
  rows stay capped (:func:`row_tokens`).
* **FlashAttention-2 when installed:** :func:`attention_implementation` asks for it on CUDA when the
  ``flash_attn`` package is importable; otherwise transformers' default (SDPA).
* **Fused kernels:** ``training.kernels: liger`` patches the model with Liger-Kernel's fused RMSNorm,
  RoPE and SwiGLU (Triton: CUDA only). :func:`check_kernels` refuses it in one line, before the run
  folder is touched, on CPU or when ``liger-kernel`` is not installed; :func:`use_liger` tells the
  Trainer (``TrainingArguments.use_liger_kernel``, which applies it to the model).
"""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")


def has_package(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def attention_implementation(device: str, installed=has_package) -> str | None:
    """``flash_attention_2`` on CUDA when flash-attn is installed; None (transformers' default) otherwise."""
    return "flash_attention_2" if device == "cuda" and installed("flash_attn") else None


def row_tokens(max_length: int, device: str, attn_implementation: str | None) -> int | None:
    """The cap on a packed row: None (the whole micro-batch in one row) with a varlen kernel on CUDA or
    per-sample attention (engine.segment_attention, CPU), else ``max_length`` (block-masked attention over
    a long row is quadratic)."""
    from .segment_attention import NAME as PER_SAMPLE

    if attn_implementation == PER_SAMPLE or (device == "cuda" and attn_implementation in VARLEN_ATTENTION):
        return None
    return max_length


def check_kernels(kernels: str, device: str, installed=has_package) -> None:
    """One-line ConfigError when ``training.kernels`` cannot run here."""
    if kernels != "liger":
        return
    if device != "cuda":
        raise ConfigError([("training.kernels", "liger needs a CUDA GPU (its kernels are Triton); "
                                                f"this run is on {device}: set training.kernels: none")])
    if not installed("liger_kernel"):
        raise ConfigError([("training.kernels", "liger needs the liger-kernel package: pip install liger-kernel, "
                                                "or set training.kernels: none")])


def use_liger(kernels: str, device: str) -> bool:
    return kernels == "liger" and device == "cuda"
