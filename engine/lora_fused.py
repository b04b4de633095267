"""A LoRA linear layer in one autograd step: the frozen matmul, the low-rank update and its backward.

peft computes a LoRA layer as ``base(x) + lora_B(lora_A(dropout(x))) * scaling``: besides the three
matmuls, a multiply and an add over the whole ``(tokens, out_features)`` output in the forward, the same
again in the backward, and half a dozen autograd nodes a layer. On CPU, where those passes are memory
bound, that is a share of a step (210 LoRA layers in the demo model). Here the layer is one
``torch.autograd.Function``: the forward adds the scaled update into the base output inside the matmul
(``addmm_(alpha=scaling)``); the backward is five matmuls and nothing else:

    gB      = scaling * g @ B          (scaled here, once: a (tokens, r) tensor)
    grad_x  = g @ W                    (the frozen weight: no gradient of its own)
    grad_B  = scaling * g^T @ h        (h = A x_dropped, kept from the forward)
    grad_A  = gB^T @ x_dropped
    grad_xd = gB @ A                   (back through the dropout, which stays its own module)

With no dropout (``x_dropped`` is ``x``) the last one is added into ``grad_x`` in place (``addmm_``) instead
of autograd adding two gradients. Every product but ``grad_B``'s (whose transposed left operand oneDNN runs
slower) runs on oneDNN where PyTorch ships it (engine.onednn: the same float32 math, 10-25% faster than MKL on
the frozen weight's shapes here, and on the rank-16 ones too).

The dropout is still the layer's own module (engine.lora_dropout's shared mask works unchanged) and the
weights are peft's, so the adapter's files are the same; the values equal peft's forward and gradients to
float rounding (tests/test_lora_fused.py). Used in training on CPU where the base is a plain frozen
``nn.Linear`` (a dequantized or 16/32-bit base) with one plain LoRA adapter active; anything else (DoRA,
several adapters, bitsandbytes layers, eval, merged weights, CUDA) runs peft's own forward.

    n = fuse_lora_linear(model)   # after get_peft_model; the number of layers that run fused
"""

from __future__ import annotations

import torch

from . import onednn


class _LoraLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, xd, weight, bias, lora_a, lora_b, scaling: float):
        h = onednn.linear(xd, lora_a)  # (..., r)
        y = onednn.linear(x, weight, bias)
        y.view(-1, y.shape[-1]).addmm_(h.reshape(-1, h.shape[-1]), lora_b.t(), alpha=scaling)
        ctx.save_for_backward(xd, h, weight, lora_a, lora_b)
        ctx.scaling = scaling
        ctx.same = xd is x
        return y

    @staticmethod
    def backward(ctx, grad):
        xd, h, weight, lora_a, lora_b = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g = grad.reshape(-1, grad.shape[-1])
        gb = onednn.linear(g, lora_b.t()).mul_(ctx.scaling)  # (tokens, r): scaled once, not in each product
        grad_b = (g.t() @ h.reshape(-1, h.shape[-1])).mul_(ctx.scaling) if needs[5] else None
        grad_a = onednn.linear(gb.t(), xd.reshape(-1, xd.shape[-1]).t()) if needs[4] else None
        grad_x = onednn.linear(g, weight.t()) if needs[0] else None
        grad_xd = None
        if ctx.same and grad_x is not None:  # no dropout: the update's path into x's gradient in the same tensor
            grad_x.addmm_(gb, lora_a)
        elif needs[1]:
            grad_xd = onednn.linear(gb, lora_a.t()).view(xd.shape)
        if grad_x is not None:
            grad_x = grad_x.view(*grad.shape[:-1], weight.shape[1])
        return grad_x, grad_xd, None, None, grad_a, grad_b, None


def _fused_forward(layer, original):
    """The replacement ``forward`` of one peft ``lora.Linear`` (``original`` wherever it must)."""

    def forward(x, *args, **kwargs):
        if args or kwargs or not layer.training or layer.disable_adapters or layer.merged or x.device.type != "cpu":
            return original(x, *args, **kwargs)
        active = [a for a in layer.active_adapters if a in layer.lora_A]
        if len(active) != 1 or active[0] in layer.lora_variant:
            return original(x, *args, **kwargs)
        name = active[0]
        a, b, base = layer.lora_A[name], layer.lora_B[name], layer.base_layer
        if x.dtype != a.weight.dtype or x.dtype != base.weight.dtype or base.weight.requires_grad:
            return original(x, *args, **kwargs)
        xd = layer.lora_dropout[name](x)
        return _LoraLinear.apply(x, xd, base.weight, base.bias, a.weight, b.weight, float(layer.scaling[name]))

    return forward


def fusable(module) -> bool:
    """A peft LoRA ``Linear`` over a plain frozen ``nn.Linear`` with bias-free A and B."""
    try:
        from peft.tuners.lora.layer import Linear as LoraLinear
    except ImportError:
        return False
    if type(module) is not LoraLinear:
        return False
    base = module.base_layer
    if type(base) is not torch.nn.Linear or base.weight.requires_grad or getattr(module, "fan_in_fan_out", False):
        return False
    return all(type(m) is torch.nn.Linear and m.bias is None
               for adapters in (module.lora_A, module.lora_B) for m in adapters.values())


def fuse_lora_linear(model) -> int:
    """Give every fusable LoRA layer under ``model`` the one-step forward; returns how many."""
    n = 0
    for module in model.modules():
        if fusable(module) and "forward" not in module.__dict__:
            module.forward = _fused_forward(module, module.forward)
            n += 1
    return n
