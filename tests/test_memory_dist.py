"""The memory estimate per device for several processes: ddp keeps a whole copy on each device, fsdp and
ZeRO-3 divide weights, gradients and optimizer state (plus one gathered block), ZeRO-2 only gradients and
optimizer state; CPU processes are ddp and share the RAM. Figures computed by hand on the demo shape."""

from __future__ import annotations

import json

import pytest

import engine.memory_dist
from engine.config import load_config
from engine.memory import DEMO_SHAPE, GB, estimate_memory
from engine.memory_encoder import MINILM_SHAPE

GPU = ("GPU test", 24.0)

# The demo shape (SmolLM2-135M) by hand: one block's linears q, k, v, o, gate, up, down; tied embeddings.
BLOCK = 576 * 576 * 2 + 576 * 192 * 2 + 576 * 1536 * 3
WEIGHTS = 30 * BLOCK * 4 + 49152 * 576 * 4  # float32, unquantized
LORA_PARAMS = 30 * 8 * ((576 + 576) + (576 + 192))  # r=8 on q_proj and v_proj
LORA, OPTIMIZER = LORA_PARAMS * 4, LORA_PARAMS * 12  # fp32 adapter; fp32 gradients + two AdamW moments
TOKENS = 2 * 128
ACTIVATIONS = 30 * TOKENS * 576 * 34 * 4 / 2 + TOKENS * 49152 * 4 * 2
OVERHEAD = 0.3 * GB


@pytest.fixture
def demo_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(DEMO_SHAPE))
    return tmp_path


def cfg(model_dir, **sets):
    return load_config(None, {"model.name": str(model_dir), "model.quantization": "none", "model.compute_dtype": "float32",
                              "lora.r": 8, "lora.target_modules": ["q_proj", "v_proj"], "training.batch_size": 2,
                              "data.max_length": 128, "model.gradient_checkpointing": False, **sets})


def test_one_process_is_the_hand_computed_figure(demo_dir):
    est = estimate_memory(cfg(demo_dir), device=GPU)
    assert est.total_gb * GB == pytest.approx(WEIGHTS + LORA + OPTIMIZER + ACTIVATIONS + OVERHEAD, rel=1e-9)
    assert est.processes == 1 and est.verdict().startswith("≈ ") and "per device" not in est.verdict()


def test_ddp_keeps_a_whole_copy_on_every_device(demo_dir):
    est = estimate_memory(cfg(demo_dir, **{"training.processes": 2, "training.distributed": "ddp"}), device=GPU)
    assert est.total_gb * GB == pytest.approx(WEIGHTS + LORA + OPTIMIZER + ACTIVATIONS + OVERHEAD, rel=1e-9)
    assert est.verdict().startswith("per device (ddp, 2 processes) ≈ 1.18 GB of 24.0 GB GPU test: should fit")


@pytest.mark.parametrize("strategy", ["fsdp", "deepspeed"])
def test_fsdp_and_zero3_divide_weights_gradients_and_optimizer_plus_a_gathered_block(demo_dir, strategy):
    est = estimate_memory(cfg(demo_dir, **{"training.processes": 2, "training.distributed": strategy}), device=GPU)
    hand = WEIGHTS / 2 + LORA / 2 + OPTIMIZER / 2 + BLOCK * 4 + ACTIVATIONS + OVERHEAD
    assert est.total_gb * GB == pytest.approx(hand, rel=1e-9)  # 0.94 GB against 1.18 on one device
    assert est.weights_gb * GB == pytest.approx(WEIGHTS / 2) and est.gathered_gb * GB == pytest.approx(BLOCK * 4)
    assert est.verdict().startswith(f"per device ({strategy}, 2 processes) ≈ 0.94 GB of 24.0 GB GPU test")
    assert "÷2" in est.breakdown() and "LoRA: the frozen base is what shrinks" in est.breakdown()
    four = estimate_memory(cfg(demo_dir, **{"training.processes": 4, "training.distributed": strategy}), device=GPU)
    assert four.total_gb * GB == pytest.approx(WEIGHTS / 4 + LORA / 4 + OPTIMIZER / 4 + BLOCK * 4 + ACTIVATIONS + OVERHEAD)


def test_zero2_divides_gradients_and_optimizer_only(demo_dir):
    est = estimate_memory(cfg(demo_dir, **{"training.processes": 2, "training.distributed": "deepspeed_zero2"}), device=GPU)
    assert est.total_gb * GB == pytest.approx(WEIGHTS + LORA + OPTIMIZER / 2 + ACTIVATIONS + OVERHEAD, rel=1e-9)
    assert est.weights_gb * GB == pytest.approx(WEIGHTS) and est.gathered_gb == 0
    assert "weights whole" in est.breakdown() and "only the adapter's gradients and optimizer" in est.breakdown()


def test_cpu_processes_are_ddp_and_share_the_ram(demo_dir, monkeypatch):
    monkeypatch.setattr(engine.memory_dist, "visible_gpus", lambda: 0)
    one = WEIGHTS + LORA + OPTIMIZER + ACTIVATIONS + OVERHEAD
    est = estimate_memory(cfg(demo_dir, **{"training.processes": 2, "training.distributed": "fsdp"}), device=("RAM", 16.0))
    assert est.strategy == "ddp" and est.total_gb * GB == pytest.approx(one, rel=1e-9)
    assert est.verdict() == "per process (ddp on CPU, 2 processes) ≈ 1.18 GB each, 2.36 GB of 16.0 GB RAM: should fit"
    small = estimate_memory(cfg(demo_dir, **{"training.processes": 2}), device=("RAM", 2.5))
    assert small.fits is False  # one copy fits 2.5 GB, two do not
    assert estimate_memory(cfg(demo_dir), device=("RAM", 2.5)).fits is True


def test_encoder_full_fine_tune_shards_its_gradients_too(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(MINILM_SHAPE))
    base = {"task": "extractive_qa", "model.name": str(tmp_path), "model.compute_dtype": "float32", "qa.method": "full"}
    one = estimate_memory(load_config(None, base), device=GPU)
    two = estimate_memory(load_config(None, {**base, "training.processes": 2, "training.distributed": "fsdp"}), device=GPU)
    assert two.grads_gb == pytest.approx(one.grads_gb / 2) and two.optimizer_gb == pytest.approx(one.optimizer_gb / 2)
    h, inter = 384, 1536
    assert two.gathered_gb * GB == pytest.approx((4 * h * h + 2 * h * inter) * 4)  # one block's linears, float32
    assert two.total_gb == pytest.approx(one.total_gb - (one.weights_gb + one.grads_gb + one.optimizer_gb) / 2
                                         + two.gathered_gb)
    assert "LoRA" not in two.breakdown()
