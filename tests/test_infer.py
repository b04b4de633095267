"""The playground engine: generation with the adapter on/off, streaming, cancel, evaluation.

One tiny run, overfit on two Q/A pairs, is trained once per test session (see
:func:`shared_run`) and reused by test_export.py and test_runs_cli.py.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from engine import rundir
from engine.config import load_config

PAIRS = [
    {"question": "What is the capital of France?", "answer": "Paris is the capital of France."},
    {"question": "How do I start training?", "answer": "Press t on the Train screen."},
]


def overfit_config(tiny_model_dir: Path, data_path: Path, runs_dir: Path, **over):
    sets = {
        "model.name": str(tiny_model_dir),
        "model.quantization": "none",
        "data.path": str(data_path),
        "data.template": "qa",
        "data.max_length": 64,
        "data.val_split": 0.25,
        "training.learning_rate": 1e-2,
        "training.max_steps": 50,
        "training.batch_size": 4,
        "training.warmup_ratio": 0.0,
        "training.lr_scheduler": "constant",
        "training.save_steps": 25,
        "training.eval_steps": 25,
        "lora.r": 8,
        "lora.alpha": 16,
        "lora.dropout": 0.0,
        "output.runs_dir": str(runs_dir),
        "output.name": "overfit",
    }
    sets.update(over)
    return load_config(None, sets)


def shared_run(tiny_model_dir: Path, base: Path) -> Path:
    """A finished run that learnt PAIRS by heart; trained once per session, cached under ``base``."""
    from engine.train import train

    root = base / "after-training"
    run_dir = root / "runs" / "overfit"
    if rundir.read_status(run_dir).get("status") == "finished":
        return run_dir
    root.mkdir(parents=True, exist_ok=True)
    data = root / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 8), encoding="utf-8")
    result = train(overfit_config(tiny_model_dir, data, root / "runs"), run_dir=run_dir)
    assert result.status == "finished", result.last_event
    return run_dir


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory) -> Path:
    return shared_run(tiny_model_dir, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def gen(trained_run):
    from engine.infer import load_for_generation

    return load_for_generation(trained_run)


def test_adapter_reproduces_the_trained_answer_and_the_base_does_not(gen):
    from engine.infer import format_prompt, generate

    for pair in PAIRS:
        prompt = format_prompt(gen.cfg, pair["question"], tokenizer=gen.tokenizer)
        assert pair["question"] in prompt and prompt != pair["question"]
        tuned = generate(gen, prompt, adapter=True, greedy=True, max_new_tokens=24)
        base = generate(gen, prompt, adapter=False, greedy=True, max_new_tokens=24)
        assert tuned.strip() == pair["answer"]
        assert base.strip() != pair["answer"]
        assert isinstance(base, str)
    # toggling the adapter off did not leave it off
    again = generate(gen, format_prompt(gen.cfg, PAIRS[0]["question"], tokenizer=gen.tokenizer), adapter=True,
                     greedy=True, max_new_tokens=24)
    assert again.strip() == PAIRS[0]["answer"]


def test_raw_prompt_is_sent_as_typed(gen):
    from engine.infer import format_prompt

    assert format_prompt(gen.cfg, "hello there", raw=True) == "hello there"


def test_stream_yields_pieces_and_stop_ends_it_early(gen):
    from engine.infer import generate_stream

    prompt = "The quick brown fox"
    full = list(generate_stream(gen, prompt, adapter=False, greedy=True, max_new_tokens=20))
    assert len(full) >= 3 and all(isinstance(p, str) and p for p in full)

    stop = threading.Event()
    pieces = []
    for piece in generate_stream(gen, prompt, adapter=False, greedy=True, max_new_tokens=20, stop=stop):
        pieces.append(piece)
        stop.set()
    assert pieces == full[:1]


def test_sampling_is_seeded_and_stays_within_max_new_tokens(gen):
    from engine.infer import generate_stream

    a = list(generate_stream(gen, "The quick", adapter=False, temperature=1.0, top_p=0.9, max_new_tokens=8, seed=3))
    b = list(generate_stream(gen, "The quick", adapter=False, temperature=1.0, top_p=0.9, max_new_tokens=8, seed=3))
    assert a == b and a
    assert len(a) <= 8  # at most one piece per token


def test_stop_strings_are_not_yielded(gen):
    from engine.infer import generate

    # What greedy decoding produces, then the same run with a stop string taken from its middle.
    full = generate(gen, "The quick brown fox", adapter=False, greedy=True, max_new_tokens=20)
    cut = full[3:6]
    assume = full.find(cut)
    out = generate(gen, "The quick brown fox", adapter=False, greedy=True, max_new_tokens=20, stop_strings=[cut])
    assert out == full[:assume]


def test_missing_adapter_names_the_run_and_resume(tmp_path):
    from engine.errors import RunError
    from engine.infer import load_for_generation

    rd = tmp_path / "half"
    rd.mkdir()
    (rd / "config.yaml").write_text("model:\n  quantization: none\n", encoding="utf-8")
    rundir.write_status(rd, "stopped", step=3)
    ckpt = rd / "checkpoints" / "checkpoint-3"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    (ckpt / "adapter_model.safetensors").write_text("")
    for n in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (ckpt / n).write_text("")
    with pytest.raises(RunError) as e:
        load_for_generation(rd)
    msg = str(e.value)
    assert "half" in msg and "--resume" in msg and "\n" not in msg


def test_eval_writes_report_with_loss_and_per_sample_rows(trained_run, gen):
    from engine.evaluate import EVAL_FILE, evaluate_run, load_report

    progress = []
    report = evaluate_run(trained_run, max_samples=4, generate_samples=2, max_new_tokens=24, gen=gen,
                          on_progress=lambda *a: progress.append(a))
    assert report.split == "validation"
    assert report.loss is not None and report.loss >= 0
    assert report.perplexity == pytest.approx(math.exp(report.loss))
    assert len(report.samples) == 4
    assert all(s.loss is not None and s.tokens > 0 for s in report.samples)
    generated = [s for s in report.samples if s.generated is not None]
    assert len(generated) == 2
    answers = {p["answer"] for p in PAIRS}
    assert all(s.reference in answers for s in report.samples)
    assert all(s.generated == s.reference for s in generated)  # the run learnt its data by heart
    assert ("loss", 4, 4) in progress and ("generate", 2, 2) in progress

    saved = json.loads((trained_run / EVAL_FILE).read_text())
    assert saved["loss"] == report.loss and len(saved["samples"]) == 4
    assert saved["perplexity"] == pytest.approx(math.exp(saved["loss"]))
    assert load_report(trained_run).samples[0].reference == report.samples[0].reference
