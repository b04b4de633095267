"""Events round-trip through metrics.jsonl; the run directory's state files."""

from __future__ import annotations

import json

from engine import rundir
from engine.events import EvalLogged, MetricsWriter, RunFailed, StepLogged, read_events


def test_metrics_jsonl_has_event_name_and_fields_at_top_level(tmp_path):
    w = MetricsWriter(tmp_path / "metrics.jsonl")
    w(StepLogged(step=12, max_steps=20, epoch=0.5, loss=1.83, learning_rate=2e-4))
    w(EvalLogged(step=12, eval_loss=float("nan")))
    w(RunFailed(error="boom", hint="do x", step=12))
    w.close()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "step" and lines[0]["step"] == 12 and lines[0]["loss"] == 1.83
    assert lines[1]["eval_loss"] is None  # strict JSON: NaN becomes null
    events = list(read_events(tmp_path / "metrics.jsonl"))
    assert [type(e) for e in events] == [StepLogged, EvalLogged, RunFailed]
    assert events[0].learning_rate == 2e-4


def test_torn_last_line_is_skipped(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"event": "step", "step": 1, "max_steps": 2, "epoch": 0.1, "loss": 2.0, "learning_rate": 0.1}\n{"event": "st')
    assert [e.step for e in read_events(p)] == [1]


def test_status_is_written_atomically_and_read_back(tmp_path):
    rundir.write_status(tmp_path, "running", step=3)
    assert rundir.read_status(tmp_path)["status"] == "running"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_incomplete_checkpoint_is_ignored(tmp_path):
    ck = tmp_path / "checkpoints"
    for n, complete in ((10, True), (20, True), (30, False)):
        d = ck / f"checkpoint-{n}"
        d.mkdir(parents=True)
        (d / "adapter_model.safetensors").write_bytes(b"x")
        for f in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
            (d / f).write_bytes(b"x")
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert rundir.last_checkpoint(tmp_path).name == "checkpoint-20"


def test_peak_flops_table_matches_device_names_most_specific_first():
    from engine.throughput import peak_flops

    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12  # how an H100 SXM names itself
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("NVIDIA A10G") == 125e12 and peak_flops("NVIDIA A10") == 125e12
    assert peak_flops("NVIDIA L40S") == 362e12 and peak_flops("NVIDIA L4") == 121e12
    assert peak_flops("NVIDIA GeForce RTX 4090") == 165e12 and peak_flops("NVIDIA GeForce RTX 3090") == 71e12
    assert peak_flops("Tesla V100-SXM2-16GB") == 125e12 and peak_flops("Tesla T4") == 65e12
    assert peak_flops("Some Future GPU") is None and peak_flops("") is None and peak_flops(None) is None


def test_mfu_is_four_times_params_times_tokens_per_second_over_peak():
    from engine.throughput import model_flops_utilization

    # 7B parameters at 3,000 tokens/s on an H100 SXM: 4 * 7e9 * 3e3 / 989e12
    assert abs(model_flops_utilization(7_000_000_000, 3000.0, 989e12) - 0.08493) < 1e-4
    assert model_flops_utilization(10**9, 1000.0, None) is None  # unknown GPU or CPU
    assert model_flops_utilization(10**9, None, 989e12) is None
    assert model_flops_utilization(0, 1000.0, 989e12) is None


def test_step_event_carries_mfu_on_a_known_gpu_only(monkeypatch):
    """The callback's wiring, without a GPU: the CUDA peak lookup is replaced by a known figure."""
    import threading
    import types
    from pathlib import Path

    import engine.callback as callback_mod

    def make(device):
        got = []
        cb = callback_mod.EventCallback(got.append, threading.Event(), lambda s: None, Path("/nonexistent/checkpoints"),
                                        device, total_params=1_000_000_000)
        state = types.SimpleNamespace(global_step=1, max_steps=10, epoch=0.1, num_input_tokens_seen=0)
        cb.on_train_begin(None, state, None)
        cb._last_t -= 1.0  # one second since the last log
        state.num_input_tokens_seen = 5000
        cb.on_log(None, state, None, logs={"loss": 2.0, "learning_rate": 1e-4})
        return next(e for e in got if isinstance(e, StepLogged))

    assert make("cpu").mfu is None
    monkeypatch.setattr(callback_mod, "cuda_peak_flops", lambda device: 100e12 if device == "cuda" else None)
    step = make("cuda")
    # about 5,000 tokens/s (the clock moved a little): 4 * 1e9 * 5000 / 100e12 = 0.2
    assert step.tokens_per_second and abs(step.mfu - 4e9 * step.tokens_per_second / 100e12) < 1e-4
    assert 0.19 < step.mfu <= 0.2
