"""The GPU-only paths (engine.gpu_paths), as far as a CPU can test them: the decisions, the refusals, the
fallbacks, and that a packed row without a cap is one row per micro-batch with no cross-sample attention."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.errors import ConfigError
from engine.gpu_paths import attention_implementation, check_kernels, row_tokens, use_liger
from tests.test_infer import PAIRS, overfit_config


@pytest.mark.parametrize("device, impl, expect", [
    ("cuda", "flash_attention_2", None),  # varlen kernel: the whole micro-batch in one row
    ("cuda", "flash_attention_3", None),
    ("cuda", "sdpa", 256),  # block mask: attention over the whole row, so rows stay capped
    ("cpu", "flash_attention_2", 256),
    ("cpu", "sdpa", 256),
    ("cpu", None, 256),
    ("cpu", "tunedeck_segments", None),  # engine.segment_attention: each sample attends on its own
])
def test_rows_are_uncapped_only_with_a_varlen_kernel_on_cuda_or_per_sample_attention(device, impl, expect):
    assert row_tokens(256, device, impl) == expect


def test_flash_attention_is_asked_for_only_on_cuda_with_the_package():
    assert attention_implementation("cuda", installed=lambda name: name == "flash_attn") == "flash_attention_2"
    assert attention_implementation("cuda", installed=lambda name: False) is None
    assert attention_implementation("cpu", installed=lambda name: True) is None
    assert attention_implementation("cpu") is None  # this machine


def test_liger_kernels_are_refused_in_one_line_where_they_cannot_run():
    check_kernels("none", "cpu")
    with pytest.raises(ConfigError, match=r"^training\.kernels: liger needs a CUDA GPU .* set training\.kernels: none$"):
        check_kernels("liger", "cpu", installed=lambda name: True)
    with pytest.raises(ConfigError, match=r"^training\.kernels: liger needs the liger-kernel package: pip install"):
        check_kernels("liger", "cuda", installed=lambda name: False)
    check_kernels("liger", "cuda", installed=lambda name: True)
    assert use_liger("liger", "cuda") and not use_liger("liger", "cpu") and not use_liger("none", "cuda")


def test_an_uncapped_packed_row_holds_the_whole_batch_and_keeps_samples_apart(tiny_model_dir):
    """What the varlen path feeds the model: one row, positions restarting per sample, the loss the padded
    batch has (the collator's row cap is the only thing the CUDA path changes)."""
    import torch

    from engine.config import ModelConfig
    from engine.model import load_base_model, load_tokenizer
    from engine.trainer import Collator

    cfg = ModelConfig(name=str(tiny_model_dir), device="cpu")
    tok = load_tokenizer(cfg)
    model = load_base_model(cfg).eval()
    feats = [{"input_ids": list(range(5, 5 + n)), "labels": [-100] * 3 + list(range(8, 5 + n))} for n in (40, 30, 20)]
    packed = Collator(tok, "padding_free", row_tokens=row_tokens(48, "cuda", "flash_attention_2"))(feats)
    assert packed["input_ids"].shape == (1, 90)
    assert packed["position_ids"][0, :40].tolist() == list(range(40))
    capped = Collator(tok, "padding_free", row_tokens=row_tokens(48, "cpu", "sdpa"))(feats)
    assert capped["input_ids"].shape[0] == 3 and capped["input_ids"].shape[1] <= 48
    padded = Collator(tok, "padded")(feats)
    with torch.no_grad():
        a = model(**packed).loss
        b = model(**capped).loss
        c = model(**padded).loss
    assert torch.allclose(a, c, atol=1e-4) and torch.allclose(b, c, atol=1e-4), (a, b, c)


def test_tunedeck_train_with_liger_on_cpu_is_refused_before_anything_is_written(tiny_model_dir, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{"training.max_steps": 1})
    from engine.config import save_config

    save_config(cfg, tmp_path / "c.yaml")
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "tui.cli", "train", "--config", str(tmp_path / "c.yaml"), "--quiet",
                           "--run-dir", str(run_dir), "--set", "training.kernels=liger"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: training.kernels: liger needs a CUDA GPU"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not run_dir.exists()
