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

import gzip
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

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
    ("query", "answer"),
    ("input", "output"),
    ("input", "target"),
]
# Chat roles, ShareGPT (``from``) and OpenAI (``role``) spellings alike.
CHAT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "model": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "function_call": "assistant",
    "system": "system", "developer": "system",
    "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
}
NO_INPUT = {"noinput", "<noinput>", "no input", "<no input>"}
# JSONL files larger than this (and read whole) are checked line by line, then
# parsed by datasets into a memory-mapped Arrow cache instead of Python lists.
LARGE_FILE_BYTES = 64 * 2**20
CSV_SCAN_BYTES = 64 * 2**20
BOM = b"\xef\xbb\xbf"
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".pq": "parquet"}


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
        return f"{self.format} ({how}) · {self.num_rows} rows · columns: {_names(self.columns)}"


# --------------------------------------------------------------------------- small helpers


def _name(column: Any) -> str:
    """A column name (or id) as it can appear in a one-line message."""
    column = str(column)
    return column if column and column.isprintable() and column.strip() == column else repr(column)


def _names(columns) -> str:
    return ", ".join(_name(c) for c in columns)


def _first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line[:limit]


def _cause(e: BaseException) -> str:
    """The innermost exception's first line: datasets wraps the useful message (pandas, arrow) in generic ones."""
    seen = set()
    while id(e) not in seen and (e.__cause__ or e.__context__) is not None:
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return _first_line(str(e)) or type(e).__name__


def _file_format(p: Path) -> str:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1] if suffixes else "", "")


def _is_gz(p: Path) -> bool:
    return p.suffix.lower() == ".gz"


def _open_binary(p: Path):
    return gzip.open(p, "rb") if _is_gz(p) else open(p, "rb")


def _read_bytes(p: Path, limit: int | None = None) -> bytes:
    try:
        with _open_binary(p) as f:
            return f.read() if limit is None else f.read(limit)
    except (gzip.BadGzipFile, EOFError, OSError) as e:
        if _is_gz(p):
            raise DataError(f"{p}: not a readable gzip file ({_first_line(str(e)) or type(e).__name__}); "
                            "re-compress it or use the plain file") from None
        raise DataError(f"{p}: cannot read the file ({_first_line(str(e))})") from None


def _utf8_error(p: Path, raw: bytes, e: UnicodeDecodeError, line: int | None = None, base: int = 0) -> DataError:
    if line is None:
        line = raw.count(b"\n", 0, e.start) + 1
    return DataError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {base + e.start}); "
                     "re-save the file as UTF-8")


def _decode(raw: bytes, p: Path) -> str:
    """Whole-file UTF-8 decode; a BOM is dropped, a bad byte is reported with its line and offset."""
    start = 3 if raw.startswith(BOM) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, start + e.start) + 1
        raise _utf8_error(p, raw[start:], e, line=line, base=start) from None


def _quiet_datasets():
    """Silence datasets' logger (it prints parser errors to stderr before raising); returns a restore function."""
    from datasets.utils import logging as dlog

    old = dlog.get_verbosity()
    dlog.set_verbosity(dlog.CRITICAL)
    return lambda: dlog.set_verbosity(old)


# --------------------------------------------------------------------------- JSON / JSONL


def _iter_jsonl(p: Path, limit: int | None = None) -> Iterator[dict]:
    """Rows of a JSON Lines file, streamed; each problem is reported with its 1-based line number.

    Lines are split on ``\\n`` only (JSON text may hold U+2028 and other characters
    that ``str.splitlines`` would split on); a BOM and ``\\r\\n`` endings are fine.
    """
    offset = 0
    count = 0
    with _open_binary(p) as f:
        try:
            for n, raw in enumerate(f, start=1):
                base = offset
                offset += len(raw)
                if n == 1 and raw.startswith(BOM):
                    raw, base = raw[3:], base + 3
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise _utf8_error(p, raw, e, line=n, base=base) from None
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{p}:{n}: not valid JSON ({e.msg} at column {e.colno}); fix or remove the line") from None
                if not isinstance(obj, dict):
                    raise DataError(f"{p}:{n}: each line must be a JSON object like "
                                    f"{{\"question\": ..., \"answer\": ...}}, got {_json_type(obj)}")
                yield obj
                count += 1
                if limit and count >= limit:
                    return
        except (gzip.BadGzipFile, EOFError) as e:
            raise DataError(f"{p}: not a readable gzip file ({_first_line(str(e)) or type(e).__name__}); "
                            "re-compress it or use the plain file") from None


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false",
            type(None): "null"}.get(type(obj), type(obj).__name__)


def _read_json(p: Path, text: str) -> list[dict]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        # A .json file that is really JSON Lines is common; accept it.
        if e.msg == "Extra data" and text.lstrip().startswith("{"):
            return list(_iter_jsonl(p))
        raise DataError(f"{p}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); fix the file") from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list) and _looks_like_squad(obj["data"]):
        return _flatten_squad(obj["data"], p)
    if isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            obj = obj[lists[0]]
        else:
            raise DataError(f"{p}: expected a JSON array of objects (rows), got an object with keys "
                            f"{_names(list(obj)[:8])}; put the rows in a list [{{...}}, {{...}}]")
    if not isinstance(obj, list):
        raise DataError(f"{p}: expected a JSON array of objects (rows), got {_json_type(obj)}")
    for i, row in enumerate(obj):
        if not isinstance(row, dict):
            raise DataError(f"{p}: row {i + 1}: expected an object like {{\"instruction\": ..., \"output\": ...}}, "
                            f"got {_json_type(row)}")
    return obj


def _looks_like_squad(data: list) -> bool:
    return bool(data) and isinstance(data[0], dict) and isinstance(data[0].get("paragraphs"), list)


def _flatten_squad(data: list, p: Path) -> list[dict]:
    """SQuAD (1.1/2.0) nested JSON -> {id, question, context, answer} rows; unanswerable ones get answer ""."""
    rows = []
    for article in data:
        if not isinstance(article, dict):
            continue
        for para in article.get("paragraphs") or []:
            if not isinstance(para, dict):
                continue
            context = _text(para.get("context"))
            for qa in para.get("qas") or []:
                if not isinstance(qa, dict):
                    continue
                qid = _name(qa.get("id", "?"))
                answers = [a for a in (qa.get("answers") or []) if isinstance(a, dict)]
                for a in answers:  # every offset must point at its text, not only the one we use
                    text = _text(a.get("text"))
                    start = a.get("answer_start")
                    if isinstance(start, str) and start.strip().isdigit():
                        start = int(start)
                    if isinstance(start, int) and not isinstance(start, bool) and context[start:start + len(text)] != text:
                        raise DataError(
                            f"{p}: question {qid}: answer_start {start} does not point at the answer "
                            f"{text[:40]!r} in its context (found {context[start:start + len(text)][:40]!r}); "
                            "fix the offset or remove the question")
                answer = _text(answers[0].get("text")) if answers and not qa.get("is_impossible") else ""
                rows.append({"id": _text(qa.get("id")), "question": _text(qa.get("question")),
                             "context": context, "answer": answer})
    return rows


def _rows_to_dataset(rows: list[dict], p: Path | str):
    """Python rows -> Dataset. Columns are the union of all rows' keys in first-seen order
    (``Dataset.from_list`` would keep only the first row's keys); a column whose rows
    disagree on the type is kept as text."""
    from datasets import Dataset

    columns: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k not in columns:
                columns[k] = None
    data = {k: [r.get(k) for r in rows] for k in columns}
    from .datacheck import census

    kinds = census(rows)  # values that are not text, counted before any becomes text (engine.datacheck)
    try:
        ds = Dataset.from_dict(data)
        ds._tunedeck_census = kinds
        return ds
    except Exception:
        pass
    for k, values in data.items():
        try:
            Dataset.from_dict({k: values})
        except Exception:
            data[k] = [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
                       for v in values]
    try:
        ds = Dataset.from_dict(data)
        ds._tunedeck_census = kinds
        return ds
    except Exception as e:
        raise DataError(f"{p}: rows disagree on column types ({_cause(e)}); make each column one type") from None


# --------------------------------------------------------------------------- loading


def _looks_like_hub_id(path: str) -> bool:
    """``owner/name``, not a local path: no data-file suffix, and no local folder called ``owner``."""
    return (bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", path)) and not _file_format(Path(path))
            and not Path(path.split("/")[0]).exists())


def _load_folder(p: Path, split: str):
    import datasets

    markers = ("dataset_info.json", "state.json", "dataset_dict.json")
    if not any((p / m).exists() for m in markers):
        files = sorted(f.name for f in p.iterdir() if f.is_file() and _file_format(f))
        hint = f"; it holds {_names(files[:5])}{' …' if len(files) > 5 else ''}" if files else ""
        raise DataError(f"{p}: is a folder, not a data file or a datasets save_to_disk folder{hint}; "
                        "point data.path at a file")
    try:
        obj = datasets.load_from_disk(str(p))
    except Exception as e:
        raise DataError(f"{p}: cannot read the datasets folder ({_cause(e)}); save it again with "
                        "Dataset.save_to_disk or point data.path at a file") from None
    if isinstance(obj, datasets.DatasetDict):
        if split not in obj:
            raise DataError(f"{p}: no split {split!r}; splits are {_names(obj)}; set data.split")
        obj = obj[split]
    return obj


def _load_builder(kind: str, p: Path, **kwargs):
    """datasets' packaged json/csv/parquet builders, with their errors reduced to one line."""
    import datasets

    restore = _quiet_datasets()
    try:
        return datasets.load_dataset(kind, data_files=str(p), split="train", **kwargs)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{p}: cannot read as {kind} ({_cause(e)}); check the file") from None
    finally:
        restore()


def _load_hub(path: str, split: str):
    import datasets

    restore = _quiet_datasets()
    try:
        return datasets.load_dataset(path, split=split)
    except Exception as e:
        chain, seen, cur = [], set(), e
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            chain.append(f"{type(cur).__name__} {cur}")
            cur = cur.__cause__ or cur.__context__
        text = " ".join(chain)
        if any(w in text for w in ("Offline", "offline", "Couldn't reach", "ConnectionError", "ConnectTimeout",
                                   "Max retries", "NameResolution", "Temporary failure", "Network")):
            raise DataError(f"cannot reach the Hugging Face hub for '{path}'; use a local file") from None
        raise DataError(f"{path}: cannot load from the Hugging Face hub ({_cause(e)}); "
                        "check the id and data.split, or use a local file") from None
    finally:
        restore()


def _load_json_file(p: Path, fmt: str, limit: int | None):
    size = p.stat().st_size
    head = _read_bytes(p, 1 << 16)
    if not head.replace(BOM, b"").strip() and (size <= len(head) or not _read_bytes(p).replace(BOM, b"").strip()):
        raise DataError(f"{p}: the file is empty (only whitespace); add rows or choose another file")
    if fmt == "jsonl":
        if size > LARGE_FILE_BYTES and not limit and not _is_gz(p):
            for _ in _iter_jsonl(p):  # every line checked, nothing kept
                pass
            try:
                return _load_builder("json", p)
            except DataError:
                pass  # e.g. rows disagree on a column's type: read it ourselves, which copes
        rows = list(_iter_jsonl(p, limit))
    else:
        rows = _read_json(p, _decode(_read_bytes(p), p))
        if limit:
            rows = rows[:limit]
    if not rows:
        raise DataError(f"{p}: no rows; add rows or choose another file")
    return _rows_to_dataset(rows, p)


def load_raw(path: str | os.PathLike, *, split: str = "train", limit: int | None = None, delimiter: str | None = None):
    """Raw rows as a ``datasets.Dataset`` (columns as in the file); every failure is a one-line DataError."""
    import datasets

    datasets.disable_progress_bars()
    if path is None or not str(path).strip():
        raise DataError("data.path: no data file given; set data.path to a JSON, JSONL, CSV or Parquet file")
    path = str(path)
    p = Path(path).expanduser()
    if p.is_dir():
        ds = _load_folder(p, split)
    elif p.exists():
        fmt = _file_format(p)
        if not fmt:
            raise DataError(f"{p}: unknown file type {p.suffix or '(none)'}; use .json, .jsonl, .csv, .tsv or .parquet")
        if p.stat().st_size == 0:
            raise DataError(f"{p}: the file is empty; add rows or choose another file")
        if fmt in ("json", "jsonl"):
            ds = _load_json_file(p, fmt, limit)
        elif fmt == "csv":
            head = _read_bytes(p, CSV_SCAN_BYTES)
            try:
                _decode(head, p)
            except DataError:
                if len(head) < CSV_SCAN_BYTES:
                    raise
                _decode(head[: head.rfind(b"\n") + 1], p)  # the scan may end mid-character
            if not head.replace(BOM, b"").strip():
                raise DataError(f"{p}: the file is empty (only whitespace); add rows or choose another file")
            from .datacheck import check_fields, csv_delimiter, delimiter_hint

            text = head.decode("utf-8", errors="replace")
            sep = csv_delimiter(p, text, delimiter)  # data.delimiter, else sniffed
            check_fields(p, text, sep, complete=len(head) < CSV_SCAN_BYTES)
            try:
                ds = _load_builder("csv", p, delimiter=sep)
            except DataError as e:
                raise DataError(f"{e}{delimiter_hint(p, text, sep)}") from None
        else:
            ds = _load_builder("parquet", p)
    elif _looks_like_hub_id(path):
        ds = _load_hub(path, split)
    else:
        where = "" if p.is_absolute() else f" (relative paths start from {os.getcwd()})"
        raise DataError(f"{path}: no such file; check data.path{where}")
    if limit and len(ds) > limit:
        ds = ds.select(range(limit))
    if len(ds) == 0:
        raise DataError(f"{path}: no rows; add rows or choose another file")
    return ds


# --------------------------------------------------------------------------- detection


def _chat_style(rows: list[dict], column: str) -> str | None:
    """"sharegpt" for {from, value} turns, "messages" for {role, content}, None when the sample cannot tell."""
    for row in rows:
        value = row.get(column) if isinstance(row, dict) else None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if not isinstance(value, list):
            continue
        for turn in value:
            if isinstance(turn, dict):
                if turn.get("from") is not None or turn.get("value") is not None:
                    return "sharegpt"
                if turn.get("role") is not None or turn.get("content") is not None:
                    return "messages"
    return None


def detect_format(columns: list[str], sample_rows: list[dict], forced: str = "auto",
                  mapping: dict[str, str] | None = None, source: str = "data") -> tuple[str, dict[str, str]]:
    """(format, role -> column). Column names match case-insensitively; the first match wins.

    ``mapping`` (config ``data.columns``) overrides or extends detection; ``forced``
    (config ``data.format``) fixes the format. ``sample_rows`` (a few rows) tell a
    ``messages`` column holding ShareGPT turns from OpenAI ones, and vice versa.
    """
    columns = list(columns)
    lower: dict[str, str] = {}
    for c in columns:
        lower.setdefault(str(c).strip().lower(), c)
    user = dict(mapping or {})
    for role, col in user.items():
        if role not in ROLES:
            raise DataError(f"data.columns.{_name(role)}: unknown role; roles are {', '.join(ROLES)}")
        if col not in columns:
            raise DataError(f"data.columns.{_name(role)}: column {str(col)!r} not in {source}; "
                            f"columns are: {_names(columns)}")

    def col(name: str) -> str | None:
        return lower.get(name)

    candidates: list[tuple[str, dict[str, str]]] = []
    for name, default in (("messages", "messages"), ("conversations", "sharegpt")):
        if col(name):
            fmt = _chat_style(sample_rows, col(name)) or default
            candidates.append((fmt, {"messages" if fmt == "messages" else "conversations": col(name)}))
    if col("instruction") and col("output"):
        m = {"instruction": col("instruction"), "output": col("output")}
        if col("input"):
            m["input"] = col("input")
        candidates.append(("alpaca", m))
    for a, b in QA_PAIRS:
        if col(a) and col(b):
            m = {"instruction": col(a), "output": col(b)}
            if a in ("question", "query") and col("context"):
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
        if found is None and forced in ("qa", "alpaca"):  # both make instruction records
            found = next((m for f, m in candidates if f in ("qa", "alpaca")), None)
        if found is None and forced in ("messages", "sharegpt"):  # a chat column under the other name
            other = next((m for f, m in candidates if f in ("messages", "sharegpt")), None)
            if other:
                found = {"messages" if forced == "messages" else "conversations": next(iter(other.values()))}
        m = {**(found or {}), **user}
        if forced == "messages" and "conversations" in m and "messages" not in m:
            m["messages"] = m.pop("conversations")
        if forced == "sharegpt" and "messages" in m and "conversations" not in m:
            m["conversations"] = m.pop("messages")
        _check_roles(forced, m, columns, source)
        return forced, m

    if user:
        chat_col = user.get("messages") or user.get("conversations")
        if chat_col is not None:
            fmt = _chat_style(sample_rows, chat_col) or ("messages" if "messages" in user else "sharegpt")
            m = {k: v for k, v in user.items() if k not in ("messages", "conversations")}
            m["messages" if fmt == "messages" else "conversations"] = chat_col
        elif {"instruction", "input", "output"} & user.keys():
            # the detected qa/alpaca mapping, extended or overridden by the user's
            fmt, base = next(((f, m) for f, m in candidates if f in ("qa", "alpaca")),
                             ("alpaca" if "input" in user else "qa", {}))
            m = {**base, **user}
        elif "text" in user:
            fmt, m = "text", dict(user)
        elif candidates:  # only extras such as system: keep what was detected
            fmt, base = candidates[0]
            m = {**base, **user} if fmt in ("qa", "alpaca") else base
        else:
            fmt, m = "qa", dict(user)
        _check_roles(fmt, m, columns, source)
        return fmt, m
    if candidates:
        return candidates[0]
    example = f"data.columns: {{instruction: {_name(columns[0])}, output: {_name(columns[-1])}}}" if columns else "data.columns"
    raise DataError(
        f"{source}: cannot detect the format from columns [{_names(columns)}]; map them in the config, "
        f"e.g. {example}, or set data.format"
    )


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
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"{what}: expected a list of turns, got text that is not a JSON list") from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise DataError(f"{what}: expected a list of turns, got {_json_type(value)}")
    return value


def _content(value: Any, where: str) -> str:
    """A turn's content; OpenAI content parts ([{type: text, text}]) keep their text."""
    if isinstance(value, list) and value and all(isinstance(part, dict) for part in value):
        texts = []
        for j, part in enumerate(value):
            if part.get("text") is not None:
                texts.append(_text(part["text"]))
            elif part.get("type") not in (None, "text"):
                raise DataError(f"{where}.content[{j}]: a {_name(part.get('type'))} part; only text can be "
                                "trained, remove it from the row")
        return "".join(texts)
    return _text(value)


def _tool_calls(calls: Any) -> str:
    if isinstance(calls, str):
        return calls.strip()
    if not isinstance(calls, list):
        return _text(calls)
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) and isinstance(call.get("function"), dict) else call
        if isinstance(fn, dict):
            args = fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    pass
            out.append(json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False, default=str))
        else:
            out.append(_text(fn))
    return "\n".join(out)


def _chat(turns: list, what: str, row: dict) -> list[dict[str, str]]:
    sharegpt = what == "conversations"
    shape = "{from, value}" if sharegpt else "{role, content}"
    known = "human, gpt, system, function_call or observation" if sharegpt else "system, user, assistant or tool"
    messages = []
    for i, m in enumerate(turns):
        where = f"{what}[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"{where}: expected {shape}, got {_json_type(m)}")
        who = m.get("from") if m.get("from") is not None else m.get("role")
        if who is None:
            raise DataError(f"{where}: has no {'from' if sharegpt else 'role'}; expected {shape}")
        role = CHAT_ROLES.get(str(who).strip().lower())
        if role is None:
            raise DataError(f"{where}: unknown role {_name(who)!r}; use {known}")
        value = m.get("value") if m.get("value") is not None else m.get("content")
        content = _content(value, where)
        if m.get("tool_calls"):
            calls = _tool_calls(m["tool_calls"])
            content = f"{content}\n{calls}" if content else calls
        messages.append({"role": role, "content": content})
    tools = row.get("tools")
    tools = tools.strip() if isinstance(tools, str) else ("" if tools is None else _text(tools))
    if tools and tools not in ("[]", "{}", "null"):
        at = 1 if messages and messages[0]["role"] == "system" else 0
        messages.insert(at, {"role": "system", "content": "Tools available:\n" + tools})
    return messages


def to_record(row: dict, fmt: str, mapping: dict[str, str]) -> dict:
    """One raw row -> the internal shape the templates consume (see the module docstring).

    Never fails on odd values (None -> "", numbers -> text); raises DataError only for
    a row that cannot be a record (e.g. a chat turn that is not an object).
    """
    if not isinstance(row, dict):
        raise DataError(f"expected a row object, got {_json_type(row)}")
    mapping = mapping or {}

    def get(role: str) -> Any:
        return row.get(mapping[role]) if role in mapping else None

    if fmt not in FORMATS:
        raise DataError(f"data.format: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    missing = [r for r in REQUIRED[fmt] if r not in mapping]
    if missing == ["instruction"] and "input" in mapping:
        missing = []  # {input, output}: the input is the instruction
    if missing:
        need = ", ".join(f"{r}: <column>" for r in missing)
        raise DataError(f"format {fmt} needs the role(s) {', '.join(missing)}; map them with data.columns: {{{need}}}")
    if fmt in ("alpaca", "qa"):
        if "instruction" in mapping:
            instruction, inp = _text(get("instruction")), _text(get("input"))
        else:  # {input, output} only: the input is the instruction
            instruction, inp = _text(get("input")), ""
        if inp.strip().lower() in NO_INPUT:
            inp = ""
        return {"kind": "instruction", "system": _text(get("system")), "instruction": instruction, "input": inp,
                "output": _text(get("output"))}
    if fmt == "text":
        return {"kind": "text", "text": _text(get("text"))}
    what = "messages" if fmt == "messages" else "conversations"
    return {"kind": "chat", "messages": _chat(_as_list(get(what), what), what, row)}


# --------------------------------------------------------------------------- config-level entry points


def _file_kind(path: str) -> str:
    p = Path(path).expanduser()
    return "arrow" if p.is_dir() else (_file_format(p) or "hub")


def _info(ds, path: str, cfg) -> DatasetInfo:
    columns = list(ds.column_names)
    if _file_kind(str(path)) == "csv":
        from .datacheck import one_column_hint

        one_column_hint(path, columns)
    sample = ds.select(range(min(5, len(ds)))).to_list()
    fmt, mapping = detect_format(columns, sample, cfg.format, cfg.columns, source=str(path))
    return DatasetInfo(str(path), _file_kind(str(path)), fmt, columns, len(ds), mapping,
                       detected=cfg.format == "auto" and not cfg.columns)


def load_dataset(cfg) -> tuple[Any, DatasetInfo]:
    """Load ``cfg.path`` (honouring split, limit, format and columns) and detect its format."""
    ds = load_raw(cfg.path, split=cfg.split, limit=cfg.limit, delimiter=getattr(cfg, "delimiter", None))
    return ds, _info(ds, cfg.path, cfg)


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
        return ds, _info(ds, cfg.val_path, cfg)
    columns = list(ds.column_names)
    missing = [(role, col) for role, col in train_info.mapping.items() if col not in columns]
    if missing:
        used = ", ".join(f"{role} <- {_name(col)}" for role, col in missing)
        raise DataError(f"data.val_path: {cfg.val_path} lacks the column(s) the training data uses ({used}); "
                        f"its columns are: {_names(columns)}; give both files the same columns")
    return ds, DatasetInfo(str(cfg.val_path), _file_kind(str(cfg.val_path)), train_info.format, columns, len(ds),
                           dict(train_info.mapping), train_info.detected)
