"""Throughput figures: the GPU's peak FLOP/s from its name, and model FLOPs utilisation (MFU)."""

from __future__ import annotations

# Peak dense (no sparsity) bf16/fp16 tensor-core FLOP/s, matched against torch.cuda.get_device_name() by
# substring, most specific first ("H100 PCIe" before "H100", "A100" before "A10", "L40S" before "L4").
# The H100 SXM reports itself as "NVIDIA H100 80GB HBM3", so a plain "H100" means SXM. V100 and T4 have no
# bf16: their fp16 figure is used. GeForce cards: fp16 with fp32 accumulate (what training uses).
PEAK_DENSE_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200", 989e12),  # also GH200
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 125e12),
    ("A10", 125e12),
    ("RTX 6000 Ada", 364e12),
    ("A6000", 155e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),
    ("T4", 65e12),
)


def peak_flops(device_name: str | None) -> float | None:
    """The GPU's peak dense bf16/fp16 FLOP/s from its name, or None (unknown GPU, CPU)."""
    if not device_name:
        return None
    name = device_name.upper()
    for key, flops in PEAK_DENSE_FLOPS:
        if key.upper() in name:
            return flops
    return None


def model_flops_utilization(total_params: int, tokens_per_second: float | None, peak: float | None) -> float | None:
    """Model FLOPs utilisation: 4 x total parameters x tokens/s / the device's peak FLOP/s.

    A dense transformer costs about 2N FLOPs per token forward and 4N backward (2N for the gradient
    with respect to the activations, 2N for the gradient with respect to the weights): the usual 6N.
    LoRA and QLoRA freeze the base, so no weight gradient is computed for it: 2N + 2N = 4N per trained
    token; the LoRA matrices' own FLOPs are negligible. Attention's sequence-length term is left out,
    as in the usual 6N figure, and recomputation under gradient checkpointing does not count (model
    FLOPs, not hardware FLOPs). ``total_params`` counts 4-bit weights at their logical size.
    None when any input is unknown.
    """
    if not peak or not tokens_per_second or total_params <= 0:
        return None
    return 4.0 * total_params * tokens_per_second / peak


def cuda_peak_flops(device: str) -> float | None:
    """peak_flops() of the first CUDA device when training on CUDA; None on CPU."""
    if device != "cuda":
        return None
    try:
        import torch

        return peak_flops(torch.cuda.get_device_name(0))
    except Exception:
        return None
