"""The command-line side of classification runs: ``data``, ``generate``, ``eval`` and ``export`` on them."""

from __future__ import annotations

import sys

from engine.tasks.cls_infer import is_cls_run  # noqa: F401 - tui.cli asks through this module

QUICKSTART = "sample_data/classify_quickstart.yaml"


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def data_lines(path: str, delimiter: str | None = None) -> tuple[list[str], list[str]] | None:
    """(lines, warnings) ``tunedeck data FILE`` says of classification data; None for other data."""
    from engine.tasks.cls_data import sniff

    info = sniff(path, delimiter)
    if info is None:
        return None
    text = f"{info.text_column} + {info.pair_column}" if info.pair_column else info.text_column
    kind = "multi-label, " if info.labels.multi else ""
    lines = [f"task: classification fits this data: {info.rows} rows, text <- {text}, label <- {info.label_column} "
             f"({kind}{len(info.labels.names)} classes)"]
    width = max(len(n) for n in info.counts)
    for name, n in sorted(info.counts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<{width}}  {n:>6}  {n / info.rows:6.1%}")
    lines.append(f"use it: tunedeck train --task classification --data {path} --config {QUICKSTART}")
    return lines, info.warnings()


def print_data(path: str, delimiter: str | None = None) -> list[str] | None:
    """Print what ``tunedeck data`` says of classification data (warnings on stderr); None when it is not."""
    said = data_lines(path, delimiter)
    if said is None:
        return None
    for line in said[0]:
        print(line)
    for warning in said[1]:
        _err(f"warning: {warning}")
    return said[0]


def generate(args, rd) -> int:
    from engine.errors import DataError
    from engine.tasks.cls_infer import classify_text

    text = args.text if args.text is not None else args.prompt
    if text is None:
        raise DataError(f"{rd.name} is a classification run: give --text TEXT ('-' reads stdin)")
    if text == "-":
        text = sys.stdin.read()
    probs = classify_text(rd, text, base=args.base, checkpoint=args.checkpoint, on_message=_err)
    width = max(len(n) for n, _ in probs)
    for name, p in probs:
        print(f"{name:<{width}}  {p:.4f}  {'#' * round(p * 30)}")
    return 0


def evaluate(args, rd) -> int:
    from engine.tasks.cls_infer import EVAL_FILE, evaluate_cls_run
    from engine.tasks.cls_metrics import format_table

    report = evaluate_cls_run(rd, max_samples=args.max_samples, checkpoint=args.checkpoint, on_message=_err)
    if report["note"]:
        _err(f"note: {report['note']}")
    w = report["weighted"]
    print(f"{rd.name}: {report['split']} accuracy {report['accuracy']:.4f}  macro F1 {report['f1']:.4f}  "
          f"weighted F1 {w['f1']:.4f}  ({report['num_rows']} rows)")
    for line in format_table(report):
        print(line)
    for r in [r for r in report["rows"] if not r["correct"]][:5]:
        print(f"--- wrong (row {r['row']}): {r['text'][:120]}")
        print(f"gold: {r['gold']}  predicted: {r['predicted']}  "
              + "  ".join(f"{n} {p:.2f}" for n, p in r["probabilities"].items()))
    print(f"saved {rd / EVAL_FILE}")
    return 0


def export(args, rd) -> int:
    from engine.errors import RunError
    from engine.tasks.cls_infer import export_cls

    if not args.merged:
        raise RunError(f"{rd.name} is a classification run: --data exports causal-LM prompts only; use --merged OUT")
    out = export_cls(rd, args.merged, checkpoint=args.checkpoint, on_progress=_err)
    print(f"text-classification model in {out}: transformers.pipeline(\"text-classification\", model=\"{out}\")")
    return 0
