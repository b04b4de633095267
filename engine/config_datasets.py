"""``data.datasets``: several datasets in one run, each entry checked with the data fields' own rules.

    data:
      datasets:
        - {path: docs_alpaca.jsonl, template: alpaca, weight: 3}
        - {path: chats.jsonl, format: sharegpt, template: chatml, weight: 1}

An entry is a mapping with ``path`` (required) and any of :data:`ENTRY_KEYS`; every key but ``weight`` is
the ``data.*`` field of that name, checked by the same pydantic rule (``engine.config_rules``), and a key
left out takes the run's ``data.*`` value. ``weight`` (default 1, > 0) is the entry's share of the mix.
Entries are numbered from 1 in messages: ``data.datasets[2].format: must be one of ..., got 'csv'``.
The rows are mixed by :mod:`engine.data.mix`.
"""

from __future__ import annotations

from typing import Annotated, Any

from .errors import ConfigError

ENTRY_KEYS = ("path", "format", "columns", "template", "weight", "split", "limit", "delimiter", "system_prompt",
              "train_on_prompt")
STOPPING = ("first_exhausted", "all_exhausted")


def check_datasets(value: Any) -> list[dict]:
    """The entries of ``data.datasets`` converted and checked; ConfigError naming the entry (from 1) and key."""
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value) if value.strip() else []
        except yaml.YAMLError:
            raise ConfigError([("data.datasets", "must be a list of {path, format, columns, template, weight} "
                                                 "mappings, got text that is not YAML")]) from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError([("data.datasets", f"must be a list of {{path, format, columns, template, weight}} "
                                             f"mappings, got {type(value).__name__}")])
    errors: list[tuple[str, str]] = []
    out = []
    for n, entry in enumerate(value, 1):
        where = f"data.datasets[{n}]"
        if isinstance(entry, str):
            entry = {"path": entry}  # a bare path: every other key from data.*
        if not isinstance(entry, dict):
            errors.append((where, f"must be a mapping such as {{path: file.jsonl, weight: 1}}, got {type(entry).__name__}"))
            continue
        checked = _entry(entry, where, errors)
        if checked is not None:
            out.append(checked)
    if errors:
        raise ConfigError(errors)
    return out


def _entry(entry: dict, where: str, errors: list[tuple[str, str]]) -> dict | None:
    from .config import coerce_field

    before = len(errors)
    if "path" not in entry or entry["path"] in (None, ""):
        errors.append((f"{where}.path", "must be set: the entry's data file, folder or hub id"))
    checked: dict[str, Any] = {}
    for key, raw in entry.items():
        path = f"{where}.{key}"
        if key not in ENTRY_KEYS:
            errors.append((path, f"unknown key; an entry's keys are {', '.join(ENTRY_KEYS)}"))
        elif key == "weight":
            checked[key] = _weight(raw, path, errors)
        else:
            try:
                checked[key] = coerce_field(f"data.{key}", raw)
            except ConfigError as e:
                errors.extend((path, msg) for _, msg in e.errors)
    return checked if len(errors) == before else None


def _weight(raw: Any, path: str, errors: list[tuple[str, str]]) -> float | None:
    from pydantic import Field, TypeAdapter, ValidationError

    try:
        if isinstance(raw, bool):
            raise ValueError
        return TypeAdapter(Annotated[float, Field(gt=0)]).validate_python(raw)
    except (ValidationError, ValueError):
        errors.append((path, f"must be a number > 0 (the entry's share of the mix), got {raw!r}"))
        return None


def cross_errors(cfg) -> list[tuple[str, str]]:
    """What does not go with data.datasets."""
    if not cfg.data.datasets:
        return []
    if cfg.data.val_path:
        return [("data.val_path", "does not go with data.datasets (which file's format would it have?); "
                                  "use data.val_split, which holds out that share of each dataset")]
    return []
