"""Matrix products inside CPU training's autograd Functions through oneDNN (same float32 math, a faster kernel).

PyTorch's CPU ``mm``/``linear`` go to MKL's ``sgemm``; PyTorch also ships oneDNN, whose float32 matmul
(``torch.ops.mkldnn._linear_pointwise``, the kernel inductor's CPU path uses) ran 10-25% faster on the shapes
of a training step on this project's CPUs, with float32 accumulation (error against float64 about 1e-6 of the
largest value; MKL's 4e-7). Training on CPU takes it for the fused LoRA layer's products with the frozen
weight (``x @ W.T`` forward, ``g @ W`` backward) and most of its rank-16 ones (engine.lora_fused), and for the
chunked head's hidden-state gradient (engine.head_loss), with each weight as it is stored (no packed copy, no
extra memory).

:func:`linear` is ``F.linear`` where oneDNN is missing, disabled (``TUNEDECK_ONEDNN=0``) or its first result
on a probe differs from ``F.linear``'s.
"""

from __future__ import annotations

import os

import torch

_checked: bool | None = None


def _kernel():
    """oneDNN's float32 linear as PyTorch ships it (AttributeError where it does not)."""
    return torch.ops.mkldnn._linear_pointwise


def available() -> bool:
    """Whether :func:`linear` runs on oneDNN in this process (checked once, on a small probe)."""
    global _checked
    if _checked is None:
        _checked = False
        if os.environ.get("TUNEDECK_ONEDNN", "1") != "0" and torch.backends.mkldnn.is_available():
            try:
                op = _kernel()
                gen = torch.Generator().manual_seed(0)
                x, w = torch.randn(8, 32, generator=gen), torch.randn(16, 32, generator=gen)
                _checked = bool(torch.allclose(op(x, w, None, "none", [], ""), torch.nn.functional.linear(x, w),
                                               rtol=1e-5, atol=1e-5))
            except (AttributeError, RuntimeError):
                _checked = False
    return _checked


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight.T + bias`` (``F.linear``), on oneDNN for float32 CPU tensors where :func:`available`. The oneDNN
    op has no autograd formula, so anything autograd would follow takes ``F.linear``: it is meant for the inside
    of an ``autograd.Function`` (engine.lora_fused, engine.head_loss)."""
    tracked = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                           or (bias is not None and bias.requires_grad))
    cpu32 = all(t.dtype == torch.float32 and t.device.type == "cpu" for t in (x, weight))
    if not tracked and cpu32 and x.numel() and x.dim() >= 2 and available():
        return _kernel()(x, weight, bias, "none", [], "")
    return torch.nn.functional.linear(x, weight, bias)
