"""Faults during training: NaN loss, out of memory, any exception; and random records never crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import rundir
from engine.events import RunFailed, StepLogged, read_events
from engine.train import train
from tests.test_train import QA, tiny_config, write_jsonl


@pytest.fixture
def qa_file(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", QA * 4)


def test_nan_loss_stops_at_once_names_the_step_and_keeps_the_last_finite_checkpoint(tiny_model_dir, qa_file, tmp_path):
    events = []
    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.learning_rate": 1e30, "training.max_steps": 20,
                                                           "training.save_steps": 1, "training.max_grad_norm": 0})
    result = train(cfg, on_event=events.append)
    assert result.status == "failed"
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    bad_step = next(e.step for e in events if isinstance(e, StepLogged) and not (e.loss == e.loss and abs(e.loss) < float("inf")))
    assert f"at step {bad_step}" in failed.error and "NaN" in failed.error
    assert "learning_rate" in failed.hint
    last = rundir.last_checkpoint(result.run_dir)
    assert last is not None and int(last.name.split("-")[1]) < bad_step
    assert rundir.read_status(result.run_dir)["status"] == "failed"
    assert bad_step < 20  # stopped at once, not at the end


def test_out_of_memory_gives_a_hint_and_keeps_the_checkpoint(tiny_model_dir, qa_file, tmp_path, monkeypatch):
    import torch
    from transformers import Trainer

    real_step = Trainer.training_step
    calls = {"n": 0}

    def failing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", failing_step)
    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.save_steps": 2})
    result = train(cfg)
    assert result.status == "failed"
    ev = result.last_event
    assert "out of memory" in ev.error.lower() and "batch_size" in ev.hint and "gradient_checkpointing" in ev.hint
    assert ev.checkpoint.endswith("checkpoint-2") and not ev.user_error
    assert rundir.read_status(result.run_dir)["hint"] == ev.hint


def test_unexpected_exception_is_logged_with_traceback(tiny_model_dir, qa_file, tmp_path, monkeypatch):
    from transformers import Trainer

    def broken(self, *a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(Trainer, "training_step", broken)
    result = train(tiny_config(tiny_model_dir, qa_file, tmp_path))
    assert result.status == "failed" and result.last_event.error == "ZeroDivisionError: boom"
    assert "error.log" in result.last_event.hint
    assert "Traceback" in (result.run_dir / "error.log").read_text()


# --- random records through loading, templating and tokenising -------------------------------------

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
value = st.one_of(text, st.none(), st.integers(), st.floats(allow_nan=False), st.lists(text, max_size=2))
turn = st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt", "system", "observation", "wizard", ""]), "value": value})
record = st.one_of(
    st.fixed_dictionaries({"instruction": value, "input": value, "output": value}),
    st.fixed_dictionaries({"question": value, "answer": value}),
    st.fixed_dictionaries({"text": value}),
    st.fixed_dictionaries({"conversations": st.lists(turn, max_size=4)}),
    st.dictionaries(text, value, max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(record, min_size=1, max_size=3), template=st.sampled_from(["auto", "chatml", "qa", "alpaca", "text", "tokenizer"]))
def test_random_records_give_a_sample_or_a_clear_error(tiny_tokenizer_and_dir, tmp_path_factory, rows, template):
    from engine.config import DataConfig
    from engine.data import load_dataset
    from engine.errors import TuneDeckError
    from engine.templates import resolve_template, validate_template
    from engine.tokenize import encode_row

    tokenizer = tiny_tokenizer_and_dir
    p = tmp_path_factory.mktemp("h") / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = DataConfig(path=str(p), template=template, max_length=64)
    try:
        ds, info = load_dataset(cfg)
        validate_template(resolve_template(cfg.template, info.format), info.columns, info.format)
        for row in ds:
            try:
                sample = encode_row(row, info, cfg, tokenizer)
            except TuneDeckError as e:
                assert str(e) and "\n" not in str(e)
                continue
            if sample.trainable:
                assert sample.num_trained >= 1 and len(sample.input_ids) <= 64
    except TuneDeckError as e:
        assert str(e) and "\n" not in str(e).strip()


@pytest.fixture(scope="module")
def tiny_tokenizer_and_dir():
    from engine.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


def test_disk_full_while_saving_fails_with_a_hint_and_keeps_the_last_complete_checkpoint(tiny_model_dir, qa_file, tmp_path,
                                                                                          monkeypatch):
    """ENOSPC from the second checkpoint's first torch.save (optimizer.pt), after a few bytes reached the file."""
    import errno
    import os

    import torch

    real_save = torch.save
    failed_in: list[str] = []

    def full_disk_save(obj, f, *args, **kwargs):
        path = os.fspath(f) if isinstance(f, (str, os.PathLike)) else ""
        if "checkpoint-4" in path:
            with open(path, "wb") as out:
                out.write(b"PK\x03\x04 half")  # a torn file, as a full disk leaves it
            failed_in.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk_save)
    events = []
    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.save_steps": 2, "training.max_steps": 8})
    result = train(cfg, on_event=events.append)
    monkeypatch.setattr(torch, "save", real_save)

    assert failed_in, "the second checkpoint save never reached torch.save"
    assert result.status == "failed"
    ev = result.last_event
    assert isinstance(ev, RunFailed) and not ev.user_error
    assert "\n" not in ev.error and "disk full" in ev.error and "checkpoint-4" in ev.error
    assert "free space" in ev.hint and "training.save_total_limit" in ev.hint and "output.runs_dir" in ev.hint
    assert f"tunedeck train --resume {result.run_dir}" in ev.hint
    assert ev.step == 4 and ev.checkpoint.endswith("checkpoint-2")

    status = rundir.read_status(result.run_dir)
    assert status["status"] == "failed" and status["error"] == ev.error and status["hint"] == ev.hint
    # the half-written checkpoint-4 (adapter written, optimizer not) was removed to make room
    assert [p.name for p in rundir.checkpoint_folders(result.run_dir)] == ["checkpoint-2"]
    partial = result.run_dir / "checkpoints" / "checkpoint-4"
    assert rundir.last_checkpoint(result.run_dir).name == "checkpoint-2"
    assert not any(isinstance(e, StepLogged) and e.step > 4 for e in events)

    # The kept checkpoint is whole: resume loads its adapter, optimizer, scheduler and RNG and trains to the end.
    resumed = train(None, resume=result.run_dir)
    assert resumed.status == "finished", resumed.last_event
    started = [e for e in read_events(result.run_dir / "metrics.jsonl") if e.name == "started"]
    assert started[-1].resumed_from_step == 2
    assert rundir.checkpoint_is_complete(partial)  # rewritten whole by the resumed run
    assert rundir.read_status(result.run_dir)["status"] == "finished"


def test_disk_full_is_recognised_from_errno_text_and_free_space(tmp_path):
    import errno

    from engine.failures import hint_for, is_disk_full

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    # safetensors' Rust error and wrapped errors carry only text or a cause
    assert is_disk_full(Exception('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("saving failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    # torch's writer says only "file write failed": the free space decides (plenty here, so not a full disk)
    torn = RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0: PytorchStreamWriter failed writing file data/0: file write failed")
    assert not is_disk_full(torn, tmp_path)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert "save_total_limit" in hint_for(OSError(errno.ENOSPC, "No space left on device"))
    assert "error.log" in hint_for(ValueError("x"))
