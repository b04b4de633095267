"""Reading extractive-QA data: SQuAD nested JSON and the flat Hugging Face form.

Every question becomes one example::

    {"id": "q1", "question": "...", "context": "...", "answers": {"text": ["..."], "answer_start": [17]}}

An unanswerable question (SQuAD 2.0 ``is_impossible``, or empty ``answers``) has empty lists.
Every ``answer_start`` is checked against its context; a wrong one is a one-line DataError naming
the question id and both texts. Flat data without a context column says which columns it found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError


@dataclass
class QaDataInfo:
    path: str
    kind: str  # "squad" (nested JSON) | "flat"
    questions: int
    answerable: int
    unanswerable: int
    columns: list[str]

    def describe(self) -> str:
        return (f"extractive_qa ({'SQuAD nested JSON' if self.kind == 'squad' else 'flat question/context/answers'}) · "
                f"{self.questions} questions: {self.answerable} answerable, {self.unanswerable} unanswerable")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _start(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def check_answers(qid: str, context: str, texts: list[str], starts: list, where: str) -> dict:
    """``{"text": [...], "answer_start": [...]}`` after checking every offset points at its text."""
    if len(texts) != len(starts):
        raise DataError(f"{where}: question {qid}: {len(texts)} answer texts but {len(starts)} answer_start values; "
                        "give one offset per answer")
    out_t, out_s = [], []
    for text, raw in zip(texts, starts, strict=False):
        text = _text(text)
        start = _start(raw)
        if start is None or start < 0:
            raise DataError(f"{where}: question {qid}: answer_start {raw!r} is not a character offset; "
                            "give the answer's position in the context (0 = first character)")
        found = context[start:start + len(text)]
        if found != text:
            raise DataError(f"{where}: question {qid}: answer_start {start} does not point at the answer {text[:60]!r} "
                            f"in its context (found {found[:60]!r}); fix the offset or remove the question")
        out_t.append(text)
        out_s.append(start)
    return {"text": out_t, "answer_start": out_s}


def is_squad(obj: Any) -> bool:
    data = obj.get("data") if isinstance(obj, dict) else None
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and isinstance(data[0].get("paragraphs"), list)


def read_squad(obj: dict, where: str) -> list[dict]:
    """SQuAD 1.1/2.0 nested JSON -> examples (one per question)."""
    rows = []
    for article in obj["data"]:
        for para in (article.get("paragraphs") or []) if isinstance(article, dict) else []:
            if not isinstance(para, dict):
                continue
            context = _text(para.get("context"))
            for qa in para.get("qas") or []:
                if not isinstance(qa, dict):
                    continue
                qid = _text(qa.get("id", len(rows)))
                answers = [a for a in (qa.get("answers") or []) if isinstance(a, dict)]
                if qa.get("is_impossible"):
                    answers = []
                checked = check_answers(qid, context, [a.get("text") for a in answers],
                                        [a.get("answer_start") for a in answers], where)
                rows.append({"id": qid, "question": _text(qa.get("question")), "context": context, "answers": checked})
    return rows


def _json_file(path: str) -> Any:
    p = Path(path).expanduser()
    if p.is_file() and p.suffix.lower() == ".json":
        try:
            return json.loads(p.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            return None  # engine.data reports what is wrong with the file
    return None


def read_flat(ds, where: str, columns_map: dict | None = None) -> list[dict]:
    """Rows with question, context and answers columns (the flat Hugging Face form) -> examples."""
    cols = list(ds.column_names)
    lower = {c.lower(): c for c in cols}
    roles = {}
    for role in ("question", "context", "answers", "id"):
        given = (columns_map or {}).get(role)
        roles[role] = given if given in cols else lower.get(role)
    if roles["context"] is None:
        raise DataError(f"{where}: task extractive_qa needs a context column (the passage each answer is taken from); "
                        f"found columns: {', '.join(cols)}; rename one to context or map it with data.columns: {{context: COLUMN}}")
    if roles["question"] is None:
        raise DataError(f"{where}: task extractive_qa needs a question column; found columns: {', '.join(cols)}; "
                        "map one with data.columns: {question: COLUMN}")
    if roles["answers"] is None:
        raise DataError(f"{where}: task extractive_qa needs an answers column ({{text: [...], answer_start: [...]}}); "
                        f"found columns: {', '.join(cols)}")
    rows = []
    for i, row in enumerate(ds):
        qid = _text(row.get(roles["id"])) if roles["id"] else str(i + 1)
        ans = row[roles["answers"]]
        if isinstance(ans, str):
            try:
                ans = json.loads(ans)
            except ValueError:
                ans = None
        if ans is None:
            ans = {"text": [], "answer_start": []}
        if not isinstance(ans, dict) or "text" not in ans or "answer_start" not in ans:
            raise DataError(f"{where}: row {i + 1} (question {qid}): answers must be {{text: [...], answer_start: [...]}}, "
                            f"got {str(ans)[:80]}")
        texts = ans["text"] if isinstance(ans["text"], list) else [ans["text"]]
        starts = ans["answer_start"] if isinstance(ans["answer_start"], list) else [ans["answer_start"]]
        context = _text(row[roles["context"]])
        rows.append({"id": qid, "question": _text(row[roles["question"]]), "context": context,
                     "answers": check_answers(qid, context, texts, starts, where)})
    return rows


def load_examples(path: str, *, split: str = "train", limit: int | None = None,
                  columns_map: dict | None = None) -> tuple[list[dict], QaDataInfo]:
    """Examples from a SQuAD JSON file, or any file/folder/hub id engine.data reads in the flat form."""
    obj = _json_file(path)
    if obj is not None and is_squad(obj):
        rows, kind, cols = read_squad(obj, path), "squad", ["id", "question", "context", "answers"]
    else:
        from ..data import load_raw

        ds = load_raw(path, split=split)
        rows, kind, cols = read_flat(ds, path, columns_map), "flat", list(ds.column_names)
    if limit:
        rows = rows[:limit]
    if not rows:
        raise DataError(f"{path}: no questions; add some or choose another file")
    answerable = sum(1 for r in rows if r["answers"]["text"])
    return rows, QaDataInfo(path, kind, len(rows), answerable, len(rows) - answerable, cols)


def sniff(path: str) -> QaDataInfo | None:
    """The QA reading of ``path`` when it looks like QA data (SQuAD JSON, or question/context/answers columns); else None."""
    obj = _json_file(path)
    if obj is not None and is_squad(obj):
        return load_examples(path)[1]
    try:
        from ..data import load_raw

        ds = load_raw(path, limit=5)
    except DataError:
        return None
    lower = {c.lower() for c in ds.column_names}
    if {"question", "context", "answers"} <= lower:
        return load_examples(path)[1]
    return None
