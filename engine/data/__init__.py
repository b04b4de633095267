"""Data loading and format detection.

Loads JSON, JSONL (optionally ``.gz``), CSV/TSV, Parquet, ``datasets``
save_to_disk folders and hub ids, detects the row format from the columns, and
maps each row to one internal shape (:func:`to_record`)::

    raw, info = load_dataset(cfg.data)
    info.describe()   # "alpaca (detected) · 999 rows · columns: instruction, input, output"
    to_record(raw[0], info.format, info.mapping)
    # {"kind": "instruction", "system": "", "instruction": "...", "input": "", "output": "..."}

Records (what the templates consume)::

    {"kind": "instruction", "system": str, "instruction": str, "input": str, "output": str}  # alpaca, qa
    {"kind": "chat", "messages": [{"role": "system"|"user"|"assistant"|"tool", "content": str}, ...]}
    {"kind": "text", "text": str}

Conventions:

* ``input`` values ``noinput`` / ``<noinput>`` (Alpaca data) are empty inputs.
* ``None`` fields are ``""``; numbers become ``str(value)``.
* ShareGPT roles: human/user -> user, gpt/assistant/model -> assistant,
  function_call -> assistant, observation/tool/function -> tool.
* A non-empty ``tools`` column (ShareGPT-with-tools, or OpenAI rows) becomes a
  system message ``"Tools available:\\n" + tools`` placed after the row's own
  system turn, if any, else first.
* OpenAI ``content`` given as a list of parts keeps the text parts; an
  assistant's ``tool_calls`` are appended to its content as JSON
  ``{"name": ..., "arguments": ...}``, one per line.
* SQuAD (1.1/2.0) nested JSON is flattened to ``{id, question, context, answer}``
  rows (qa, with the context as input); unanswerable questions keep ``answer ""``
  and the trainer drops them (nothing to learn).
* A column whose rows disagree on the type (text in one row, a number or a list
  in another) is kept as text, lists and objects as JSON text.

Every problem a user can cause becomes a one-line :class:`DataError` that says
where (file, line, row, column) and what to do. ``datasets`` is imported inside
functions only, so importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from .common import quote_name, quote_names
from .detect import FORMATS, QA_PAIRS, REQUIRED, ROLES, detect_format
from .read import LARGE_FILE_BYTES, SUFFIXES, file_format, load_raw
from .records import CHAT_ROLES, NO_INPUT, to_record

__all__ = [
    "CHAT_ROLES", "FORMATS", "LARGE_FILE_BYTES", "NO_INPUT", "QA_PAIRS", "REQUIRED", "ROLES", "SUFFIXES", "DatasetInfo",
    "dataset_info", "detect_format", "load_dataset", "load_raw", "load_validation", "to_record",
]


@dataclass
class DatasetInfo:
    path: str  # what the user gave
    file_format: str  # json | jsonl | csv | parquet | arrow (save_to_disk folder) | hub
    format: str  # one of FORMATS
    columns: list[str]  # raw column names, in file order
    num_rows: int
    mapping: dict[str, str] = field(default_factory=dict)  # role -> raw column
    detected: bool = True  # False when data.format or data.columns set it

    def describe(self) -> str:
        how = "detected" if self.detected else "set"
        return f"{self.format} ({how}) · {self.num_rows} rows · columns: {quote_names(self.columns)}"


def _file_kind(path: str) -> str:
    p = Path(path).expanduser()
    return "arrow" if p.is_dir() else (file_format(p) or "hub")


def dataset_info(ds, path: str, cfg) -> DatasetInfo:
    """What ``ds`` (a Dataset, or a list of row dicts, read from ``path``) holds: its format (detected, or as
    ``cfg`` sets it) and column roles."""
    if isinstance(ds, list):
        columns, sample = list(dict.fromkeys(k for row in ds for k in row)), ds[:5]
    else:
        columns, sample = list(ds.column_names), None
    if _file_kind(str(path)) == "csv":
        from .check import one_column_hint

        one_column_hint(path, columns)
    if sample is None:
        sample = ds.select(range(min(5, len(ds)))).to_list()
    fmt, mapping = detect_format(columns, sample, cfg.format, cfg.columns, source=str(path))
    return DatasetInfo(str(path), _file_kind(str(path)), fmt, columns, len(ds), mapping,
                       detected=cfg.format == "auto" and not cfg.columns)


def load_dataset(cfg) -> tuple[Any, DatasetInfo]:
    """Load ``cfg.path`` (honouring split, limit, format and columns) and detect its format."""
    if getattr(cfg, "datasets", None):  # several datasets: their rows mixed by weight (engine.data.mix)
        from .mix import load_mixed

        return load_mixed(cfg)
    ds = load_raw(cfg.path, split=cfg.split, limit=cfg.limit, delimiter=getattr(cfg, "delimiter", None))
    return ds, dataset_info(ds, cfg.path, cfg)


def load_validation(cfg, train_info: DatasetInfo | None = None) -> tuple[Any, DatasetInfo] | None:
    """The separate validation file ``cfg.val_path``; None when unset.

    With ``train_info`` the file must hold the columns the training data maps, and
    gets the training format and mapping (rows are encoded the same way); without
    it, the file is detected like the training data (same data.format/columns).
    """
    if not cfg.val_path:
        return None
    ds = load_raw(cfg.val_path, split=cfg.split, delimiter=getattr(cfg, "delimiter", None))
    if train_info is None:
        return ds, dataset_info(ds, cfg.val_path, cfg)
    columns = list(ds.column_names)
    missing = [(role, col) for role, col in train_info.mapping.items() if col not in columns]
    if missing:
        used = ", ".join(f"{role} <- {quote_name(col)}" for role, col in missing)
        raise DataError(f"data.val_path: {cfg.val_path} lacks the column(s) the training data uses ({used}); "
                        f"its columns are: {quote_names(columns)}; give both files the same columns")
    return ds, DatasetInfo(str(cfg.val_path), _file_kind(str(cfg.val_path)), train_info.format, columns, len(ds),
                           dict(train_info.mapping), train_info.detected)
