"""Lazy row access for browsing data files of any size (the Data screen's backend).

JSON Lines files are never loaded whole: a background scan records the byte
offset of every line (8 MB reads, ``bytes.find``), and :meth:`RowSource.rows`
seeks to and parses only the lines asked for. The first page is readable
before the count finishes. Other formats (JSON arrays, CSV, Parquet, datasets
folders) go through :func:`engine.data.load_raw` once::

    src = open_rows("big.jsonl")
    src.rows(0, 30)                  # at once, from the first lines
    src.count(progress=print)        # scans the file; src.num_rows afterwards
    src.search("paris", start=0)     # index of the next row containing the text
"""

from __future__ import annotations

import json
import threading
from array import array
from pathlib import Path
from typing import Any, Callable

from .errors import DataError

CHUNK = 8 * 2**20


class RowSource:
    """Rows of a data file by index; thread-safe for one scanner and many readers."""

    path: Path
    num_rows: int | None = None  # None while counting

    def columns(self) -> list[str]:
        cols: list[str] = []
        for row in self.rows(0, 20):
            for k in row:
                if k not in cols:
                    cols.append(k)
        return cols

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def count(self, progress: Callable[[int, float], None] | None = None, cancel: threading.Event | None = None) -> int:
        raise NotImplementedError

    def search(self, text: str, start: int = 0, progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None) -> int | None:
        raise NotImplementedError


class JsonlRows(RowSource):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._offsets = array("q")  # start of each non-blank line
        self._lock = threading.Lock()
        self.num_rows = None
        self._scanned_to = 0
        self._bom = 0
        with self.path.open("rb") as f:
            if f.read(3) == b"\xef\xbb\xbf":
                self._bom = 3

    # -- scanning
    def _scan(self, until_rows: int | None = None, progress=None, cancel=None) -> None:
        with self.path.open("rb") as f:
            pos = self._scanned_to or self._bom
            f.seek(pos)
            line_start = pos
            pending = b""
            while True:
                if cancel is not None and cancel.is_set():
                    return
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                buf = pending + chunk
                base = pos - len(pending)
                found = []
                i = 0
                while True:
                    j = buf.find(b"\n", i)
                    if j < 0:
                        break
                    if buf[i:j].strip():
                        found.append(base + i)
                    i = j + 1
                pending = buf[i:]
                pos += len(chunk)
                with self._lock:
                    self._offsets.extend(found)
                    self._scanned_to = base + i
                if progress:
                    progress(len(self._offsets), pos / max(1, self.size))
                if until_rows is not None and len(self._offsets) >= until_rows:
                    return
            if pending.strip():
                with self._lock:
                    self._offsets.append(pos - len(pending))
            with self._lock:
                self._scanned_to = pos
                self.num_rows = len(self._offsets)
        if progress:
            progress(self.num_rows, 1.0)

    def count(self, progress=None, cancel=None) -> int:
        if self.num_rows is None:
            self._scan(progress=progress, cancel=cancel)
        return self.num_rows if self.num_rows is not None else len(self._offsets)

    def _ensure(self, upto: int) -> None:
        if self.num_rows is None and len(self._offsets) < upto:
            self._scan(until_rows=upto)

    def line_number(self, index: int) -> int:
        """1-based line number of row ``index`` (blank lines count)."""
        with self.path.open("rb") as f:
            return f.read(self._offsets[index]).count(b"\n") + 1

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        self._ensure(start + n)
        with self._lock:
            offsets = list(self._offsets[start:start + n + 1])
        out = []
        with self.path.open("rb") as f:
            for k, off in enumerate(offsets[:n]):
                f.seek(off)
                raw = f.readline()
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    line = self.line_number(start + k)
                    obj = {"⚠ error": f"{self.path.name}:{line}: not valid JSON ({str(e).splitlines()[0][:80]})"}
                if not isinstance(obj, dict):
                    obj = {"value": obj}
                out.append(obj)
        return out

    def search(self, text: str, start: int = 0, progress=None, cancel=None) -> int | None:
        needle = text.lower().encode("utf-8")
        total = self.count()
        with self.path.open("rb") as f:
            for idx in range(start, total):
                if cancel is not None and cancel.is_set():
                    return None
                f.seek(self._offsets[idx])
                if needle in f.readline().lower():
                    return idx
                if progress and idx % 20000 == 0:
                    progress(idx / max(1, total))
        return None


class TableRows(RowSource):
    """Any format engine.data can load; held in memory as a datasets.Dataset (Arrow, memory-mapped)."""

    def __init__(self, path: Path):
        from .data import load_raw

        self.path = Path(path)
        self.ds = load_raw(str(path))
        self.num_rows = len(self.ds)
        self._text: list[str] | None = None

    def rows(self, start: int, n: int) -> list[dict[str, Any]]:
        end = min(self.num_rows, start + n)
        return [self.ds[i] for i in range(start, end)] if start < end else []

    def count(self, progress=None, cancel=None) -> int:
        if progress:
            progress(self.num_rows, 1.0)
        return self.num_rows

    def search(self, text: str, start: int = 0, progress=None, cancel=None) -> int | None:
        needle = text.lower()
        for idx in range(start, self.num_rows):
            if cancel is not None and cancel.is_set():
                return None
            if needle in json.dumps(self.ds[idx], ensure_ascii=False, default=str).lower():
                return idx
        return None


def open_rows(path: str | Path) -> RowSource:
    """A RowSource for ``path``; JSONL is lazy, the rest loads through engine.data."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file; check the path")
    if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson"):
        if p.stat().st_size == 0:
            raise DataError(f"{p}: the file is empty; add rows or choose another file")
        return JsonlRows(p)
    return TableRows(p)
