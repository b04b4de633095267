"""The scores chart of an encoder-task run, beside the loss (tui/widgets/charts.py): exact match / F1
for extractive QA, accuracy / F1 (macro) for classification.

Eval events of a QA run carry ``exact_match`` and ``f1`` (0 to 100); those of a classification run
``accuracy`` and ``f1`` (0 to 1). The history records them (:func:`record_qa_scores`); once a run has
any, the scores chart is the first side chart (``c`` cycles it with learning rate and tokens/s; wide
screens show them all), and the status line and the log name the last figures. A causal-LM run never
shows it.
"""

from __future__ import annotations

import math

from .charts import SIDE_CHARTS, Chart


def record_qa_scores(history, e) -> None:
    em, f1 = getattr(e, "exact_match", None), getattr(e, "f1", None)
    history.eval_em.append(em if em is not None else math.nan)
    history.eval_f1.append(f1 if f1 is not None else math.nan)
    acc = getattr(e, "accuracy", None)
    history.eval_acc.append(acc if acc is not None else math.nan)


def is_cls(history) -> bool:
    """The run's evals carry accuracy: a classification run (scores 0..1)."""
    return any(math.isfinite(v) for v in history.eval_acc)


def has_qa(history) -> bool:
    return any(math.isfinite(v) for v in history.eval_f1)


def side_charts(history) -> tuple[str, ...]:
    return ("qa", *SIDE_CHARTS) if has_qa(history) else SIDE_CHARTS


def last_scores(series) -> tuple[float | None, float | None]:
    """The last finite (EM, F1) of the chart's two series."""
    if len(series) < 2:
        return None, None
    pairs = [(e, f) for e, f in zip(series[0][1], series[1][1], strict=False) if math.isfinite(f)]
    return pairs[-1] if pairs else (None, None)


def qa_words(history) -> str | None:
    """``EM 57.1 · F1 62.9`` (``accuracy 0.833 · F1 0.790`` for classification) for the last eval that has them."""
    if is_cls(history):
        for acc, f1 in zip(reversed(history.eval_acc), reversed(history.eval_f1), strict=False):
            if math.isfinite(acc):
                return f"accuracy {acc:.3f} · F1 {f1:.3f}"
    for em, f1 in zip(reversed(history.eval_em), reversed(history.eval_f1), strict=False):
        if math.isfinite(f1):
            return f"EM {em:.1f} · F1 {f1:.1f}"
    return None


def eval_line(e) -> str | None:
    """The log line's QA part: ``, exact match 57.1, F1 62.9`` (None for a causal-LM eval)."""
    if getattr(e, "f1", None) is None:
        return None
    if getattr(e, "accuracy", None) is not None:
        return f", accuracy {e.accuracy:.3f}, F1 {e.f1:.3f}"
    return f", exact match {e.exact_match:.1f}, F1 {e.f1:.1f}"


class QaChart(Chart):
    """EM (yellow) and F1 (green) at each eval step, on a fixed 0..100 scale; for classification
    (``cls``) accuracy (yellow) and macro F1 (green) on 0..1."""

    def __init__(self, **kwargs):
        super().__init__("exact match / F1", **kwargs)
        self.cls = False

    def _draw(self) -> None:
        # The title names the last figures; the colours too when there is room (plotext drops a title too long).
        em, f1 = last_scores(self.series)
        width = self.size.width or 80
        if self.cls:
            if em is None:
                self.title = "accuracy (yellow) · F1 (green)" if width >= 32 else "acc · F1"
            elif width >= 44:
                self.title = f"acc {em:.2f} (yellow) · F1 {f1:.2f} (green)"
            else:
                self.title = f"acc {em:.2f} · F1 {f1:.2f}"
            Chart._draw(self)
            self.plt.ylim(0, 1)
            self.plt.yticks([0, 0.25, 0.5, 0.75, 1], ["0", ".25", ".5", ".75", "1"])
            return
        if em is None:
            self.title = "EM (yellow) · F1 (green)" if width >= 26 else "EM · F1"
        elif width >= 42:
            self.title = f"EM {em:.1f} (yellow) · F1 {f1:.1f} (green)"
        else:
            self.title = f"EM {em:.1f} · F1 {f1:.1f}"
        super()._draw()
        self.plt.ylim(0, 100)
        self.plt.yticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100"])


def show_qa_chart(charts) -> None:
    """Draw the EM/F1 chart of ``charts`` (a TrainingCharts); show it as the side chart when the run has scores."""
    h = charts.history
    chart = charts.query_one("#chart-qa")
    qa = has_qa(h)
    if qa and chart.has_class("-noqa"):  # the first scores of a QA run: EM/F1 becomes the side chart shown
        chart.remove_class("-noqa")
        charts.side = -1
        charts.cycle()
    elif not qa and not chart.has_class("-noqa"):  # reset (a new run)
        chart.add_class("-noqa")
        charts.side = -1
        charts.cycle()
    chart.cls = is_cls(h)
    first = h.eval_acc if chart.cls else h.eval_em
    chart.show("accuracy · F1" if chart.cls else "EM · F1", [(h.eval_steps, first, "yellow"), (h.eval_steps, h.eval_f1, "green")])
