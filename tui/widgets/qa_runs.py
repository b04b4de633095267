"""What the Runs screen and the compare view show of an extractive-QA run: its last exact match and F1.

A QA run's summary (engine.runs.RunSummary) carries ``exact_match`` and ``f1`` from its last eval event;
the Runs table's "best eval" cell shows them instead of an eval loss, and the details name them.
"""

from __future__ import annotations

from rich.text import Text


def qa_cell(s) -> str | None:
    """``EM 57.1 F1 62.9`` for a run with QA scores, else None (the cell shows the best eval loss)."""
    f1 = getattr(s, "f1", None)
    if f1 is None:
        return None
    em = getattr(s, "exact_match", None)
    return f"EM {em:.1f} F1 {f1:.1f}" if em is not None else f"F1 {f1:.1f}"


def qa_detail(s) -> Text:
    """The details line of a QA run (empty for others)."""
    cell = qa_cell(s)
    if cell is None or getattr(s, "exact_match", None) is None:  # not QA (a classification run has F1 only)
        return Text()
    loss = f" · best eval loss {s.best_eval_loss:.4f}" if s.best_eval_loss is not None else ""
    return Text(f"extractive QA · last eval: exact match {s.exact_match:.1f}, F1 {s.f1:.1f}{loss}\n", style="bold")
