"""Whole processes side by side: the plain recipe script against ``tunedeck train``, start-up and save included.

``python bench/throughput.py --whole-process`` lands here. Each arm is a fresh process of its own, timed
from ``Popen`` to exit (imports, tokenisation, model load, every step, checkpoints and the adapter save),
on the same rows, model, LoRA (r16, alpha 32, dropout 0.05, all linear layers), template (Alpaca),
batch, learning rate and schedule (linear, no warm-up), one epoch. Peak memory is each process's own
``ru_maxrss`` (``os.wait4``). The arms alternate, best of ``--repeats``; the ratio is taken in one run.
For ``tunedeck train`` the run's ``metrics.jsonl`` splits the wall time into start-up (to the start
event), the steps (first to last step event) and the tail (last step to process exit: the final
checkpoint and the adapter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MB, stdout, stderr) of one child process."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        start = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout, stderr


def plain_arm(model_dir: str, data: str, rows: int, length: int, batch: int, quant: str, tmp: Path) -> dict:
    out = tempfile.mkdtemp(dir=tmp)
    wall, peak, stdout, _ = timed([sys.executable, str(ROOT / "bench" / "plain_recipe.py"), "--model", model_dir,
                                   "--data", data, "--rows", str(rows), "--max-length", str(length),
                                   "--batch-size", str(batch), "--quant", quant, "--out", out])
    info = json.loads(stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "peak_mb": peak, "real_tokens": info["real_tokens"], "final_loss": info["final_loss"],
            "steps": info["steps"], "startup_s": info["startup_s"], "steps_s": info["train_s"],
            "tail_s": wall - info["startup_s"] - info["train_s"],
            "path": "transformers Trainer + peft" + (" + bitsandbytes 4-bit" if quant == "4bit" else "") + ", padded batches"}


def tunedeck_arm(model: str, data: str, rows: int, length: int, batch: int, quant: str, tmp: Path, t0_env: dict) -> dict:
    rd = Path(tempfile.mkdtemp(dir=tmp)) / "run"
    sets = {"model.name": model, "model.quantization": quant, "data.path": data, "data.template": "alpaca",
            "data.max_length": length, "data.limit": rows, "training.batch_size": batch,
            "training.learning_rate": 1e-4, "training.warmup_ratio": 0.0, "training.lr_scheduler": "linear",
            "training.epochs": 1, "training.max_steps": 0, "training.save_steps": 50, "data.val_split": 0,
            "lora.r": 16, "lora.alpha": 32, "lora.dropout": 0.05, "lora.target_modules": "all-linear"}
    cmd = [str(Path(sys.executable).parent / "tunedeck"), "train", "--quiet", "--run-dir", str(rd),
           "--config", str(ROOT / "sample_data" / "quickstart.yaml")]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    start = time.time()
    wall, peak, _, _ = timed(cmd, t0_env)
    events = [json.loads(line) for line in (rd / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [e for e in events if e["event"] == "step"]
    started = next(e for e in events if e["event"] == "started")
    finished = next(e for e in events if e["event"] == "finished")
    losses = [e["loss"] for e in steps][-3:]
    return {"wall_s": wall, "peak_mb": peak, "real_tokens": steps[-1]["tokens_seen"], "final_loss": sum(losses) / len(losses),
            "steps": steps[-1]["step"], "startup_s": started["time"] - start,
            "steps_s": steps[-1]["time"] - started["time"], "tail_s": start + wall - steps[-1]["time"],
            "save_s": finished["time"] - steps[-1]["time"], "path": started.get("frozen_weights") or ""}


def best_plain_tokens(results: dict) -> int:
    """The rows' real tokens as the plain recipe counts them: one count for both arms, since they train the same rows."""
    return results["plain recipe"][0]["real_tokens"]


def run(model: str, model_dir: str, data: str, rows: int, length: int, batch: int, quant: str, repeats: int) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="tunedeck-whole-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    results: dict[str, list[dict]] = {"plain recipe": [], "tunedeck train": []}
    print(f"whole processes: {model} ({quant}), {rows} rows of {data}, batch {batch}, max_length {length}, one epoch, "
          f"best of {repeats}, alternating; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    for _ in range(repeats):
        results["plain recipe"].append(plain_arm(model_dir, data, rows, length, batch, quant, tmp))
        print(f"  plain recipe: {json.dumps(results['plain recipe'][-1])}", flush=True)  # each arm as it ends
        results["tunedeck train"].append(tunedeck_arm(model, data, rows, length, batch, quant, tmp, env))
        print(f"  tunedeck train: {json.dumps(results['tunedeck train'][-1])}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"\n{'arm':<16} {'tok/s whole':>11} {'wall s':>7} {'start s':>8} {'steps s':>8} {'tail s':>7} "
          f"{'peak RSS MB':>12} {'final loss':>11}")
    best = {}
    for name, runs in results.items():
        b = min(runs, key=lambda r: r["wall_s"])
        best[name] = b
        print(f"{name:<16} {best_plain_tokens(results) / b['wall_s']:>11.1f} {b['wall_s']:>7.1f} {b['startup_s']:>8.1f} "
              f"{b['steps_s']:>8.1f} {b['tail_s']:>7.1f} {max(r['peak_mb'] for r in runs):>12.0f} {b['final_loss']:>11.4f}")
        print(f"{'':<16} path: {b['path']}; {b['steps']} steps, {b['real_tokens']} real tokens")
    plain, ours = best["plain recipe"], best["tunedeck train"]
    print(f"real tokens: {plain['real_tokens']} in the plain recipe's own tokenisation of the rows; tunedeck's "
          f"tokens_seen {ours['real_tokens']} (the Trainer's count); the ratio below uses the plain recipe's count "
          f"for both arms (the same rows)")
    print(f"tail of tunedeck train: {ours['save_s']:.1f} s from the last step to the finished event (checkpoint, adapter)")
    print(f"loss difference {abs(plain['final_loss'] - ours['final_loss']):.4f}")
    print(f"steps only: tunedeck train / plain recipe {plain['steps_s'] / ours['steps_s']:.2f}x")
    print(f"whole process: tunedeck train / plain recipe tokens/s "
          f"{plain['wall_s'] / ours['wall_s']:.2f}x (wall time of one epoch of the same rows)")
    return 0
