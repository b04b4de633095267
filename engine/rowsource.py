"""Moved to :mod:`engine.data.rowsource`; this name stays for the callers that import it from here."""

from .data.rowsource import ERROR_KEY, JsonlRows, RowSource, TableRows, open_rows

__all__ = ["ERROR_KEY", "JsonlRows", "RowSource", "TableRows", "open_rows"]
