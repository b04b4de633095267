"""The dequantized base in one pass (engine.dequant_load): the two-pass path's weights bit for bit, its loss."""

from __future__ import annotations

import json

import pytest

from engine.config import ModelConfig
from tests.test_infer import PAIRS, overfit_config


def test_one_pass_gives_the_two_pass_weights_bit_for_bit(tiny_model_dir):
    import torch

    from engine.dequant import dequantize_frozen
    from engine.dequant_load import quantize_roundtrip
    from engine.model import load_base_model

    two_pass = load_base_model(ModelConfig(name=str(tiny_model_dir), quantization="4bit", device="cpu"))
    assert dequantize_frozen(two_pass) == 2 * 7
    one_pass = load_base_model(ModelConfig(name=str(tiny_model_dir), quantization="none", device="cpu"))
    before = one_pass.model.layers[0].self_attn.q_proj.weight.clone()
    assert quantize_roundtrip(one_pass) == 2 * 7  # the same layers bitsandbytes quantizes (the head stays)
    assert not torch.equal(before, one_pass.model.layers[0].self_attn.q_proj.weight)  # NF4 values, not the float ones
    a, b = two_pass.state_dict(), one_pass.state_dict()
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
    assert not differ, differ
    assert not one_pass.model.layers[1].mlp.down_proj.weight.requires_grad


def _train(tiny_model_dir, tmp_path, name: str):
    from engine.events import MessageLogged, RunStarted, StepLogged
    from engine.train import train

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 8), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{
        "model.quantization": "4bit", "model.dequantize_frozen": "on", "training.max_steps": 4,
        "training.learning_rate": 5e-3, "data.val_split": 0, "lora.dropout": 0.05, "training.save_steps": 100,
        "output.name": name})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    started = next(e for e in events if isinstance(e, RunStarted))
    return losses, started, [e.text for e in events if isinstance(e, MessageLogged)]


@pytest.mark.slow
def test_training_in_one_pass_has_the_two_pass_loss(tiny_model_dir, tmp_path, monkeypatch):
    from engine import dequant_load
    from engine.dequant import TrainingPath

    one, started_one, said_one = _train(tiny_model_dir, tmp_path, "one-pass")
    assert any("one pass" in m for m in said_one)
    # The path as it was: the 4-bit load, then prepare_for_training dequantizes each Linear4bit.
    monkeypatch.setattr(dequant_load, "_decide_before_load", lambda *a: TrainingPath(False, "forced"))
    two, started_two, said_two = _train(tiny_model_dir, tmp_path, "two-pass")
    assert not any("one pass" in m for m in said_two)
    assert len(one) == len(two) == 4
    assert one == two, (one, two)
    assert started_one.frozen_weights == started_two.frozen_weights
    assert "dequantized once" in started_one.frozen_weights
