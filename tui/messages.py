"""Messages that carry engine results from worker threads to the UI thread (via post_message)."""

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


class ConfigChanged(Message):
    """The shared config was edited (screens refresh what depends on it)."""
