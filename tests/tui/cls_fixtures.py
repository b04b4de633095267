"""Text-classification fixtures for the TUI tests: a small support-ticket file (three classes, one of them
small), a tiny BERT built from a config, a real classification run trained on it in seconds (engine.train on
CPU, as tests/test_classification.py does), and a recorded run with fixed accuracy/F1 and a fixed eval.json
for the snapshots.

Import the fixtures into a test module: ``from cls_fixtures import cls_bert, cls_run, tickets_path  # noqa: F401``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROWS = [
    ("the screen freezes and crashes when I open a run", "bug"),
    ("an error appears when saving the config", "bug"),
    ("training stops with a traceback after ten steps", "bug"),
    ("the chart is empty and the app hangs", "bug"),
    ("how do I change the learning rate?", "question"),
    ("where are the runs kept?", "question"),
    ("can I train on two datasets at once?", "question"),
    ("thank you, this tool is wonderful", "praise"),
    ("great work, I love it", "praise"),
]
LONG_TEXT = ("the app crashes every time I press the start key on the train screen after loading a config with a "
             "long custom template and a very large learning rate, and then the whole terminal hangs for a minute")


def write_tickets(path: Path, rows=ROWS) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def cls_bert(tmp_path_factory) -> Path:
    from engine.tasks.qa_tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("clsbert") / "tiny-bert", [t for t, _ in ROWS] + [LONG_TEXT],
                           vocab_size=300)


@pytest.fixture
def tickets_path(tmp_path, monkeypatch) -> Path:
    """tickets.jsonl in a fresh working folder (short, fixed paths on screen)."""
    monkeypatch.chdir(tmp_path)
    return write_tickets(tmp_path / "tickets.jsonl")


def cls_settings(model: Path, data: Path, runs_dir: Path | str = "runs") -> dict:
    return {"task": "classification", "model.name": str(model), "data.path": str(data), "data.val_path": str(data),
            "cls.max_length": 32, "training.learning_rate": 3e-3, "training.max_steps": 30, "training.batch_size": 9,
            "training.eval_steps": 10, "training.save_steps": 30, "training.logging_steps": 2,
            "training.warmup_ratio": 0.0, "training.lr_scheduler": "constant", "output.runs_dir": str(runs_dir)}


@pytest.fixture(scope="session")
def cls_run(cls_bert, tmp_path_factory) -> Path:
    """A finished classification run (30 steps, accuracy/F1 every 10) and its eval.json."""
    from engine.config import load_config
    from engine.tasks.cls_infer import evaluate_cls_run
    from engine.train import train

    tmp = tmp_path_factory.mktemp("clsrun")
    data = write_tickets(tmp / "tickets.jsonl")
    cfg = load_config(None, {**cls_settings(cls_bert, data, tmp / "runs"), "output.name": "cls"})
    result = train(cfg, run_dir=tmp / "runs" / "20261201-130000-cls")
    assert result.status == "finished", result.last_event
    evaluate_cls_run(result.run_dir)
    return result.run_dir


# --------------------------------------------------------------------------- recorded runs (fixed numbers)

CLS_SCORES = {10: (0.444, 0.205), 20: (0.667, 0.533), 30: (0.889, 0.867), 40: (1.0, 1.0)}


def make_cls_run(runs_dir: Path | str, name: str, data: str = "tickets.jsonl", model: str = "tiny-bert") -> Path:
    """A finished classification run folder as training leaves it, with fixed accuracy/F1 at steps 10..40."""
    from run_fixtures import T0, step_events

    from engine import rundir
    from engine.config import load_config, save_config
    from engine.events import EvalLogged, MetricsWriter, RunFinished, RunStarted

    rd = Path(runs_dir) / name
    rd.mkdir(parents=True, exist_ok=True)
    save_config(load_config(None, {**cls_settings(Path(model), Path(data), runs_dir), "output.name": "cls"}),
                rd / rundir.CONFIG_FILE)
    (rd / "labels.json").write_text(json.dumps({"names": ["bug", "praise", "question"], "kind": "string"}))
    w = MetricsWriter(rd / rundir.METRICS_FILE)
    w(RunStarted(run_dir=str(rd), config={}, device="cpu (2 cores)", trainable_params=230_000, total_params=230_000,
                 train_samples=9, val_samples=9, max_steps=40, epochs=40.0, time=T0))
    for e in step_events(str(rd), 1, 40, 40, scale=0.5, eval_every=0):
        w(e)
        if e.name == "step" and e.step in CLS_SCORES:
            acc, f1 = CLS_SCORES[e.step]
            w(EvalLogged(step=e.step, eval_loss=round(1.2 - e.step / 40, 4), accuracy=acc, f1=f1, time=e.time))
    (rd / "model").mkdir(exist_ok=True)
    w(RunFinished(step=40, adapter_path=str(rd / "model"), elapsed=120.0, final_loss=0.6, time=T0 + 121))
    rundir.write_status(rd, "finished", step=40)
    w.close()
    return rd


def write_cls_eval(rd: Path) -> Path:
    """A fixed eval.json for a recorded classification run: 9 rows, 2 of them wrong."""
    names = ["bug", "praise", "question"]

    def row(i, text, gold, pred, probs):
        return {"row": i, "text": text, "gold": gold, "predicted": pred, "correct": gold == pred,
                "probabilities": dict(zip(names, probs, strict=True))}
    preds = {0: ("bug", [0.91, 0.03, 0.06]), 1: ("bug", [0.84, 0.04, 0.12]), 2: ("question", [0.31, 0.07, 0.62]),
             3: ("bug", [0.77, 0.08, 0.15]), 4: ("question", [0.1, 0.05, 0.85]), 5: ("question", [0.2, 0.1, 0.7]),
             6: ("question", [0.22, 0.08, 0.7]), 7: ("praise", [0.05, 0.9, 0.05]), 8: ("bug", [0.48, 0.41, 0.11])}
    rows = [row(i, t, lab, *preds[i]) for i, (t, lab) in enumerate(ROWS)]
    report = {"task": "classification", "split": "validation", "accuracy": 0.777778, "num_rows": 9,
              "precision": 0.805556, "recall": 0.75, "f1": 0.752381,
              "weighted": {"precision": 0.796296, "recall": 0.777778, "f1": 0.768254},
              "per_class": {"bug": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
                            "praise": {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2},
                            "question": {"precision": 0.75, "recall": 1.0, "f1": 0.857143, "support": 3}},
              "confusion_matrix": {"labels": names, "matrix": [[3, 0, 1], [1, 1, 0], [0, 0, 3]]},
              "labels": names, "multi_label": False, "run_dir": str(rd), "base": False, "created": 1_764_000_500.0,
              "note": "", "loss": None, "perplexity": None, "samples": [], "rows": rows}
    path = Path(rd) / "eval.json"
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return path
