"""Drawing classification figures as rich Text, shared by the classification views (tui/widgets/cls_*.py):
probability bars (Evaluate, Playground), a bar per class (Data, Template), confusion-matrix cells coloured
by count, and one-line cuts of a text. Nothing heavy: plain numbers in, Text out.
"""

from __future__ import annotations

from rich.text import Text

BAR = "█"
PARTS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """A bar ``width`` cells wide at full scale, with eighths at its end."""
    cells = max(0.0, min(1.0, fraction)) * max(1, width)
    whole, part = int(cells), int((cells - int(cells)) * 8)
    return BAR * whole + (PARTS[part] if part and whole < width else "")


def prob_bars(probs, width: int = 24, mark: str | None = None, style: str = "green") -> Text:
    """One line per label, most likely first: ``name  0.912 ████████``; ``mark`` (the gold label) is starred."""
    items = sorted(probs.items() if isinstance(probs, dict) else probs, key=lambda kv: -kv[1])
    if not items:
        return Text()
    w = max(len(n) for n, _ in items)
    t = Text()
    for i, (name, p) in enumerate(items):
        t.append("\n" if i else "")
        t.append(name, style="bold" if i == 0 else "")
        t.append("*" if name == mark else "", style="bold yellow")
        t.append(" " * (w + 1 - len(name) - (name == mark)) + f" {p:5.3f} ")
        t.append(bar(p, width), style=style if i == 0 else "dim " + style)
    return t


def class_bars(counts: dict[str, int], width: int = 30, ids: dict[str, int] | None = None) -> Text:
    """A bar per class (largest first): ``name (id)  count  share  ████``."""
    total = sum(counts.values()) or 1
    top = max(counts.values(), default=0) or 1
    w = max((len(n) for n in counts), default=4)
    t = Text()
    for i, (name, n) in enumerate(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))):
        t.append("\n" if i else "")
        t.append(f"{name:<{w}}", style="bold")
        t.append(f" id {ids[name]:<2}" if ids and name in ids else "", style="dim")
        t.append(f" {n:>6} {n / total:6.1%} ")
        t.append(bar(n / top, width), style="cyan" if n else "red")
    return t


def matrix_cell(count: int, top: int, diagonal: bool) -> Text:
    """A confusion-matrix count on a background as strong as the count: green on the diagonal, red off it."""
    if not count:
        return Text("0", style="dim", justify="right")
    x = count / max(1, top)
    level = int(70 + 150 * x)
    bg = f"rgb(0,{level},0)" if diagonal else f"rgb({level},0,0)"
    return Text(f" {count} ", style=f"bold white on {bg}", justify="right")


def cut(text: str, width: int) -> Text:
    flat = " ".join(str(text).split())
    return Text(flat if len(flat) <= width else flat[: max(1, width - 1)] + "…")
