"""``tunedeck train`` in this process: the engine's run with TuneDeck's own progress output."""

from __future__ import annotations

import signal
import sys
import threading


def run_headless(cfg, *, run_dir=None, resume=None, quiet: bool = False) -> int:
    """Train in this process with a rich progress bar.

    Ctrl+C saves a checkpoint and exits 130; SIGUSR1 saves a checkpoint and goes on.
    """
    from rich.console import Console

    from engine.console import LibraryLog
    from engine.distributed import world
    from engine.train import train

    from .console import ProgressView
    from .text import stopped_line

    main = world().is_main  # under torchrun only rank 0 shows progress; the other ranks are quiet
    console = Console(stderr=True, quiet=not main)
    stop = threading.Event()
    interrupted = {"n": 0}

    def on_sigint(signum, frame):
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            raise KeyboardInterrupt
        console.print("[yellow]Stopping: saving a checkpoint (Ctrl+C again to quit at once)[/]")
        stop.set()

    save_now = threading.Event()
    old = signal.signal(signal.SIGINT, on_sigint)
    old_usr1 = signal.signal(signal.SIGUSR1, lambda signum, frame: save_now.set()) if hasattr(signal, "SIGUSR1") else None
    view = ProgressView(console, quiet) if main else (lambda e: None)
    try:
        with LibraryLog() as libs:  # library warnings and bars go to the run's train.log, not here
            result = train(cfg, run_dir=run_dir, resume=resume, on_event=lambda e: (libs.on_event(e), view(e)),
                           stop=stop, save_now=save_now)
            if result.claimed:  # a run that failed before it started still gets its log; a refused folder is left alone
                libs.attach(result.run_dir)
    finally:
        getattr(view, "close", lambda: None)()
        signal.signal(signal.SIGINT, old)
        if old_usr1 is not None:
            signal.signal(signal.SIGUSR1, old_usr1)
    ev = result.last_event
    if not main:
        return 0 if result.status in ("finished", "stopped", "refused") else 1  # rank 0 reports, and exits 2
    if result.status == "finished":
        console.print(f"[green]Finished[/] at step {ev.step}: adapter in {ev.adapter_path}")
        return 0
    if result.status == "stopped":
        console.print(f"[yellow]{stopped_line(ev.step, ev.checkpoint)}[/]. Resume: tunedeck train --resume {result.run_dir}")
        return 130 if interrupted["n"] else 0
    print(f"error: {ev.error}", file=sys.stderr)
    if ev.hint:
        print(f"hint: {ev.hint}", file=sys.stderr)
    return 2 if ev.user_error else 1

