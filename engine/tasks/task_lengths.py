"""Token lengths for the encoder tasks, measured through the trainers' own tokenisation, before any GPU time::

    tl = measure_task(cfg, rows, tokenizer)      # classification: cls_train.token_lengths (encode_rows's count)
    tl.lines(cfg)                                # extractive QA: qa_features.encode_examples, windows per question
    suggest_max_length(tl, cfg, 95)              # the value `m` (p95) / `M` (p99) writes to qa/cls.max_length

Classification keeps each row's tokens (text, or text pair, with the special tokens) before truncation;
the share over ``cls.max_length`` follows for any max_length. Extractive QA keeps each question's
question+context tokens before truncation and, from the windows the trainer makes with ``qa.max_length``
and ``qa.doc_stride``, the windows per question and the answers in no window (lost to truncation).
Figures that need no second pass reuse :mod:`engine.lengths` (percentiles, histogram). Cached like the
causal-LM lengths in ``<cache>/lengths/``, keyed by the file, how it is read, the tokenizer and, for QA,
the window settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .. import lengths as lm

CACHE_VERSION = 1


@dataclass
class TaskLengths:
    task: str
    lengths: list[int] = field(default_factory=list)  # tokens per row/question before truncation
    windows: list[int] = field(default_factory=list)  # QA: windows per question
    answerable: int = 0
    lost: int = 0  # QA: answerable questions whose answer is in no window
    lost_ids: list[str] = field(default_factory=list)
    longest_question: int = 0  # QA: tokens of the longest question (what doc_stride needs room beside)
    specials: int = 0  # QA: special tokens a question+context pair adds

    def as_lengths(self) -> lm.Lengths:
        """The shape :mod:`engine.lengths` figures and the histogram panel take (every row trains)."""
        return lm.Lengths(lengths=list(self.lengths), first_trained=[0] * len(self.lengths),
                          empty=[False] * len(self.lengths))

    def figures(self, max_length: int) -> lm.Figures:
        return lm.figures(self.as_lengths(), max_length)

    def window_figures(self) -> tuple[int, float, int, int]:
        """(min, median, max) windows per question and the total number of features."""
        w = sorted(self.windows)
        if not w:
            return 0, 0.0, 0, 0
        n = len(w)
        median = float(w[n // 2]) if n % 2 else (w[n // 2 - 1] + w[n // 2]) / 2
        return w[0], median, w[-1], sum(w)

    def lines(self, cfg) -> list[str]:
        """The figures as ``tunedeck data FILE --config CFG`` prints them."""
        if not self.lengths:
            return ["token lengths: no rows"]
        max_length = task_max_length(cfg)
        fig = self.figures(max_length)
        unit = "questions (question + context)" if self.task == "extractive_qa" else "rows"
        out = [f"token lengths: {fig.samples:,} {unit}, min {fig.min:,}, median {fig.median:,.0f}, "
               f"p95 {fig.p95:,}, p99 {fig.p99:,}, max {fig.max:,}"]
        if self.task == "extractive_qa":
            lo, med, hi, total = self.window_figures()
            out.append(f"windows at qa.max_length={max_length:,}, qa.doc_stride={cfg.qa.doc_stride:,}: "
                       f"{total:,} features; per question min {lo:,}, median {med:,.0f}, max {hi:,}; "
                       f"{fig.over:,} ({fig.over_share:.1%}) questions need more than one window")
            out.append(f"answers lost to truncation (in no window): {self.lost:,} of {self.answerable:,} answerable"
                       + (f" (e.g. {', '.join(self.lost_ids[:3])})" if self.lost_ids else ""))
        else:
            out.append(f"over cls.max_length={max_length:,}: {fig.over:,} ({fig.over_share:.1%}) truncated")
        return out


def task_max_length(cfg) -> int:
    return cfg.qa.max_length if cfg.task == "extractive_qa" else cfg.cls.max_length


def max_length_field(task: str) -> str:
    return "qa.max_length" if task == "extractive_qa" else "cls.max_length"


def qa_floor(tl: TaskLengths, doc_stride: int) -> int:
    """The least qa.max_length the trainer accepts: room above doc_stride beside the longest question
    (:func:`qa_features.check_question_room`), and doc_stride well below max_length (encode_examples)."""
    return max(tl.longest_question + tl.specials + doc_stride + 1, doc_stride + 9)


def suggest_max_length(tl: TaskLengths, cfg, q: int, model_max: int | None = None) -> int:
    """The p``q`` length for ``m``/``M``; for QA rounded up to a multiple of 8, never below :func:`qa_floor`,
    and not above the model's positions when it has a sane limit."""
    fig = tl.figures(task_max_length(cfg))
    value = fig.p95 if q == 95 else fig.p99
    if model_max and 0 < model_max < 100_000:
        value = min(value, int(model_max))
    if tl.task != "extractive_qa":
        return max(1, value)
    value = -(-value // 8) * 8
    floor = qa_floor(tl, cfg.qa.doc_stride)
    return max(value, -(-floor // 8) * 8)


# --- measuring, with a cache -------------------------------------------------------------------------

def cache_key(cfg, tokenizer) -> str:
    d = cfg.data
    parts = [str(CACHE_VERSION), cfg.task, lm._file_stamp(str(d.path)), str(d.split), str(d.limit),
             json.dumps(sorted((d.columns or {}).items())), str(d.delimiter), lm._tokenizer_stamp(tokenizer)]
    if cfg.task == "extractive_qa":
        parts += [str(cfg.qa.max_length), str(cfg.qa.doc_stride)]  # the windows depend on them
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def measure_task(cfg, rows: list[dict], tokenizer, *, use_cache: bool = True) -> TaskLengths:
    """Every row (question) of ``rows`` (the task's ``load_examples``) as its trainer tokenises it."""
    key = cache_key(cfg, tokenizer) if use_cache else None
    if key:
        cached = lm.load_cached(f"task-{key}", TaskLengths)
        if cached is not None and len(cached.lengths) == len(rows):
            return cached
    if cfg.task == "extractive_qa":
        tl = _measure_qa(cfg, rows, tokenizer)
    else:
        from .cls_train import token_lengths

        tl = TaskLengths(task="classification", lengths=token_lengths(rows, tokenizer))
    if key:
        lm.save_cached(f"task-{key}", tl)
    return tl


def _measure_qa(cfg, rows: list[dict], tokenizer) -> TaskLengths:
    from .qa_features import encode_examples

    feats = encode_examples(rows, tokenizer, cfg.qa)  # the trainer's windows (raises its one-line errors)
    windows = [0] * len(rows)
    for e_i in feats.example_index:
        windows[e_i] += 1
    questions = [e["question"].lstrip() for e in rows]  # as encode_examples feeds them
    full = tokenizer(questions, [e["context"] for e in rows], truncation=False)["input_ids"]
    q_only = tokenizer(questions, add_special_tokens=False)["input_ids"] if rows else []
    return TaskLengths(task="extractive_qa", lengths=[len(ids) for ids in full], windows=windows,
                       answerable=feats.stats.answerable, lost=feats.stats.lost_to_truncation,
                       lost_ids=list(feats.stats.lost_ids), longest_question=max((len(q) for q in q_only), default=0),
                       specials=tokenizer.num_special_tokens_to_add(pair=True))
