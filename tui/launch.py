"""``tunedeck train --nproc N``: the same command again on N processes, through torch's own launcher.

This process becomes torchrun (``torch.distributed.run.run``, in process): it picks the run folder for a
new run (so it knows where to record a failure), starts the ranks with ``tunedeck train`` and the same
arguments, and waits. Rank 0 shows the one progress display and writes the run folder; the other ranks
are quiet. Ctrl+C or SIGINT here asks the run to stop (``stop.request``: every rank stops at one step,
with one checkpoint); SIGUSR1 asks for a checkpoint. When a rank dies, torchrun's agent stops the others
and names it; this process writes ``failed`` with that rank into ``status.json``::

    tunedeck train --config c.yaml --nproc 2                   # one machine, 2 processes (gloo on CPU)
    tunedeck train --config c.yaml --nproc auto                # every visible GPU
    tunedeck train --config c.yaml --nproc 8 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1

torch is imported only when a run is launched.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

LAUNCH_OPTIONS = ("--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port")


def add_arguments(parser) -> None:
    parser.add_argument("--nproc", metavar="N", help="train on N processes through torchrun (auto: one per visible GPU)")
    parser.add_argument("--nnodes", type=int, default=1, metavar="N", help="machines taking part (with --nproc each)")
    parser.add_argument("--node-rank", type=int, default=0, metavar="I", help="this machine's place, 0..nnodes-1")
    parser.add_argument("--master-addr", metavar="HOST", help="address of the machine with node rank 0")
    parser.add_argument("--master-port", type=int, default=29500, metavar="PORT")


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def processes(value: str | None, cfg) -> int:
    """--nproc N / auto (one per visible GPU, 1 without), else the config's training.processes."""
    from engine.errors import ConfigError

    if value is None:
        return cfg.training.processes if cfg is not None else 1
    if value == "auto":
        return max(1, visible_gpus())
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError([("--nproc", f"expected a number of processes (1, 2, ...) or auto, got {value!r}")])
    return n


def worker_argv(argv: list[str], run_dir: Path | None) -> list[str]:
    """``argv`` without the launcher's own options; ``--run-dir`` set to the folder this process chose."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in LAUNCH_OPTIONS or (run_dir is not None and name == "--run-dir"):
            skip = "=" not in a
            continue
        out.append(a)
    return out + (["--run-dir", str(run_dir)] if run_dir is not None else [])


def choose_run_dir(cfg, resume: str | None, run_dir: str | None, node_rank: int) -> Path | None:
    """The folder the run will live in, known before the ranks start (node 0 only: rank 0 lives there)."""
    from engine import rundir

    if node_rank != 0:
        return None
    if resume:
        return rundir.resolve_run(resume, cfg.output.runs_dir if cfg else "runs")
    if run_dir:
        return Path(run_dir)
    from engine.train import run_name

    return rundir.new_run_dir(cfg.output.runs_dir, run_name(cfg))  # empty: rank 0 claims it once the data is good


def torchrun_argv(nproc: int, args, argv: list[str]) -> list[str]:
    t = ["--nproc-per-node", str(nproc), "--nnodes", str(args.nnodes)]
    if args.nnodes == 1 and not args.master_addr:
        t.append("--standalone")
    else:
        t += ["--node-rank", str(args.node_rank), "--master-addr", args.master_addr or "127.0.0.1",
              "--master-port", str(args.master_port)]
    # SIGINT is not torchrun's to handle: Ctrl+C stops the run with a checkpoint (stop.request, every rank)
    return [*t, "--monitor-interval", "0.2", "--signals-to-handle", "SIGTERM,SIGHUP,SIGQUIT", "-m", "tui.cli", *argv]


def _saved_config(resume: str | None):
    """A resumed run's own config (for its training.processes), or None when it cannot be read."""
    from engine import rundir
    from engine.config import load_config
    from engine.errors import TuneDeckError

    try:
        return load_config(rundir.resolve_run(resume, "runs") / rundir.CONFIG_FILE) if resume else None
    except (TuneDeckError, OSError):
        return None


def train_on_ranks(args, cfg) -> int | None:
    """``tunedeck train`` on several processes when asked (its exit code); None: train in this process."""
    from engine.distributed import world

    if world().distributed:
        return None  # this process is a rank already (started by torchrun)
    from engine.strategy import check

    cfg_or_saved = cfg if cfg is not None else _saved_config(args.resume)
    nproc = processes(args.nproc, cfg_or_saved)
    if nproc <= 1 and args.nnodes <= 1:
        return None
    if cfg_or_saved is not None:
        check(cfg_or_saved, nproc * args.nnodes)  # a missing DeepSpeed is said here, before any process starts
    return launch(args, cfg, args.argv, nproc)


def launch(args, cfg, argv: list[str], nproc: int) -> int:
    """Run ``tunedeck train`` on ``nproc`` processes (per node) under torchrun; its exit code."""
    from engine import rundir

    rd = choose_run_dir(cfg, args.resume, args.run_dir, args.node_rank)
    made = rd is not None and not args.resume and not args.run_dir
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    import logging

    import torch.distributed.run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the failed rank is named below
    targs = torchrun.parse_args(torchrun_argv(nproc, args, worker_argv(argv, rd)))
    restore = _forward_signals(rd)
    try:
        torchrun.run(targs)
        return 130 if restore.interrupted["n"] else 0  # stopped by Ctrl+C: as one process would exit
    except ChildFailedError as e:
        return record_failure(rd, e.failures, nproc * args.nnodes) if rd is not None else 1
    except SignalException as e:  # Ctrl+C twice, or SIGTERM: torchrun ended the ranks at once
        from engine.runlock import record_killed

        if rd is not None:
            record_killed(rd)  # status.json: killed, as any viewer would write on seeing rank 0 gone
        print(f"error: interrupted ({signal.Signals(e.sigval).name}); the ranks were ended without a checkpoint"
              + (f"; resume from the last one: tunedeck train --resume {rd}" if rd is not None else ""), file=sys.stderr)
        return 130
    finally:
        restore()
        if made and rd is not None and rd.is_dir() and not any(p.name != rundir.LOCK_FILE for p in rd.iterdir()):
            for p in rd.iterdir():
                p.unlink()
            rd.rmdir()  # refused before it started: no empty folder left behind


def _forward_signals(rd: Path | None):
    """Ctrl+C/SIGINT -> stop.request (a second one ends the ranks at once); SIGUSR1 -> save.request."""
    from engine import rundir

    count = {"n": 0}

    def on_int(signum, frame):
        count["n"] += 1
        if count["n"] == 1 and rd is not None and rd.is_dir():
            rundir.request_stop(rd)  # rank 0 says "Stopping" (a terminal's Ctrl+C reaches it too)
        else:
            os.kill(os.getpid(), signal.SIGTERM)  # torchrun's agent ends its ranks

    old_int = signal.signal(signal.SIGINT, on_int)
    old_usr1 = None
    if hasattr(signal, "SIGUSR1"):
        old_usr1 = signal.signal(signal.SIGUSR1, lambda s, f: rd is not None and rd.is_dir() and rundir.request_save(rd))

    def restore():
        signal.signal(signal.SIGINT, old_int)
        if old_usr1 is not None:
            signal.signal(signal.SIGUSR1, old_usr1)
    restore.interrupted = count
    return restore


def culprit(failures: dict) -> tuple[int, object]:
    """The rank that brought the run down: one killed by a signal (not the agent's own SIGTERM), else a
    rank other than 0 (rank 0 fails when it loses its peers), else rank 0."""
    def key(item):
        rank, f = item
        killed = f.exitcode < 0 and f.signal_name() != "SIGTERM"
        return (not killed, rank == 0, f.timestamp, rank)
    return min(failures.items(), key=key)


def record_failure(rd: Path, failures: dict, world_size: int) -> int:
    """``failed`` naming the rank in status.json and metrics.jsonl, unless rank 0 itself reported how the
    run ended (stopped, finished, or a failure of its own); the exit code."""
    from engine import rundir, runlock, runsafety
    from engine.events import MetricsWriter, RunFailed, StepLogged, read_events

    rank, f = culprit(failures)
    if not (rd / rundir.CONFIG_FILE).exists():  # refused before it started: rank 0 said why in one line
        # Its exit code (2 for bad input), rank 0's first; a rank that aborted as it shut down says nothing.
        codes = [failures[r].exitcode for r in sorted(failures, key=lambda r: r != 0) if failures[r].exitcode > 0]
        return codes[0] if codes else 1
    status = rundir.read_status(rd)
    if status.get("status") in ("stopped", "finished") or (rank == 0 and f.exitcode > 0 and status.get("status") == "failed"):
        return f.exitcode if f.exitcode > 0 else 1
    how = f"was killed by {f.signal_name()}" if f.exitcode < 0 else f"exited with code {f.exitcode}"
    error = f"rank {rank} of {world_size} (pid {f.pid}) {how}; torchrun stopped the other ranks"
    steps = [e.step for e in read_events(rd / rundir.METRICS_FILE) if isinstance(e, StepLogged)]
    step = steps[-1] if steps else 0
    ckpt = rundir.last_checkpoint(rd)
    hint = f"resume it on any number of processes: tunedeck train --resume {rd} --nproc N"
    lock = runlock.try_lock(rd) if rd.is_dir() else None
    try:
        if lock is not None and (rd / rundir.CONFIG_FILE).exists():
            runsafety.write_failed_status(rd, step=step, error=error, hint=hint, rank=rank)
            writer = MetricsWriter(rd / rundir.METRICS_FILE)
            writer(RunFailed(error=error, hint=hint, step=step, checkpoint=str(ckpt) if ckpt else None))
            writer.close()
    finally:
        if lock is not None:
            lock.release()
    print(f"error: {error}", file=sys.stderr)
    print(f"hint: {hint}", file=sys.stderr)
    return 1
