"""Choosing a data file: completion for a typed path, and a folder tree that lists only data files."""

from __future__ import annotations

from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import DirectoryTree

from engine.errors import TuneDeckError

DATA_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq"}


class PathSuggester(Suggester):
    """Completes file and folder names from the folder typed so far (Tab or → accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        p = Path(value).expanduser()
        folder, stem = (p, "") if value.endswith("/") else (p.parent, p.name)
        try:
            names = sorted(c.name + ("/" if c.is_dir() else "") for c in folder.iterdir()
                           if c.name.startswith(stem) and not c.name.startswith(".")
                           and (c.is_dir() or c.suffix.lower() in DATA_SUFFIXES or c.suffix.lower() == ".gz"))
        except OSError:
            return None
        if not names:
            return None
        return value[: len(value) - len(stem)] + names[0]


class DataFiles(DirectoryTree):
    """A folder tree that lists only data files (and folders)."""

    def filter_paths(self, paths):
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.suffix.lower() in DATA_SUFFIXES)]


def read_error(e: BaseException, path: str) -> str:
    """One line for a file that could not be read: a TuneDeck error as it is, anything else named by its type."""
    if isinstance(e, TuneDeckError):
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    first = str(e).splitlines()[0][:160] if str(e) else ""
    return f"{path}: cannot read ({type(e).__name__}{': ' + first if first else ''})"


def browse_root(data_path) -> Path:
    """Where the folder tree opens: the folder of the current file, else sample_data/, else the working folder."""
    parent = Path(str(data_path)).expanduser().parent
    for folder in (parent, Path("sample_data")):
        if str(folder) != "." and folder.is_dir():
            return folder
    return Path(".")


def shown_path(path: Path) -> str:
    """A picked file as the path box shows it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
