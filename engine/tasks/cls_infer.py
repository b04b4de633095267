"""After a classification run: classify a text, evaluate (-> eval.json), export a pipeline-ready folder.

    classify_text(run_dir, "The screen froze")   # [("bug", 0.91), ("question", 0.06), ("praise", 0.03)]
    evaluate_cls_run(run_dir)                    # accuracy, macro/weighted P/R/F1, per class, confusion matrix
    export_cls(run_dir, "out/")                  # transformers.pipeline("text-classification", model="out/")
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from .. import rundir

EVAL_FILE = "eval.json"


def is_cls_run(run_dir) -> bool:
    try:
        from ..config import read_yaml

        return read_yaml(Path(run_dir) / rundir.CONFIG_FILE).get("task") == "classification"
    except Exception:
        return False


def run_config(run_dir):
    from ..config import load_config

    return load_config(Path(run_dir) / rundir.CONFIG_FILE)


def predict_probs(model, tokenizer, rows: list[dict], cfg, multi: bool, batch_size: int = 16):
    """Probabilities (softmax, or sigmoid for multi-label) per row, as a numpy array."""
    import numpy as np
    import torch
    from transformers import DataCollatorWithPadding

    from .cls_metrics import probabilities

    collate = DataCollatorWithPadding(tokenizer)
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for b in range(0, len(rows), batch_size):
            chunk = rows[b:b + batch_size]
            pairs = [r["text_pair"] for r in chunk] if chunk[0].get("text_pair") is not None else None
            enc = tokenizer([r["text"] for r in chunk], pairs, truncation=True, max_length=cfg.cls.max_length)
            feats = [{k: enc[k][i] for k in enc.keys()} for i in range(len(chunk))]
            batch = {k: v.to(device) for k, v in collate(feats).items()}
            out.append(model(**batch).logits.float().cpu().numpy())
    return probabilities(np.concatenate(out), multi)


def classify_text(run_dir, text: str, *, text_pair: str | None = None, base: bool = False, checkpoint=None,
                  on_message: Callable[[str], None] | None = None) -> list[tuple[str, float]]:
    """(label, probability) pairs for ``text``, most likely first."""
    from ..errors import DataError
    from .cls_model import load_trained

    if not text.strip():
        raise DataError("give a non-empty --text")
    cfg = run_config(run_dir)
    model, tokenizer, labels = load_trained(Path(run_dir), cfg, checkpoint=checkpoint, base=base, on_message=on_message)
    probs = predict_probs(model, tokenizer, [{"text": text, "text_pair": text_pair}], cfg, labels.multi)[0]
    return sorted(zip(labels.names, (float(p) for p in probs), strict=True), key=lambda x: -x[1])


def eval_rows(cfg) -> tuple[list[dict], str]:
    """The rows the run validated on (same split and seed as training), else its training rows."""
    from .cls_data import load_splits

    train, val, _ = load_splits(cfg)
    return (val, "validation") if val else (train, "train")


def evaluate_cls_run(run_dir, *, max_samples: int | None = None, checkpoint=None, base: bool = False,
                     on_message: Callable[[str], None] | None = None, save: bool = True) -> dict:
    """Scores on the run's validation rows with each row's text, gold, prediction and probabilities -> RUN/eval.json."""
    from .cls_metrics import classification_scores, predict_ids
    from .cls_model import load_trained

    rd = Path(run_dir)
    cfg = run_config(rd)
    rows, split = eval_rows(cfg)
    if max_samples:
        rows = rows[:max_samples]
    model, tokenizer, labels = load_trained(rd, cfg, checkpoint=checkpoint, base=base, on_message=on_message)
    probs = predict_probs(model, tokenizer, rows, cfg, labels.multi, batch_size=cfg.training.batch_size * 4)
    pred = predict_ids(probs, labels.multi, cfg.cls.threshold)
    gold = [labels.encode(r["label"], r.get("dataset", "data"), r["row"]) for r in rows]
    scores = classification_scores(gold, pred, labels.names, labels.multi)

    def name(v) -> str | list[str]:
        if labels.multi:
            return [labels.names[i] for i, x in enumerate(v) if x]
        return labels.names[int(v)]

    out_rows = []
    for r, g, p, pr in zip(rows, gold, pred.tolist(), probs.tolist(), strict=True):
        out_rows.append({"row": r["row"], "text": r["text"], **({"text_pair": r["text_pair"]} if r.get("text_pair") is not None else {}),
                         "gold": name(g), "predicted": name(p), "correct": name(g) == name(p),
                         "probabilities": {n: round(x, 6) for n, x in zip(labels.names, pr, strict=True)}})
    report = {"task": "classification", "split": split, **scores, "labels": labels.names, "multi_label": labels.multi,
              "run_dir": str(rd), "base": base, "created": time.time(),
              "note": "" if split == "validation" else "the run has no validation split: scored on training rows",
              "loss": None, "perplexity": None, "samples": [], "rows": out_rows}
    if save:
        rundir.atomic_write_text(rd / EVAL_FILE, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return report


def export_cls(run_dir, out_dir, *, checkpoint=None, on_progress: Callable[[str], None] = lambda t: None) -> Path:
    """A plain transformers folder (a LoRA run merged; label names in its config) for pipeline("text-classification")."""
    from ..export import check_target
    from .cls_model import load_trained

    out = Path(out_dir)
    check_target(out)
    rd = Path(run_dir)
    cfg = run_config(rd)
    if cfg.model.quantization != "none":
        cfg.model.quantization = "none"  # merge into full-precision weights: a 4-bit base cannot hold the merged update
        on_progress("Merging into the base's full-precision weights")
    on_progress("Loading the trained model")
    model, tokenizer, labels = load_trained(rd, cfg, checkpoint=checkpoint, on_message=on_progress)
    if hasattr(model, "merge_and_unload"):
        on_progress("Merging the adapter")
        model = model.merge_and_unload()
    model.config.id2label, model.config.label2id = labels.id2label, labels.label2id
    model.config.problem_type = "multi_label_classification" if labels.multi else "single_label_classification"
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    on_progress(f"Saving to {out}")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        out.rmdir()  # check_target made sure it is empty
    tmp.rename(out)
    return out
