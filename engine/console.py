"""What ``tunedeck train`` prints: TuneDeck's own lines and progress, and nothing from the libraries.

On a terminal a rich progress bar (step/total, loss, tok/s, ETA) with the
run's messages above it; when the output is not a terminal (a pipe, a log
file, CI) one plain, unwrapped line per logged step. Library warnings
(transformers' FutureWarnings and the like) and library log records never
reach the terminal: :class:`LibraryLog` keeps them in the run's own
``train.log``, and library progress bars ("Loading weights: 100%|...") are
switched off while it is active::

    view = ProgressView(Console(stderr=True), quiet=False)
    with LibraryLog() as libs:
        result = train(cfg, on_event=lambda e: (libs.on_event(e), view(e)))
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from . import rundir

LOG_FILE = "train.log"
LIBRARY_LOGGERS = ("transformers", "peft", "accelerate", "bitsandbytes", "datasets", "huggingface_hub", "torch",
                   "safetensors", "tokenizers")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _RunLogHandler(logging.Handler):
    """Holds records in memory until the run folder is known, then appends them (and all later ones) to its log."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT))
        self.pending: list[str] = []
        self.file = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a library's broken format string must not end the run
            return
        if self.file is None:
            self.pending.append(line)
            return
        try:
            self.file.write(line + "\n")
            self.file.flush()
        except (OSError, ValueError):
            pass

    def open(self, path: Path) -> None:
        if self.file is not None:
            return
        try:
            self.file = open(path, "a", encoding="utf-8")
            try:
                os.chmod(path, rundir.default_mode(0o666))
            except OSError:
                pass
            for line in self.pending:
                self.file.write(line + "\n")
            self.file.flush()
            self.pending.clear()
        except OSError:
            self.file = None

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        super().close()


class LibraryLog:
    """While active: library warnings and log records go to ``RUN/train.log``, library progress bars are off.

    The run folder is learnt from the run's events (:meth:`on_event`) or given (:meth:`attach`); what came
    before is kept in memory and written then. Everything is put back as it was on exit.
    """

    def __init__(self, run_dir: str | os.PathLike | None = None):
        self.handler = _RunLogHandler()
        self._run_dir = Path(run_dir) if run_dir else None
        self._saved: list = []

    def __enter__(self) -> "LibraryLog":
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("default")  # each distinct warning once, into the log
        logging.captureWarnings(True)
        for name in ("py.warnings",) + LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.handlers[:], logger.propagate, logger.level))
            logger.handlers = [self.handler]
            logger.propagate = False
            if name != "py.warnings" and (logger.level == logging.NOTSET or logger.level > logging.WARNING):
                logger.setLevel(logging.WARNING)
        self._bars = _library_bars(False)
        if self._run_dir is not None:
            self.attach(self._run_dir)
        return self

    def attach(self, run_dir: str | os.PathLike) -> None:
        rd = Path(run_dir)
        if rd.is_dir():
            self.handler.open(rd / LOG_FILE)

    def on_event(self, event) -> None:
        run_dir = getattr(event, "run_dir", None)
        if run_dir and self.handler.file is None:
            self.attach(run_dir)

    def __exit__(self, *exc) -> None:
        _library_bars(True, self._bars)
        for logger, handlers, propagate, level in reversed(self._saved):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
        logging.captureWarnings(False)
        self._warnings.__exit__(*exc)
        self.handler.close()


def _library_bars(enable: bool, previous: dict | None = None) -> dict:
    """Switch transformers' and datasets' progress bars off, or back to ``previous``; returns what they were."""
    previous = previous or {}
    state: dict = {}
    try:
        from transformers.utils import logging as tlog

        state["transformers"] = tlog.is_progress_bar_enabled()
        if not enable:
            tlog.disable_progress_bar()
        elif previous.get("transformers", True):
            tlog.enable_progress_bar()
    except Exception:  # no transformers: no bars
        pass
    try:
        import datasets

        state["datasets"] = datasets.is_progress_bar_enabled()
        if not enable:
            datasets.disable_progress_bars()
        elif previous.get("datasets", True):
            datasets.enable_progress_bars()
    except Exception:
        pass
    return state


def quantization_words(quantization: str) -> str:
    """The user's words for ``model.quantization``: 4-bit, 8-bit, 16-bit (not the config value 'none')."""
    return {"4bit": "4-bit", "8bit": "8-bit", "none": "16-bit"}.get(quantization, quantization)


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def stopped_line(step: int, checkpoint: str | None, lead: str = "Stopped") -> str:
    """The one message after a stop: where it stopped and the checkpoint it saved (no separate "saved" line)."""
    saved = f"checkpoint saved: {checkpoint}" if checkpoint else "no checkpoint saved"
    return f"{lead} at step {step}; {saved}"


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

    def _out(self):
        return self.progress.console if self.progress is not None else self.console

    def __call__(self, event) -> None:
        from .events import CheckpointSaved, EvalLogged, MessageLogged, RunStarted, StepLogged

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
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=event.step, total=event.max_steps,
                                     loss=f"loss {event.loss:.4f}", tps=tps, eta=f"ETA {hms(event.eta)}")
            else:
                out.print(f"step {event.step}/{event.max_steps}  loss {event.loss:.4f}  lr {event.learning_rate:.2e}  "
                          f"{tps}  ETA {hms(event.eta)}", highlight=False)
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
            console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=event.max_steps, completed=event.resumed_from_step,
                                           loss="loss -", tps="- tok/s", eta="ETA ?")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
