"""Causal-LM data preparation for several datasets (``data.datasets``): each dataset is read, checked,
split (``data.val_split`` of each) and tokenised with its own format and template, then the training
samples are mixed by weight (:func:`engine.data.mix.mix_order`, i.e. ``datasets.interleave_datasets``,
seeded with ``training.seed``). Validation is every dataset's held-out rows, unmixed. Messages and
errors name the dataset: ``dataset 2, chats.jsonl: row 3: ...``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from .events import Event, MessageLogged
from .prepare import PreparedData, PrepStats, encode_rows, split_rows


def _add(total: PrepStats, stats: PrepStats) -> None:
    for f in dataclasses.fields(PrepStats):
        setattr(total, f.name, getattr(total, f.name) + getattr(stats, f.name))


def prepare_mixed(cfg, tokenizer, emit: Callable[[Event], None] = lambda e: None) -> PreparedData:
    from datasets import Dataset

    from .data.check import row_warnings
    from .data.mix import counts_line, load_part, mix_order, parts
    from .errors import DataError
    from .templates import resolve_template, validate_template

    plist, encoded, vals = parts(cfg.data), [], []
    stats, val_stats = PrepStats(), PrepStats()
    for p in plist:
        load_part(p, cfg.data)
        data = p.data(cfg.data)
        emit(MessageLogged(f"Data: {p.name} ({p.path}, weight {p.weight:g}): {p.info.describe()}"))
        for warning in row_warnings(p.rows, p.info, p.source):
            emit(MessageLogged(warning, level="warning"))
        template = resolve_template(data.template, p.info.format)
        try:
            validate_template(template, p.info.columns, p.info.format)
        except DataError as e:
            raise DataError(f"{p.source} (data.datasets[{p.number}].template): {e}") from None
        sub = dataclasses.replace(cfg, data=data)
        raw, val_raw, numbers, val_numbers = p.rows, None, None, None
        if cfg.data.val_split > 0:
            raw, val_raw, numbers, val_numbers = split_rows(raw, cfg.data.val_split, cfg.training.seed,
                                                            f"data.val_split ({p.source})")
        columns, st = encode_rows(raw, p.info, sub, tokenizer, p.source, numbers)
        if st.kept == 0:
            raise DataError(f"{p.source}: nothing to train: none of {st.rows} rows has a trained token; check "
                            f"data.datasets[{p.number}].columns maps the answer column, or raise data.max_length")
        emit(MessageLogged(f"Tokenised {p.name} with template {template}: {st.summary()}",
                           level="warning" if st.dropped_no_trained or st.truncated else "info"))
        _add(stats, st)
        encoded.append(columns)
        if val_raw is not None:
            val_columns, vst = encode_rows(val_raw, p.info, sub, tokenizer, p.source, val_numbers)
            _add(val_stats, vst)
            vals.append(val_columns)
    order = mix_order([len(c["input_ids"]) for c in encoded], [p.weight for p in plist], cfg.training.seed,
                      cfg.data.stopping_strategy)
    emit(MessageLogged(counts_line(order, plist, cfg.data.stopping_strategy).replace(" rows ", " samples ", 1)))
    train = Dataset.from_dict({k: [encoded[p][k][r] for p, r in order] for k in ("input_ids", "labels")})
    stats.kept = len(train)
    val_ds = None
    if vals and any(v["input_ids"] for v in vals):
        val_ds = Dataset.from_dict({k: [x for v in vals for x in v[k]] for k in ("input_ids", "labels")})
        emit(MessageLogged(f"Validation: {len(val_ds)} samples (each dataset's held-out rows)"))
    return PreparedData(train, val_ds, plist[0].info, stats, val_stats if vals else None)
