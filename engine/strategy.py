"""``training.distributed``: how several processes share a run, as the Trainer's own arguments.

* ``ddp`` (default): every rank holds the whole (quantized) model; gradients are all-reduced.
* ``fsdp``: accelerate's FSDP2 plugin through ``fsdp`` / ``fsdp_config``: each transformer block's
  parameters, gradients and optimizer state sharded over the ranks. With 4-bit QLoRA the 4-bit weights
  are stored in the compute dtype (``engine.model.quantization_config``) so FSDP can flatten them.
* ``deepspeed`` (ZeRO-3) / ``deepspeed_zero2``: a DeepSpeed config dict ("auto" values filled in by the
  Trainer); rank 0 writes it to ``RUN/deepspeed.json`` so the run shows what it trained with. DeepSpeed
  is an optional extra (``pip install 'tunedeck[deepspeed]'``).

A single process ignores the strategy (there is nothing to share)::

    strategy_arguments(cfg, device="cuda", world_size=8)   # {"fsdp": True, "fsdp_config": {...}, ...}
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError

DEEPSPEED_FILE = "deepspeed.json"
DEEPSPEED_PIP = "pip install 'tunedeck[deepspeed]'"


def check(cfg: Config, world_size: int) -> None:
    """One-line ConfigError for a strategy this machine cannot run (before the run folder is touched)."""
    if world_size > 1 and cfg.training.distributed.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError([("training.distributed", f"{cfg.training.distributed} needs DeepSpeed, which is not installed; "
                                                    f"{DEEPSPEED_PIP} (or set training.distributed: fsdp)")])


def fsdp_config() -> dict[str, Any]:
    """accelerate's FSDP2 plugin: transformer blocks wrapped and fully sharded, weights loaded once on rank 0."""
    return {
        "version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "reshard_after_forward": True,  # full shard (ZeRO-3-like); False keeps parameters after forward (ZeRO-2)
        "cpu_ram_efficient_loading": True,  # rank 0 reads the weights, the others receive their shards
        "state_dict_type": "FULL_STATE_DICT",  # the adapter is gathered and written whole by rank 0
        "activation_checkpointing": False,
    }


def deepspeed_config(stage: int) -> dict[str, Any]:
    """A ZeRO-2 or ZeRO-3 config; "auto" values come from the TrainingArguments."""
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True,
                            "reduce_bucket_size": "auto"}
    if stage == 3:
        zero.update({"stage3_prefetch_bucket_size": "auto", "stage3_param_persistence_threshold": "auto",
                     "stage3_gather_16bit_weights_on_model_save": True})
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
    }


def strategy_arguments(cfg: Config, device: str, world_size: int, run_dir: Path | None = None,
                       is_main: bool = True) -> dict[str, Any]:
    """Extra TrainingArguments for the configured strategy; rank 0 writes a DeepSpeed config to the run folder."""
    if world_size <= 1:
        return {}
    kind = cfg.training.distributed if device == "cuda" else "ddp"  # accelerate: CPU processes are DDP
    args: dict[str, Any] = {"ddp_backend": "nccl" if device == "cuda" else "gloo", "log_level_replica": "error"}
    if kind == "ddp":
        args["ddp_find_unused_parameters"] = False  # LoRA: the frozen base has no gradients to wait for
    elif kind == "fsdp":
        args.update(fsdp=True, fsdp_config=fsdp_config())
    else:
        ds = deepspeed_config(2 if kind == "deepspeed_zero2" else 3)
        if run_dir is not None and is_main:
            from .rundir import atomic_write_text

            atomic_write_text(Path(run_dir) / DEEPSPEED_FILE, json.dumps(ds, indent=1) + "\n")
        args["deepspeed"] = ds
    return args


def cpu_note(cfg: Config, device: str, world_size: int) -> str | None:
    """On CPU accelerate runs several processes as DDP whatever the strategy; said, not hidden."""
    if world_size > 1 and device == "cpu" and cfg.training.distributed != "ddp":
        return (f"training.distributed: {cfg.training.distributed} shards over GPUs; on CPU the {world_size} "
                "processes train as ddp (a whole model copy each)")
    return None
