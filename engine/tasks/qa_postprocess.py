"""From start/end logits over windows to one answer per question (transformers' ``utils_qa.py`` recipe).

For each question, every window proposes its ``n_best`` start and end tokens; a pair is a candidate
span when both lie in the context, the end is not before the start, and it is at most
``max_answer_length`` tokens long. A span scores start logit + end logit. With SQuAD 2.0 data the
null answer (CLS, the lowest such score over the windows) competes: when it beats the best span by
more than ``null_threshold`` the prediction is the empty answer. ``score`` is the softmax over the
kept candidates' scores, so 0..1 as the transformers pipeline reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Prediction:
    id: str
    text: str  # "" = no answer
    score: float  # probability of the chosen answer among the candidates
    start_char: int | None  # where ``text`` starts in the context (None for no answer)
    best_span: str  # the best non-empty span, even when the null answer won
    null_margin: float | None  # null score minus the best span's score (SQuAD 2.0)


def postprocess(examples: list[dict], example_index: list[int], offsets: list, start_logits, end_logits, *,
                n_best: int = 20, max_answer_length: int = 30, with_null: bool = True,
                null_threshold: float = 0.0) -> list[Prediction]:
    """One Prediction per example, in the examples' order."""
    by_example: dict[int, list[int]] = {}
    for f, e in enumerate(example_index):
        by_example.setdefault(e, []).append(f)
    out = []
    for e_i, example in enumerate(examples):
        context = example["context"]
        null = None
        cands = []
        for f in by_example.get(e_i, []):
            s_log, e_log = np.asarray(start_logits[f], dtype=np.float64), np.asarray(end_logits[f], dtype=np.float64)
            offs = offsets[f]
            n = min(len(offs), len(s_log))
            null_score = s_log[0] + e_log[0]
            if null is None or null_score < null:
                null = null_score
            starts = np.argsort(s_log[:n])[::-1][:n_best]
            ends = np.argsort(e_log[:n])[::-1][:n_best]
            for s in starts:
                if offs[s] is None:
                    continue
                for t in ends:
                    if offs[t] is None or t < s or t - s + 1 > max_answer_length:
                        continue
                    cands.append((float(s_log[s] + e_log[t]), offs[s][0], offs[t][1]))
        cands.sort(key=lambda c: -c[0])
        cands = cands[:n_best]
        scores = [c[0] for c in cands] + ([null] if with_null and null is not None else [])
        if not scores:
            out.append(Prediction(example["id"], "", 0.0, None, "", None))
            continue
        probs = np.exp(np.array(scores) - max(scores))
        probs /= probs.sum()
        if not cands:
            out.append(Prediction(example["id"], "", float(probs[-1]), None, "", None))
            continue
        best_score, a, b = cands[0]
        best = context[a:b]
        margin = float(null - best_score) if with_null and null is not None else None
        if margin is not None and margin > null_threshold:
            out.append(Prediction(example["id"], "", float(probs[-1]), None, best, margin))
        else:
            out.append(Prediction(example["id"], best, float(probs[0]), a, best, margin))
    return out
