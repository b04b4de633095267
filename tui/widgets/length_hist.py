"""The Template screen's token-length panel: a histogram of every sample's length, as the trainer tokenises it.

``l`` on the Template screen swaps the sample for this panel. A worker measures
the whole dataset through :func:`engine.lengths.measure` (the trainer's own
``encode_row``; cached per file, template and tokenizer), with progress. The
chart draws one column per length band, green up to ``data.max_length`` and red
past it, with a line at ``max_length``. ``m``/``M`` set ``max_length`` to the
p95/p99 length through the one config writer (``AppState.set_field``).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

BLOCKS = " ▁▂▃▄▅▆▇█"


class LengthsProgress(Message):
    def __init__(self, key: str, done: int, total: int, lengths=None) -> None:
        super().__init__()
        self.key, self.done, self.total, self.lengths = key, done, total, lengths


def chart_text(values: list[int], max_length: int, width: int, height: int) -> Text:
    """Columns of block characters, one per length band from 0 to the longest sample (or max_length),
    green up to ``max_length``, red past it; ``│`` marks the band holding ``max_length``."""
    width, height = max(10, width), max(2, height)
    top = max(max(values, default=0), max_length)
    step = max(1.0, top / width)
    counts = [0] * width
    for v in values:
        counts[min(width - 1, int(v / step))] += 1
    line_at = min(width - 1, int(max_length / step))
    peak = max(counts) or 1
    text = Text(no_wrap=True)
    for row in range(height, 0, -1):
        for col, c in enumerate(counts):
            level = c / peak * height - (row - 1)  # how much of this cell the bar fills
            if col == line_at and level < 1:
                text.append("│", style="bold yellow")
                continue
            ch = BLOCKS[max(0, min(8, round(level * 8)))] if c else " "
            text.append(ch, style="red" if col > line_at else "green")
        text.append("\n")
    label = f"max_length {max_length:,}"
    left = "0"
    right = f"{int(top):,}"
    axis = [" "] * width
    start = max(0, min(width - len(label), line_at - len(label) // 2))
    for i, ch in enumerate(left):
        axis[i] = ch
    for i, ch in enumerate(right):
        axis[width - len(right) + i] = ch
    for i, ch in enumerate(label):
        axis[start + i] = ch
    text.append("".join(axis), style="dim")
    return text


class LengthChart(Widget):
    """The histogram; redraws at its own size."""

    DEFAULT_CSS = "LengthChart { height: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.values: list[int] = []
        self.max_length = 512

    def render(self) -> Text:
        if not self.values:
            return Text("")
        return chart_text(self.values, self.max_length, self.size.width, self.size.height - 1)


class LengthPanel(Vertical, can_focus=True):
    DEFAULT_CSS = """
    LengthPanel { height: 1fr; padding: 0 1; display: none; }
    LengthPanel #len-title { height: 1; }
    LengthPanel #len-figs { height: auto; }
    """
    BINDINGS = [
        Binding("m", "set_max(95)", "max=p95", id="template.max_length_p95",
                tooltip="Set max_length (data., or qa./cls. for those tasks) to the 95th percentile of the token lengths"),
        Binding("M", "set_max(99)", "max=p99", id="template.max_length_p99",
                tooltip="Set max_length (data., or qa./cls. for those tasks) to the 99th percentile of the token lengths"),
        Binding("escape,l", "close", "Sample", id="template.lengths_close", tooltip="Back to the sample"),
    ]

    VIEW = "#tpl-view"  # what the panel takes the place of on its screen

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.key: str | None = None  # what the shown lengths were measured for
        self.lengths = None  # engine.lengths.Lengths
        self.source = None  # (ds, info, tokenizer) of the Template screen

    def compose(self) -> ComposeResult:
        yield Static("", id="len-title")
        yield LengthChart(id="len-chart")
        yield Static("", id="len-figs")

    # -- showing ---------------------------------------------------------------------------------
    def toggle(self, ds, info, tokenizer) -> None:
        """Show the panel in place of the sample (measuring if needed), or hide it again."""
        view = self.screen.query_one(self.VIEW)
        if self.display:
            self.display, view.display = False, True
            view.focus()
            return
        self.display, view.display = True, False
        self.focus()
        self.changed(ds, info, tokenizer)

    def action_close(self) -> None:
        self.toggle(None, None, None)

    def changed(self, ds, info, tokenizer) -> None:
        """The data, template or max_length changed: measure again if the lengths depend on it, else redraw."""
        if not self.display or ds is None or tokenizer is None:
            return
        from engine.lengths import cache_key

        data_cfg = self.app.state.config.data
        key = cache_key(data_cfg, info, tokenizer)
        if key == self.key and self.lengths is not None:
            self._draw()
            return
        self.key, self.lengths = key, None
        self.query_one("#len-title", Static).update(Text(f"Measuring token lengths of {len(ds):,} samples …", style="italic"))
        self.query_one("#len-figs", Static).update("")
        self.query_one(LengthChart).values = []
        self.query_one(LengthChart).refresh()
        self._measure(key, ds, info, tokenizer)

    @work(thread=True, exclusive=True, group="tpl-lengths", exit_on_error=False)
    def _measure(self, key: str, ds, info, tokenizer) -> None:
        from textual.worker import get_current_worker

        from engine.lengths import measure

        worker = get_current_worker()
        data_cfg = self.app.state.config.data
        try:
            lengths = measure(ds, info, data_cfg, tokenizer, cancelled=lambda: worker.is_cancelled,
                              progress=lambda done, total: self.post_message(LengthsProgress(key, done, total)))
        except Exception as e:  # the app stays up; the panel says what went wrong
            self.post_message(LengthsProgress(key, -1, len(ds), str(e)))
            return
        if lengths is not None:
            self.post_message(LengthsProgress(key, len(ds), len(ds), lengths))

    def on_lengths_progress(self, msg: LengthsProgress) -> None:
        if msg.key != self.key:
            return
        title = self.query_one("#len-title", Static)
        if msg.done < 0:
            title.update(Text(f"⚠ cannot measure the token lengths: {msg.lengths}", style="bold red"))
        elif msg.lengths is None:
            title.update(Text(f"Measuring token lengths … {msg.done:,}/{msg.total:,} samples", style="italic"))
        else:
            self.lengths = msg.lengths
            self._draw()

    def _draw(self) -> None:
        self.refresh_bindings()  # m/M apply now that there are lengths: the footer shows them enabled
        max_length = self.app.state.config.data.max_length
        fig = self.lengths.figures(max_length)
        chart = self.query_one(LengthChart)
        chart.values, chart.max_length = self.lengths.lengths, max_length
        chart.refresh()
        self.query_one("#len-title", Static).update(Text.assemble(
            ("Token lengths", "bold"), f" of all {fig.samples:,} samples (as the trainer tokenises them)"))
        figs = Text()
        figs.append(f"min {fig.min:,} · median {fig.median:,.0f} · p95 {fig.p95:,} · p99 {fig.p99:,} · max {fig.max:,}\n")
        figs.append(f"{fig.over:,} ({fig.over_share:.1%}) over max_length {max_length:,}",
                    style="bold red" if fig.over else "green")
        figs.append(" · ")
        figs.append(f"{fig.untrained:,} with no trained token", style="bold yellow" if fig.untrained else "green")
        if fig.errors:
            figs.append(f" · {fig.errors:,} cannot be formatted", style="bold red")
        self.query_one("#len-figs", Static).update(figs)

    # -- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "set_max":
            return True if self.lengths is not None and self.lengths.lengths else None
        return True

    def action_set_max(self, q: int) -> None:
        if self.lengths is None or not self.lengths.lengths:
            return
        fig = self.lengths.figures(self.app.state.config.data.max_length)
        value = fig.p95 if q == 95 else fig.p99
        problem = self.app.state.set_field("data.max_length", value)
        try:  # the screen's max_length field shows the new value (its handler redraws the preview)
            self.screen.query_one("#tpl-maxlen").value = str(self.app.state.config.data.max_length)
        except Exception:
            pass
        self.notify(problem or f"data.max_length = {value:,} (the p{q} token length)",
                    title="max_length", severity="warning" if problem else "information")
        self._draw()
