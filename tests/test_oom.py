"""Out of memory heals itself (training.oom_recovery): the real torch.OutOfMemoryError raised from a training step
makes the run go on from its last checkpoint with half the micro-batch and twice the accumulation; the fourth
one ends it with the out-of-memory hint."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from engine import rundir
from engine.config import load_config
from engine.events import OomRecovered, RunFailed, StepLogged, read_events
from engine.runs import summarize_run
from engine.train import train
from tests.test_train import tiny_config, write_jsonl

ROWS = [{"question": f"What does key {i} do?", "answer": f"Key {i} starts step {i}."} for i in range(16)]


def _oom_steps(monkeypatch, when):
    """Make Trainer.training_step raise torch.OutOfMemoryError where ``when(global_step, calls)`` says;
    returns the calls seen: (global_step, per-device batch size, accumulation)."""
    calls: list[tuple[int, int, int]] = []
    real = transformers.Trainer.training_step

    def training_step(self, *args, **kwargs):
        calls.append((self.state.global_step, self.args.per_device_train_batch_size, self.args.gradient_accumulation_steps))
        if when(self.state.global_step, calls):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", training_step)
    return calls


def test_an_oom_after_a_checkpoint_goes_on_from_it_with_half_the_micro_batch(tiny_model_dir, tmp_path, monkeypatch):
    raised = []

    def once_at_step_3(step, calls):
        if step == 3 and not raised:
            raised.append(step)
            return True
        return False

    calls = _oom_steps(monkeypatch, once_at_step_3)
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    cfg = tiny_config(tiny_model_dir, data, tmp_path, **{"training.max_steps": 6, "training.save_steps": 2,
                                                         "training.oom_recovery": "on"})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    assert result.last_event.step == 6
    healed = [e for e in events if isinstance(e, OomRecovered)]
    assert len(healed) == 1
    e = healed[0]
    assert (e.step, e.resumed_from_step, e.unit) == (3, 2, "samples")
    assert (e.old_micro_batch, e.new_micro_batch, e.old_gradient_accumulation, e.new_gradient_accumulation) == (4, 2, 1, 2)
    assert "CUDA out of memory" in e.error
    # Logged in metrics.jsonl, listed in the run summary.
    assert [x.to_dict() for x in read_events(result.run_dir / rundir.METRICS_FILE) if isinstance(x, OomRecovered)] == [e.to_dict()]
    assert [x.resumed_from_step for x in summarize_run(result.run_dir).oom_recoveries] == [2]
    # The same effective batch: 4 x 1 before, 2 x 2 after, two micro-batches a step from checkpoint-2 on.
    oom_at = calls.index((3, 4, 1))
    assert set(calls[:oom_at + 1]) == {(0, 4, 1), (1, 4, 1), (2, 4, 1), (3, 4, 1)}
    assert calls[oom_at + 1:] == [(s, 2, 2) for s in (2, 2, 3, 3, 4, 4, 5, 5)]
    # The step count goes on from the checkpoint to the run's end; the schedule's length is the same.
    steps = [x for x in events if isinstance(x, StepLogged)]
    assert [x.step for x in steps] == [1, 2, 3, 3, 4, 5, 6] and {x.max_steps for x in steps} == {6}
    saved = load_config(result.run_dir / rundir.CONFIG_FILE)
    assert (saved.training.batch_size, saved.training.gradient_accumulation) == (2, 2)  # a resume starts with what fits
    state = json.loads((result.run_dir / rundir.CHECKPOINTS_DIR / "checkpoint-6" / rundir.TRAINER_STATE).read_text())
    assert state["global_step"] == 6


def test_the_fourth_oom_ends_the_run_with_the_out_of_memory_hint(tiny_model_dir, tmp_path, monkeypatch):
    _oom_steps(monkeypatch, lambda step, calls: True)
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    cfg = tiny_config(tiny_model_dir, data, tmp_path, **{"training.max_steps": 4, "training.batch_size": 8,
                                                         "training.oom_recovery": "on"})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "failed"
    healed = [e for e in events if isinstance(e, OomRecovered)]
    assert [(e.old_micro_batch, e.new_micro_batch, e.new_gradient_accumulation, e.attempt) for e in healed] == [
        (8, 4, 2, 1), (4, 2, 4, 2), (2, 1, 8, 3)]
    failed = events[-1]
    assert isinstance(failed, RunFailed) and "OutOfMemoryError" in failed.error
    assert failed.hint.startswith("Out of memory: lower training.batch_size")


def test_on_cpu_auto_does_not_retry(tiny_model_dir, tmp_path, monkeypatch):
    _oom_steps(monkeypatch, lambda step, calls: True)
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    cfg = tiny_config(tiny_model_dir, data, tmp_path, **{"training.max_steps": 2})
    assert cfg.training.oom_recovery == "auto"
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "failed" and not any(isinstance(e, OomRecovered) for e in events)
    assert events[-1].hint.startswith("Out of memory")


@pytest.mark.parametrize("sets, shrunk", [
    ({"training.batch_size": 6}, ("samples", 3, 2, 2)),
    ({"training.batch_size": 3, "training.gradient_accumulation": 2}, ("samples", 1, 6, 3)),  # exactly the same batch
    ({"training.batch_size": 1}, None),
    ({"training.max_tokens_per_batch": 256, "data.max_length": 64}, ("tokens", 128, 2, 2)),  # the budget is the micro-batch
    ({"training.max_tokens_per_batch": 100, "data.max_length": 64}, None),  # half would not hold a sample
])
def test_what_halving_the_micro_batch_means(sets, shrunk):
    from engine.oom import smaller

    assert smaller(load_config(None, sets)) == shrunk


def test_an_oom_while_loading_the_model_is_not_retried(tiny_model_dir, tmp_path, monkeypatch):
    import engine.model

    def no_room(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(engine.model, "load_base_model", no_room)
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    events = []
    result = train(tiny_config(tiny_model_dir, data, tmp_path, **{"training.oom_recovery": "on"}), on_event=events.append)
    assert result.status == "failed" and events[-1].hint.startswith("Out of memory")
    assert not any(isinstance(e, OomRecovered) for e in events)  # a smaller batch would not make the model fit
