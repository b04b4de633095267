"""The dequantized frozen base in one pass: each weight quantized to NF4 and straight back as it is loaded.

When training on CPU keeps the frozen 4-bit weights dequantized (``engine.dequant``), the 4-bit model is only a
way to get at the values it computes with: loading it (bitsandbytes quantizing every weight into
``Linear4bit`` modules) and then dequantizing every layer costs two passes over the weights before step 1.
Here the base is loaded in the compute dtype and each weight that bitsandbytes would quantize (transformers'
own choice of modules: every ``nn.Linear`` outside the head, tied weights and ``_keep_in_fp32_modules``) goes
through ``bitsandbytes.functional.quantize_4bit`` with the settings of ``engine.model.quantization_config``
(NF4, blocksize 64, double quantization) and back through ``dequantize_4bit``: bit-identical weights to the
two-pass path (tested on the tiny model; the demo model measured in docs/benchmarks.md), no ``Linear4bit``
ever built.

    model, path = load_for_training(cfg, model_cfg, device, dtype, say, fsdp=False)

Anything this path does not cover (a pre-quantized checkpoint, GPT-2 style ``Conv1D`` layers, FSDP, a
decision that keeps 4-bit, gradient checkpointing, which peft's
``prepare_model_for_kbit_training`` enables only on a model loaded in 4-bit) takes the two-pass path: ``load_base_model`` then ``prepare_for_training``.
"""

from __future__ import annotations

from .dequant import TrainingPath, available_ram_gb, prepare_for_training, training_path

BLOCKSIZE = 64  # bitsandbytes' and BitsAndBytesConfig's default 4-bit block


def _decide_before_load(cfg, device: str, dtype: str) -> TrainingPath:
    """``training_path`` before any weight is loaded: the parameter count from the config's shape (which
    counts the embeddings too, so ``auto`` can only be more careful than after the 4-bit load)."""
    params = estimate = None
    if cfg.model.dequantize_frozen == "auto":
        try:
            from .memory import estimate_memory

            est = estimate_memory(cfg)
            params, estimate = est.params, est.total_gb
        except Exception:  # no estimate: the two-pass path decides after its load
            return TrainingPath(False, "unknown before the load")
    return training_path(cfg.model.dequantize_frozen, device, cfg.model.quantization, dtype,
                         params=params, ram_gb=available_ram_gb(), estimate_gb=estimate)


def quantize_roundtrip(model) -> int | None:
    """Replace, in place, each weight bitsandbytes would quantize with its NF4 quantize→dequantize; the number
    of layers done, or None (nothing changed) when the model has layers this path does not handle."""
    import torch
    from bitsandbytes.functional import dequantize_4bit, quantize_4bit
    from transformers.pytorch_utils import Conv1D
    from transformers.quantizers.base import HfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    skip = HfQuantizer.get_modules_to_not_convert(model, None, getattr(model, "_keep_in_fp32_modules", None))
    chosen = [(n, m) for n, m in model.named_modules() if should_convert_module(n, skip)
              and (type(m) is torch.nn.Linear or isinstance(m, Conv1D))]
    if any(isinstance(m, Conv1D) for _, m in chosen):
        return None
    with torch.no_grad():
        for _, module in chosen:
            w = module.weight.data
            q, state = quantize_4bit(w.contiguous(), blocksize=BLOCKSIZE, compress_statistics=True,
                                     quant_type="nf4", quant_storage=torch.uint8)
            module.weight.data = dequantize_4bit(q, state).to(w.dtype)
            module.weight.requires_grad_(False)
            if module.bias is not None:
                module.bias.requires_grad_(False)
    return len(chosen)


def load_for_training(cfg, model_cfg, device: str, dtype: str, say=lambda text: None, fsdp: bool = False):
    """(base model, TrainingPath): the one-pass dequantized base when the path is decided before the load, else
    ``load_base_model`` + ``prepare_for_training`` as before."""
    import dataclasses

    from .model import load_base_model

    path = _decide_before_load(cfg, device, dtype)
    if path.dequantize and not fsdp and not model_cfg.gradient_checkpointing:  # peft enables it for 4-bit only
        model = load_base_model(dataclasses.replace(model_cfg, quantization="none"), say)
        pre_quantized = getattr(model.config, "quantization_config", None) is not None
        if not pre_quantized and quantize_roundtrip(model) is not None:
            say(f"Training path: {path.describe()}; NF4 values computed as the weights loaded (one pass)")
            return model, path
        del model  # not a case for one pass: the two-pass path below
    model = load_base_model(model_cfg, say, fsdp=fsdp)
    return model, prepare_for_training(model, cfg, device, dtype, say)
