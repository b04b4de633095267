"""A run's task scores for the Runs table and the compare view: EM/F1 for extractive QA, accuracy and macro F1
for classification, from the run's ``eval.json`` (``tunedeck eval``, the Evaluate screen) when it holds the
tuned model's scores, else from its last eval event. Causal-LM runs have none (their loss says it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import rundir


@dataclass(frozen=True)
class RunScores:
    task: str  # "extractive_qa" | "classification"
    exact_match: float | None  # QA, 0..100
    f1: float | None  # QA: 0..100; classification: macro F1, 0..1
    accuracy: float | None  # classification, 0..1
    source: str  # "eval.json" | "last eval"


def _report(rd: Path, task: str) -> dict | None:
    try:
        report = json.loads((rd / rundir.EVAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict) or report.get("task") != task or report.get("base"):
        return None  # another task's report, or the untrained base's scores
    return report


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_scores(summary) -> RunScores | None:
    """The scores of a :class:`engine.runs.RunSummary`'s run, or None (a causal-LM run, or nothing evaluated yet)."""
    task = summary.config.task if summary.config is not None else None
    if task not in ("extractive_qa", "classification"):
        return None
    report = _report(Path(summary.path), task)
    if report is not None:
        em, f1, acc = _num(report.get("exact_match")), _num(report.get("f1")), _num(report.get("accuracy"))
        if f1 is not None:
            return RunScores(task, em if task == "extractive_qa" else None, f1,
                             acc if task == "classification" else None, "eval.json")
    if summary.f1 is None:
        return None
    if task == "extractive_qa":
        return RunScores(task, summary.exact_match, summary.f1, None, "last eval")
    return RunScores(task, None, summary.f1, summary.accuracy, "last eval")
