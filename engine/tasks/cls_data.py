"""Reading text-classification data: a text (or a text pair) and a label per row.

Columns are found by name (``data.columns`` maps them when the names differ)::

    text:   text, sentence, review, content, document   (or a pair: sentence1/sentence2, text_a/text_b,
                                                          premise/hypothesis)
    label:  label, labels, class, category, sentiment, target, intent

Every row becomes ``{"row": 7, "text": "...", "text_pair": None, "label": "spam"}``. The labels make a
:class:`LabelSpace`: string labels get ids in sorted order with their names kept, integer labels keep
their ids (a hub ClassLabel column gives its names), a label given as a list makes the data multi-label.
A validation label the training rows never had is a one-line DataError naming the row.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
LABEL_COLUMNS = ("label", "labels", "class", "category", "sentiment", "target", "intent")
PAIR_COLUMNS = (("sentence1", "sentence2"), ("text_a", "text_b"), ("premise", "hypothesis"))
IMBALANCE_RATIO = 5  # the largest class this many times the smallest is "strong imbalance"
DATA_VAL_FRACTION = 0.1  # the validation share `tunedeck data` judges class sizes against when none is set


@dataclass
class LabelSpace:
    """Label names <-> ids, as saved in the model's config (``id2label``/``label2id``)."""

    names: list[str]
    kind: str  # "string" | "int" | "multi"

    @property
    def multi(self) -> bool:
        return self.kind == "multi"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def _id(self, value: Any, where: str, row: int) -> int:
        if self.kind == "int" or (self.kind == "multi" and _is_int(value)):
            if _is_int(value) and 0 <= int(value) < len(self.names):
                return int(value)
        elif str(value) in self.label2id:
            return self.label2id[str(value)]
        raise DataError(f"{where}: row {row}: label {value!r} is not among the training labels "
                        f"({', '.join(self.names[:12])}{', ...' if len(self.names) > 12 else ''}); "
                        "fix the label, or add rows with it to the training data")

    def encode(self, label: Any, where: str, row: int) -> int | list[float]:
        """A row's label as the model's target: an id, or (multi-label) a 0/1 vector."""
        if self.multi:
            hot = [0.0] * len(self.names)
            for value in _as_list(label):
                hot[self._id(value, where, row)] = 1.0
            return hot
        return self._id(label, where, row)

    def to_dict(self) -> dict:
        return {"names": self.names, "kind": self.kind}

    @classmethod
    def from_labels(cls, labels: list, class_names: list[str] | None = None) -> LabelSpace:
        if any(isinstance(v, (list, tuple)) for v in labels):
            values = [x for v in labels for x in _as_list(v)]
            if values and all(_is_int(x) for x in values):
                return cls([str(i) for i in range(max(int(x) for x in values) + 1)], "multi")
            return cls(sorted({str(x) for x in values}), "multi")
        if class_names:
            return cls(list(class_names), "int")
        if labels and all(_is_int(v) for v in labels):
            if min(int(v) for v in labels) < 0:
                raise DataError("label: integer labels must be 0 or more (ids); found a negative one")
            return cls([str(i) for i in range(max(int(v) for v in labels) + 1)], "int")
        return cls(sorted({str(v) for v in labels}), "string")


def _is_int(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


@dataclass
class ClsDataInfo:
    path: str
    rows: int
    text_column: str
    pair_column: str | None
    label_column: str
    labels: LabelSpace
    counts: dict[str, int]  # label name -> rows carrying it
    columns: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.text_column} + {self.pair_column}" if self.pair_column else self.text_column
        kind = "multi-label" if self.labels.multi else f"{len(self.labels.names)} classes"
        return (f"classification · {self.rows} rows · text <- {text} · label <- {self.label_column} · {kind}: "
                + ", ".join(f"{name} {n}" for name, n in self.counts.items()))

    def warnings(self, val_fraction: float = 0.0) -> list[str]:
        return class_warnings(self.counts, val_fraction or DATA_VAL_FRACTION, judged=not val_fraction)


def class_warnings(counts: dict[str, int], val_fraction: float, judged: bool = False) -> list[str]:
    """Strong imbalance, and classes too small to reach a validation split of ``val_fraction``."""
    out = []
    present = {k: v for k, v in counts.items() if v > 0}
    missing = [k for k, v in counts.items() if v == 0]
    if missing:
        out.append(f"class {', '.join(map(repr, missing[:5]))} has no rows (ids are kept, but nothing teaches it)")
    if len(present) >= 2:
        big, small = max(present, key=present.get), min(present, key=present.get)
        ratio = present[big] / present[small]
        if ratio >= IMBALANCE_RATIO:
            out.append(f"classes are strongly imbalanced: {big!r} has {present[big]} rows, {small!r} {present[small]} "
                       f"({ratio:.0f}x); consider cls.class_weights: balanced, and judge by macro F1 rather than accuracy")
    share = f"a {val_fraction:.0%} validation split" + (" (if you set one)" if judged else "")
    few = [k for k, v in present.items() if v * val_fraction < 1]
    if few:
        out.append(f"class {', '.join(repr(k) + f' ({present[k]} rows)' for k in few[:5])} has too few rows for {share} "
                   "to hold any of it out; add rows, or give a data.val_path that has them")
    return out


def _find_columns(cols: list[str], columns_map: dict | None, where: str) -> tuple[str, str | None, str]:
    lower = {c.lower(): c for c in cols}
    given = columns_map or {}
    for role in ("text", "text_pair", "label"):
        if role in given and given[role] not in cols:
            raise DataError(f"{where}: data.columns.{role}: no column {given[role]!r}; found columns: {', '.join(cols)}")
    label = given.get("label") or next((lower[c] for c in LABEL_COLUMNS if c in lower), None)
    text, pair = given.get("text"), given.get("text_pair")
    if text is None:
        for a, b in PAIR_COLUMNS:
            if a in lower and b in lower:
                text, pair = lower[a], pair or lower[b]
                break
        else:
            text = next((lower[c] for c in TEXT_COLUMNS if c in lower), None)
    if text is None:
        raise DataError(f"{where}: task classification needs a text column ({', '.join(TEXT_COLUMNS)}, or a pair "
                        f"such as sentence1/sentence2); found columns: {', '.join(cols)}; map one with data.columns: {{text: COLUMN}}")
    if label is None:
        raise DataError(f"{where}: task classification needs a label column ({', '.join(LABEL_COLUMNS)}); "
                        f"found columns: {', '.join(cols)}; map one with data.columns: {{label: COLUMN}}")
    return text, pair, label


def _class_names(ds, column: str) -> list[str] | None:
    feature = getattr(ds, "features", {}).get(column)
    return list(feature.names) if getattr(feature, "names", None) else None


def read_rows(path: str, *, split: str = "train", limit: int | None = None, columns_map: dict | None = None,
              delimiter: str | None = None) -> tuple[list[dict], tuple[str, str | None, str], list[str], list[str] | None]:
    """Rows of ``path`` with their text, pair and label; (rows, columns used, all columns, ClassLabel names)."""
    from ..data import load_raw

    ds = load_raw(path, split=split, limit=limit, delimiter=delimiter)
    cols = list(ds.column_names)
    text, pair, label = _find_columns(cols, columns_map, path)
    rows = []
    for i, r in enumerate(ds):
        n = i + 1
        value = r[label]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(f"{path}: row {n}: the label ({label}) is empty; give every row a label or remove it")
        if r[text] is None or not str(r[text]).strip():
            raise DataError(f"{path}: row {n}: the text ({text}) is empty; give every row a text or remove it")
        rows.append({"row": n, "text": str(r[text]), "text_pair": None if pair is None else str(r[pair] or ""),
                     "label": value.strip() if isinstance(value, str) else value, "dataset": path})
    if limit:
        rows = rows[:limit]
    if not rows:
        raise DataError(f"{path}: no rows; add some or choose another file")
    return rows, (text, pair, label), cols, _class_names(ds, label)


def label_counts(rows: list[dict], labels: LabelSpace) -> dict[str, int]:
    counts = Counter()
    for r in rows:
        for v in _as_list(r["label"]) if labels.multi else [r["label"]]:
            counts[labels.names[int(v)] if _is_int(v) and labels.kind != "string" else str(v)] += 1
    return {name: counts.get(name, 0) for name in labels.names}


def load_examples(path: str, *, split: str = "train", limit: int | None = None, columns_map: dict | None = None,
                  delimiter: str | None = None) -> tuple[list[dict], ClsDataInfo]:
    rows, (text, pair, label), cols, names = read_rows(path, split=split, limit=limit, columns_map=columns_map,
                                                       delimiter=delimiter)
    labels = LabelSpace.from_labels([r["label"] for r in rows], names)
    for r in rows:
        labels.encode(r["label"], path, r["row"])  # ClassLabel ids out of range, say
    return rows, ClsDataInfo(path, len(rows), text, pair, label, labels, label_counts(rows, labels), cols)


def split_rows(rows: list[dict], fraction: float, seed: int, labels: LabelSpace) -> tuple[list[dict], list[dict]]:
    """Hold out ``fraction`` of the rows, per class where every class can spare one (stratified), seeded."""
    n_val = max(1, int(round(len(rows) * fraction)))
    if n_val >= len(rows):
        raise DataError(f"data.val_split: {fraction} leaves no training rows out of {len(rows)}; lower it")
    rng = random.Random(seed)
    if labels.multi:
        order = list(range(len(rows)))
        rng.shuffle(order)
        val = set(order[:n_val])
    else:
        by_class: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            by_class.setdefault(str(r["label"]), []).append(i)
        val = set()
        for members in by_class.values():
            rng.shuffle(members)
            take = int(round(len(members) * fraction))
            val.update(members[:min(take, len(members) - 1)])  # a class keeps at least one training row
    return [r for i, r in enumerate(rows) if i not in val], [r for i, r in enumerate(rows) if i in val]


def load_splits(cfg) -> tuple[list[dict], list[dict] | None, ClsDataInfo]:
    """Training and validation rows (val_path, else a seeded stratified val_split), every label checked."""
    d = cfg.data
    train, info = load_examples(d.path, split=d.split, limit=d.limit, columns_map=d.columns, delimiter=d.delimiter)
    val = None
    if d.val_path:
        val, _, _, _ = read_rows(d.val_path, split=d.split, columns_map=d.columns, delimiter=d.delimiter)
        for r in val:
            r["dataset"] = d.val_path
    elif d.val_split > 0:
        train, val = split_rows(train, d.val_split, cfg.training.seed, info.labels)
    for r in val or []:
        info.labels.encode(r["label"], r["dataset"], r["row"])  # an unseen label names its row
    return train, val, info


def sniff(path: str, delimiter: str | None = None) -> ClsDataInfo | None:
    """The classification reading of ``path`` when it has a text and a label column; else None."""
    from ..data import load_raw

    try:
        cols = list(load_raw(path, limit=5, delimiter=delimiter).column_names)
        _find_columns(cols, None, path)
    except DataError:
        return None
    return load_examples(path, delimiter=delimiter)[1]
