"""Lazy row access for browsing data files of any size (the Data screen's backend).

JSON Lines files are never loaded whole: a scan records the byte offset of
every non-blank line in an ``array('q')`` (8 MB reads, ``bytes.find``), and
:meth:`RowSource.rows` seeks to and parses only the lines asked for. The first
page is readable before the count finishes. Other formats (JSON arrays, SQuAD
nested JSON, CSV, Parquet, datasets folders) go through
:func:`engine.data.load_raw` once (call :func:`open_rows` from a worker)::

    src = open_rows("big.jsonl")
    src.rows(0, 30)                  # at once, from the first lines
    src.count(progress=print)        # scans the file; src.num_rows afterwards
    src.search("paris", start=0)     # index of the next row containing the text, or None

A malformed line does not stop anything: its row comes back as
``{ERROR_KEY: "file.jsonl:17: not valid JSON (...)"}``. No torch, no textual.
"""

from __future__ import annotations

import bisect
import json
import threading
from array import array
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError

CHUNK = 8 * 2**20
ERROR_KEY = "⚠ error"
JSONL_SUFFIXES = (".jsonl", ".ndjson")

Progress = Callable[[int, float], None]


class RowSource:
    """Rows of a data file by index. Thread-safe: one scan at a time, any number of readers."""

    path: Path
    num_rows: int | None = None  # None while counting (JSONL)
    kind: str = ""

    def columns(self) -> list[str]:
        """Column names in first-seen order over the first rows (error rows left out)."""
        cols: list[str] = []
        for row in self.rows(0, 50):
            for k in row:
                if k != ERROR_KEY and k not in cols:
                    cols.append(k)
        return cols

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def count(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> int:
        raise NotImplementedError

    def search(self, text: str, start: int = 0, progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None) -> int | None:
        raise NotImplementedError

    @property
    def known_rows(self) -> int:
        """Rows known so far (the final count once counting ended)."""
        return self.num_rows or 0


class JsonlRows(RowSource):
    kind = "jsonl"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._offsets = array("q")  # byte offset of each non-blank line (= each row)
        self._blank_after: list[int] = []  # for each blank line: how many rows come before it (for line numbers)
        self._cond = threading.Condition()
        self._scan_lock = threading.Lock()
        self.num_rows = None
        self._scanned_to = 0  # bytes fully scanned (always at a line start)
        with self.path.open("rb") as f:
            self._bom = 3 if f.read(3) == b"\xef\xbb\xbf" else 0
        self._scanned_to = self._bom

    @property
    def known_rows(self) -> int:
        return self.num_rows if self.num_rows is not None else len(self._offsets)

    # -- scanning
    def _scan(self, until_rows: int | None = None, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> None:
        """Scan on from where the last scan stopped; stop early at ``until_rows`` rows or on cancel."""
        with self._scan_lock:
            if self.num_rows is not None:
                return
            with self.path.open("rb") as f:
                pos = self._scanned_to
                f.seek(pos)
                pending = b""
                while True:
                    if cancel is not None and cancel.is_set():
                        return
                    if until_rows is not None and len(self._offsets) >= until_rows:
                        return
                    chunk = f.read(CHUNK)
                    if not chunk:
                        break
                    buf = pending + chunk if pending else chunk
                    base = pos - len(pending)
                    found = array("q")
                    blanks = []
                    i = 0
                    find = buf.find
                    while True:
                        j = find(b"\n", i)
                        if j < 0:
                            break
                        # A line is blank when it holds only whitespace (short lines only are checked).
                        if j - i > 16 or buf[i:j].strip():
                            found.append(base + i)
                        else:
                            blanks.append(len(self._offsets) + len(found))
                        i = j + 1
                    pending = buf[i:]
                    pos += len(chunk)
                    with self._cond:
                        self._offsets.extend(found)
                        self._blank_after.extend(blanks)
                        self._scanned_to = base + i
                        self._cond.notify_all()
                    if progress:
                        progress(len(self._offsets), pos / max(1, self.size))
                with self._cond:
                    if pending.strip():
                        self._offsets.append(pos - len(pending))
                    self._scanned_to = pos
                    self.num_rows = len(self._offsets)
                    self._cond.notify_all()
        if progress:
            progress(self.num_rows, 1.0)

    def count(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> int:
        """Number of rows (non-blank lines); scans the rest of the file the first time."""
        if self.num_rows is None:
            self._scan(progress=progress, cancel=cancel)
        elif progress:
            progress(self.num_rows, 1.0)
        return self.known_rows

    def _ensure(self, upto: int) -> None:
        """Make sure the offsets of the first ``upto`` rows are known (or the whole file is)."""
        while self.num_rows is None and len(self._offsets) < upto:
            if self._scan_lock.acquire(blocking=False):
                self._scan_lock.release()
                self._scan(until_rows=upto)
            else:  # another thread is scanning: wait for it to get there
                with self._cond:
                    if self.num_rows is None and len(self._offsets) < upto:
                        self._cond.wait(0.2)

    def line_number(self, index: int) -> int:
        """1-based line number of row ``index`` in the file (blank lines count)."""
        return index + 1 + bisect.bisect_right(self._blank_after, index)

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        """Rows ``start`` .. ``start+n-1`` (fewer at the end of the file)."""
        start = max(0, start)
        self._ensure(start + n)
        with self._cond:
            offsets = self._offsets[start:start + n]
        out = []
        with self.path.open("rb") as f:
            for k, off in enumerate(offsets):
                f.seek(off)
                raw = f.readline()
                out.append(self._parse(raw, start + k))
        return out

    def _parse(self, raw: bytes, index: int) -> dict[str, Any]:
        where = f"{self.path.name}:{self.line_number(index)}"
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            return {ERROR_KEY: f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x}); re-save the file as UTF-8"}
        except ValueError as e:
            msg = getattr(e, "msg", None) or str(e).splitlines()[0][:80]
            col = getattr(e, "colno", None)
            return {ERROR_KEY: f"{where}: not valid JSON ({msg}{f' at column {col}' if col else ''}); fix or remove the line"}
        if not isinstance(obj, dict):
            return {ERROR_KEY: f"{where}: each line must be a JSON object, got {type(obj).__name__}"}
        return obj

    def search(self, text: str, start: int = 0, progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None) -> int | None:
        """Index of the first row at or after ``start`` whose line contains ``text`` (ASCII case-insensitive)."""
        if not text:
            return None
        needles = {text.lower().encode("utf-8"), json.dumps(text.lower())[1:-1].encode("ascii")}
        needles = {n for n in needles if n}
        total = self.count(cancel=cancel)
        if start >= total:
            return None
        begin = self._offsets[start]
        overlap = max(len(n) for n in needles) - 1
        best: int | None = None
        with self.path.open("rb") as f:
            f.seek(begin)
            pos = begin
            tail = b""
            while True:
                if cancel is not None and cancel.is_set():
                    return None
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                buf = (tail + chunk).lower()
                base = pos - len(tail)
                hits = [h for h in (buf.find(n) for n in needles) if h >= 0]
                if hits:
                    best = base + min(hits)
                    break
                tail = chunk[-overlap:] if overlap else b""
                pos += len(chunk)
                if progress:
                    progress(pos / max(1, self.size))
        if best is None:
            return None
        return max(start, bisect.bisect_right(self._offsets, best) - 1)


class TableRows(RowSource):
    """Any format engine.data can load, held as a datasets.Dataset (Arrow; loaded once, in a worker)."""

    kind = "table"

    def __init__(self, path: Path, *, split: str = "train"):
        from .read import load_raw

        self.path = Path(path)
        self.ds = load_raw(str(path), split=split)
        self.num_rows = len(self.ds)

    def columns(self) -> list[str]:
        return list(self.ds.column_names)

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        start = max(0, start)
        end = min(self.num_rows, start + n)
        return [self.ds[i] for i in range(start, end)] if start < end else []

    def count(self, progress=None, cancel=None) -> int:
        if progress:
            progress(self.num_rows, 1.0)
        return self.num_rows

    def search(self, text: str, start: int = 0, progress=None, cancel=None) -> int | None:
        needle = text.lower()
        if not needle:
            return None
        for idx in range(max(0, start), self.num_rows):
            if cancel is not None and cancel.is_set():
                return None
            row = self.ds[idx]
            if any(needle in (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)).lower()
                   for v in row.values()):
                return idx
            if progress and idx % 5000 == 0:
                progress(idx / max(1, self.num_rows))
        return None


def open_rows(path: str | Path, *, split: str = "train") -> RowSource:
    """A RowSource for ``path``: JSONL is lazy; other formats load through engine.data (call from a worker)."""
    if not str(path).strip():
        raise DataError("data.path: no data file given; choose a JSON, JSONL, CSV or Parquet file")
    p = Path(path).expanduser()
    if p.is_file() and p.suffix.lower() in JSONL_SUFFIXES:
        if p.stat().st_size == 0:
            raise DataError(f"{p}: the file is empty; add rows or choose another file")
        src = JsonlRows(p)
        src._ensure(1)
        if src.num_rows == 0:
            raise DataError(f"{p}: the file is empty (only blank lines); add rows or choose another file")
        return src
    if not p.exists() and not _looks_like_hub_id(str(path)):
        raise DataError(f"{p}: no such file; check the path")
    return TableRows(p if p.exists() else Path(str(path)), split=split)


def _looks_like_hub_id(path: str) -> bool:
    return "/" in path and not path.startswith((".", "/", "~")) and path.count("/") == 1
