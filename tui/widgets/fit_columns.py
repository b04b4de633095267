"""Fit a table's columns to the width there is: shrink by priority, then hide, never cut silently.

``fit_columns(specs, rows, width, steps)`` gives each column its natural width (its longest cell,
within its ``max``); when that is too wide for ``width`` it takes the steps in order, each shrinking a
column (its cells are then shortened with an ellipsis by :func:`fit_cell`) or hiding one, until the
table fits. It returns the shown columns' widths and the hidden ones'
labels, so the screen can say what is not shown and where to find it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

PAD = 2  # DataTable's cell padding: one column either side


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    max: int = 1000  # widest it gets, however long its cells


def _len(cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def fit_columns(specs: list[Col], rows: list[tuple], width: int,
                steps: list[tuple[str, int | None]]) -> tuple[dict[str, int], list[str]]:
    """Column widths that fit ``width``: natural widths, then ``steps`` in order until it fits.

    Each step is ``(key, n)``: shrink column ``key`` to at most ``n`` characters, or hide it when ``n`` is None.
    """
    natural = {c.key: min(c.max, max([_len(r[i]) for r in rows] + [len(c.label), 1])) for i, c in enumerate(specs)}
    widths = dict(natural)
    labels = {c.key: c.label for c in specs}
    hidden: list[str] = []

    def total() -> int:
        return sum(w + PAD for w in widths.values())

    for key, n in steps:
        over = total() - width
        if over <= 0:
            break
        if key not in widths:
            continue
        if n is None:
            del widths[key]
            hidden.append(labels[key])
        else:
            widths[key] = max(min(n, widths[key]), widths[key] - over)
    # A later hide may have freed room: give it back to the shrunk columns, the last shrunk first.
    for key, _ in reversed(steps):
        spare = width - total()
        if spare <= 0:
            break
        if key in widths and widths[key] < natural[key]:
            widths[key] = min(natural[key], widths[key] + spare)
    return widths, hidden


def fit_cell(cell, width: int, middle: bool = False):
    """The cell shortened to ``width`` with an ellipsis when it is longer (in the middle: keeps both ends)."""
    if _len(cell) <= width:
        return cell
    if isinstance(cell, Text):
        t = cell.copy()
        t.truncate(width, overflow="ellipsis")
        return t
    text = str(cell)
    if middle and width >= 8:
        head = min(9, width // 3)
        return text[:head] + "…" + text[len(text) - (width - head - 1):]
    return text[: max(0, width - 1)] + "…"
