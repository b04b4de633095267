"""Recorded run folders with fixed numbers, as the engine writes them (config.yaml, status.json, metrics.jsonl).

No training and no clocks: every event has a fixed time, so summaries,
durations and pictures are the same on every machine.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

from engine import rundir
from engine.config import load_config, save_config
from engine.events import (
    CheckpointSaved,
    EvalLogged,
    MessageLogged,
    MetricsWriter,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
)

T0 = 1_764_000_000.0  # 2025-11-24, a fixed clock for every recorded event


def dead_pid() -> int:
    """The id of a process that has just ended (a "running" status with it reads as killed)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def step_events(run_dir: str, first: int, last: int, max_steps: int, scale: float = 1.0, t: float = T0,
                eval_every: int = 10, save_every: int = 10):
    for step in range(first, last + 1):
        warm = min(1.0, step / 4)
        lr = 2e-4 * warm * (0.5 * (1 + math.cos(math.pi * max(0, step - 4) / max(1, max_steps - 4))))
        loss = scale * (2.4 * math.exp(-step / 15) + 1.1 + 0.15 * math.sin(step * 1.7))
        yield StepLogged(step=step, max_steps=max_steps, epoch=step / max_steps, loss=round(loss, 4), learning_rate=lr,
                         grad_norm=1.0, tokens_per_second=900 + 40 * math.sin(step), tokens_seen=256 * step,
                         elapsed=3.0 * step, eta=3.0 * (max_steps - step), memory_mb=1900.0, time=t + 3.0 * step)
        if eval_every and step % eval_every == 0:
            yield EvalLogged(step=step, eval_loss=round(scale * (2.3 * math.exp(-step / 15) + 1.2), 4),
                             perplexity=round(math.exp(scale * (2.3 * math.exp(-step / 15) + 1.2)), 2),
                             time=t + 3.0 * step)
        if save_every and step % save_every == 0:
            ckpt = Path(run_dir) / "checkpoints" / f"checkpoint-{step}"
            ckpt.mkdir(parents=True, exist_ok=True)
            (ckpt / "trainer_state.json").write_text("{}")
            (ckpt / "adapter_model.safetensors").write_text("")
            (ckpt / "adapter_config.json").write_text("{}")
            for n in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):  # what makes a checkpoint complete
                (ckpt / n).write_text("")
            yield CheckpointSaved(step=step, path=str(ckpt), time=t + 3.0 * step)


def make_run(runs_dir: Path, name: str, outcome: str = "finished", steps: int = 40, max_steps: int = 40,
             scale: float = 1.0, sets: dict | None = None, pid: int | None = None) -> Path:
    """A run folder as training leaves it. outcome: finished | stopped | failed | running | killed."""
    rd = Path(runs_dir) / name
    rd.mkdir(parents=True, exist_ok=True)
    over = {"data.path": "sample_data/tunedeck_qa.jsonl", "data.template": "chatml", "training.max_steps": max_steps,
            "output.runs_dir": str(runs_dir)}
    over.update(sets or {})
    save_config(load_config(None, over), rd / rundir.CONFIG_FILE)
    w = MetricsWriter(rd / rundir.METRICS_FILE)
    w(MessageLogged("Loading tokenizer for smollm2-135m-instruct", time=T0))
    w(RunStarted(run_dir=str(rd), config={}, device="cpu (2 cores)", trainable_params=4_884_480,
                 total_params=139_399_488, train_samples=285, val_samples=15, max_steps=max_steps, epochs=1.0, time=T0))
    for e in step_events(str(rd), 1, steps, max_steps, scale):
        w(e)
    end = T0 + 3.0 * steps + 1
    if outcome == "finished":
        (rd / "adapter").mkdir(exist_ok=True)
        (rd / "adapter" / "adapter_config.json").write_text("{}")
        w(RunFinished(step=steps, adapter_path=str(rd / "adapter"), elapsed=3.0 * steps, final_loss=1.2, time=end))
        rundir.write_status(rd, "finished", step=steps)
    elif outcome == "stopped":
        last = rundir.last_checkpoint(rd)
        w(RunStopped(step=steps, checkpoint=str(last) if last else None, elapsed=3.0 * steps, time=end))
        rundir.write_status(rd, "stopped", step=steps)
    elif outcome == "failed":
        w(RunFailed(error="OutOfMemoryError: CUDA out of memory", hint="Lower training.batch_size or data.max_length.",
                    step=steps, time=end))
        rundir.write_status(rd, "failed", step=steps, error="OutOfMemoryError: CUDA out of memory",
                            hint="Lower training.batch_size or data.max_length.")
    elif outcome in ("running", "killed"):
        status = {"status": "running", "pid": pid if pid is not None else dead_pid(), "updated": end, "step": steps}
        rundir.atomic_write_text(rd / rundir.STATUS_FILE, json.dumps(status))
    w.close()
    return rd


def append_steps(run_dir: Path, first: int, last: int, max_steps: int) -> None:
    """More steps of a running run, appended as the training process would."""
    w = MetricsWriter(Path(run_dir) / rundir.METRICS_FILE)
    for e in step_events(str(run_dir), first, last, max_steps):
        w(e)
    w.close()


STAGES = ("20251124-080000-docs-stage1", "20251124-083000-qa-stage2", "20251124-090000-cls-stage3")


def make_chain(runs_dir: Path | str, names: tuple[str, ...] = STAGES) -> list[Path]:
    """A three-stage chain as ``tunedeck train --from RUN`` leaves it: stage 1 a causal-LM run on raw domain text
    (30 steps), stage 2 instruction tuning from it (20 steps), stage 3 a classification run from stage 2
    (40 steps); stages 2 and 3 carry ``model.from_run`` and lineage.json (written here by hand)."""
    from cls_fixtures import make_cls_run

    from engine.tasks.stages import LINEAGE_FILE

    one = make_run(runs_dir, names[0], steps=30, max_steps=30, sets={"data.path": "sample_data/domain_docs.txt"})
    two = make_run(runs_dir, names[1], steps=20, max_steps=20, scale=0.7, sets={"model.from_run": str(one)})
    three = make_cls_run(runs_dir, names[2], model="smollm2-135m-instruct")
    cfg = load_config(three / rundir.CONFIG_FILE)
    cfg.model.from_run = str(two)
    save_config(cfg, three / rundir.CONFIG_FILE)
    for rd, src, chain, task in ((two, one, [one], "causal_lm"), (three, two, [one, two], "causal_lm")):
        lineage = {"from_run": str(src), "chain": [str(c) for c in chain], "start": "merged adapter", "from_task": task}
        (rd / LINEAGE_FILE).write_text(json.dumps(lineage, indent=1) + "\n")
    return [one, two, three]
