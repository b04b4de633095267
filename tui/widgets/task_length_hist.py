"""The token-length panel of the extractive-QA and classification Template screens (``l``).

The causal-LM panel (:mod:`.length_hist`: chart, keys, worker) over the task's own measure,
:func:`engine.tasks.task_lengths.measure_task`: tokens per row (classification) or per question+context
(extractive QA, with windows per question and answers lost to truncation), a line at ``cls.max_length`` /
``qa.max_length``; ``m``/``M`` set that field to the p95/p99 length (QA: a multiple of 8, never below what
``qa.doc_stride`` needs) through ``AppState.set_field``.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.widgets import Static

from .length_hist import LengthChart, LengthPanel, LengthsProgress


class TaskLengthPanel(LengthPanel):
    VIEW = "#qat-view"

    def changed(self, rows, info, tokenizer) -> None:
        if not self.display or rows is None or tokenizer is None:
            return
        from engine.tasks.task_lengths import cache_key

        cfg = self.app.state.config
        key = cache_key(cfg, tokenizer)
        if key == self.key and self.lengths is not None:
            self._draw()
            return
        self.key, self.lengths = key, None
        self.query_one("#len-title", Static).update(Text(f"Measuring token lengths of {len(rows):,} rows …", style="italic"))
        self.query_one("#len-figs", Static).update("")
        self.query_one(LengthChart).values = []
        self.query_one(LengthChart).refresh()
        self._measure(key, rows, info, tokenizer)

    @work(thread=True, exclusive=True, group="tpl-lengths", exit_on_error=False)
    def _measure(self, key: str, rows, info, tokenizer) -> None:
        from engine.tasks.task_lengths import measure_task

        from .qa_preview import worker_error

        cfg = self.app.state.config
        try:
            # Its own tokenizer: a fast tokenizer used from two threads at once panics ("Already borrowed").
            if cfg.task == "extractive_qa":
                from engine.tasks.qa_model import load_qa_tokenizer as load
            else:
                from engine.tasks.cls_model import load_cls_tokenizer as load
            tok = load(cfg.model)
            lengths = measure_task(cfg, rows, tok)
        except BaseException as e:  # the app stays up; the panel says what went wrong
            if worker_error(e) is None:
                raise
            self.post_message(LengthsProgress(key, -1, len(rows), worker_error(e)))
            return
        self.post_message(LengthsProgress(key, len(rows), len(rows), lengths))

    def _draw(self) -> None:
        from engine.tasks.task_lengths import max_length_field, task_max_length

        self.refresh_bindings()  # m/M apply now that there are lengths
        cfg = self.app.state.config
        tl, max_length = self.lengths, task_max_length(cfg)
        fig = tl.figures(max_length)
        chart = self.query_one(LengthChart)
        chart.values, chart.max_length = tl.lengths, max_length
        chart.refresh()
        qa = tl.task == "extractive_qa"
        what = f"{fig.samples:,} questions + contexts" if qa else f"all {fig.samples:,} rows"
        self.query_one("#len-title", Static).update(Text.assemble(
            ("Token lengths", "bold"), f" of {what}, as the trainer tokenises them"))
        figs = Text()
        figs.append(f"min {fig.min:,} · median {fig.median:,.0f} · p95 {fig.p95:,} · p99 {fig.p99:,} · max {fig.max:,}\n")
        if qa:
            lo, med, hi, total = tl.window_figures()
            figs.append(f"{total:,} windows at {max_length_field(tl.task)} {max_length:,}, doc_stride {cfg.qa.doc_stride:,}: "
                        f"per question {lo:,}-{hi:,} (median {med:,.0f}) · ")
            figs.append(f"{tl.lost:,} answers lost to truncation", style="bold red" if tl.lost else "green")
        else:
            figs.append(f"{fig.over:,} ({fig.over_share:.1%}) over {max_length_field(tl.task)} {max_length:,}",
                        style="bold red" if fig.over else "green")
        self.query_one("#len-figs", Static).update(figs)

    def action_set_max(self, q: int) -> None:
        from engine.tasks.task_lengths import max_length_field, suggest_max_length

        if self.lengths is None or not self.lengths.lengths:
            return
        name = max_length_field(self.lengths.task)
        model_max = getattr(self.screen.tokenizer, "model_max_length", None)
        value = suggest_max_length(self.lengths, self.app.state.config, q, model_max)
        problem = self.app.state.set_field(name, value)
        self.notify(problem or f"{name} = {value:,} (the p{q} token length)", title="max_length",
                    severity="warning" if problem else "information")
        self._draw()
        if not problem:
            self.screen.on_screen_resume()  # the preview (and, for QA, the windows) follow the new max_length
