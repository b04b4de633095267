"""Classification scores from scikit-learn: accuracy, precision/recall/F1 (macro and weighted), per class,
and the confusion matrix with its label names. Figures are fractions (0..1), as scikit-learn gives them.

    scores = classification_scores(gold_ids, predicted_ids, ["neg", "neu", "pos"])
    scores["f1"], scores["weighted"]["f1"], scores["per_class"]["pos"]["recall"], scores["confusion_matrix"]
"""

from __future__ import annotations

from typing import Any, Sequence


def _r(x: Any) -> float:
    return round(float(x), 6)


def classification_scores(gold: Sequence, predicted: Sequence, names: list[str], multi: bool = False) -> dict:
    """Single-label: ``gold``/``predicted`` are ids. Multi-label: 0/1 indicator rows (accuracy = exact set match)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, multilabel_confusion_matrix, precision_recall_fscore_support

    ids = list(range(len(names)))
    y, p = np.asarray(gold), np.asarray(predicted)
    label_arg = {} if multi else {"labels": ids}
    out: dict[str, Any] = {"accuracy": _r(accuracy_score(y, p)), "num_rows": int(len(y))}
    for avg in ("macro", "weighted"):
        prec, rec, f1, _ = precision_recall_fscore_support(y, p, average=avg, zero_division=0, **label_arg)
        figures = {"precision": _r(prec), "recall": _r(rec), "f1": _r(f1)}
        if avg == "macro":
            out.update(figures)
        else:
            out["weighted"] = figures
    prec, rec, f1, support = precision_recall_fscore_support(y, p, average=None, zero_division=0, **label_arg)
    out["per_class"] = {name: {"precision": _r(prec[i]), "recall": _r(rec[i]), "f1": _r(f1[i]), "support": int(support[i])}
                        for i, name in enumerate(names)}
    if multi:
        out["confusion_matrix"] = {"labels": names, "per_label": {  # [[tn, fp], [fn, tp]] per label
            name: m.tolist() for name, m in zip(names, multilabel_confusion_matrix(y, p), strict=True)}}
    else:
        from sklearn.metrics import confusion_matrix

        out["confusion_matrix"] = {"labels": names, "matrix": confusion_matrix(y, p, labels=ids).tolist()}  # rows gold, columns predicted
    return out


def probabilities(logits, multi: bool):
    """Softmax (one label) or sigmoid (multi-label) of a logits array, as numpy."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    if multi:
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict_ids(probs, multi: bool, threshold: float = 0.5):
    import numpy as np

    return (np.asarray(probs) >= threshold).astype(int) if multi else np.asarray(probs).argmax(axis=-1)


def format_table(scores: dict) -> list[str]:
    """The per-class table and the confusion matrix as text lines (the CLI prints them)."""
    names = list(scores["per_class"])
    w = max(8, *(len(n) for n in names))
    lines = [f"{'class':<{w}}  precision  recall     f1  support"]
    for n, s in scores["per_class"].items():
        lines.append(f"{n:<{w}}  {s['precision']:9.3f}  {s['recall']:6.3f}  {s['f1']:5.3f}  {s['support']:7d}")
    for label, fig in (("macro", scores), ("weighted", scores["weighted"])):
        lines.append(f"{label:<{w}}  {fig['precision']:9.3f}  {fig['recall']:6.3f}  {fig['f1']:5.3f}")
    cm = scores["confusion_matrix"]
    if "matrix" in cm:
        cw = max(5, *(len(n) for n in names))
        lines.append("confusion matrix (rows: gold, columns: predicted)")
        lines.append(f"{'':<{w}}  " + "  ".join(f"{n:>{cw}}" for n in names))
        for n, row in zip(names, cm["matrix"], strict=True):
            lines.append(f"{n:<{w}}  " + "  ".join(f"{v:>{cw}d}" for v in row))
    return lines
