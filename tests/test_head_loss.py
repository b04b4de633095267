"""The chunked projection + cross-entropy (engine.head_loss): the same loss and gradients as ``lm_head`` then
``F.cross_entropy``, in the training loss and on its own; the model's own head wherever it does not apply."""

from __future__ import annotations

import pytest

from tests.test_lora_fused import _lora


@pytest.mark.parametrize("columns", [2048, 10])  # the vocabulary's product in one block; in blocks, the last ragged
@pytest.mark.parametrize("rows", [1, 7, 64])  # many chunks, a ragged last chunk, one chunk
def test_head_loss_equals_the_projection_then_cross_entropy(monkeypatch, rows, columns):
    import torch
    import torch.nn.functional as F

    from engine import head_loss

    g = torch.Generator().manual_seed(0)
    vocab, width, n = 97, 16, 23
    head = torch.nn.Linear(width, vocab, bias=False).requires_grad_(False)
    with torch.no_grad():
        head.weight.copy_(torch.randn(vocab, width, generator=g))
    weight = head.weight
    targets = torch.randint(0, vocab, (n,), generator=g)
    monkeypatch.setattr(head_loss, "CHUNK_BYTES", rows * vocab * 4)
    monkeypatch.setattr(head_loss, "COLUMNS", columns)
    h1 = torch.randn(n, width, generator=g, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_()
    ours = head_loss.head_loss(h1, head, targets)
    ref = F.cross_entropy(h2 @ weight.t(), targets, reduction="sum")
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    (ours * 0.5).backward()  # the upstream gradient is applied
    (ref * 0.5).backward()
    torch.testing.assert_close(h1.grad, h2.grad, rtol=1e-5, atol=1e-6)
    assert head.__dict__["_tunedeck_logits"].shape[1] == vocab  # the chunk buffer kept on the head
    assert "_tunedeck_logits" not in head.state_dict()
    with torch.no_grad():  # no gradient wanted: none computed, the same loss
        assert head_loss.head_loss(h1, head, targets).item() == pytest.approx(ref.item(), rel=1e-6)
        assert head_loss.head_loss(h1[:0], head, targets[:0]).item() == 0.0  # no trained token: nothing summed


def _lora_model(tiny_model_dir):
    """The tiny base with a LoRA whose B is non-zero (so gradients reach lora_A too), no dropout, not fused."""
    model, _ = _lora(tiny_model_dir, fused=False, dropout=0.0)
    return model


def test_the_training_loss_through_the_chunked_head_equals_the_model_s_own(tiny_model_dir, monkeypatch):
    import torch
    from transformers import AutoTokenizer

    from engine import head_loss
    from engine.trainer import Collator, completion_only_loss

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = _lora_model(tiny_model_dir)
    model.train()
    assert head_loss.plain_head(model) is not None
    vocab = model.get_base_model().lm_head.weight.shape[0]
    monkeypatch.setattr(head_loss, "CHUNK_BYTES", 5 * vocab * 4)  # 5 rows a chunk: several chunks a batch
    g = torch.Generator().manual_seed(0)
    feats = []
    for n in (5, 17, 9, 30):
        ids = torch.randint(5, 400, (n,), generator=g).tolist()
        feats.append({"input_ids": ids, "labels": [-100] * (n // 2) + ids[n // 2:]})
    batch = Collator(tok, "padding_free", row_tokens=32)(feats)
    own = model(**batch).loss
    own.backward()
    own_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    ours = completion_only_loss(model, batch)
    ours.backward()
    assert ours.item() == pytest.approx(own.item(), rel=1e-5)
    assert len(own_grads) > 0
    for name, p in model.named_parameters():
        if p.requires_grad:
            ref = own_grads[name]  # float rounding, relative to the largest entry (lora_A's reach 20 here)
            torch.testing.assert_close(p.grad, ref, rtol=1e-4, atol=1e-5 * max(1.0, ref.abs().max().item()), msg=name)


def test_the_model_s_own_head_wherever_the_chunked_one_does_not_apply(tiny_model_dir):
    from engine.head_loss import plain_head

    model = _lora_model(tiny_model_dir)
    assert plain_head(model) is not None
    assert plain_head(model.get_base_model()) is None  # not a PeftModel (a DDP wrapper is not either)
    head = model.get_base_model().lm_head
    head.weight.requires_grad_(True)  # a trained head (full fine-tuning of it): its weight needs a gradient
    assert plain_head(model) is None
    head.weight.requires_grad_(False)
    model.get_base_model().config.model_type = "gemma2"  # soft-capped logits: not a plain head
    assert plain_head(model) is None
