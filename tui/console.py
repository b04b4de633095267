"""What ``tunedeck train`` prints: TuneDeck's own lines and progress, and nothing from the libraries.

On a terminal a rich progress bar (step/total, loss, tok/s, ETA) with the
run's messages above it; when the output is not a terminal (a pipe, a log
file, CI) one plain, unwrapped line per logged step. Library noise is kept
out by the engine's :class:`engine.console.LibraryLog`::

    view = ProgressView(Console(stderr=True), quiet=False)
    with LibraryLog() as libs:
        result = train(cfg, on_event=lambda e: (libs.on_event(e), view(e)))
"""

from __future__ import annotations

import os

from engine.model import quantization_words

from .text import hms

DEVICE_COLUMN_WIDTH = 110  # terminal columns from which the progress bar also shows the device's memory


class ProgressView:
    """Draws training events: a rich progress bar on a terminal, one plain line per step otherwise.

    ``quiet`` (``--quiet``) turns the bar off even on a terminal. ``TUNEDECK_PROGRESS=1`` forces the bar.
    """

    def __init__(self, console, quiet: bool = False):
        self.console = console
        self.bar = not quiet and (console.is_terminal or os.environ.get("TUNEDECK_PROGRESS") == "1")
        if not console.is_terminal:
            console.soft_wrap = True  # a log line is one line, however long
        self.progress = None
        self.task = None
        self.dev = False

    def _out(self):
        return self.progress.console if self.progress is not None else self.console

    def __call__(self, event) -> None:
        from engine.events import CheckpointSaved, EvalLogged, MessageLogged, OomRecovered, RunStarted, StepLogged

        from .device_line import device_compact, oom_words

        out = self._out()
        if isinstance(event, MessageLogged):
            out.print(f"[dim]{event.text}[/]" if event.level == "info" else f"[yellow]{event.text}[/]", highlight=False)
        elif isinstance(event, RunStarted):
            quant = quantization_words(event.config.get("model", {}).get("quantization", ""))
            out.print(f"Run {event.run_dir} on {event.device}, {quant}: {event.train_samples} samples, "
                      f"{event.max_steps} steps, {event.trainable_params:,} trainable of {event.total_params:,} "
                      f"parameters ({event.batching} batches)", highlight=False)
            if self.bar:
                self._start(event)
        elif isinstance(event, StepLogged):
            tps = f"{event.tokens_per_second:,.0f} tok/s" if event.tokens_per_second else "- tok/s"
            dev = device_compact(event)
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=event.step, total=event.max_steps, dev=dev if self.dev else "",
                                     loss=f"loss {event.loss:.4f}", tps=tps, eta=f"ETA {hms(event.eta, unknown='?')}")
            else:
                out.print(f"step {event.step}/{event.max_steps}  loss {event.loss:.4f}  lr {event.learning_rate:.2e}  "
                          f"{tps}  ETA {hms(event.eta, unknown='?')}" + (f"  {dev}" if dev else ""), highlight=False)
        elif isinstance(event, OomRecovered):
            out.print(f"[yellow]{oom_words(event).capitalize()}[/]", highlight=False)
        elif isinstance(event, EvalLogged):
            ppl = f"  perplexity {event.perplexity:.2f}" if event.perplexity else ""
            if event.f1 is not None:
                ppl = f"  exact match {event.exact_match:.1f}  F1 {event.f1:.1f}"
            out.print(f"eval at step {event.step}: loss {event.eval_loss:.4f}{ppl}", highlight=False)
        elif isinstance(event, CheckpointSaved) and not event.stopping:  # a stop's checkpoint: the stop line names it
            out.print(f"[dim]checkpoint saved: {event.path}[/]", highlight=False)

    def _start(self, event) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), TextColumn("step"), MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"), TextColumn("{task.fields[tps]}"), TextColumn("{task.fields[eta]}"),
            TextColumn("[dim]{task.fields[dev]}"), console=self.console, transient=False,
        )
        self.dev = self.console.width >= DEVICE_COLUMN_WIDTH  # the device's memory, where the line has room
        self.progress.start()
        self.task = self.progress.add_task("train", total=event.max_steps, completed=event.resumed_from_step,
                                           loss="loss -", tps="- tok/s", eta="ETA ?", dev="")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
