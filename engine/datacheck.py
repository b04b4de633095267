"""Moved to :mod:`engine.data.check`; this name stays for the callers that import it from here."""

from .data.check import census, check_fields, csv_delimiter, delimiter_hint, one_column_hint, row_warnings, sniff

__all__ = ["census", "check_fields", "csv_delimiter", "delimiter_hint", "one_column_hint", "row_warnings", "sniff"]
