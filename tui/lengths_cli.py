"""``tunedeck data FILE --config CFG``: the template the config picks (and why), its checks against the
model's tokenizer, and token-length figures of every row, measured as the trainer tokenises them."""

from __future__ import annotations

import sys


def print_lengths(path: str, config: str, fmt: str = "auto", delimiter: str | None = None) -> None:
    from engine.config import load_config
    from engine.data import load_dataset
    from engine.lengths import measure, text_histogram
    from engine.model import load_tokenizer
    from engine.template_checks import template_choice, template_warnings
    from engine.templates import validate_template

    overrides = [f"data.path={path}"] + ([f"data.format={fmt}"] if fmt != "auto" else [])
    cfg = load_config(config, overrides)
    if delimiter is not None:
        cfg.data.delimiter = delimiter
    if cfg.task != "causal_lm":
        print_task_lengths(cfg)
        return
    _quiet()
    ds, info = load_dataset(cfg.data)
    tokenizer = load_tokenizer(cfg.model)
    name, why = template_choice(cfg.data.template, info.format, tokenizer)
    print(f"template {why}")
    validate_template(name, info.columns, info.format)
    for warning in template_warnings(name, tokenizer, info.format, system_prompt=cfg.data.system_prompt):
        print(f"warning: {warning}", file=sys.stderr)
    if len(ds) > 2000:
        print(f"measuring token lengths of {len(ds):,} rows with the {cfg.model.name} tokenizer …", file=sys.stderr, flush=True)
    lengths = measure(ds, info, cfg.data, tokenizer)
    fig = lengths.figures(cfg.data.max_length)
    for line in fig.lines():
        print(line)
    if lengths.errors:
        print(f"warning: {lengths.errors:,} rows cannot be formatted ({lengths.first_error})", file=sys.stderr)
    for line in text_histogram(lengths.lengths, cfg.data.max_length):
        print(line)


def print_task_lengths(cfg) -> None:
    """Extractive QA and classification: the figures of every row (question) as the task's trainer tokenises it."""
    from engine.lengths import text_histogram
    from engine.tasks import get_task
    from engine.tasks.task_lengths import measure_task, task_max_length

    _quiet()
    rows, _info = get_task(cfg.task).load_examples(cfg)
    if cfg.task == "extractive_qa":
        from engine.tasks.qa_model import load_qa_tokenizer as load
    else:
        from engine.tasks.cls_model import load_cls_tokenizer as load
    tokenizer = load(cfg.model)
    if len(rows) > 2000:
        print(f"measuring token lengths of {len(rows):,} rows with the {cfg.model.name} tokenizer …", file=sys.stderr, flush=True)
    tl = measure_task(cfg, rows, tokenizer)
    for line in tl.lines(cfg):
        print(line)
    for line in text_histogram(tl.lengths, task_max_length(cfg)):
        print(line)


def _quiet() -> None:
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except Exception:  # pragma: no cover - transformers is a dependency
        pass
