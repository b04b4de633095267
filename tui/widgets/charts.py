"""Live training charts (textual-plotext): loss with eval loss, learning rate, tokens/s.

The widget keeps the full history of the run (``history``); recording a step
(``history.add_step``) costs nothing on screen, ``redraw`` draws. The Train
screen calls redraw from a timer, so a burst of steps costs one repaint, not
one per step. Long runs are thinned for drawing only (at most ~4 points per
column), the history itself is never thinned.

Layout: the loss chart takes two thirds of the width; the last third shows
learning rate or tokens/s (``cycle`` switches). When the screen is wide
(``-wide`` breakpoint class on the screen) all three charts are shown.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

from engine.events import EvalLogged, OomRecovered, StepLogged

SIDE_CHARTS = ("lr", "tps")
SIDE_TITLES = {"lr": "learning rate", "tps": "tokens/s"}


@dataclass
class History:
    """Everything the charts show, for the whole run."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tps_steps: list[int] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_ppl: list[float | None] = field(default_factory=list)
    eval_em: list[float] = field(default_factory=list)  # extractive QA: exact match and F1 (0..100), nan elsewhere
    eval_f1: list[float] = field(default_factory=list)  # QA: F1 (0..100); classification: macro F1 (0..1)
    eval_acc: list[float] = field(default_factory=list)  # classification: accuracy (0..1), nan elsewhere
    oom_steps: list[int] = field(default_factory=list)  # OomRecovered: where training went on with smaller micro-batches

    @classmethod
    def from_events(cls, events) -> "History":
        """The history a run's events make (a metrics.jsonl read back, or events already in memory)."""
        h = cls()
        for e in events:
            h.record(e)
        return h

    def record(self, e) -> bool:
        """Add a step or an eval event; anything else is not charted (returns False)."""
        if isinstance(e, StepLogged):
            self.add_step(e)
        elif isinstance(e, EvalLogged):
            self.add_eval(e)
        elif isinstance(e, OomRecovered):
            self.oom_steps.append(e.resumed_from_step)
        else:
            return False
        return True

    def add_step(self, e) -> None:
        if self.steps and e.step <= self.steps[-1]:  # a resumed run logging again: keep one continuous curve
            cut = next(i for i, s in enumerate(self.steps) if s >= e.step)
            del self.steps[cut:], self.loss[cut:], self.lr[cut:]
            if self.tps_steps and self.tps_steps[-1] >= e.step:
                cut = next(i for i, s in enumerate(self.tps_steps) if s >= e.step)
                del self.tps_steps[cut:], self.tps[cut:]
        self.steps.append(e.step)
        self.loss.append(e.loss if e.loss is not None else math.nan)
        self.lr.append(e.learning_rate if e.learning_rate is not None else math.nan)
        if e.tokens_per_second:
            self.tps_steps.append(e.step)
            self.tps.append(e.tokens_per_second)

    def add_eval(self, e) -> None:
        if self.eval_steps and e.step <= self.eval_steps[-1]:  # re-logged after a resume
            cut = next(i for i, s in enumerate(self.eval_steps) if s >= e.step)
            del self.eval_steps[cut:], self.eval_loss[cut:], self.eval_ppl[cut:], self.eval_em[cut:], self.eval_f1[cut:]
            del self.eval_acc[cut:]
        self.eval_steps.append(e.step)
        self.eval_loss.append(e.eval_loss if e.eval_loss is not None else math.nan)
        self.eval_ppl.append(getattr(e, "perplexity", None))
        from .qa_charts import record_qa_scores

        record_qa_scores(self, e)


def drawable(xs: list, ys: list, max_points: int) -> tuple[list, list]:
    """Finite points only, thinned to at most ``max_points`` (always keeping the last one)."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None and math.isfinite(y)]
    if len(pts) > max_points > 0:
        stride = math.ceil(len(pts) / max_points)
        pts = pts[::stride] + ([pts[-1]] if (len(pts) - 1) % stride else [])
    return [p[0] for p in pts], [p[1] for p in pts]


def nice_int_ticks(lo: float, hi: float, count: int = 5) -> list[int]:
    """Whole-number ticks (steps) at 1/2/5 x 10^k spacing between lo and hi."""
    lo, hi = math.floor(lo), math.ceil(hi)
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    spacing = next((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), 10 * mag)
    first = math.ceil(lo / spacing) * spacing
    return list(range(int(first), int(hi) + 1, int(spacing)))


def sci_ticks(ys: list[float], count: int = 4) -> tuple[list[float], list[str]]:
    """Evenly spaced ticks labelled like 2.0e-04 (learning rates are unreadable as 0.000200)."""
    lo, hi = min(ys), max(ys)
    if hi == lo:
        return [lo], [f"{lo:.1e}"]
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    return ticks, [f"{t:.1e}" for t in ticks]


class Chart(PlotextPlot):
    """One plot. ``show`` stores the series; they are drawn at render time, for the size the plot has then
    (tick density, thinning), so a resize or a chart switched into view draws right."""

    def __init__(self, title: str, sci: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.title = title
        self.sci = sci  # learning rates: y labels like 2.0e-04
        self.series: list[tuple[list, list, str]] = []
        self.marks: list[int] = []  # steps marked with a vertical line (out-of-memory recoveries)
        self.frame_cost = 0.0  # seconds the last frame of this chart took to draw (see TrainingCharts.frame_cost)

    def show(self, title: str, series: list[tuple[list, list, str]]) -> None:
        self.title, self.series = title, series
        self.refresh()

    def render(self):
        self._draw()
        return super().render()

    def render_lines(self, crop):
        # Timed here, not in render: turning plotext's ANSI text into strips costs as much as drawing it.
        t = time.perf_counter()
        lines = super().render_lines(crop)
        self.frame_cost = time.perf_counter() - t
        return lines

    def _draw(self) -> None:
        plt = self.plt
        width = self.size.width or 80
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        all_x: list = []
        all_y: list = []
        for xs, ys, color in self.series:
            xs, ys = drawable(xs, ys, max(50, 4 * width))
            if xs:
                plt.plot(xs, ys, marker="braille", color=color)
                all_x += xs
                all_y += ys
        for x in self.marks if all_x else ():
            plt.vline(x, "red")
        if not all_x:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            plt.xticks([0, 1], ["0", "1"])
        else:
            lo, hi = min(all_x), max(all_x)
            ticks = nice_int_ticks(lo, hi, 5 if width >= 40 else 3)
            gap = (ticks[1] - ticks[0]) / 2 if len(ticks) > 1 else max(1, (hi - lo) / 4)
            ticks = [t for t in ticks if lo <= t <= hi]
            if not ticks or ticks[0] - lo >= gap:
                ticks.insert(0, int(lo))  # always label where the curve starts
            plt.xticks(ticks, [str(t) for t in ticks])
            if self.sci:
                plt.yticks(*sci_ticks(all_y))
        plt.xlabel("step")


class TrainingCharts(Horizontal):
    """Loss (train + eval) and a side chart (learning rate or tokens/s); all three when wide."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.history = History()
        self.side = 0  # index into SIDE_CHARTS: the side chart shown when there is room for only one

    def compose(self) -> ComposeResult:
        yield Chart("loss", id="chart-loss")
        yield Chart(SIDE_TITLES["lr"], sci=True, id="chart-lr", classes="side-chart")
        yield Chart(SIDE_TITLES["tps"], id="chart-tps", classes="side-chart -off")
        from .qa_charts import QaChart

        yield QaChart(id="chart-qa", classes="side-chart -off -noqa")  # extractive QA runs: EM/F1, the first side chart

    def on_mount(self) -> None:
        self.redraw()

    def reset(self) -> None:
        self.history = History()
        self.redraw()

    @property
    def frame_cost(self) -> float:
        """Seconds of UI thread the last frame of the visible charts took."""
        return sum(chart.frame_cost for chart in self.query(Chart) if chart.display)

    def cycle(self) -> None:
        from .qa_charts import side_charts

        names = side_charts(self.history)
        self.side = (self.side + 1) % len(names)
        for name in ("qa", *SIDE_CHARTS):
            self.query_one(f"#chart-{name}").set_class(name not in names or names.index(name) != self.side, "-off")

    def redraw(self) -> None:
        h = self.history
        loss = [(h.steps, h.loss, "cyan")]
        title = "loss"
        if h.eval_steps:  # a legend box would hide the first steps; the title names the colours instead
            loss.append((h.eval_steps, h.eval_loss, "orange"))
            title = "loss: train (cyan), eval (orange)"
        chart = self.query_one("#chart-loss", Chart)
        chart.marks = list(h.oom_steps)
        if h.oom_steps:  # short: a title wider than the chart is not drawn
            title = ("loss: train (cyan), eval (orange), OOM (red)" if h.eval_steps
                     else f"loss · red: out of memory ({len(h.oom_steps)}×)")
        chart.show(title, loss)
        self.query_one("#chart-lr", Chart).show(SIDE_TITLES["lr"], [(h.steps, h.lr, "green")])
        self.query_one("#chart-tps", Chart).show(SIDE_TITLES["tps"], [(h.tps_steps, h.tps, "magenta")])
        from .qa_charts import show_qa_chart

        show_qa_chart(self)
