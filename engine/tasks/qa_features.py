"""Extractive-QA tokenisation: question + context as a pair, the context cut into overlapping windows.

As in transformers' ``run_qa.py``: ``truncation="only_second"`` with ``stride=qa.doc_stride`` and
``return_overflowing_tokens``, and the offset mapping to find the answer's start and end tokens in each
window. A window that does not hold the whole answer, and every window of an unanswerable question,
points at the CLS token. An answerable question none of whose windows holds its answer is counted as
lost to truncation. Beside the model inputs each window keeps its example index and the character
offsets of its context tokens (None elsewhere), which post-processing maps logits back through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError


@dataclass
class QaStats:
    questions: int = 0
    answerable: int = 0
    windows: int = 0
    answer_windows: int = 0
    lost_to_truncation: int = 0
    lost_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.questions} questions ({self.answerable} answerable) in {self.windows} windows; "
                f"{self.lost_to_truncation} answers lost to truncation (in no window)")


@dataclass
class QaFeatures:
    columns: dict[str, list]  # input_ids, attention_mask, [token_type_ids], start_positions, end_positions
    example_index: list[int]
    offsets: list[list[tuple[int, int] | None]]
    stats: QaStats

    def __len__(self) -> int:
        return len(self.example_index)


def check_tokenizer(tokenizer, name: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"model.name: {name} has no fast tokenizer (needed for answer offsets); use a model with tokenizer.json")


def check_question_room(tokenizer, questions: list[str], ids: list[str], qa_cfg) -> None:
    """A question so long that the context's room in a window is not above ``qa.doc_stride`` is a DataError
    (the fast tokenizer would panic on it, or fail without naming the question)."""
    if not questions:
        return
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    lengths = [len(q) for q in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for n, qid in zip(lengths, ids, strict=False):
        room = qa_cfg.max_length - n - specials
        if qa_cfg.doc_stride < room:
            continue
        need = n + specials + qa_cfg.doc_stride + 1
        fix = (f"raise qa.max_length to at least {need} or lower qa.doc_stride below {room}" if room > 1
               else f"raise qa.max_length to at least {need} or shorten the question")
        raise DataError(f"question {qid}: the question is {n} tokens long, which leaves {max(room, 0)} of "
                        f"qa.max_length={qa_cfg.max_length} tokens for the context, not more than "
                        f"qa.doc_stride={qa_cfg.doc_stride}; {fix}")


def _tokenize(tokenizer, questions: list[str], contexts: list[str], qa_cfg, ids: list[str]):
    kwargs = dict(truncation="only_second", max_length=qa_cfg.max_length, stride=qa_cfg.doc_stride,
                  return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
    try:
        return tokenizer(questions, contexts, **kwargs)
    except Exception:
        for q, c, qid in zip(questions, contexts, ids, strict=False):  # find the question that does not fit
            try:
                tokenizer([q], [c], **kwargs)
            except Exception as e:
                raise DataError(f"question {qid}: cannot cut its context into windows of qa.max_length={qa_cfg.max_length} "
                                f"with qa.doc_stride={qa_cfg.doc_stride} ({str(e).splitlines()[0][:120]}); "
                                "shorten the question, lower qa.doc_stride or raise qa.max_length") from None
        raise


def encode_examples(examples: list[dict], tokenizer, qa_cfg) -> QaFeatures:
    """Windows for every example, labelled with start/end token positions (CLS for no answer)."""
    if qa_cfg.doc_stride >= qa_cfg.max_length - 8:
        raise DataError(f"qa.doc_stride: {qa_cfg.doc_stride} must be well below qa.max_length ({qa_cfg.max_length})")
    questions = [e["question"].lstrip() for e in examples]
    contexts = [e["context"] for e in examples]
    check_question_room(tokenizer, questions, [e["id"] for e in examples], qa_cfg)
    enc = _tokenize(tokenizer, questions, contexts, qa_cfg, [e["id"] for e in examples])
    cls_id = tokenizer.cls_token_id
    stats = QaStats(questions=len(examples), answerable=sum(1 for e in examples if e["answers"]["text"]))
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    cols: dict[str, list] = {k: [] for k in names + ["start_positions", "end_positions"]}
    ex_index, all_offsets = [], []
    found = [False] * len(examples)
    for i, offsets in enumerate(enc["offset_mapping"]):
        ids = enc["input_ids"][i]
        seq = enc.sequence_ids(i)
        e_i = enc["overflow_to_sample_mapping"][i]
        cls = ids.index(cls_id) if cls_id in ids else 0
        start = end = cls
        ctx = [k for k, s in enumerate(seq) if s == 1]
        ans = examples[e_i]["answers"]
        if ans["text"] and ctx:
            s_char = ans["answer_start"][0]
            e_char = s_char + len(ans["text"][0])
            first, last = ctx[0], ctx[-1]
            if offsets[first][0] <= s_char and offsets[last][1] >= e_char:
                t = first
                while t <= last and offsets[t][0] <= s_char:
                    t += 1
                start = t - 1
                t = last
                while t >= first and offsets[t][1] >= e_char:
                    t -= 1
                end = t + 1
                found[e_i] = True
                stats.answer_windows += 1
        for k in names:
            cols[k].append(enc[k][i])
        cols["start_positions"].append(start)
        cols["end_positions"].append(end)
        ex_index.append(e_i)
        all_offsets.append([tuple(o) if s == 1 else None for o, s in zip(offsets, seq, strict=False)])
    stats.windows = len(ex_index)
    for e_i, e in enumerate(examples):
        if e["answers"]["text"] and not found[e_i]:
            stats.lost_to_truncation += 1
            stats.lost_ids.append(e["id"])
    return QaFeatures(cols, ex_index, all_offsets, stats)


@dataclass
class WindowView:
    """One window of one question, as the preview shows it."""

    index: int  # 1-based
    total: int
    tokens: list[str]
    start: int  # labelled start/end token (the CLS index when the answer is not here)
    end: int
    has_answer: bool
    context_span: tuple[int, int]  # characters of the context this window covers

    def caption(self) -> str:
        if self.has_answer:
            return f"window {self.index} of {self.total}: answer here (tokens {self.start}..{self.end})"
        return f"window {self.index} of {self.total}: no answer in this window: trained to point at CLS"


def preview_windows(example: dict, tokenizer, qa_cfg) -> list[WindowView]:
    """The windows the tokenizer makes for one example, with the labelled start and end tokens."""
    feats = encode_examples([example], tokenizer, qa_cfg)
    out = []
    for w in range(len(feats)):
        ids = feats.columns["input_ids"][w]
        start, end = feats.columns["start_positions"][w], feats.columns["end_positions"][w]
        spans = [o for o in feats.offsets[w] if o is not None]
        out.append(WindowView(w + 1, len(feats), tokenizer.convert_ids_to_tokens(ids), start, end,
                              has_answer=feats.offsets[w][start] is not None,
                              context_span=(spans[0][0], spans[-1][1]) if spans else (0, 0)))
    return out


def as_dataset(feats: QaFeatures) -> Any:
    from datasets import Dataset

    return Dataset.from_dict(feats.columns)
