"""Varlen attention without a varlen kernel: each packed sample attends on its own (CPU training).

A padding-free row holds several samples end to end, ``position_ids`` restarting at each. transformers'
SDPA path separates them with a block-causal mask over the whole row, which costs attention over the
row's full width and keeps SDPA off its mask-free causal kernel; that is why rows were capped at
``data.max_length`` where no FlashAttention varlen kernel exists, and a capped row ends in filler that
every layer computes (a seventh of the demo batch's positions). This attention runs SDPA once per sample
(``is_causal``, no mask) over the sample's own span, so a micro-batch can sit in one uncapped row with no
filler and attention costs what each sample costs, as FlashAttention's varlen kernel does on a GPU.

It is registered with transformers' attention and mask interfaces as ``tunedeck_segments``
(:func:`use_segment_attention`) and mirrors SDPA exactly otherwise: a padding mask, a cache or rows
without ``position_ids`` go through transformers' own ``sdpa_attention_forward``. The logits and the
loss equal the block-masked SDPA's (tests/test_segment_attention.py).
"""

from __future__ import annotations

import functools

NAME = "tunedeck_segments"
FLASH_STEPS = True  # CPU: every sample through SDPA's flash kernel directly, in one autograd step (_segments)
_registered = False


def segment_bounds(position_ids) -> list[list[tuple[int, int]]]:
    """Per row, the ``(start, end)`` of each sample: a sample starts where its position is 0."""
    import torch

    out = []
    width = position_ids.shape[-1]
    for row in position_ids.reshape(-1, width):
        starts = torch.nonzero(row == 0).flatten().tolist()
        if not starts or starts[0] != 0:
            starts = [0, *starts]
        out.append(list(zip(starts, [*starts[1:], width], strict=True)))
    return out


def segment_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                              scaling: float | None = None, position_ids=None, **kwargs):
    """transformers' attention signature: query ``(B, H, L, D)``, key/value ``(B, H_kv, L, D)``; returns
    ``((B, L, H, D), None)``."""
    import torch
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    length = query.shape[2]
    if attention_mask is not None or position_ids is None or key.shape[2] != length or kwargs.get("position_bias") is not None:
        if attention_mask is not None and attention_mask.dim() == 2:  # flash-style 2D padding mask: SDPA's own
            causal = torch.ones(length, key.shape[2], dtype=torch.bool, device=query.device).tril(key.shape[2] - length)
            attention_mask = causal[None, None] & attention_mask[:, None, None, :].bool()
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **{k: v for k, v in kwargs.items() if k != "is_causal"})
    causal = getattr(module, "is_causal", True)
    spans = segment_bounds(position_ids.expand(query.shape[0], -1))
    if FLASH_STEPS and dropout == 0 and query.device.type == "cpu" and _flash_ops() is not None:
        return _segments().apply(query, key, value, spans, scaling, causal), None  # grouped heads: the kernel's own
    # Grouped heads: SDPA's own GQA reads each key/value head for its query heads (no repeat_kv copy; 12%
    # less attention time on the demo model's 9/3 heads).
    gqa = {"enable_gqa": True} if getattr(module, "num_key_value_groups", 1) > 1 else {}
    rows = []
    for b, bounds in enumerate(spans):
        parts = [F.scaled_dot_product_attention(query[b:b + 1, :, s:e], key[b:b + 1, :, s:e], value[b:b + 1, :, s:e],
                                                dropout_p=dropout, scale=scaling, is_causal=causal and e - s > 1, **gqa)
                 for s, e in bounds]
        rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def _flash_ops():
    """SDPA's CPU flash kernel and its backward, as PyTorch ships them (None where it does not)."""
    import torch

    try:
        return (torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
                torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default)
    except (AttributeError, RuntimeError):
        return None


@functools.cache
def _segments():
    """The autograd Function, made on first use (this module imports torch only when attention runs)."""
    import torch

    class Segments(torch.autograd.Function):
        """Each sample's causal attention by SDPA's CPU flash kernel, forward and backward, in one autograd step.

        Slicing each sample out of q, k and v and joining the outputs made autograd allocate a zeroed tensor of
        the whole row per sample and add them up in the backward, and copy the output twice in the forward.
        Here each sample's output goes straight into its place in the ``(B, L, H, D)`` result and each sample's
        gradients into their places in q's, k's and v's: the kernel's own values, no extra passes."""

        @staticmethod
        def forward(ctx, query, key, value, spans, scale, causal):
            flash, _ = _flash_ops()
            out = query.new_empty(query.shape[0], query.shape[2], query.shape[1], query.shape[3])
            saved = []
            for b, bounds in enumerate(spans):
                for s, e in bounds:
                    o, lse = flash(query[b:b + 1, :, s:e], key[b:b + 1, :, s:e], value[b:b + 1, :, s:e], 0.0,
                                   causal and e - s > 1, scale=scale)
                    out[b:b + 1, s:e].copy_(o.transpose(1, 2))
                    saved += [o, lse]
            ctx.save_for_backward(query, key, value, *saved)
            ctx.spans, ctx.scale, ctx.causal = spans, scale, causal
            return out

        @staticmethod
        def backward(ctx, grad):
            _, flash_backward = _flash_ops()
            query, key, value, *saved = ctx.saved_tensors
            grads = [torch.empty_like(t) for t in (query, key, value)]
            i = 0
            for b, bounds in enumerate(ctx.spans):
                for s, e in bounds:
                    parts = flash_backward(grad[b:b + 1, s:e].transpose(1, 2), query[b:b + 1, :, s:e],
                                           key[b:b + 1, :, s:e], value[b:b + 1, :, s:e], saved[i], saved[i + 1], 0.0,
                                           ctx.causal and e - s > 1, scale=ctx.scale)
                    for whole, part in zip(grads, parts, strict=True):
                        whole[b:b + 1, :, s:e].copy_(part)
                    i += 2
            return *grads, None, None, None

    return Segments


def register() -> None:
    """Make ``tunedeck_segments`` known to transformers (attention and mask); idempotent."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

    AttentionInterface.register(NAME, segment_attention_forward)
    # No 4D block mask: like FlashAttention, a 2D padding mask when there is one, else None (position_ids decide)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, flash_attention_mask)
    _registered = True


def use_segment_attention(model) -> bool:
    """Switch a model on SDPA to per-sample attention; False (nothing changed) for any other attention or a
    model that does not take transformers' attention interface."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or not hasattr(model, "set_attn_implementation"):
        return False
    register()
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, TypeError, AttributeError):
        return False
    return getattr(model.config, "_attn_implementation", None) == NAME


def packed_rows(model, device: str, batching: str, max_length: int) -> tuple[int | None, str | None]:
    """How padding-free micro-batches are laid out: the cap on a packed row (None: one uncapped row, no
    filler; engine.gpu_paths.row_tokens decides) and the words for the run log. On CPU an SDPA model
    switches to per-sample attention here; on CUDA a FlashAttention varlen kernel does the same; elsewhere
    rows stay capped."""
    from .gpu_paths import row_tokens

    if batching != "padding_free":
        return None, None
    if device == "cpu":
        use_segment_attention(model)
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    cap = row_tokens(max_length, device, impl)
    if cap is not None:
        return cap, f"Packed rows: up to {cap} tokens a row, block-masked attention"
    how = "attention per sample" if impl == NAME else "varlen attention"
    return None, f"Packed rows: each micro-batch in one row, {how} (no filler)"
