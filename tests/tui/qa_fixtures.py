"""Extractive-QA fixtures for the TUI tests: a small SQuAD 2.0 file, a tiny BERT built from a config,
and a real QA run trained on it in seconds (engine.train on CPU, as tests/test_qa.py does).

Import the fixtures into a test module: ``from qa_fixtures import qa_bert, qa_run, squad_path  # noqa: F401``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LONG = ("TuneDeck keeps every run in its own folder under runs. The folder holds the config, the metrics "
        "file, the checkpoints and the final weights. Nothing in it is ever overwritten by a later run, and "
        "a run that stops can be resumed from its last checkpoint. To look at a finished run, open the Runs "
        "screen and press Enter on it. The run view shows the loss chart, the exact match and F1 chart for "
        "question answering runs, the progress and the log of the run.")
SHORT_A = "Press s on the Train screen to start training. Press x to stop training and save a checkpoint."
SHORT_B = "The Playground shows the base and tuned answers side by side. Ctrl+R looks for new runs."
QUESTIONS = [
    ("q1", "Which key starts training?", SHORT_A, "s"),
    ("q2", "What does the run view show for question answering runs?", LONG, "the exact match and F1 chart"),
    ("q3", "Which key stops training?", SHORT_A, "x"),
    ("q4", "What does the Playground show?", SHORT_B, "the base and tuned answers"),
    ("q5", "Which key looks for new runs?", SHORT_B, "Ctrl+R"),
    ("q6", "What colour is the logo?", SHORT_B, None),
    ("q7", "Where does TuneDeck keep every run?", LONG, "in its own folder under runs"),
]


def write_squad(path: Path, questions=QUESTIONS) -> Path:
    by_context: dict[str, list] = {}
    for qid, q, ctx, ans in questions:
        if ans is None:
            item = {"id": qid, "question": q, "answers": [], "is_impossible": True}
        else:
            start = ctx.index(" " + ans) + 1 if (" " + ans) in ctx else ctx.index(ans)
            item = {"id": qid, "question": q, "answers": [{"text": ans, "answer_start": start}], "is_impossible": False}
        by_context.setdefault(ctx, []).append(item)
    data = [{"title": "t", "paragraphs": [{"context": c, "qas": qs}]} for c, qs in by_context.items()]
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def qa_bert(tmp_path_factory) -> Path:
    from engine.tasks.qa_tiny import build_tiny_bert

    corpus = [LONG, SHORT_A, SHORT_B] + [q for _, q, _, _ in QUESTIONS]
    return build_tiny_bert(tmp_path_factory.mktemp("qabert") / "tiny-bert", corpus, vocab_size=400)


@pytest.fixture
def squad_path(tmp_path, monkeypatch) -> Path:
    """tiny.json in a fresh working folder (short, fixed paths on screen)."""
    monkeypatch.chdir(tmp_path)
    return write_squad(tmp_path / "tiny.json")


def qa_settings(model: Path, data: Path, runs_dir: Path | str = "runs") -> dict:
    return {"task": "extractive_qa", "model.name": str(model), "data.path": str(data), "data.val_path": str(data),
            "qa.max_length": 64, "qa.doc_stride": 16, "training.learning_rate": 3e-3, "training.max_steps": 40,
            "training.batch_size": 7, "training.eval_steps": 10, "training.save_steps": 40,
            "training.logging_steps": 2, "training.warmup_ratio": 0.0, "training.lr_scheduler": "constant",
            "output.runs_dir": str(runs_dir)}


@pytest.fixture(scope="session")
def qa_run(qa_bert, tmp_path_factory) -> Path:
    """A finished QA run (40 steps, EM/F1 every 10) and its eval.json."""
    from engine.config import load_config
    from engine.tasks.qa_infer import evaluate_qa_run
    from engine.train import train

    tmp = tmp_path_factory.mktemp("qarun")
    data = write_squad(tmp / "tiny.json")
    cfg = load_config(None, {**qa_settings(qa_bert, data, tmp / "runs"), "output.name": "qa"})
    result = train(cfg, run_dir=tmp / "runs" / "20261201-120000-qa")
    assert result.status == "finished", result.last_event
    evaluate_qa_run(result.run_dir)
    return result.run_dir


# --------------------------------------------------------------------------- recorded QA runs (fixed numbers)

QA_SCORES = {10: (14.3, 25.0), 20: (42.9, 51.2), 30: (57.1, 62.9), 40: (71.4, 76.5)}


def make_qa_run(runs_dir: Path | str, name: str, data: str = "tiny.json", model: str = "tiny-bert") -> Path:
    """A finished extractive-QA run folder as training leaves it, with fixed EM/F1 at steps 10..40."""
    from run_fixtures import T0, step_events

    from engine import rundir
    from engine.config import load_config, save_config
    from engine.events import EvalLogged, MetricsWriter, RunFinished, RunStarted

    rd = Path(runs_dir) / name
    rd.mkdir(parents=True, exist_ok=True)
    save_config(load_config(None, {**qa_settings(Path(model), Path(data), runs_dir), "output.name": "qa"}),
                rd / rundir.CONFIG_FILE)
    w = MetricsWriter(rd / rundir.METRICS_FILE)
    w(RunStarted(run_dir=str(rd), config={}, device="cpu (2 cores)", trainable_params=230_000, total_params=230_000,
                 train_samples=7, val_samples=7, max_steps=40, epochs=20.0, time=T0))
    for e in step_events(str(rd), 1, 40, 40, scale=0.5, eval_every=0):
        w(e)
        if e.name == "step" and e.step in QA_SCORES:
            em, f1 = QA_SCORES[e.step]
            w(EvalLogged(step=e.step, eval_loss=round(1.6 - e.step / 40, 4), exact_match=em, f1=f1, time=e.time))
    (rd / "model").mkdir(exist_ok=True)
    w(RunFinished(step=40, adapter_path=str(rd / "model"), elapsed=120.0, final_loss=0.6, time=T0 + 121))
    rundir.write_status(rd, "finished", step=40)
    w.close()
    return rd


def write_qa_eval(rd: Path) -> Path:
    """A fixed eval.json for a recorded QA run: 5 questions, 2 wrong (one of them unanswerable)."""
    def row(qid, q, ctx, golds, pred, score, f1):
        starts = [ctx.index(g) for g in golds]
        return {"id": qid, "question": q, "context": ctx, "gold_answers": golds, "gold_starts": starts,
                "predicted": pred, "predicted_start": ctx.index(pred) if pred else None, "score": score,
                "correct": f1 == 100.0, "f1": f1}
    questions = [
        row("q1", "Which key starts training?", SHORT_A, ["s"], "s", 7.1, 100.0),
        row("q2", "What does the run view show for question answering runs?", LONG, ["the exact match and F1 chart"],
            "the loss chart, the exact match and F1 chart", 3.2, 72.7),
        row("q3", "Which key stops training?", SHORT_A, ["x"], "x", 6.4, 100.0),
        row("q6", "What colour is the logo?", SHORT_B, [], "Ctrl+R", 1.5, 0.0),
        row("q7", "Where does TuneDeck keep every run?", LONG, ["in its own folder under runs"],
            "in its own folder under runs", 5.9, 100.0),
    ]
    report = {"task": "extractive_qa", "split": "validation", "exact_match": 60.0, "f1": 74.5,
              "answerable": {"exact_match": 75.0, "f1": 93.2, "total": 4},
              "unanswerable": {"exact_match": 0.0, "f1": 0.0, "total": 1}, "num_questions": 5, "run_dir": str(rd),
              "base": False, "created": 1_764_000_500.0, "note": "", "loss": None, "perplexity": None, "samples": [],
              "questions": questions}
    path = Path(rd) / "eval.json"
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return path
