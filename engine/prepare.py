"""Data preparation for causal-LM training: load, detect, template and tokenise the rows, and split off
the validation rows, through the same function the preview uses (:func:`engine.tokenize.encode_row`)::

    data = prepare_data(cfg, tokenizer, emit)
    data.train[0]        # {"input_ids": [...], "labels": [-100, ..., 42, ...]}
    data.stats.summary() # "998 samples (61234 tokens, 20311 trained); 3 truncated, 1 dropped (...)"

Every problem is a one-line DataError naming the file and row, before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .config import Config
from .events import Event, MessageLogged


@dataclass
class PrepStats:
    """What tokenisation did to the data (reported in the run's start event)."""

    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_no_trained: int = 0
    tokens: int = 0
    trained_tokens: int = 0

    def summary(self) -> str:
        return (
            f"{self.kept} samples ({self.tokens} tokens, {self.trained_tokens} trained); "
            f"{self.truncated} truncated, {self.dropped_no_trained} dropped (empty answer or no trained token left)"
        )


@dataclass
class PreparedData:
    train: Any  # datasets.Dataset with input_ids, labels
    val: Any | None
    info: Any  # engine.data.DatasetInfo
    stats: PrepStats
    val_stats: PrepStats | None = None


def iter_samples(rows, info, cfg: Config, tokenizer, source: str, numbers=None):
    """(row index, TokenizedSample) for each row, through the preview's own function; errors name the row
    (``numbers``: each row's index in the file, when ``rows`` is a split of it)."""
    from .errors import DataError
    from .tokenize import encode_row

    for index, row in enumerate(rows):
        try:
            yield index, encode_row(row, info, cfg.data, tokenizer)
        except DataError as e:
            raise DataError(f"{source}: row {(numbers[index] if numbers else index) + 1}: {e}") from None


def encode_rows(rows, info, cfg: Config, tokenizer, source: str, numbers=None) -> tuple[dict[str, list], PrepStats]:
    """Tokenise every row; drop rows with nothing to train (blank answer or no trained token left)."""
    stats = PrepStats()
    columns: dict[str, list] = {"input_ids": [], "labels": []}
    for _, sample in iter_samples(rows, info, cfg, tokenizer, source, numbers):
        stats.rows += 1
        if sample.truncated:
            stats.truncated += 1
        if not sample.trainable:
            stats.dropped_no_trained += 1
            continue
        stats.kept += 1
        stats.tokens += len(sample.input_ids)
        stats.trained_tokens += sample.num_trained
        columns["input_ids"].append(sample.input_ids)
        columns["labels"].append(sample.labels)
    return columns, stats


def split_rows(raw, val_split: float, seed: int, where: str = "data.val_split"):
    """(train rows, validation rows, their row numbers in the file): the rows train_test_split would pick
    (its permutation depends only on length and seed), each keeping its place so an error names the right row."""
    from datasets import Dataset

    from .errors import DataError

    n_val = max(1, int(round(len(raw) * val_split)))
    if n_val >= len(raw):
        raise DataError(f"{where}: {val_split} leaves no training rows out of {len(raw)}; lower it")
    split = Dataset.from_dict({"i": list(range(len(raw)))}).train_test_split(test_size=n_val, seed=seed, shuffle=True)
    numbers, val_numbers = split["train"]["i"], split["test"]["i"]
    return raw.select(numbers), raw.select(val_numbers), numbers, val_numbers


def prepare_data(cfg: Config, tokenizer, emit: Callable[[Event], None] = lambda e: None) -> PreparedData:
    """Load, detect, template and tokenise the data. Raises DataError before any model is loaded."""
    if cfg.data.datasets:  # several datasets, mixed by weight
        from .prepare_mix import prepare_mixed

        return prepare_mixed(cfg, tokenizer, emit)
    from datasets import Dataset

    from .data import load_dataset, load_validation
    from .errors import DataError
    from .templates import resolve_template, validate_template

    raw, info = load_dataset(cfg.data)
    emit(MessageLogged(f"Data: {info.describe()}"))
    from .data.check import row_warnings

    for warning in row_warnings(raw, info):
        emit(MessageLogged(warning, level="warning"))
    template = resolve_template(cfg.data.template, info.format, tokenizer)
    validate_template(template, info.columns, info.format)
    from .template_checks import template_choice, template_warnings

    emit(MessageLogged(f"Template {template_choice(cfg.data.template, info.format, tokenizer)[1]}"))
    for warning in template_warnings(template, tokenizer, info.format, system_prompt=cfg.data.system_prompt):
        emit(MessageLogged(warning, level="warning"))
    val_raw, numbers, val_numbers = None, None, None
    val = load_validation(cfg.data, info)  # same mapping as the training file
    if val is not None:
        val_raw = val[0]
    elif cfg.data.val_split > 0:
        raw, val_raw, numbers, val_numbers = split_rows(raw, cfg.data.val_split, cfg.training.seed)
    columns, stats = encode_rows(raw, info, cfg, tokenizer, cfg.data.path, numbers)
    if stats.kept == 0:
        raise DataError(
            f"{cfg.data.path}: nothing to train: none of {stats.rows} rows has a trained token "
            f"({stats.dropped_no_trained} with an empty completion or cut off by data.max_length={cfg.data.max_length}); "
            "check data.columns maps the answer column to output, or raise data.max_length"
        )
    emit(MessageLogged(f"Tokenised with template {template}: {stats.summary()}",
                       level="warning" if stats.dropped_no_trained or stats.truncated else "info"))
    val_ds, val_stats = None, None
    if val_raw is not None:
        val_columns, val_stats = encode_rows(val_raw, info, cfg, tokenizer, cfg.data.val_path or cfg.data.path, val_numbers)
        if val_stats.kept:
            val_ds = Dataset.from_dict(val_columns)
            emit(MessageLogged(f"Validation: {val_stats.kept} samples"))
    return PreparedData(Dataset.from_dict(columns), val_ds, info, stats, val_stats)
