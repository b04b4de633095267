"""Data problems explained where they are: the CSV delimiter, values of the wrong type, rows of another schema.

* :func:`csv_delimiter` sniffs a CSV's separator (``data.delimiter`` wins); :func:`delimiter_hint`
  words a failed parse ("looks ';'-separated: set data.delimiter: ';' ...").
* :func:`row_warnings` counts rows whose values are numbers (used as text), null or lists, and rows that
  do not match the detected format, each with the first row number (1-based, as the file counts rows).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from .detect import REQUIRED

CANDIDATES = (",", ";", "\t", "|")
TEXT_ROLES = ("instruction", "input", "output", "system", "text")
SCAN_ROWS = 1_000_000


def _name(sep: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(sep, repr(sep))


def _fields(line: str, sep: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=sep)))
    except (csv.Error, StopIteration):
        return 1


def _sample_lines(text: str, n: int = 50) -> list[str]:
    return [ln for ln in text.lstrip("\ufeff").splitlines()[:n] if ln.strip()]


def sniff(text: str) -> str | None:
    """The separator the file's first lines agree on, or None."""
    lines = _sample_lines(text)
    if not lines:
        return None
    try:
        found = csv.Sniffer().sniff("\n".join(lines), delimiters="".join(CANDIDATES)).delimiter
    except csv.Error:
        found = None
    if found and _fields(lines[0], found) > 1:
        return found
    best = [(s, _fields(lines[0], s)) for s in CANDIDATES]
    best = [(s, k) for s, k in best if k > 1]
    return max(best, key=lambda sk: sk[1])[0] if best else None


def csv_delimiter(p: Path, text: str, configured: str | None = None) -> str:
    """``data.delimiter`` when set; else the sniffed separator when the extension's own gives one column."""
    if configured:
        return configured
    default = "\t" if ".tsv" in [s.lower() for s in p.suffixes] else ","
    lines = _sample_lines(text)
    if not lines or _fields(lines[0], default) > 1:
        return default
    found = sniff(text)
    return found or default


def delimiter_hint(p: Path, text: str, used: str) -> str:
    """A hint for a CSV that failed to parse with ``used``: which separator it looks like and how to say so."""
    found = sniff(text)
    if found and found != used:
        rename = " or rename it to .tsv" if found == "\t" else ""
        shown = "\\t" if found == "\t" else found
        return (f"; it looks {_name(found)}-separated ('{shown}'), not {_name(used)}: "
                f"set data.delimiter: '{shown}'{rename}")
    return f"; it was read as {_name(used)}-separated: set data.delimiter: '<separator>' if it uses another one"


def check_fields(p: Path, text: str, sep: str, complete: bool = True) -> None:
    """DataError naming the first line whose field count differs from the header's.

    pandas would otherwise take extra leading fields as an index and shift the row's values into the
    wrong columns, or drop them, without a word. ``complete=False``: ``text`` is a head cut mid-file.
    """
    from ..errors import DataError

    body = text.lstrip("\ufeff")
    if not complete:
        body = body[: body.rfind("\n") + 1]
    reader = csv.reader(body.splitlines(keepends=True), delimiter=sep)
    width = None
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if width is None:
                width = len(record)
            elif len(record) != width:
                if any("\n" in field for field in record):
                    return  # an unclosed quote swallowed the rest: pandas' own error says that better
                raise DataError(f"{p}:{reader.line_num}: has {len(record)} field{'s' if len(record) != 1 else ''}, the header has {width}; quote "
                                f"values that contain the separator{delimiter_hint(p, text, sep)}")
    except csv.Error as e:
        raise DataError(f"{p}:{reader.line_num}: not valid CSV ({e}){delimiter_hint(p, text, sep)}") from None


def one_column_hint(path, columns: list) -> None:
    """DataError for a CSV read as one column whose name holds another separator (e.g. 'instruction;output')."""
    from ..errors import DataError

    if len(columns) != 1:
        return
    name = str(columns[0])
    for sep in CANDIDATES:
        if sep in name:
            shown = "\\t" if sep == "\t" else sep
            rename = " or rename it to .tsv" if sep == "\t" else ""
            raise DataError(f"{path}: read as one column '{name}', which looks {_name(sep)}-separated ('{shown}'): "
                            f"set data.delimiter: '{shown}'{rename}")


def _kind(value: Any) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple, dict)):
        return "list"
    return None


def census(rows: list[dict]) -> dict[str, dict[str, list[int]]]:
    """{column: {kind: [count, first row index]}} for values that are not text, from Python rows."""
    out: dict[str, dict[str, list[int]]] = {}
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            continue
        for k, v in r.items():
            kind = _kind(v)
            if kind and kind != "null":
                slot = out.setdefault(k, {}).setdefault(kind, [0, i])
                slot[0] += 1
    return out


def row_warnings(ds, info, source: str | None = None) -> list[str]:
    """Plain-language warnings for rows whose mapped values are not text or that follow another schema."""
    src = source or info.path
    mapping = dict(info.mapping or {})
    required = [mapping[r] for r in REQUIRED.get(info.format, ()) if r in mapping]
    n = min(len(ds), SCAN_ROWS)
    if n == 0 or not mapping:
        return []
    cols = list(dict.fromkeys(c for c in mapping.values() if c in ds.column_names))
    part = ds.select(range(n)) if n < len(ds) else ds
    values = {c: part[c] for c in cols}
    out = []
    mismatch = [i for i in range(n) if required and all(values[c][i] is None for c in required if c in values)]
    if mismatch:
        first = ds[mismatch[0]]
        has = [k for k, v in first.items() if v is not None and k not in required] or ["nothing"]
        out.append(f"{src}: {len(mismatch)} of {n} rows do not match the {info.format} format (first: row "
                   f"{mismatch[0] + 1}, which has {', '.join(map(str, has))} instead of {', '.join(required)}); "
                   "they train as empty and are dropped; put each format in its own file or map data.columns")
    skip = set(mismatch)
    converted = getattr(ds, "_tunedeck_census", {}) or {}
    for role, col in mapping.items():
        if role not in TEXT_ROLES or col not in values:
            continue
        kinds: dict[str, list[int]] = {}
        for i, v in enumerate(values[col]):
            if i in skip:
                continue
            kind = _kind(v)
            if kind == "null" and role in ("input", "system"):
                continue  # optional parts: empty is fine
            if kind:
                slot = kinds.setdefault(kind, [0, i])
                slot[0] += 1
        for kind, (count, first) in converted.get(col, {}).items():
            if kind not in kinds:
                kinds[kind] = [count, first]  # the loader made these text already
        for kind, (count, first) in kinds.items():
            if kind == "number":
                out.append(f"{src}: {count} rows have a number in {col} ({role}), first row {first + 1}; "
                           "it is used as text")
            elif kind == "null":
                out.append(f"{src}: row {first + 1}: {col} ({role}) is null ({count} {'row' if count == 1 else 'rows'} in all); "
                           f"that part trains empty{' and the row is dropped' if role == 'output' else ''}; "
                           "fill it in or remove the row")
            else:
                out.append(f"{src}: row {first + 1}: {col} ({role}) is a list or object, not text ({count} {'row' if count == 1 else 'rows'} "
                           "in all); it is used as its JSON text; make it a string")
    return out
