"""The Data screen's info line: format (detected or set), row count, where the cursor is, the columns."""

from __future__ import annotations

from rich.text import Text


def info_line(*, fmt: str | None, detected: bool, counting: tuple[int, float] | None, total: int | None,
              limit: int | None, row: int | None, status: str, columns: list[str], detect_error: str | None,
              task_line: Text | None = None, task_is_format: bool = False) -> Text:
    """``fmt`` None: the format is unknown (``detect_error`` says why, on a second line).

    ``task_line`` (extractive QA data) comes first; ``task_is_format``: it stands for the format part.
    """
    t = Text(no_wrap=True, overflow="ellipsis")
    if task_line is not None:
        t.append_text(task_line)
    if task_is_format:
        detect_error = None
    elif fmt is None:
        t.append("format ? ", style="bold red")
    else:
        t.append(fmt, style="bold green")
        t.append(f" ({'detected' if detected else 'set'}) · ", style="dim")
    if counting is not None and total is None:
        t.append(f"counting… {counting[0]:,} rows {counting[1]:.0%}", style="yellow")
    elif total is not None:
        t.append(f"{total:,} rows", style="bold")
    if limit and total is not None and limit < total:
        t.append(f" (training uses the first {limit:,})", style="yellow")
    if row is not None:
        t.append(f" · row {row:,}", style="cyan")
    if status:
        t.append(f" · {status}", style="bold cyan")
    t.append(" · " + ", ".join(columns), style="dim")
    if detect_error:
        t.append("\n")
        short = detect_error
        if "cannot detect the format" in short:
            short = "format unknown: pick a column for the roles below, then Apply"
        t.append("⚠ " + short, style="bold red")
    return t
