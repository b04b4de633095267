"""What the Runs screen and the compare view show of a QA or classification run beside its loss: exact match
and F1 (extractive QA), accuracy and macro F1 (classification), from engine.run_scores (the run's eval.json,
else its last eval event). Causal-LM runs show their losses as before.
"""

from __future__ import annotations

from rich.text import Text


def scores_text(scores) -> str:
    """``EM 57.1 F1 62.9`` or ``acc 0.870 F1 0.851``."""
    if scores.task == "extractive_qa":
        return f"EM {scores.exact_match:.1f} F1 {scores.f1:.1f}" if scores.exact_match is not None else f"F1 {scores.f1:.1f}"
    return f"acc {scores.accuracy:.3f} F1 {scores.f1:.3f}" if scores.accuracy is not None else f"F1 {scores.f1:.3f}"


def score_cell(s) -> str | None:
    """The Runs table's "best eval" cell for a run with task scores, else None (the cell shows the best eval loss)."""
    from engine.run_scores import run_scores

    scores = run_scores(s)
    return scores_text(scores) if scores is not None else None


def score_detail(s) -> Text:
    """The details line of a QA or classification run (empty for others)."""
    from engine.run_scores import run_scores

    scores = run_scores(s)
    if scores is None:
        return Text()
    loss = f" · best eval loss {s.best_eval_loss:.4f}" if s.best_eval_loss is not None else ""
    if scores.task == "extractive_qa":
        what = (f"extractive QA · {scores.source}: exact match {scores.exact_match:.1f}, F1 {scores.f1:.1f}"
                if scores.exact_match is not None else f"extractive QA · {scores.source}: F1 {scores.f1:.1f}")
    else:
        acc = f"accuracy {scores.accuracy:.3f}, " if scores.accuracy is not None else ""
        what = f"classification · {scores.source}: {acc}macro F1 {scores.f1:.3f}"
    return Text(f"{what}{loss}\n", style="bold")
