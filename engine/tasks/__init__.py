"""The task seam: what a training task is made of, and :func:`get_task` to look one up.

A :class:`Task` says how a data row becomes model features and labels, which collator batches them,
which model class to load, what the preview shows of a row, how predictions are decoded and scored,
and runs the training recipe (:meth:`Task.fit`, called by :func:`engine.train.train` with the same run
folder and event stream as any run). ``causal_lm`` (:mod:`.causal_lm`) and ``extractive_qa``
(:mod:`.extractive_qa`) are the tasks; engine.train, engine.evaluate, engine.infer and engine.export ask
``get_task(cfg.task)`` instead of knowing which one runs.

    task = get_task("extractive_qa")
    task.load_examples(cfg)          # rows, info
    task.features(rows, tokenizer, cfg)
    task.preview(row, tokenizer, cfg)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

TASK_NAMES = ("causal_lm", "extractive_qa", "classification")


@dataclass
class FitResult:
    """How :meth:`Task.fit` ended."""

    final_step: int
    stopped: bool
    nan_step: int | None
    last_loss: float | None
    output_path: str | None = None  # where the final weights went (default: the adapter folder)


class Task:
    """The interface every task implements (all imports lazy, so the TUI may import this module)."""

    name: str = ""
    model_class: str = ""  # the transformers Auto class, e.g. "AutoModelForQuestionAnswering"
    generates: bool = False  # whether a prediction is generated text (the Playground, `tunedeck generate`)

    def load_examples(self, cfg) -> tuple[list[dict], Any]:
        """The training rows (and a description of the data) for ``cfg.data``."""
        raise NotImplementedError

    def features(self, rows: list[dict], tokenizer, cfg) -> Any:
        """Rows -> model inputs and labels."""
        raise NotImplementedError

    def collator(self, tokenizer) -> Any:
        raise NotImplementedError

    def preview(self, row: dict, tokenizer, cfg) -> Any:
        """What the Template screen shows of one row."""
        raise NotImplementedError

    def predictions(self, rows: list[dict], features: Any, logits: Any, cfg) -> list:
        """Model outputs -> one prediction per row."""
        raise NotImplementedError

    def metrics(self, predictions: list, rows: list[dict]) -> dict:
        raise NotImplementedError

    def prepare(self, cfg, emit) -> Any:
        """Every config and data check (and the tokenised data), before the run folder is touched."""
        raise NotImplementedError

    def fit(self, cfg, run_dir, resume_ckpt, emit, stop, save_now=None, prep=None):
        """Train ``cfg`` into ``run_dir`` reporting events through ``emit``; returns a :class:`FitResult`."""
        raise NotImplementedError


def get_task(name: str) -> Task:
    if name == "extractive_qa":
        from .extractive_qa import ExtractiveQA

        return ExtractiveQA()
    if name == "classification":
        from .classification import Classification

        return Classification()
    if name == "causal_lm":
        from .causal_lm import CausalLM

        return CausalLM()
    raise ConfigError([("task", f"unknown task {name!r}; use one of {', '.join(TASK_NAMES)}")])
