"""``tunedeck data CONFIG.yaml``: the data a config trains on; for ``data.datasets``, each dataset's format,
rows, weight and template, and how many rows of each the mix holds (engine.data.mix)."""

from __future__ import annotations

import sys


def print_config_data(path: str) -> int:
    from engine.config import load_config
    from engine.data import load_dataset
    from engine.data.check import row_warnings
    from engine.templates import resolve_template

    cfg = load_config(path)
    if not cfg.data.datasets:
        ds, info = load_dataset(cfg.data)
        print(f"{cfg.data.path}: {info.describe()}")
        for warning in row_warnings(ds, info):
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    from engine.data.mix import counts_line, load_mixed

    _, info = load_mixed(cfg.data, seed=cfg.training.seed)
    for p in info.parts:
        template = resolve_template(p.data(cfg.data).template, p.info.format)
        mapping = ", ".join(f"{role} <- {col}" for role, col in p.info.mapping.items())
        print(f"{p.name}: {p.path}: {p.info.describe()} · template {template} · weight {p.weight:g}")
        print(f"  mapping: {mapping}")
        for warning in row_warnings(p.rows, p.info, p.source):
            print(f"warning: {warning}", file=sys.stderr)
    print(counts_line(info.order, info.parts, info.stopping) + f" (seed {cfg.training.seed}; before data.val_split)")
    return 0
