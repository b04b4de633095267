"""Frozen 4-bit weights dequantized once: plain matmuls over exactly the values the 4-bit model uses.

A QLoRA base never changes, yet bitsandbytes dequantizes every 4-bit weight in
every forward (and again in every backward). On a GPU that is what its fused
kernels are for; on CPU it is pure cost: generating from a 4-bit run took
seconds a token where the same model in 16-bit streamed. Here each
``bnb.nn.Linear4bit`` is replaced, before any forward pass, by a plain
``nn.Linear`` holding ``bitsandbytes.functional.dequantize_4bit`` of its weight
in the layer's compute dtype: the very tensor bitsandbytes' own
dequantize-then-matmul path multiplies by (the path training takes), so the
logits are the same up to float rounding (tested), and a LoRA adapter sits on
top unchanged (module names stay the same; peft wraps ``nn.Linear``).

    n = dequantize_frozen(model)        # in place; the number of layers replaced

Used by generation, evaluation and the Playground on CPU
(:func:`for_cpu_inference`) and by training on CPU when
``model.dequantize_frozen`` says so (:func:`prepare_for_training`, deciding
with :func:`training_path`): the loss is the 4-bit path's (tested over 10
steps) and the adapter it saves loads on the 4-bit base unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

# "auto" dequantizes for training when the whole base in the compute dtype plus the run's estimate stays under
# this share of the machine's RAM.
AUTO_RAM_SHARE = 0.5


def is_linear4bit(module) -> bool:
    try:
        import bitsandbytes as bnb
    except ImportError:  # no bitsandbytes: nothing can be 4-bit
        return False
    return isinstance(module, bnb.nn.Linear4bit)


def dequantized_linear(module, dtype=None):
    """A plain ``nn.Linear`` (frozen) with the dequantized weight of ``module`` (a bnb Linear4bit)."""
    import torch
    from bitsandbytes.functional import dequantize_4bit

    weight = module.weight
    state = weight.quant_state
    data = weight.data
    if getattr(state, "packing_format_for_cpu", False):  # bitsandbytes repacked it for its CPU inference kernel
        from bitsandbytes.nn.modules import _convert_weight_packed_for_cpu_inverse

        data, state = _convert_weight_packed_for_cpu_inverse(data, state)
        weight.data, weight.quant_state = data, state
    dtype = dtype or module.compute_dtype or state.dtype
    with torch.no_grad():
        w = dequantize_4bit(data, state).to(dtype)
        out_features, in_features = w.shape
        # skip_init: no random initialisation, so the global RNG (and with it the LoRA init after) is untouched
        linear = torch.nn.utils.skip_init(torch.nn.Linear, in_features, out_features, bias=module.bias is not None,
                                          device=w.device, dtype=dtype)
        linear.weight.copy_(w)
        if module.bias is not None:
            linear.bias.copy_(module.bias.data.to(dtype))
    linear.weight.requires_grad_(False)
    if linear.bias is not None:
        linear.bias.requires_grad_(False)
    return linear


def dequantize_frozen(model, dtype=None) -> int:
    """Replace every bnb ``Linear4bit`` under ``model`` with its dequantized ``nn.Linear``, in place.

    ``dtype`` defaults to each layer's compute dtype. Returns how many layers were replaced.
    """
    targets = [(name, module) for name, module in model.named_modules() if is_linear4bit(module)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, dequantized_linear(module, dtype))
    return len(targets)


def for_cpu_inference(model, device: str, quantization: str, say=lambda text: None):
    """On CPU, a 4-bit base gets its frozen weights dequantized once (fast batch-1 matmuls); on CUDA, as is."""
    if device != "cpu" or quantization != "4bit":
        return model
    n = dequantize_frozen(model)
    if n:
        say(f"CPU: {n} frozen 4-bit layers dequantized once for fast generation (same values the 4-bit model computes with)")
    return model


@dataclass(frozen=True)
class TrainingPath:
    """Which matmuls training runs over the frozen base, and why (said in the run's start event)."""

    dequantize: bool
    reason: str

    @property
    def name(self) -> str:
        return "dequantized-frozen" if self.dequantize else "bitsandbytes-4bit"

    def describe(self) -> str:
        what = "dequantized once (plain matmuls)" if self.dequantize else "as loaded"
        return f"frozen weights {what}: {self.reason}"


def dequantized_gb(params: int | None, dtype: str) -> float | None:
    if params is None:
        return None
    return params * {"float32": 4, "bfloat16": 2, "float16": 2}.get(dtype, 4) / 1024**3


def training_path(setting: str, device: str, quantization: str, dtype: str, *, params: int | None,
                  ram_gb: float | None, estimate_gb: float | None = None) -> TrainingPath:
    """Decide whether training keeps the frozen 4-bit weights dequantized (``model.dequantize_frozen``).

    ``on`` and ``off`` are taken as given (``on`` only means something for a 4-bit base on CPU); ``auto``
    dequantizes on CPU when the dequantized base plus the run's memory estimate uses at most
    ``AUTO_RAM_SHARE`` of RAM. On CUDA the 4-bit path stays: memory is what QLoRA is for there.
    """
    if quantization != "4bit":
        return TrainingPath(False, f"the base is not 4-bit ({quantization})")
    if device != "cpu":
        return TrainingPath(False, "4-bit kernels on CUDA (dequantizing is a CPU option)")
    if setting == "off":
        return TrainingPath(False, "model.dequantize_frozen: off")
    if setting == "on":
        return TrainingPath(True, "model.dequantize_frozen: on")
    need = dequantized_gb(params, dtype)
    if need is None or ram_gb is None:
        return TrainingPath(False, "auto: the model's size or the RAM is unknown, keeping 4-bit")
    total = need + (estimate_gb or 0.0)
    if total <= ram_gb * AUTO_RAM_SHARE:
        return TrainingPath(True, f"auto: the dequantized base ({need:.2f} GB {dtype}) fits in {ram_gb:.0f} GB RAM")
    return TrainingPath(False, f"auto: the dequantized base ({need:.2f} GB {dtype}) would not fit comfortably "
                               f"in {ram_gb:.0f} GB RAM, keeping 4-bit")


def frozen_4bit_params(model) -> int:
    """Logical parameter count of the 4-bit layers under ``model``."""
    return sum(m.in_features * m.out_features for m in model.modules() if is_linear4bit(m))


def available_ram_gb() -> float | None:
    try:
        import psutil

        return psutil.virtual_memory().available / 1024**3
    except Exception:
        from .memory import device_memory

        return device_memory()[1]


def prepare_for_training(model, cfg, device: str, dtype: str, say=lambda text: None) -> TrainingPath:
    """Decide the frozen weights' path for this run (``model.dequantize_frozen``) and apply it, in place,
    before the adapter is added and before any forward pass."""
    params = frozen_4bit_params(model)
    estimate = None
    if cfg.model.dequantize_frozen == "auto" and params:
        try:
            from .memory import estimate_memory

            estimate = estimate_memory(cfg).total_gb
        except Exception:  # no estimate: the dequantized weights alone decide
            estimate = None
    path = training_path(cfg.model.dequantize_frozen, device, cfg.model.quantization, dtype,
                         params=params or None, ram_gb=available_ram_gb(), estimate_gb=estimate)
    if path.dequantize:
        dequantize_frozen(model)
    say(f"Training path: {path.describe()}")
    return path
