"""Live training charts (textual-plotext): loss with eval loss, and learning rate or tokens/s.

The widget keeps the full history; ``add`` only records, ``redraw`` draws.
The Train screen calls redraw on a timer, so a burst of steps costs one
repaint, not one per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

SIDE_CHARTS = ("learning rate", "tokens/s")


@dataclass
class History:
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tps_steps: list[int] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)

    def add_step(self, e) -> None:
        if self.steps and e.step <= self.steps[-1]:  # a resumed run re-logging: keep one continuous curve
            cut = next(i for i, s in enumerate(self.steps) if s >= e.step)
            del self.steps[cut:], self.loss[cut:], self.lr[cut:]
        self.steps.append(e.step)
        self.loss.append(e.loss if e.loss is not None else float("nan"))
        self.lr.append(e.learning_rate)
        if e.tokens_per_second:
            self.tps_steps.append(e.step)
            self.tps.append(e.tokens_per_second)

    def add_eval(self, e) -> None:
        self.eval_steps.append(e.step)
        self.eval_loss.append(e.eval_loss if e.eval_loss is not None else float("nan"))


class TrainingCharts(Horizontal):
    """Loss (train + eval) on the left; learning rate or tokens/s on the right (toggle with `cycle`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.history = History()
        self.side = 0

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="chart-loss")
        yield PlotextPlot(id="chart-side")

    def on_mount(self) -> None:
        self.redraw()

    def reset(self) -> None:
        self.history = History()
        self.redraw()

    def cycle(self) -> None:
        self.side = (self.side + 1) % len(SIDE_CHARTS)
        self.redraw()

    def redraw(self) -> None:
        h = self.history
        loss_plot = self.query_one("#chart-loss", PlotextPlot)
        plt = loss_plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("loss")
        if h.steps:
            plt.plot(h.steps, h.loss, label="train", marker="braille", color="cyan")
        if h.eval_steps:
            plt.plot(h.eval_steps, h.eval_loss, label="eval", marker="dot", color="orange")
        if not h.steps:
            plt.xlim(0, 1)
        plt.xlabel("step")
        loss_plot.refresh()

        side_plot = self.query_one("#chart-side", PlotextPlot)
        plt = side_plot.plt
        plt.clear_data()
        plt.clear_figure()
        name = SIDE_CHARTS[self.side]
        plt.title(name)
        if name == "learning rate" and h.steps:
            plt.plot(h.steps, h.lr, marker="braille", color="green")
        elif name == "tokens/s" and h.tps:
            plt.plot(h.tps_steps, h.tps, marker="braille", color="magenta")
        plt.xlabel("step")
        side_plot.refresh()
