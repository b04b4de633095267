"""Rough training-memory estimate for a config, before loading anything.

Counts weights at their precision, LoRA weights with their gradients and
AdamW state, and activations for batch x length, against the memory of the
device found. Encoder tasks (extractive QA, classification on a BERT-style
base) are estimated by ``memory_encoder``: full fine-tuning or LoRA. Parameter counts come from the model's config.json (read as
JSON: no torch, no transformers), so the TUI can call this on every edit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Config

GB = 1024**3
ACTIVATION_BYTES_PER_HIDDEN = 34  # per token, per layer, per hidden unit, 16-bit (Korthikanti et al. 2022, no recompute)
DEMO_SHAPE = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "vocab_size": 49152,
              "num_attention_heads": 9, "num_key_value_heads": 3, "tie_word_embeddings": True}


@dataclass
class MemoryEstimate:
    params: int | None
    weights_gb: float
    lora_gb: float
    optimizer_gb: float
    activations_gb: float
    total_gb: float
    device_name: str
    device_total_gb: float | None
    grads_gb: float = 0.0  # encoder tasks: gradients (of every weight in full fine-tuning)
    method: str = "lora"  # "full" or "lora"
    layer_gb: float = 0.0  # one block's stored weights (what fsdp / ZeRO-3 gathers at a time)
    processes: int = 1  # training.processes; > 1: the figures are one device's (engine.memory_dist)
    strategy: str = "ddp"  # training.distributed as it applies (ddp on CPU)
    gathered_gb: float = 0.0
    shared_host: bool = False  # CPU processes: every copy in the same RAM

    def breakdown(self) -> str:
        from .memory_dist import breakdown_suffix

        text = self._parts()
        return text + breakdown_suffix(self) if self.processes > 1 else text

    def _parts(self) -> str:
        if self.method == "full":
            return (f"full fine-tune: weights {self.weights_gb:.2f} + gradients {self.grads_gb:.2f} + AdamW "
                    f"{self.optimizer_gb:.2f} + activations {self.activations_gb:.2f} GB")
        grads = f" + gradients {self.grads_gb:.2f}" if self.grads_gb else ""
        return (f"weights {self.weights_gb:.2f} + LoRA {self.lora_gb:.2f}{grads} + optimizer {self.optimizer_gb:.2f}"
                f" + activations {self.activations_gb:.2f} GB")

    @property
    def fits(self) -> bool | None:
        if self.params is None or self.device_total_gb is None:
            return None
        return self.needed_gb <= self.device_total_gb * 0.9

    @property
    def needed_gb(self) -> float:
        """What the device found must hold: one device's figure, or every CPU process's in the shared RAM."""
        return self.total_gb * self.processes if self.shared_host else self.total_gb

    def verdict(self) -> str:
        if self.params is None:
            return "unknown (the model's config.json is not available locally)"
        where = f"{self.device_total_gb:.1f} GB {self.device_name}" if self.device_total_gb else self.device_name
        word = {True: "should fit", False: "will NOT fit", None: "unknown"}[self.fits]
        if self.processes > 1:
            from .memory_dist import verdict_prefix

            each = f"{self.total_gb:.2f} GB each, {self.needed_gb:.2f} GB" if self.shared_host else f"{self.total_gb:.2f} GB"
            return f"{verdict_prefix(self)} ≈ {each} of {where}: {word}"
        return f"≈ {self.total_gb:.2f} GB of {where}: {word}"


def model_shape(name: str) -> dict | None:
    from .memory_encoder import MINILM_SHAPE
    from .model_files import DEMO_MODELS, demo_model_dir

    if name in DEMO_MODELS:
        p = demo_model_dir(name) / "config.json"
        return json.loads(p.read_text()) if p.exists() else dict(MINILM_SHAPE if "minilm" in name else DEMO_SHAPE)
    p = Path(name).expanduser()
    if p.is_dir() and (p / "config.json").exists():
        try:
            return json.loads((p / "config.json").read_text())
        except ValueError:
            return None
    return None


def device_memory() -> tuple[str, float | None]:
    """(name, GB): the CUDA GPU if torch is already loaded and sees one, else host RAM."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                props = torch.cuda.get_device_properties(0)
                return f"GPU {props.name}", props.total_memory / GB
        except Exception:
            pass
    try:
        return "RAM", os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError, AttributeError):
        return "RAM", None


def encoder_method(cfg: Config) -> str:
    """"full" or "lora": how an encoder task trains (qa.method; cls.method, whose auto is LoRA on a quantized base)."""
    if cfg.task == "extractive_qa":
        return cfg.qa.method
    return "lora" if cfg.cls.method == "lora" or (cfg.cls.method == "auto" and cfg.model.quantization != "none") else "full"


def estimate_memory(cfg: Config, device: tuple[str, float | None] | None = None) -> MemoryEstimate:
    """One device's estimate; with ``training.processes`` > 1, per device for ``training.distributed``."""
    from .memory_dist import per_device

    return per_device(_one_device(cfg, device), cfg)


def _one_device(cfg: Config, device: tuple[str, float | None] | None) -> MemoryEstimate:
    shape = model_shape(cfg.model.name)
    name, device_gb = device or device_memory()
    if shape is None:
        return MemoryEstimate(None, 0, 0, 0, 0, 0, name, device_gb)
    if cfg.task in ("extractive_qa", "classification"):
        from . import memory_encoder

        if memory_encoder.is_encoder(shape):
            return memory_encoder.estimate(cfg, shape, name, device_gb, encoder_method(cfg))
    h = shape.get("hidden_size", 0)
    inter = shape.get("intermediate_size", 4 * h)
    layers = shape.get("num_hidden_layers", 0)
    vocab = shape.get("vocab_size", 0)
    heads = shape.get("num_attention_heads", 1) or 1
    kv = shape.get("num_key_value_heads", heads) or heads
    kv_dim = h * kv // heads
    # Linear layers of one block: q, k, v, o, gate, up, down (in, out).
    linears = [(h, h), (h, kv_dim), (h, kv_dim), (h, h), (h, inter), (h, inter), (inter, h)]
    block = sum(i * o for i, o in linears)
    embed = vocab * h * (1 if shape.get("tie_word_embeddings") else 2)
    params = layers * block + embed
    bytes_per = {"4bit": 0.5 * 1.07, "8bit": 1.0 * 1.03}.get(cfg.model.quantization)
    compute_bytes = 2 if cfg.model.compute_dtype in ("bfloat16", "float16") or (cfg.model.compute_dtype == "auto" and "GPU" in name) else 4
    quantized = layers * block * (bytes_per or compute_bytes)
    weights = quantized + embed * compute_bytes
    targets = cfg.lora.target_modules
    chosen = linears if targets == "all-linear" else [
        lin for lin, n in zip(linears, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), strict=False) if n in targets
    ]
    lora_params = layers * sum(cfg.lora.r * (i + o) for i, o in chosen)
    lora = lora_params * 4
    optimizer = lora_params * (4 + 8)  # fp32 gradients + AdamW moments
    tokens = (cfg.training.max_tokens_per_batch or cfg.training.batch_size * cfg.data.max_length)
    per_layer = tokens * h * ACTIVATION_BYTES_PER_HIDDEN * compute_bytes / 2  # ~34 bytes per hidden unit at 16-bit
    if cfg.model.gradient_checkpointing:
        # Only each block's input is kept; one block's activations are rebuilt at a time in the backward pass.
        blocks = layers * tokens * h * compute_bytes + per_layer
    else:
        blocks = layers * per_layer
    activations = blocks + tokens * vocab * 4 * 2  # logits and their gradient, float32
    total = weights + lora + optimizer + activations + 0.3 * GB  # runtime overhead
    return MemoryEstimate(params, weights / GB, lora / GB, optimizer / GB, activations / GB, total / GB, name, device_gb,
                          layer_gb=block * (bytes_per or compute_bytes) / GB)
