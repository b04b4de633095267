"""Messages that carry results from worker threads to the UI thread (via post_message), one section per feature.

Workers never touch widgets: they post one of these, and the screen's handler (``on_<snake_name>``) draws."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class EngineEvent(Message):
    """One engine event (engine.events.Event) from the training worker."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class TrainingEnded(Message):
    """The training worker returned (result is an engine.train.RunResult)."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class TrainingOver(Message):
    """The Train screen is done with its run (ended, or its worker crashed); bubbles to the App."""


# -- Playground (tui/screens/playground.py): posted from its worker threads ----------------------------


class PlaygroundRunsListed(Message):
    """The runs folder was scanned: ``summaries`` (engine.runs.RunSummary, newest first), ``error`` if unreadable."""

    def __init__(self, summaries: list[Any], error: str = "") -> None:
        super().__init__()
        self.summaries = summaries
        self.error = error


class PlaygroundLoadProgress(Message):
    """A line from engine.infer.load_for_generation while the model for ``key`` loads."""

    def __init__(self, key: Any, text: str) -> None:
        super().__init__()
        self.key = key
        self.text = text


class PlaygroundLoaded(Message):
    """The model for ``key`` (run path, checkpoint) loaded: ``generator`` (engine.infer.Generator), or ``error`` (one line)."""

    def __init__(self, key: Any, generator: Any = None, error: str = "") -> None:
        super().__init__()
        self.key = key
        self.generator = generator
        self.error = error


class ReplyChunk(Message):
    """A piece of generated text for the ``pane`` ("base" or "tuned") of request ``request``; ``tokens`` so far."""

    def __init__(self, pane: str, request: int, text: str, tokens: int = 0) -> None:
        super().__init__()
        self.pane = pane
        self.request = request
        self.text = text
        self.tokens = tokens


class ReplyEnded(Message):
    """Generation for ``pane`` ended: ``reason`` is eos, stop_string, max_tokens, cancelled or error (``error`` says why)."""

    def __init__(self, pane: str, request: int, reason: str, tokens: int = 0, seconds: float = 0.0,
                 error: str = "") -> None:
        super().__init__()
        self.pane = pane
        self.request = request
        self.reason = reason
        self.tokens = tokens
        self.seconds = seconds
        self.error = error


# -- Evaluate and Export screens (tui/screens/evaluate.py, export.py): posted from their worker threads ----


class EvalProgress(Message):
    """engine.evaluate.evaluate_run progress: stage ("load", "loss", "generate"), done of total; text for "load"."""

    def __init__(self, stage: str, done: int = 0, total: int = 0, text: str = "") -> None:
        super().__init__()
        self.stage, self.done, self.total, self.text = stage, done, total, text


class EvalEnded(Message):
    """The evaluation worker is done: ``report`` (an engine.evaluate.EvalReport), or a one-line ``error``,
    or ``cancelled``."""

    def __init__(self, report: Any = None, error: str | None = None, cancelled: bool = False) -> None:
        super().__init__()
        self.report, self.error, self.cancelled = report, error, cancelled


class ExportProgress(Message):
    """One line of engine.export progress (export_merged / export_data on_progress)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ExportEnded(Message):
    """The export worker is done: ``result`` (MergedExport or DataExport) or a one-line ``error``."""

    def __init__(self, result: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.result, self.error = result, error


# -- Data screen (tui/screens/data.py): posted from its file-reading workers -----------------------


class Opened(Message):
    def __init__(self, source, rows: list[dict], columns: list[str]):
        super().__init__()
        self.source, self.rows, self.columns = source, rows, columns


class Page(Message):
    def __init__(self, source, seq: int, start: int, rows: list[dict], cursor: int, total: int | None):
        super().__init__()
        self.source, self.seq, self.start, self.rows, self.cursor, self.total = source, seq, start, rows, cursor, total


class LoadFailed(Message):
    def __init__(self, path: str, error: str):
        super().__init__()
        self.path, self.error = path, error


class CountProgress(Message):
    def __init__(self, source, rows: int, fraction: float, done: bool):
        super().__init__()
        self.source, self.rows, self.fraction, self.done = source, rows, fraction, done


class SearchDone(Message):
    def __init__(self, text: str, index: int | None, wrapped: bool):
        super().__init__()
        self.text, self.index, self.wrapped = text, index, wrapped


# -- Template screen (tui/screens/template.py): posted from its preview workers --------------------


class Prepared(Message):
    def __init__(self, key, ds, info, tokenizer, error: str | None = None):
        super().__init__()
        self.key, self.ds, self.info, self.tokenizer, self.error = key, ds, info, tokenizer, error


class SampleReady(Message):
    def __init__(self, key, index: int, sample, error: str | None):
        super().__init__()
        self.key, self.index, self.sample, self.error = key, index, sample, error


class StatsReady(Message):
    def __init__(self, key, checked: int, total: int, truncated: int, untrained: int, errors: int,
                 first_error: str | None, done: bool):
        super().__init__()
        self.key, self.checked, self.total = key, checked, total
        self.truncated, self.untrained, self.errors, self.first_error, self.done = truncated, untrained, errors, first_error, done


# -- Runs, run view and compare screens (tui/screens/runs.py, run_view.py, compare.py): posted from their readers ----


class RunsListed(Message):
    def __init__(self, runs_dir: str, summaries: list[Any], chains: dict[str, list] | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.summaries = summaries
        self.chains = chains or {}  # staged runs' chains by run name (tui/widgets/run_lineage.py)


class HistoryLoaded(Message):
    """The events already in the run's metrics.jsonl (read in a worker: a long run's file can be large)."""

    def __init__(self, events: list) -> None:
        super().__init__()
        self.events = events


class Compared(Message):
    def __init__(self, histories: list[Any], table: list[tuple[str, list]], errors: list[str],
                 scores: list[Any] | None = None) -> None:
        super().__init__()
        self.histories = histories
        self.table = table
        self.errors = errors
        self.scores = scores or [None] * len(histories)  # engine.run_scores.RunScores (QA, classification) or None
