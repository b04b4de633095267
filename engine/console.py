"""Library noise kept out of the user's terminal: :class:`LibraryLog`.

Library warnings (transformers' FutureWarnings and the like) and library log
records never reach the terminal: :class:`LibraryLog` keeps them in the run's
own ``train.log``, and library progress bars ("Loading weights: 100%|...") are
switched off while it is active. What the command line draws (the progress
view) lives above the engine, in tui/console.py::

    view = ProgressView(Console(stderr=True), quiet=False)   # tui.console
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

