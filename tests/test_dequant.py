"""Frozen 4-bit weights dequantized once (engine.dequant): the same logits as the 4-bit model, adapter on top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import rundir
from engine.config import ModelConfig, save_config
from tests.test_infer import PAIRS, overfit_config

DROPOUT = 0.05  # LoRA dropout on: the masks must come out the same too
IDS = [[5, 6, 7, 8, 9, 10, 11, 12]]


def _four_bit(tiny_model_dir: Path):
    from engine.model import load_base_model

    return load_base_model(ModelConfig(name=str(tiny_model_dir), quantization="4bit", device="cpu"))


def _reference_path(model):
    """The 4-bit model computing as training does: bitsandbytes' dequantize-then-matmul, not its bf16 CPU
    inference kernel (which rounds the inputs to bfloat16 on CPUs with AVX512-BF16)."""
    for m in model.modules():
        if type(m).__name__ == "Linear4bit":
            m.support_avx512bf16_for_cpu = False
    return model


def _random_adapter(model, seed: int = 1):
    """A LoRA on every linear layer with random (non-zero) A and B, so the adapter visibly moves the logits."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", init_lora_weights=False,
                     task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def _logits(model):
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor(IDS)).logits


def test_dequantized_base_computes_the_4bit_models_logits(tiny_model_dir):
    import torch

    from engine.dequant import dequantize_frozen

    reference = _logits(_reference_path(_four_bit(tiny_model_dir)))
    model = _four_bit(tiny_model_dir)
    n = dequantize_frozen(model)
    assert n == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 layers (the head stays as loaded)
    assert not any(type(m).__name__ == "Linear4bit" for m in model.modules())
    assert all(not p.requires_grad or p.dtype == torch.float32 for p in model.parameters())
    out = _logits(model)
    assert torch.allclose(out, reference, atol=1e-5, rtol=1e-5), (out - reference).abs().max()


def test_a_repacked_4bit_model_still_dequantizes_to_its_weights(tiny_model_dir):
    """bitsandbytes repacks 4-bit weights for its CPU kernel on the first inference forward (AVX512-BF16 CPUs),
    rounding the block scales to bfloat16 on the way: dequantizing after that must undo the packing rather than
    read the packed bytes as NF4 (logits off by whole units); what is left is the scales' bf16 rounding. That is
    why load_for_generation dequantizes before any forward pass."""

    from engine.dequant import dequantize_frozen

    reference = _logits(_reference_path(_four_bit(tiny_model_dir)))
    model = _four_bit(tiny_model_dir)
    _logits(model)  # may repack
    dequantize_frozen(model)
    assert (_logits(model) - reference).abs().max() < 0.1


def test_an_adapter_on_the_dequantized_base_gives_the_4bit_models_logits(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel

    from engine.dequant import dequantize_frozen

    quantized = _random_adapter(_reference_path(_four_bit(tiny_model_dir)))
    reference = _logits(quantized)
    quantized.save_pretrained(tmp_path / "adapter")
    with quantized.disable_adapter():
        base_reference = _logits(quantized)
    assert (reference - base_reference).abs().max() > 1e-2  # the adapter matters

    base = _four_bit(tiny_model_dir)
    dequantize_frozen(base)
    tuned = PeftModel.from_pretrained(base, str(tmp_path / "adapter"), is_trainable=False)
    assert type(tuned.base_model.model.model.layers[0].self_attn.q_proj.base_layer) is torch.nn.Linear
    assert torch.allclose(_logits(tuned), reference, atol=1e-5, rtol=1e-5)
    with tuned.disable_adapter():
        assert torch.allclose(_logits(tuned), base_reference, atol=1e-5, rtol=1e-5)


def test_generation_from_a_4bit_run_on_cpu_uses_the_dequantized_base(tiny_model_dir, tmp_path):
    """load_for_generation (generate, eval, Playground) on CPU: plain linear layers, the 4-bit model's logits."""
    import torch

    from engine.infer import generate, load_for_generation

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{"model.quantization": "4bit"})
    rd = tmp_path / "runs" / "fake"
    (rd / rundir.ADAPTER_DIR).mkdir(parents=True)
    save_config(cfg, rd / rundir.CONFIG_FILE)
    quantized = _random_adapter(_reference_path(_four_bit(tiny_model_dir)))
    quantized.save_pretrained(rd / rundir.ADAPTER_DIR)
    reference = _logits(quantized)

    messages: list[str] = []
    gen = load_for_generation(rd, on_message=messages.append)
    assert not any(type(m).__name__ == "Linear4bit" for m in gen.model.modules())
    assert any("dequantized" in m for m in messages)
    assert torch.allclose(_logits(gen.model), reference, atol=1e-5, rtol=1e-5)
    assert isinstance(generate(gen, "The quick", greedy=True, max_new_tokens=4), str)


@pytest.mark.parametrize("setting,device,quant,ram,expect", [
    ("auto", "cpu", "4bit", 64.0, True),
    ("auto", "cpu", "4bit", 0.1, False),
    ("auto", "cuda", "4bit", 64.0, False),
    ("on", "cpu", "4bit", 0.1, True),
    ("off", "cpu", "4bit", 64.0, False),
    ("on", "cpu", "none", 64.0, False),
])
def test_training_path_decision(setting, device, quant, ram, expect):
    from engine.dequant import training_path

    path = training_path(setting, device, quant, "float32", params=135_000_000, ram_gb=ram, estimate_gb=1.0)
    assert path.dequantize is expect and path.reason


def _train_4bit(tiny_model_dir, tmp_path, setting: str):
    from engine.events import RunStarted, StepLogged
    from engine.train import train

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 8), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{
        "model.quantization": "4bit", "model.dequantize_frozen": setting, "training.max_steps": 10,
        "training.learning_rate": 5e-3, "data.val_split": 0, "lora.dropout": DROPOUT, "training.save_steps": 100,
        "output.name": f"deq-{setting}"})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    started = next(e for e in events if isinstance(e, RunStarted))
    return result.run_dir, losses, started


@pytest.mark.slow
def test_training_on_the_dequantized_base_has_the_4bit_loss_and_its_adapter_loads_on_the_4bit_base(tiny_model_dir,
                                                                                                  tmp_path):
    import torch
    from peft import PeftModel

    rd_on, on, started_on = _train_4bit(tiny_model_dir, tmp_path, "on")
    rd_off, off, started_off = _train_4bit(tiny_model_dir, tmp_path, "off")
    assert len(on) == len(off) == 10
    assert on == pytest.approx(off, rel=1e-4, abs=1e-5), (on, off)
    assert on[-1] < on[0]  # it learns
    assert "dequantized once" in started_on.frozen_weights and "model.dequantize_frozen: on" in started_on.frozen_weights
    assert "as loaded" in started_off.frozen_weights
    # The adapter trained on the dequantized base loads on the 4-bit base unchanged and computes what the 4-bit
    # run's adapter computes.
    tuned_on = PeftModel.from_pretrained(_reference_path(_four_bit(tiny_model_dir)), str(rd_on / rundir.ADAPTER_DIR))
    tuned_off = PeftModel.from_pretrained(_reference_path(_four_bit(tiny_model_dir)), str(rd_off / rundir.ADAPTER_DIR))
    assert type(tuned_on.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__ == "Linear4bit"
    a, b = _logits(tuned_on), _logits(tuned_off)
    assert torch.allclose(a, b, atol=1e-3), (a - b).abs().max()
