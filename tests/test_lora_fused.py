"""A LoRA layer in one autograd step (engine.lora_fused): peft's values and gradients, and peft's own forward
wherever the fused one does not apply. A run trained fused whose adapter loads in plain peft:
tests/test_lora_dropout.py (the same run trains with shared masks)."""

from __future__ import annotations

import pytest

from engine.config import LoraConfig, ModelConfig

IDS = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]]


def _lora(tiny_model_dir, fused: bool, dropout: float = 0.1, quantization: str = "none"):
    import torch

    from engine.lora_dropout import share_lora_dropout
    from engine.lora_fused import fuse_lora_linear
    from engine.model import add_lora, load_base_model

    model_cfg = ModelConfig(name=str(tiny_model_dir), device="cpu", quantization=quantization)
    torch.manual_seed(0)
    model = add_lora(load_base_model(model_cfg), model_cfg, LoraConfig(r=4, alpha=8, dropout=dropout))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # a non-zero update, so its forward and gradients are visible
    share_lora_dropout(model)
    return model, (fuse_lora_linear(model) if fused else 0)


@pytest.mark.parametrize("on_onednn", [True, False], ids=["onednn", "mkl"])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_the_fused_layer_gives_peft_s_loss_and_gradients(tiny_model_dir, dropout, on_onednn, monkeypatch):
    """Dropout 0: x's gradient takes the update's path in the same product; either kernel for the frozen ones."""
    import torch

    from engine import onednn

    monkeypatch.setattr(onednn, "_checked", None if on_onednn else False)
    if on_onednn and not onednn.available():
        pytest.skip("this torch build has no oneDNN")

    ref, _ = _lora(tiny_model_dir, fused=False, dropout=dropout)
    fused, n = _lora(tiny_model_dir, fused=True, dropout=dropout)
    assert n == 14  # q, k, v, o, gate, up, down in each of the two layers
    ids = torch.tensor(IDS)
    ref.train()
    fused.train()
    torch.manual_seed(3)  # the same dropout masks
    a = ref(input_ids=ids, labels=ids).loss
    torch.manual_seed(3)
    b = fused(input_ids=ids, labels=ids).loss
    assert a.item() == pytest.approx(b.item(), rel=1e-6)
    a.backward()
    b.backward()
    grads = [(name, p.grad, q.grad) for (name, p), (_, q) in zip(ref.named_parameters(), fused.named_parameters(),
                                                                 strict=True) if p.requires_grad]
    assert len(grads) == 28 and all(q is not None for _, _, q in grads)
    for name, p, q in grads:
        assert torch.allclose(p, q, atol=1e-5, rtol=1e-4), name


def test_eval_4bit_layers_and_a_trained_base_keep_peft_s_forward(tiny_model_dir):
    import torch

    from engine.lora_fused import fusable

    model, _ = _lora(tiny_model_dir, fused=True)
    ref, _ = _lora(tiny_model_dir, fused=False)
    ids = torch.tensor(IDS)
    model.eval()
    ref.eval()
    with torch.no_grad():  # eval: peft's own forward, bit for bit
        assert torch.equal(model(input_ids=ids).logits, ref(input_ids=ids).logits)
    _, none = _lora(tiny_model_dir, fused=True, quantization="4bit")
    assert none == 0  # bitsandbytes' Linear4bit base: not fused
    layer = ref.base_model.model.model.layers[0].self_attn.q_proj
    assert fusable(layer)
    layer.base_layer.weight.requires_grad_(True)
    assert not fusable(layer)  # a base weight being trained is not a frozen matmul
