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
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
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
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert rundir.last_checkpoint(tmp_path).name == "checkpoint-20"
