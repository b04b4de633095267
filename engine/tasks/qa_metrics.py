"""Exact match and F1 for extractive QA, as the official SQuAD 2.0 evaluation script computes them.

Answers are normalised (lower case, punctuation removed, the articles a/an/the removed, whitespace
collapsed) before comparing; a prediction scores the best it gets against any of its gold answers.
An unanswerable question has no gold answer: only the empty prediction scores 1 on it::

    exact_match("The Eiffel Tower!", ["Eiffel tower"])   # 1.0
    f1("in the park", ["the park"])                      # 0.8
    squad_scores([("Paris", ["Paris", "paris, France"]), ("", [])])
    # {"exact_match": 100.0, "f1": 100.0, "total": 2, "answerable": {...}, "unanswerable": {...}}
"""

from __future__ import annotations

import collections
import re
import string
from typing import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the official SQuAD normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def compute_exact(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = _tokens(gold), _tokens(pred)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)  # no answer on either side: 1 only if both are empty
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _golds(golds: Sequence[str]) -> list[str]:
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]  # an unanswerable question's only gold answer is the empty string


def exact_match(pred: str, golds: Sequence[str]) -> float:
    return float(max(compute_exact(g, pred) for g in _golds(golds)))


def f1(pred: str, golds: Sequence[str]) -> float:
    return max(compute_f1(g, pred) for g in _golds(golds))


def _mean(values: list[float]) -> float:
    return round(100.0 * sum(values) / len(values), 4) if values else 0.0


def squad_scores(pairs: Iterable[tuple[str, Sequence[str]]]) -> dict:
    """EM and F1 (0 to 100) over (prediction, gold answers) pairs, with answerable-only and
    unanswerable-only figures (SQuAD 2.0's HasAns and NoAns)."""
    em_all, f1_all, em_has, f1_has, em_no, f1_no = [], [], [], [], [], []
    for pred, golds in pairs:
        e, f = exact_match(pred, golds), f1(pred, golds)
        em_all.append(e)
        f1_all.append(f)
        if any(normalize_answer(g) for g in golds):
            em_has.append(e)
            f1_has.append(f)
        else:
            em_no.append(e)
            f1_no.append(f)
    return {
        "exact_match": _mean(em_all), "f1": _mean(f1_all), "total": len(em_all),
        "answerable": {"exact_match": _mean(em_has), "f1": _mean(f1_has), "total": len(em_has)},
        "unanswerable": {"exact_match": _mean(em_no), "f1": _mean(f1_no), "total": len(em_no)},
    }
