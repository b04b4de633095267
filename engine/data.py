"""Data loading and format detection.

Loads JSON, JSONL, CSV, Parquet, ``datasets`` save_to_disk folders and hub ids
through ``datasets``, detects the row format from the columns, and maps each
row to one internal shape (:func:`to_record`)::

    raw, info = load_dataset(cfg.data)
    info.describe()   # "alpaca · 999 rows · columns: instruction, input, output"
    to_record(raw[0], info.format, info.mapping)
    # {"kind": "instruction", "system": "", "instruction": "...", "input": "", "output": "..."}

Every problem a user can cause becomes a one-line :class:`DataError` that says
where (file, line, row, column) and what to do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError

FORMATS = ("alpaca", "qa", "text", "messages", "sharegpt")
ROLES = ("instruction", "input", "output", "system", "text", "messages", "conversations")

# Column-name pairs that mean "prompt -> answer", tried in order (lower-case names).
QA_PAIRS = [
    ("question", "answer"),
    ("instruction", "response"),
    ("prompt", "completion"),
    ("prompt", "response"),
    ("query", "response"),
    ("input", "output"),
    ("input", "target"),
]
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
    "chatgpt": "assistant", "bard": "assistant", "system": "system", "function_call": "assistant",
    "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
}
MESSAGE_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool", "function": "tool",
                 "ipython": "tool", "developer": "system", "human": "user", "gpt": "assistant", "model": "assistant"}
NO_INPUT = {"noinput", "<noinput>", "no input", "<no input>"}
MAX_SCAN_ERRORS_BYTES = 64 * 2**20  # files larger than this are parsed by datasets directly


@dataclass
class DatasetInfo:
    path: str
    file_format: str
    format: str
    columns: list[str]
    num_rows: int
    mapping: dict[str, str] = field(default_factory=dict)
    detected: bool = True

    def describe(self) -> str:
        how = "detected" if self.detected else "set"
        return f"{self.format} ({how}) · {self.num_rows} rows · columns: {', '.join(self.columns)}"


# --------------------------------------------------------------------------- loading


def _file_format(p: Path) -> str:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".pq": "parquet"}.get(ext, "")


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); re-save the file as UTF-8") from None


def _read_jsonl(path: Path, text: str) -> list[dict]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not valid JSON ({e.msg} at column {e.colno}); fix or remove the line") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: each line must be a JSON object like {{\"question\": ..., \"answer\": ...}}, got {type(obj).__name__}")
        rows.append(obj)
    return rows


def _read_json(path: Path, text: str) -> list[dict]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        # A .json file that is really JSON Lines is common; accept it.
        if e.msg == "Extra data" and text.lstrip().startswith("{"):
            return _read_jsonl(path, text)
        raise DataError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); fix the file") from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list) and _looks_like_squad(obj["data"]):
        return _flatten_squad(obj["data"], path)
    if isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            obj = obj[lists[0]]
        else:
            raise DataError(f"{path}: expected a JSON array of objects (rows), got an object with keys {', '.join(list(obj)[:8])}")
    if not isinstance(obj, list):
        raise DataError(f"{path}: expected a JSON array of objects (rows), got {type(obj).__name__}")
    for i, row in enumerate(obj):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {i + 1}: expected an object, got {type(row).__name__}")
    return obj


def _looks_like_squad(data: list) -> bool:
    return bool(data) and isinstance(data[0], dict) and isinstance(data[0].get("paragraphs"), list)


def _flatten_squad(data: list, path: Path) -> list[dict]:
    """SQuAD (1.1/2.0) nested JSON -> {id, question, context, answer} rows; unanswerable ones get answer ""."""
    rows = []
    for article in data:
        for para in article.get("paragraphs") or []:
            context = para.get("context") or ""
            for qa in para.get("qas") or []:
                answers = qa.get("answers") or []
                answer = ""
                if answers and not qa.get("is_impossible"):
                    first = answers[0]
                    answer = first.get("text") or ""
                    start = first.get("answer_start")
                    if isinstance(start, int) and context[start:start + len(answer)] != answer:
                        raise DataError(
                            f"{path}: question {qa.get('id', '?')}: answer_start {start} does not point at the answer "
                            f"{answer[:40]!r} in its context; fix the offset or remove the question"
                        )
                rows.append({"id": str(qa.get("id", "")), "question": qa.get("question") or "", "context": context,
                             "answer": answer})
    return rows


def _rows_to_dataset(rows: list[dict], path: Path):
    from datasets import Dataset

    # Arrow needs one type per column: nested values that vary (tool args, mixed ids) are kept as JSON text.
    try:
        return Dataset.from_list(rows)
    except Exception:
        pass
    columns: dict[str, set] = {}
    for r in rows:
        for k, v in r.items():
            columns.setdefault(k, set()).add(type(v).__name__)
    fixed = []
    mixed = {k for k, types in columns.items() if len(types - {"NoneType"}) > 1}
    for r in rows:
        fixed.append({k: (json.dumps(v, ensure_ascii=False) if k in mixed and not isinstance(v, str) and v is not None else v)
                      for k, v in r.items()})
    try:
        return Dataset.from_list(fixed)
    except Exception as e:
        raise DataError(f"{path}: rows disagree on column types ({str(e).splitlines()[0][:120]}); make each column one type") from None


def load_raw(path: str, *, split: str = "train", limit: int | None = None):
    """Raw rows as a ``datasets.Dataset``; every failure is a one-line DataError."""
    import datasets

    datasets.disable_progress_bars()
    p = Path(path).expanduser()
    if not str(path).strip():
        raise DataError("data.path: no data file given; set data.path to a JSON, JSONL, CSV or Parquet file")
    if p.is_dir():
        if not ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists() or (p / "state.json").exists()):
            raise DataError(f"{p}: is a folder, not a data file or a datasets save_to_disk folder; point data.path at a file")
        obj = datasets.load_from_disk(str(p))
        if isinstance(obj, datasets.DatasetDict):
            if split not in obj:
                raise DataError(f"{p}: no split {split!r}; splits are {', '.join(obj)}; set data.split")
            obj = obj[split]
        ds = obj
    elif p.exists():
        fmt = _file_format(p)
        if not fmt:
            raise DataError(f"{p}: unknown file type {p.suffix or '(none)'}; use .json, .jsonl, .csv or .parquet")
        if p.stat().st_size == 0:
            raise DataError(f"{p}: the file is empty; add rows or choose another file")
        if fmt in ("json", "jsonl"):
            text = _decode(p.read_bytes(), p)
            if not text.strip():
                raise DataError(f"{p}: the file is empty (only whitespace); add rows or choose another file")
            rows = _read_jsonl(p, text) if fmt == "jsonl" else _read_json(p, text)
            if limit:
                rows = rows[:limit]
            if not rows:
                raise DataError(f"{p}: no rows; add rows or choose another file")
            ds = _rows_to_dataset(rows, p)
        else:
            try:
                if fmt == "csv":
                    _decode(p.read_bytes()[:MAX_SCAN_ERRORS_BYTES], p)
                    ds = datasets.load_dataset("csv", data_files=str(p), split="train",
                                               delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
                else:
                    ds = datasets.load_dataset("parquet", data_files=str(p), split="train")
            except DataError:
                raise
            except Exception as e:
                raise DataError(f"{p}: cannot read as {fmt} ({str(e).splitlines()[0][:160]})") from None
    elif "/" in str(path) and not str(path).startswith((".", "/", "~")) and str(path).count("/") == 1:
        try:
            ds = datasets.load_dataset(str(path), split=split)
        except Exception as e:
            raise DataError(f"{path}: cannot load from the Hugging Face hub ({str(e).splitlines()[0][:120]}); "
                            "check the id and your network, or use a local file") from None
    else:
        raise DataError(f"{path}: no such file; check data.path (relative paths start from {os.getcwd()})")
    if limit and len(ds) > limit:
        ds = ds.select(range(limit))
    if len(ds) == 0:
        raise DataError(f"{path}: no rows; add rows or choose another file")
    return ds


# --------------------------------------------------------------------------- detection


def _name(column: str) -> str:
    """A column name as it can appear in a one-line message."""
    return column if column.isprintable() and column.strip() == column and column else repr(column)


def _names(columns) -> str:
    return ", ".join(_name(c) for c in columns)


def detect_format(columns: list[str], sample_rows: list[dict], forced: str = "auto",
                  mapping: dict[str, str] | None = None, source: str = "data") -> tuple[str, dict[str, str]]:
    """(format, role -> column). ``mapping`` (config ``data.columns``) wins over detection."""
    lower = {c.lower(): c for c in columns}
    user = dict(mapping or {})
    for role, col in user.items():
        if role not in ROLES:
            raise DataError(f"data.columns.{_name(role)}: unknown role; roles are {', '.join(ROLES)}")
        if col not in columns:
            raise DataError(f"data.columns.{_name(role)}: column {col!r} not in {source}; columns are: {_names(columns)}")

    def col(name: str) -> str | None:
        return lower.get(name)

    candidates: list[tuple[str, dict[str, str]]] = []
    if col("messages"):
        candidates.append(("messages", {"messages": col("messages")}))
    if col("conversations"):
        candidates.append(("sharegpt", {"conversations": col("conversations")}))
    if col("instruction") and col("output"):
        m = {"instruction": col("instruction"), "output": col("output")}
        if col("input"):
            m["input"] = col("input")
        candidates.append(("alpaca", m))
    for a, b in QA_PAIRS:
        if col(a) and col(b):
            m = {"instruction": col(a), "output": col(b)}
            if a == "question" and col("context"):
                m["input"] = col("context")
            candidates.append(("qa", m))
            break
    if col("text"):
        candidates.append(("text", {"text": col("text")}))
    for fmt, m in candidates:
        if col("system") and fmt in ("alpaca", "qa"):
            m["system"] = col("system")

    if forced != "auto":
        if forced not in FORMATS:
            raise DataError(f"data.format: must be one of auto, {', '.join(FORMATS)}, got {forced!r}")
        found = next((m for f, m in candidates if f == forced), None)
        if found is None and forced == "qa":
            found = next((m for f, m in candidates if f == "alpaca"), None)
        m = {**(found or {}), **user}
        _check_roles(forced, m, columns, source)
        return forced, m

    if user:
        fmt = _format_from_roles(user)
        base = next((m for f, m in candidates if f == fmt), {})
        m = {**base, **user}
        _check_roles(fmt, m, columns, source)
        return fmt, m
    if candidates:
        return candidates[0]
    example = f"data.columns: {{instruction: {_name(columns[0])}, output: {_name(columns[-1])}}}" if columns else "data.columns"
    raise DataError(
        f"{source}: cannot detect the format from columns [{_names(columns)}]; map them in the config, "
        f"e.g. {example}, or set data.format"
    )


def _format_from_roles(roles: dict[str, str]) -> str:
    if "messages" in roles:
        return "messages"
    if "conversations" in roles:
        return "sharegpt"
    if "instruction" in roles or "output" in roles:
        return "alpaca" if "input" in roles else "qa"
    return "text"


REQUIRED = {"alpaca": ("instruction", "output"), "qa": ("instruction", "output"), "text": ("text",),
            "messages": ("messages",), "sharegpt": ("conversations",)}


def _check_roles(fmt: str, mapping: dict[str, str], columns: list[str], source: str) -> None:
    missing = [r for r in REQUIRED[fmt] if r not in mapping]
    if missing:
        need = ", ".join(f"{r}: <column>" for r in missing)
        raise DataError(f"{source}: format {fmt} needs the role(s) {', '.join(missing)}; columns are: "
                        f"{_names(columns)}; map them with data.columns: {{{need}}}")


# --------------------------------------------------------------------------- records


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"{what}: expected a list of turns, got text") from None
    if not isinstance(value, list):
        raise DataError(f"{what}: expected a list of turns, got {type(value).__name__}")
    return value


def to_record(row: dict, fmt: str, mapping: dict[str, str]) -> dict:
    """One raw row -> the internal shape the templates consume (see module docstring)."""
    if fmt in ("alpaca", "qa"):
        inp = _text(row.get(mapping["input"])) if "input" in mapping else ""
        if inp.strip().lower() in NO_INPUT:
            inp = ""
        return {"kind": "instruction", "system": _text(row.get(mapping["system"])) if "system" in mapping else "",
                "instruction": _text(row.get(mapping["instruction"])), "input": inp,
                "output": _text(row.get(mapping["output"]))}
    if fmt == "text":
        return {"kind": "text", "text": _text(row.get(mapping["text"]))}
    if fmt == "messages":
        messages = []
        for i, m in enumerate(_as_list(row.get(mapping["messages"]), "messages")):
            if not isinstance(m, dict):
                raise DataError(f"messages[{i}]: expected {{role, content}}, got {type(m).__name__}")
            role = str(m.get("role") or "").lower()
            if role not in MESSAGE_ROLES:
                raise DataError(f"messages[{i}]: unknown role {m.get('role')!r}; use system, user, assistant or tool")
            messages.append({"role": MESSAGE_ROLES[role], "content": _text(m.get("content"))})
        return {"kind": "chat", "messages": messages}
    if fmt == "sharegpt":
        messages = []
        for i, m in enumerate(_as_list(row.get(mapping["conversations"]), "conversations")):
            if not isinstance(m, dict):
                raise DataError(f"conversations[{i}]: expected {{from, value}}, got {type(m).__name__}")
            who = str(m.get("from") or m.get("role") or "").lower()
            if who not in SHAREGPT_ROLES:
                raise DataError(f"conversations[{i}]: unknown role {m.get('from')!r}; use human, gpt, system, "
                                "function_call or observation")
            value = m.get("value", m.get("content"))
            messages.append({"role": SHAREGPT_ROLES[who], "content": _text(value)})
        tools = _text(row.get("tools")).strip()
        if tools and tools not in ("[]", "null"):
            at = 1 if messages and messages[0]["role"] == "system" else 0
            messages.insert(at, {"role": "system", "content": "Tools available:\n" + tools})
        return {"kind": "chat", "messages": messages}
    raise DataError(f"data.format: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- config-level entry points


def _info(ds, path: str, cfg) -> DatasetInfo:
    columns = list(ds.column_names)
    sample = [ds[i] for i in range(min(5, len(ds)))]
    fmt, mapping = detect_format(columns, sample, cfg.format, cfg.columns, source=str(path))
    file_format = "arrow" if Path(path).is_dir() else (_file_format(Path(path)) or "hub")
    return DatasetInfo(str(path), file_format, fmt, columns, len(ds), mapping, detected=cfg.format == "auto" and not cfg.columns)


def load_dataset(cfg) -> tuple[Any, DatasetInfo]:
    """Load ``cfg.path`` (honouring split, limit, format and columns) and detect its format."""
    ds = load_raw(cfg.path, split=cfg.split, limit=cfg.limit)
    return ds, _info(ds, cfg.path, cfg)


def load_validation(cfg) -> tuple[Any, DatasetInfo] | None:
    """The separate validation file ``cfg.val_path``, read like the training data; None when unset."""
    if not cfg.val_path:
        return None
    ds = load_raw(cfg.val_path, split=cfg.split)
    return ds, _info(ds, cfg.val_path, cfg)
