"""The memory estimate per device for several processes (``training.processes`` > 1, ``training.distributed``).

``engine.memory`` estimates one device; this divides what the strategy shards over the N processes:

* ``ddp``: nothing; every device holds the whole model, its gradients and optimizer state, and the
  activations of its own micro-batch (``training.batch_size`` is per device).
* ``fsdp`` / ``deepspeed`` (ZeRO-3): weights, LoRA weights, gradients and optimizer state ÷ N, plus one
  transformer block gathered whole for its forward/backward.
* ``deepspeed_zero2``: gradients and optimizer state ÷ N; the weights stay whole on every device.

On CPU (no GPU visible) accelerate trains the processes as ddp whatever the strategy, and they share the
host's RAM: the verdict compares N copies with it. Light (no torch), like ``engine.memory``::

    per_device(estimate, cfg)   # the same MemoryEstimate, its figures for one of the N devices
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

SHARD_ALL = ("fsdp", "deepspeed")


def visible_gpus() -> int:
    """GPUs this machine shows (CUDA_VISIBLE_DEVICES, else /dev/nvidiaN), without loading torch."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return len([d for d in env.split(",") if d.strip() and d.strip() != "-1"])
    return len(list(Path("/dev").glob("nvidia[0-9]*")))


def per_device(est, cfg, gpus: int | None = None):
    """``est`` (one device, ``engine.memory.MemoryEstimate``) as the figures of one of ``training.processes`` devices."""
    n = cfg.training.processes
    if n <= 1 or est.params is None:
        return est
    on_gpu = (visible_gpus() if gpus is None else gpus) > 0 or "GPU" in est.device_name
    kind = cfg.training.distributed if on_gpu else "ddp"
    parts = dict(weights_gb=est.weights_gb, lora_gb=est.lora_gb, grads_gb=est.grads_gb, optimizer_gb=est.optimizer_gb)
    if kind in SHARD_ALL:
        parts = {k: v / n for k, v in parts.items()}
    elif kind == "deepspeed_zero2":
        parts.update(grads_gb=est.grads_gb / n, optimizer_gb=est.optimizer_gb / n)
    gathered = est.layer_gb if kind in SHARD_ALL else 0.0
    before = est.weights_gb + est.lora_gb + est.grads_gb + est.optimizer_gb
    total = est.total_gb - before + sum(parts.values()) + gathered
    return replace(est, **parts, total_gb=total, gathered_gb=gathered, processes=n, strategy=kind,
                   shared_host=not on_gpu)


def verdict_prefix(est) -> str:
    """``per device (fsdp, 2 processes)``; on CPU ``per process (ddp on CPU, 2 processes)``."""
    if est.shared_host:
        return f"per process (ddp on CPU, {est.processes} processes)"
    return f"per device ({est.strategy}, {est.processes} processes)"


def breakdown_suffix(est) -> str:
    """What the strategy divided, and what that means for a LoRA/QLoRA run."""
    n, lora = est.processes, est.method == "lora"
    if est.strategy in SHARD_ALL:
        text = f"; weights, gradients, optimizer ÷{n} + one block gathered {est.gathered_gb:.2f}"
        return text + (" (LoRA: the frozen base is what shrinks; the adapter's gradients and optimizer are small)"
                       if lora else "")
    if est.strategy == "deepspeed_zero2":
        return f"; gradients, optimizer ÷{n}, weights whole" + (
            " (LoRA: only the adapter's gradients and optimizer are sharded, which saves little)" if lora else "")
    return f"; {n} whole copies share the RAM" if est.shared_host else f"; a whole copy on each of the {n} devices"
