"""Training in stages: ``model.from_run`` (``tunedeck train --from RUN``) starts a run from RUN's result.

The start point is RUN's result *merged*: a LoRA run's adapter merged into its base (the same merge as
``tunedeck export --merged``), a fully fine-tuned run's own weights. The new run trains afresh on top
(a new adapter, or all weights), so each stage is a plain model folder and chains of any length work.
Where the start point is written: a merge goes to ``NEW_RUN/start/``; a full fine-tune is read in place.

The chain is recorded: ``model.from_run`` in the new run's config.yaml, and ``lineage.json``
(``{"from_run": ..., "chain": [oldest, ..., RUN], "start": "merged adapter" | "fine-tuned model"}``).
Used by task: classification (stage 1 may be a causal-LM run on raw domain text, or a classification run)
and causal_lm (stage 1 a causal-LM run, e.g. on raw domain text; stage 2 instruction tuning from it).

Causal LM: the start point is always the merged adapter (causal-LM runs train LoRA), written in float
(a 4-bit stage 1 is dequantized before the merge, as ``export --merged`` does); the new run then loads it
with its own ``model.quantization``: 4-bit re-quantizes the merged float weights to NF4, so no quantized
base ever holds a merged update. ``model.name`` stays the chain's base (its tokenizer is the one used);
everything that loads the run's weights afterwards (generate, eval, export, Playground, a next stage)
loads ``start/`` in its place (:func:`weights_model`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..errors import ConfigError

LINEAGE_FILE = "lineage.json"
START_DIR = "start"


def source_run(cfg) -> Path | None:
    """RUN of ``model.from_run``, checked: a run folder with a result; else a ConfigError naming the field."""
    if not cfg.model.from_run:
        return None
    from .. import rundir
    from ..errors import TuneDeckError

    try:
        src = rundir.resolve_run(cfg.model.from_run, cfg.output.runs_dir)
    except TuneDeckError as e:
        raise ConfigError([("model.from_run", f"{e}; give a finished run's folder or name")]) from None
    if not (src / rundir.CONFIG_FILE).exists():
        raise ConfigError([("model.from_run", f"{src} is not a run folder (no {rundir.CONFIG_FILE})")])
    has = (src / "model" / "config.json").exists() or (src / rundir.ADAPTER_DIR / "adapter_config.json").exists()
    if not has:
        raise ConfigError([("model.from_run", f"{src.name} has no final model or adapter (did it finish?); "
                                              "train it to the end, or resume it first")])
    return src


def lineage(run_dir) -> list[str]:
    """The runs RUN was built from, oldest first, RUN last (a one-stage run: just RUN)."""
    p = Path(run_dir) / LINEAGE_FILE
    try:
        return list(json.loads(p.read_text(encoding="utf-8"))["chain"]) + [str(Path(run_dir))]
    except (OSError, ValueError, KeyError):
        return [str(Path(run_dir))]


def causal_base(cfg, say: Callable[[str], None] = lambda t: None) -> Path | None:
    """model.from_run for a causal-LM run, checked before anything is written: RUN must be a causal-LM run;
    its base becomes ``model.name`` (said when it differs), so the tokenizer is the chain's own."""
    from .. import rundir
    from ..config import load_config

    src = source_run(cfg)
    if src is None:
        return None
    src_cfg = load_config(src / rundir.CONFIG_FILE)
    if src_cfg.task != "causal_lm":
        raise ConfigError([("model.from_run", f"{src.name} is a {src_cfg.task} run; a causal_lm stage starts "
                                              "from a causal_lm run (e.g. one on raw domain text)")])
    if src_cfg.model.name != cfg.model.name:
        say(f"model.from_run: {src.name} was trained on {src_cfg.model.name}; model.name is {src_cfg.model.name} for this stage")
        cfg.model.name = src_cfg.model.name
    return src


def weights_model(run_dir, model_cfg):
    """The model section to load a run's base weights with: a causal-LM stage's ``start/`` in place of
    ``model.name`` (its adapter was trained on that), else ``model_cfg`` itself."""
    import dataclasses

    start = start_point(run_dir) if getattr(model_cfg, "from_run", None) else None
    return dataclasses.replace(model_cfg, name=start) if start else model_cfg


def start_point(run_dir) -> str | None:
    """The merged start point a stage's adapter was trained on (``RUN/start/``), if the run has one."""
    start = Path(run_dir) / START_DIR if run_dir is not None else None
    return str(start) if start is not None and (start / "config.json").exists() else None


def start_folder(cfg, rd: Path, say: Callable[[str], None] = lambda t: None) -> str | None:
    """The model folder the new run in ``rd`` loads instead of the base (None without model.from_run)."""
    from .. import rundir
    from ..config import load_config

    src = source_run(cfg)
    if src is None:
        return None
    src_cfg = load_config(src / rundir.CONFIG_FILE)
    full = src / "model"
    if (full / "config.json").exists():
        folder, start = str(full), "fine-tuned model"
    else:
        out = rd / START_DIR
        say(f"Stage: merging {src.name}'s adapter into its base ({src_cfg.model.name}) as this run's start point")
        if (out / "config.json").exists():
            pass  # a resumed run merged it already
        elif src_cfg.task == "classification":
            from .cls_infer import export_cls

            export_cls(src, out, on_progress=say)
        else:
            from ..export import export_merged

            export_merged(src, out, on_progress=say)
        folder, start = str(out), "merged adapter"
    chain = lineage(src)
    rundir.atomic_write_text(rd / LINEAGE_FILE, json.dumps({"from_run": str(src), "chain": chain, "start": start,
                                                            "from_task": src_cfg.task}, indent=1) + "\n")
    say(f"Stage {len(chain) + 1}: starting from {src.name} ({start}); chain: "
        + " -> ".join(Path(c).name for c in chain + [str(rd)]))
    return folder
