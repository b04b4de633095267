"""The vocabulary projection and the cross-entropy in one pass over a kept buffer (CPU training).

A causal LM's last step is its largest single tensor: ``(trained tokens, vocabulary)`` logits, 442 x 49,152
floats (87 MB) on the demo batch. Computed as ``lm_head`` then ``cross_entropy``, autograd holds the logits
and the log-softmax for the backward and allocates a gradient of the same size there: four such tensors a
step, each too big for the C allocator to keep (glibc maps anything over 32 MB afresh), so every one of them
is new memory the kernel must fault in and zero, page by page. On this project's CPUs that cost more than
the two matrix products themselves (a step took 94,000 page faults; none now).

Here the loss is taken a chunk of positions at a time (as Liger's fused linear cross-entropy does on GPUs):
each chunk's logits go into one buffer of at most ``CHUNK_BYTES``, kept on the head from step to step, the
softmax is taken in place, and since the head is frozen the gradient with respect to the hidden states is
computed right there, in the forward (``(softmax - onehot) @ W``, on oneDNN where engine.onednn has it). The
logits' product stays MKL's, since only ``torch.mm`` writes into the kept buffer, and is taken ``COLUMNS``
vocabulary entries at a time (10-20% faster than in one call here). The backward only scales the gradient.
The loss and the gradients equal ``F.cross_entropy(lm_head(h), targets, reduction="sum")`` to float rounding
(tests/test_head_loss.py). On the demo model a step is about 10% faster and its peak memory lower.

Used by engine.trainer.completion_only_loss in training on CPU when the head is a plain frozen float32
``nn.Linear`` over a decoder of a known plain architecture (no logit soft-capping or scaling) and the model is
not wrapped for DDP; anything else takes the model's own head.
"""

from __future__ import annotations

import torch

from . import onednn

CHUNK_BYTES = 64 * 2**20  # one chunk's logits at most (the demo batch: two even chunks of 221 rows)
COLUMNS = 2048  # the logits' product, this many vocabulary entries at a time (into the chunk's buffer)
# Causal LMs whose head is exactly ``lm_head(hidden)``: no logit soft-capping, scaling or extra terms.
PLAIN_HEADS = {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "olmo", "olmo2", "smollm3"}


class _HeadLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, buf):
        n, rows = hidden.shape[0], buf.shape[0]
        grad = torch.empty_like(hidden) if hidden.requires_grad else None
        loss = hidden.new_zeros(())
        for s in range(0, n, rows):
            h, t = hidden[s:s + rows], targets[s:s + rows]
            logits = buf[:h.shape[0]]
            for c in range(0, weight.shape[0], COLUMNS):  # MKL runs the product 10-20% faster a block at a time
                torch.mm(h, weight[c:c + COLUMNS].t(), out=logits[:, c:c + COLUMNS])
            picked = logits.gather(1, t[:, None]).squeeze(1)
            top = logits.amax(dim=-1)
            total = logits.sub_(top[:, None]).exp_().sum(dim=-1)  # in place: no temporary as big as the chunk
            loss += (top + total.log() - picked).sum()  # log-sum-exp less the target's logit
            if grad is not None:
                probs = logits.div_(total[:, None])  # the softmax
                probs[torch.arange(h.shape[0]), t] -= 1.0  # d loss / d logits
                grad[s:s + h.shape[0]] = onednn.linear(probs, weight.t())  # probs @ weight
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return grad * g, None, None, None


def head_loss(hidden, head, targets):
    """``F.cross_entropy(head(hidden), targets, reduction="sum")`` chunk by chunk, for a frozen bias-free
    ``nn.Linear`` head. The chunk's buffer is kept on the head, so every step writes into memory it already
    has (a fresh one each step would be faulted in anew); it goes with the model."""
    weight = head.weight
    most = max(1, CHUNK_BYTES // (weight.shape[0] * hidden.element_size()))
    chunks = max(1, -(-hidden.shape[0] // most))  # no trained token at all: one empty chunk, loss 0
    rows = max(1, -(-hidden.shape[0] // chunks))  # even chunks: 442 rows at most 341 a chunk -> 221 + 221
    buf = head.__dict__.get("_tunedeck_logits")
    if buf is None or buf.shape[0] < rows or buf.dtype != hidden.dtype:
        buf = hidden.new_empty(rows, weight.shape[0])  # grown to the most rows a step has needed
        head.__dict__["_tunedeck_logits"] = buf  # a plain attribute: not in the state dict, not saved
    return _HeadLoss.apply(hidden, weight, targets, buf[:rows])


def plain_head(model):
    """The (decoder, lm_head) of a peft-wrapped causal LM whose loss :func:`head_loss` can take on CPU, or None.

    Only an unwrapped PeftModel (under DDP the forward must go through the wrapper), a known plain architecture,
    a frozen bias-free ``nn.Linear`` head, float32 on CPU."""
    if not hasattr(model, "get_base_model"):
        return None
    lm = model.get_base_model()
    head, decoder = getattr(lm, "lm_head", None), getattr(lm, "model", None)
    config = getattr(lm, "config", None)
    if type(head) is not torch.nn.Linear or decoder is None or getattr(config, "model_type", None) not in PLAIN_HEADS:
        return None
    if head.bias is not None or head.weight.requires_grad or head.weight.device.type != "cpu":
        return None
    if head.weight.dtype != torch.float32 or getattr(config, "final_logit_softcapping", None):
        return None
    return decoder, head
