"""Reading data files into a ``datasets.Dataset``: JSON, JSONL (optionally ``.gz``), CSV/TSV, Parquet,
``datasets`` save_to_disk folders and hub ids (:func:`load_raw`). SQuAD nested JSON is flattened; a column
whose rows disagree on the type is kept as text. Every failure is a one-line DataError naming the file and line.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Iterator

from ..errors import DataError, causes
from .common import as_text, cause_line, first_line, json_type, quote_name, quote_names

# JSONL files larger than this (and read whole) are checked line by line, then
# parsed by datasets into a memory-mapped Arrow cache instead of Python lists.
LARGE_FILE_BYTES = 64 * 2**20
CSV_SCAN_BYTES = 64 * 2**20
BOM = b"\xef\xbb\xbf"
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".pq": "parquet"}


def file_format(p: Path) -> str:
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
            raise DataError(f"{p}: not a readable gzip file ({first_line(str(e)) or type(e).__name__}); "
                            "re-compress it or use the plain file") from None
        raise DataError(f"{p}: cannot read the file ({first_line(str(e))})") from None


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
                                    f"{{\"question\": ..., \"answer\": ...}}, got {json_type(obj)}")
                yield obj
                count += 1
                if limit and count >= limit:
                    return
        except (gzip.BadGzipFile, EOFError) as e:
            raise DataError(f"{p}: not a readable gzip file ({first_line(str(e)) or type(e).__name__}); "
                            "re-compress it or use the plain file") from None


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
                            f"{quote_names(list(obj)[:8])}; put the rows in a list [{{...}}, {{...}}]")
    if not isinstance(obj, list):
        raise DataError(f"{p}: expected a JSON array of objects (rows), got {json_type(obj)}")
    for i, row in enumerate(obj):
        if not isinstance(row, dict):
            raise DataError(f"{p}: row {i + 1}: expected an object like {{\"instruction\": ..., \"output\": ...}}, "
                            f"got {json_type(row)}")
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
            context = as_text(para.get("context"))
            for qa in para.get("qas") or []:
                if not isinstance(qa, dict):
                    continue
                qid = quote_name(qa.get("id", "?"))
                answers = [a for a in (qa.get("answers") or []) if isinstance(a, dict)]
                for a in answers:  # every offset must point at its text, not only the one we use
                    text = as_text(a.get("text"))
                    start = a.get("answer_start")
                    if isinstance(start, str) and start.strip().isdigit():
                        start = int(start)
                    if isinstance(start, int) and not isinstance(start, bool) and context[start:start + len(text)] != text:
                        raise DataError(
                            f"{p}: question {qid}: answer_start {start} does not point at the answer "
                            f"{text[:40]!r} in its context (found {context[start:start + len(text)][:40]!r}); "
                            "fix the offset or remove the question")
                answer = as_text(answers[0].get("text")) if answers and not qa.get("is_impossible") else ""
                rows.append({"id": as_text(qa.get("id")), "question": as_text(qa.get("question")),
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
    from .check import census

    kinds = census(rows)  # values that are not text, counted before any becomes text (engine.data.check)
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
        raise DataError(f"{p}: rows disagree on column types ({cause_line(e)}); make each column one type") from None


# --------------------------------------------------------------------------- loading


def _looks_like_hub_id(path: str) -> bool:
    """``owner/name``, not a local path: no data-file suffix, and no local folder called ``owner``."""
    return (bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", path)) and not file_format(Path(path))
            and not Path(path.split("/")[0]).exists())


def _load_folder(p: Path, split: str):
    import datasets

    markers = ("dataset_info.json", "state.json", "dataset_dict.json")
    if not any((p / m).exists() for m in markers):
        files = sorted(f.name for f in p.iterdir() if f.is_file() and file_format(f))
        hint = f"; it holds {quote_names(files[:5])}{' …' if len(files) > 5 else ''}" if files else ""
        raise DataError(f"{p}: is a folder, not a data file or a datasets save_to_disk folder{hint}; "
                        "point data.path at a file")
    try:
        obj = datasets.load_from_disk(str(p))
    except Exception as e:
        raise DataError(f"{p}: cannot read the datasets folder ({cause_line(e)}); save it again with "
                        "Dataset.save_to_disk or point data.path at a file") from None
    if isinstance(obj, datasets.DatasetDict):
        if split not in obj:
            raise DataError(f"{p}: no split {split!r}; splits are {quote_names(obj)}; set data.split")
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
        raise DataError(f"{p}: cannot read as {kind} ({cause_line(e)}); check the file") from None
    finally:
        restore()


def _load_hub(path: str, split: str):
    import datasets

    restore = _quiet_datasets()
    try:
        return datasets.load_dataset(path, split=split)
    except Exception as e:
        text = " ".join(f"{type(cur).__name__} {cur}" for cur in causes(e))
        if any(w in text for w in ("Offline", "offline", "Couldn't reach", "ConnectionError", "ConnectTimeout",
                                   "Max retries", "NameResolution", "Temporary failure", "Network")):
            raise DataError(f"cannot reach the Hugging Face hub for '{path}'; use a local file") from None
        raise DataError(f"{path}: cannot load from the Hugging Face hub ({cause_line(e)}); "
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
        fmt = file_format(p)
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
            from .check import check_fields, csv_delimiter, delimiter_hint

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
