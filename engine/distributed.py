"""One run on many processes: who is rank 0, what it shares, and how a request reaches every rank.

torch's launcher (``torchrun`` / ``torch.distributed.run``) starts the processes and sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``; nothing here starts processes (``tui/launch.py`` calls the launcher).
Rank 0 owns the run folder: it validates, claims (and locks) the folder, and hands the other ranks the
config, the folder and the checkpoint to resume (:func:`share_from_main`). Every step the ranks agree on
stop/save requests (:func:`any_rank`): rank 0 reads the request files, any rank may have had a signal, and
all of them stop or checkpoint at the same step. Collectives go through a gloo group, so they work on CPU
and next to NCCL on CUDA::

    w = world()                 # World(rank=0, local_rank=0, world_size=1) in a plain process
    if w.distributed:
        init()                  # the process group (gloo on CPU, nccl on CUDA) and this rank's GPU
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("ddp", "fsdp", "deepspeed")


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def world() -> World:
    """This process's place in the run, from the variables torch's launcher sets."""
    return World(_env_int("RANK", 0), _env_int("LOCAL_RANK", 0), max(1, _env_int("WORLD_SIZE", 1)))


_control: Any = None  # the gloo group the control collectives use


def init() -> None:
    """The default process group (nccl on CUDA, gloo on CPU) and, next to NCCL, a gloo group for control.

    The Trainer (accelerate) finds the group already made and uses it."""
    global _control
    import torch
    import torch.distributed as dist

    w = world()
    if not w.distributed:
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(w.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if _control is None:
        _control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD


def leave() -> None:
    """Tear down this process's process group, if one was made: a gloo group left alive at interpreter exit
    can abort the process ("terminate called without an active exception"), turning a clean exit code into a
    crash. Imports nothing: a process that never loaded torch.distributed has nothing to leave."""
    global _control
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _control = None


def _group():
    if _control is None:
        init()
    return _control


def share_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (a no-op in a single process)."""
    if not world().distributed:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_group())
    return box[0]


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order."""
    w = world()
    if not w.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * w.world_size
    dist.all_gather_object(out, obj, group=_group())
    return out


def any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag true on every rank when it is true on any rank (one small all-reduce)."""
    if not world().distributed:
        return tuple(bool(f) for f in flags)
    import torch
    import torch.distributed as dist

    t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_group())
    return tuple(bool(v) for v in t.tolist())


def device_map(device: str) -> dict[str, Any]:
    """Where this rank's copy of the model goes: its own GPU (by local rank) on CUDA."""
    return {"": world().local_rank if device == "cuda" else "cpu"}


def device_label(device: str, name: str) -> str:
    w = world()
    return f"{name} (cuda:{w.local_rank})" if device == "cuda" else f"{name} (rank {w.rank})" if w.distributed else name


class MainRankFailed(Exception):
    """Rank 0 refused the run before training (it reports why); the other ranks end quietly."""


def open_and_share(cfg, run_dir, resume, emit, prepare, name_for):
    """:func:`engine.runsafety.open_and_claim` on rank 0; the other ranks take its config, folder and
    checkpoint, then prepare their data. Only rank 0 holds the lock (the others get ``None``)."""
    from . import runsafety
    from .errors import RunError

    if world().is_main:
        try:
            cfg, rd, ckpt, lock, prep = runsafety.open_and_claim(cfg, run_dir, resume, emit, prepare, name_for)
        except BaseException:
            share_from_main(None)
            raise
        if cfg.task != "causal_lm":
            lock.release()
            share_from_main(None)
            raise RunError(f"task: {cfg.task} trains on one process for now; train it without --nproc "
                           "(several processes train causal_lm runs)")
        share_from_main((cfg, str(rd), str(ckpt) if ckpt else None))
        return cfg, rd, ckpt, lock, prep
    shared = share_from_main(None)
    if shared is None:
        raise MainRankFailed("rank 0 refused the run")
    from pathlib import Path

    cfg, rd, ckpt = shared
    return cfg, Path(rd), Path(ckpt) if ckpt else None, None, prepare(cfg, lambda e: None)


def fit_other_rank(cfg, rd, resume_ckpt, emit, stop, save_now, prep):
    """A rank other than 0: train alongside rank 0 and write nothing in the run folder (rank 0 reports)."""
    from .tasks import get_task

    try:
        result = get_task(cfg.task).fit(cfg, rd, resume_ckpt, emit, stop, save_now, prep)
    except Exception:  # noqa: BLE001 - rank 0 (or the launcher, when rank 0 is gone) reports the failure
        return "failed"
    return "stopped" if result.stopped else "failed" if result.nan_step is not None else "finished"
