"""Several datasets in one run (``data.datasets``, checked by :mod:`engine.config_datasets`).

Each entry is read and detected as a data config of its own (its path, format, columns, template; the
run's ``data.*`` for what it leaves out) and keeps its own template. Rows are mixed by weight with the
``datasets`` library's :func:`interleave_datasets` (``probabilities`` = weights / their sum, ``seed`` =
``training.seed``) and ``data.stopping_strategy``:

* ``first_exhausted`` (the default): the mix ends when the first dataset has given all its rows; no
  row is seen twice and each dataset's share is its weight's, so the rows of the others past that point
  are not used (a 3:1 mix of 300 and 300 rows uses ~300 and ~100).
* ``all_exhausted``: it ends when every dataset has given every row; the ones that run out first start
  again (oversampled) so the shares still follow the weights.

What trains is mixed after each dataset was formatted and tokenised (:func:`engine.prepare_mix.prepare_mixed`);
the preview (the Template screen, ``load_dataset`` on such a config) shows the same mix of raw rows,
each tagged with its dataset (:data:`MIX_KEY`) so :func:`engine.tokenize.encode_row` formats it with
its own dataset's format and template. Errors and counts name the dataset: ``dataset 2, chats.jsonl: row 3: ...``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError

MIX_KEY = "⛁ dataset"  # a preview row's dataset (its index in data.datasets, from 0)


@dataclass
class Part:
    """One entry of data.datasets: its data config (entry keys over the run's data.*) and weight."""

    number: int  # from 1, as messages say
    keys: dict  # the entry's keys but weight
    weight: float
    rows: Any = None  # the raw rows, once loaded
    info: Any = None  # engine.data.DatasetInfo, once loaded

    def data(self, data_cfg):
        """The data config this dataset is read and formatted with."""
        return dataclasses.replace(data_cfg, datasets=None, **self.keys)

    @property
    def path(self) -> str:
        return str(self.keys["path"])

    @property
    def name(self) -> str:
        return f"dataset {self.number}"

    @property
    def source(self) -> str:
        """Where a row error says it is: ``dataset 2, chats.jsonl``."""
        return f"dataset {self.number}, {self.path}"


def parts(data_cfg) -> list[Part]:
    return [Part(n, {k: v for k, v in e.items() if k != "weight"}, float(e.get("weight") or 1.0))
            for n, e in enumerate(data_cfg.datasets or [], 1)]


def load_part(part: Part, data_cfg) -> Part:
    """Read and detect one dataset; its errors say which dataset (the reader's own name the file and line)."""
    from . import load_dataset

    try:
        part.rows, part.info = load_dataset(part.data(data_cfg))
    except DataError as e:
        raise DataError(f"{part.name} (data.datasets[{part.number}]): {e}") from None
    return part


def mix_order(lengths: list[int], weights: list[float], seed: int, stopping: str) -> list[tuple[int, int]]:
    """(dataset index, row index) of each mixed row: interleave_datasets over the datasets' row numbers."""
    from datasets import Dataset, interleave_datasets

    sets = [Dataset.from_dict({"part": [i] * n, "row": list(range(n))}) for i, n in enumerate(lengths)]
    total = sum(weights)
    mixed = interleave_datasets(sets, probabilities=[w / total for w in weights], seed=seed,
                                stopping_strategy=stopping)
    return list(zip(mixed["part"], mixed["row"], strict=True))


def counts_line(order: list[tuple[int, int]], plist: list[Part], stopping: str) -> str:
    """``Mixed 40 rows (first_exhausted): dataset 1 a.jsonl 30 (75%, weight 3), dataset 2 b.jsonl 10 (25%, weight 1)``."""
    n = max(1, len(order))
    each = [sum(1 for p, _ in order if p == i) for i in range(len(plist))]
    total = sum(p.weight for p in plist)
    parts_text = ", ".join(f"{p.name} {p.path} {k} ({100 * k / n:.0f}%, weight {p.weight:g} = {100 * p.weight / total:.0f}%)"
                           for p, k in zip(plist, each, strict=True))
    return f"Mixed {len(order)} rows by weight ({stopping}): {parts_text}"


@dataclass
class MixInfo:
    """What a mixed preview holds (DatasetInfo's fields, for what reads them) and the datasets' own infos."""

    parts: list[Part]
    order: list[tuple[int, int]]
    stopping: str
    path: str = ""
    file_format: str = "mix"
    format: str = ""  # the first dataset's (each row is formatted with its own)
    columns: list[str] = field(default_factory=list)
    num_rows: int = 0
    mapping: dict = field(default_factory=dict)
    detected: bool = False

    def describe(self) -> str:
        each = "; ".join(f"{p.name}: {p.info.describe()}" for p in self.parts)
        return f"{counts_line(self.order, self.parts, self.stopping)} · {each}"

    def row_part(self, row: dict, data_cfg) -> tuple[Any, Any, Part]:
        """(info, data config, part) a mixed row is formatted with (engine.tokenize.encode_row)."""
        p = self.parts[row[MIX_KEY]]
        return p.info, p.data(data_cfg), p


class MixedRows:
    """The mixed rows of a preview, by index: each a copy of its dataset's row tagged with MIX_KEY."""

    def __init__(self, plist: list[Part], order: list[tuple[int, int]]):
        self.parts, self.order = plist, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> dict:
        p, r = self.order[i]
        return {**self.parts[p].rows[r], MIX_KEY: p}

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def source(self, i: int) -> str:
        """Where mixed row ``i`` comes from: ``dataset 2, chats.jsonl: row 3``."""
        p, r = self.order[i]
        return f"{self.parts[p].source}: row {r + 1}"


def load_mixed(data_cfg, seed: int = 42) -> tuple[MixedRows, MixInfo]:
    """The preview's rows of a data.datasets config, mixed as training mixes them (all rows, no split)."""
    plist = [load_part(p, data_cfg) for p in parts(data_cfg)]
    order = mix_order([len(p.rows) for p in plist], [p.weight for p in plist], seed, data_cfg.stopping_strategy)
    columns = list(dict.fromkeys(c for p in plist for c in p.info.columns))
    info = MixInfo(plist, order, data_cfg.stopping_strategy, path=", ".join(p.path for p in plist),
                   format=plist[0].info.format, columns=columns, num_rows=len(order))
    return MixedRows(plist, order), info
