"""What the Data screen adds for classification data (tui/screens/data.py places it through tui/widgets/qa_data.py).

When the file reads as classification data (a text column, or a text pair, and a label column), the probe
worker reads it as a classification run does (engine.tasks.cls_data.sniff: the label column, the classes and
their counts) and the info line names the task: ``task classification · label <- label · 3 classes`` (or, on
another task's config, that classification fits and where to pick it). With ``task: classification`` the row
detail shows the row's text and label, then the class distribution (a bar per class) and the engine's
warnings (strong imbalance, a class with too few rows for validation).
"""

from __future__ import annotations

from rich.text import Text

from .cls_view import class_bars


def probe(path: str, delimiter: str | None):
    """The classification reading of ``path`` (engine.tasks.cls_data.ClsDataInfo), or None. Worker thread only."""
    from engine.tasks.cls_data import sniff

    return sniff(path, delimiter)


def info_text(screen) -> tuple[Text, bool] | None:
    """The info line's task part for classification data, and whether it stands for the format part; None
    when the data does not read as classification data."""
    info = getattr(screen, "cls_probe", None)
    if info is None:
        return None
    cfg = screen.app.state.config
    kind = "multi-label" if info.labels.multi else f"{len(info.labels.names)} classes"
    text = f"{info.text_column} + {info.pair_column}" if info.pair_column else info.text_column
    warn = info.warnings(cfg.data.val_split if not cfg.data.val_path else 0.0)
    t = Text()
    if cfg.task == "classification":
        t.append("task classification", style="bold green")
        t.append(f" · text <- {text} · label <- {info.label_column} · {kind}")
        t.append(" · ⚠ imbalanced" if any("imbalanced" in w for w in warn) else "", style="bold yellow")
        t.append(" · ")
        return t, True
    t.append("classification fits this data (Config: task)", style="bold yellow")
    t.append(f" · label <- {info.label_column} · {kind}\n", style="dim")
    return t, False


def row_detail(screen, row: dict, index: int) -> Text | None:
    """A row's text and label, then the class distribution and warnings (classification task only)."""
    info = getattr(screen, "cls_probe", None)
    cfg = screen.app.state.config
    if info is None or cfg.task != "classification":
        return None
    t = Text()
    t.append(f"Row {index + 1:,}\n", style="bold reverse")
    t.append(f"{info.text_column}\n", style="bold cyan")
    t.append(f"{row.get(info.text_column, '')}\n")
    if info.pair_column:
        t.append(f"{info.pair_column}\n", style="bold cyan")
        t.append(f"{row.get(info.pair_column, '')}\n")
    t.append(f"{info.label_column}: ", style="bold cyan")
    t.append(f"{row.get(info.label_column, '')}\n\n", style="bold green")
    t.append(f"classes over {info.rows:,} rows\n", style="bold")
    try:
        pane = screen.query_one("#detail-text").size.width
    except Exception:
        pane = 0
    pane = pane or (screen.size.width or 80) // 3
    ids = None if info.labels.multi else info.labels.label2id
    width = pane - max(len(n) for n in info.counts) - 23
    if width < 6:  # a narrow pane: the bars before the ids
        ids, width = None, width + 6
    t.append_text(class_bars(info.counts, max(3, width), ids))
    for w in info.warnings(cfg.data.val_split if not cfg.data.val_path else 0.0):
        t.append(f"\n⚠ {w}", style="bold yellow")
    return t
