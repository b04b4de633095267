"""Compare runs: their loss curves overlaid on one chart with a legend, and their config differences side by side.

Beside each run's loss the legend shows its task scores: EM/F1 for extractive QA, accuracy/macro F1 for
classification (from eval.json, else the last eval event); causal-LM runs show their loss alone.

Pushed from the Runs screen (mark runs with space, then c). Everything comes
from the run folders (metrics.jsonl, config.yaml), read in a worker.

Pushed with ``chain=True`` from a staged run (l on the Runs screen): the runs are one chain's stages, oldest
first, and each stage's curve is drawn after the previous stages' steps (its step 1 at their last step + 1),
so the chain reads as one continuous training; the title and legend say so.

Keys: v switch between training and eval loss, Esc back.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from engine.rundir import CONFIG_FILE, METRICS_FILE

from ..messages import Compared
from ..text import cut
from ..widgets.charts import Chart, History
from ..widgets.nav import NavTabs
from ..widgets.run_scores import scores_text

# 256-colour indices: plotext draws with them, rich writes the legend with the same ones.
PALETTE = (51, 208, 46, 201, 226, 39, 196, 250)


def _show(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class CompareScreen(Screen):
    CSS_PATH = "compare.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("v", "toggle_eval", "Train/eval loss"),
    ]

    def __init__(self, run_dirs: list[str | Path], chain: bool = False):
        super().__init__()
        self.run_dirs = [Path(p) for p in run_dirs]
        self.chain = chain  # the stages of one chain: curves laid end to end
        self.histories: list[History] = []
        self.diff: list[tuple[str, list]] = []
        self.scores: list = []  # engine.run_scores.RunScores or None, per run
        self.eval = False  # draw eval loss instead of training loss

    def compose(self) -> ComposeResult:
        yield NavTabs("runs")
        title = (f" Chain of {len(self.run_dirs)} stages, oldest first: each stage's steps continue from the last"
                 if self.chain else f" Comparing {len(self.run_dirs)} runs")
        yield Label(title, id="cmp-title")
        yield Chart("loss", id="cmp-chart")
        yield Static("", id="cmp-legend")
        yield Label("", id="cmp-diff-title")
        yield DataTable(id="cmp-diff", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        from engine.config import load_config
        from engine.events import read_events
        from engine.run_scores import run_scores
        from engine.runs import config_table, summarize_run

        histories, configs, errors, scores = [], [], [], []
        for rd in self.run_dirs:
            histories.append(History.from_events(read_events(rd / METRICS_FILE)))
            try:
                scores.append(run_scores(summarize_run(rd)))
            except Exception:  # no config.yaml: the loss curve is all there is
                scores.append(None)
            try:
                configs.append(load_config(rd / CONFIG_FILE))
            except Exception as e:  # a hand-edited config that no longer loads: say so, compare the rest
                errors.append(f"{rd.name}: {e}")
        table = config_table(configs) if len(configs) == len(self.run_dirs) else []
        self.post_message(Compared(histories, table, errors, scores))

    def on_compared(self, msg: Compared) -> None:
        self.histories, self.diff, self.scores = msg.histories, msg.table, msg.scores
        self._draw()
        table = self.query_one(DataTable)
        table.clear(columns=True)
        # Widths given, not measured: DataTable sizes auto columns only once idle and can draw one frame
        # with the settings cut to their header's width.
        rows = [(key, *(_show(v) for v in values)) for key, values in self.diff]
        heads = [Text("setting")] + [Text(cut(rd.name, 30), style=f"bold color({PALETTE[i % len(PALETTE)]})")
                                     for i, rd in enumerate(self.run_dirs)]
        for c, head in enumerate(heads):
            table.add_column(head, width=max([head.cell_len] + [cell_len(row[c]) for row in rows]))
        for row in rows:
            table.add_row(*row)
        title = self.query_one("#cmp-diff-title", Label)
        if msg.errors:
            title.update(Text("; ".join(msg.errors), style="red"))
        else:
            n = len(self.diff)
            title.update(Text(f" {n} setting{'s' * (n != 1)} differ" if n else " Same config in every run",
                              style="bold"))

    def offsets(self) -> list[int]:
        """Steps before each run's curve: 0 each, or in a chain the steps of the stages before it."""
        out, before = [], 0
        for h in self.histories:
            out.append(before if self.chain else 0)
            before += int(max(list(h.steps) + list(h.eval_steps) + [0]))
        return out

    def _draw(self) -> None:
        series = []
        legend = Text()
        offsets = self.offsets()
        for i, (rd, h) in enumerate(zip(self.run_dirs, self.histories, strict=False)):
            color = PALETTE[i % len(PALETTE)]
            xs, ys = (h.eval_steps, h.eval_loss) if self.eval else (h.steps, h.loss)
            series.append(([x + offsets[i] for x in xs], ys, color))
            if i:
                legend.append("  ")
            legend.append("■ ", style=f"color({color})")
            if self.chain:
                legend.append(f"{i + 1}. ", style="bold")
            last = next((y for y in reversed(ys) if y == y), None)
            legend.append(cut(rd.name, 30) + (f" {last:.3f}" if last is not None else " (no points)"))
            score = self.scores[i] if i < len(self.scores) else None
            if score is not None:
                legend.append(f" · {scores_text(score)}", style="bold")
        if self.chain:
            legend.append("  (x: steps of the whole chain, each stage after the ones before)", style="dim")
        self.query_one("#cmp-chart", Chart).show("eval loss" if self.eval else "training loss", series)
        self.query_one("#cmp-legend", Static).update(legend)

    def action_toggle_eval(self) -> None:
        self.eval = not self.eval
        self._draw()

    def action_back(self) -> None:
        self.app.pop_screen()
