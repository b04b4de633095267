"""After an extractive-QA run: answer a question, evaluate (EM/F1 -> eval.json), export a pipeline-ready folder.

    answer_question(run_dir, "Which key starts training?", "Press s on the Train screen ...")
    evaluate_qa_run(run_dir)          # {"exact_match": 71.0, "f1": 78.4, "questions": [...]} and RUN/eval.json
    export_qa(run_dir, "out/")        # transformers.pipeline("question-answering", model="out/") answers with it
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from .. import rundir

EVAL_FILE = rundir.EVAL_FILE


def is_qa_run(run_dir) -> bool:
    try:
        from ..config import read_yaml

        return read_yaml(Path(run_dir) / rundir.CONFIG_FILE).get("task") == "extractive_qa"
    except Exception:
        return False


def run_config(run_dir):
    from ..config import load_config

    return load_config(Path(run_dir) / rundir.CONFIG_FILE)


def _decode(cfg, examples, feats, model, tokenizer, with_null: bool):
    from .qa_postprocess import postprocess
    from .qa_train import predict_features

    start, end = predict_features(model, feats, tokenizer, batch_size=cfg.training.batch_size * 4)
    return postprocess(examples, feats.example_index, feats.offsets, start, end, n_best=cfg.qa.n_best,
                       max_answer_length=cfg.qa.max_answer_length, with_null=with_null,
                       null_threshold=cfg.qa.null_threshold)


def answer_question(run_dir, question: str, context: str, *, base: bool = False, checkpoint=None,
                    on_message: Callable[[str], None] | None = None):
    """The best answer span (a qa_postprocess.Prediction) to ``question`` in ``context``."""
    from ..errors import DataError
    from .qa_features import encode_examples
    from .qa_model import load_trained

    if not question.strip() or not context.strip():
        raise DataError("give both --question and --context (non-empty)")
    cfg = run_config(run_dir)
    model, tokenizer = load_trained(Path(run_dir), cfg, checkpoint=checkpoint, base=base, on_message=on_message)
    example = {"id": "q", "question": question, "context": context, "answers": {"text": [], "answer_start": []}}
    feats = encode_examples([example], tokenizer, cfg.qa)
    return _decode(cfg, [example], feats, model, tokenizer, with_null=True)[0]


def eval_examples(cfg) -> tuple[list[dict], str]:
    """The questions the run validated on (same split and seed as training), else its training questions."""
    from .qa_train import load_splits

    train, val, _ = load_splits(cfg)
    return (val, "validation") if val else (train, "train")


def evaluate_qa_run(run_dir, *, max_samples: int | None = None, checkpoint=None, base: bool = False,
                    on_message: Callable[[str], None] | None = None, save: bool = True) -> dict:
    """EM/F1 on the run's validation questions, per-question rows, saved to RUN/eval.json."""
    from .qa_features import encode_examples
    from .qa_metrics import exact_match, f1, squad_scores
    from .qa_model import load_trained

    rd = Path(run_dir)
    cfg = run_config(rd)
    examples, split = eval_examples(cfg)
    if max_samples:
        examples = examples[:max_samples]
    model, tokenizer = load_trained(rd, cfg, checkpoint=checkpoint, base=base, on_message=on_message)
    feats = encode_examples(examples, tokenizer, cfg.qa)
    with_null = any(not e["answers"]["text"] for e in examples)
    preds = _decode(cfg, examples, feats, model, tokenizer, with_null)
    scores = squad_scores((p.text, e["answers"]["text"]) for p, e in zip(preds, examples, strict=False))
    rows = []
    for p, e in zip(preds, examples, strict=False):
        golds = e["answers"]["text"]
        rows.append({"id": e["id"], "question": e["question"], "context": e["context"], "gold_answers": golds,
                     "gold_starts": e["answers"]["answer_start"], "predicted": p.text, "predicted_start": p.start_char,
                     "score": round(p.score, 6), "correct": bool(exact_match(p.text, golds)),
                     "f1": round(100 * f1(p.text, golds), 2)})
    report = {"task": "extractive_qa", "split": split, "exact_match": scores["exact_match"], "f1": scores["f1"],
              "answerable": scores["answerable"], "unanswerable": scores["unanswerable"],
              "num_questions": len(examples), "run_dir": str(rd), "base": base, "created": time.time(),
              "note": "" if split == "validation" else "the run has no validation split: scored on training questions",
              "loss": None, "perplexity": None, "samples": [], "questions": rows}
    if save:
        rundir.atomic_write_text(rd / EVAL_FILE, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return report


def export_qa(run_dir, out_dir, *, checkpoint=None, on_progress: Callable[[str], None] = lambda t: None) -> Path:
    """A plain transformers folder (a LoRA run merged) that pipeline("question-answering") loads."""
    from ..export import check_target
    from .qa_model import load_trained

    out = Path(out_dir)
    check_target(out)
    rd = Path(run_dir)
    cfg = run_config(rd)
    on_progress("Loading the trained model")
    model, tokenizer = load_trained(rd, cfg, checkpoint=checkpoint, on_message=on_progress)
    if hasattr(model, "merge_and_unload"):
        on_progress("Merging the adapter")
        model = model.merge_and_unload()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    on_progress(f"Saving to {out}")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        out.rmdir()  # check_target made sure it is empty
    tmp.rename(out)
    return out
