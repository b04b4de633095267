"""A staged run's chain as the Runs screen shows it (``tunedeck train --from RUN``, engine/tasks/stages.py).

:func:`read_chain` reads, off the UI thread, each run of a chain (``lineage.json``'s ``chain``, oldest first,
the run itself last): its name, task, base model and how it started (the base model for the first stage,
``merged adapter`` or ``fine-tuned model`` after). :func:`chain_text` is the details pane's line,
:func:`stage_mark` the table's compact mark before the run's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from engine.rundir import CONFIG_FILE
from engine.tasks.stages import LINEAGE_FILE, lineage

MARK = "⤷"
STAMP = re.compile(r"^\d{8}-\d{6}-(?=.)")  # the run folder's timestamp prefix, left out of the chain line


def short_name(name: str) -> str:
    return STAMP.sub("", name)


@dataclass(frozen=True)
class Stage:
    name: str
    path: str
    task: str  # "" when the folder or its config is gone
    model: str
    start: str  # "" for the first stage (it started from ``model``), else "merged adapter" | "fine-tuned model"
    exists: bool = True


def _stage(path: str) -> Stage:
    import yaml

    rd = Path(path)
    task = model = start = ""
    try:
        cfg = yaml.safe_load((rd / CONFIG_FILE).read_text(encoding="utf-8")) or {}
        task = str(cfg.get("task") or "causal_lm")
        model = str((cfg.get("model") or {}).get("name") or "")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        pass
    try:
        start = str(json.loads((rd / LINEAGE_FILE).read_text(encoding="utf-8")).get("start") or "")
    except (OSError, ValueError, AttributeError):
        pass
    return Stage(rd.name, str(rd), task, model, start, rd.is_dir())


def is_staged(run_dir) -> bool:
    return (Path(run_dir) / LINEAGE_FILE).is_file()


def read_chain(run_dir) -> list[Stage]:
    """Every run of ``run_dir``'s chain, oldest first, ``run_dir`` last (one stage for a run not staged)."""
    return [_stage(p) for p in lineage(run_dir)]


def stage_mark(stages: list[Stage] | None) -> str:
    """What the table puts before a staged run's name: ``⤷2 `` for the second stage; "" for a one-stage run."""
    return f"{MARK}{len(stages)} " if stages and len(stages) > 1 else ""


def chain_text(stages: list[Stage]) -> Text:
    """``stage 3: base → docs (causal_lm) → qa (causal_lm, merged adapter) → this run (…)``: each stage's name
    without its timestamp, its task and how it started from the one before."""
    out = Text()
    if len(stages) < 2:
        return out
    out.append(f"stage {len(stages)}: ", style="bold")
    first = stages[0]
    out.append(first.model or "base", style="dim")
    for i, st in enumerate(stages):
        out.append(" → ")
        out.append("this run" if i == len(stages) - 1 else short_name(st.name), style="bold" if st.exists else "strike")
        how = [st.task] if st.task else []
        if i and st.start:
            how.append(st.start)
        if not st.exists:
            how = ["deleted"]
        if how:
            out.append(f" ({', '.join(how)})", style="dim")
    out.append("\n")
    return out
