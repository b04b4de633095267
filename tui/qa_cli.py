"""The command-line side of extractive-QA runs: ``data``, ``generate``, ``eval`` and ``export`` on them."""

from __future__ import annotations

import sys


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def data_lines(path: str) -> list[str] | None:
    """What ``tunedeck data FILE`` says of QA data (the task that fits and the command); None for other data."""
    from engine.tasks.qa_data import sniff

    info = sniff(path)
    if info is None:
        return None
    return [
        f"task: extractive_qa fits this data: {info.questions} questions, {info.answerable} answerable, "
        f"{info.unanswerable} unanswerable",
        f"use it: tunedeck train --task extractive_qa --data {path} --config sample_data/squad_quickstart.yaml",
    ]


def generate(args, rd) -> int:
    from engine.errors import DataError
    from engine.tasks.qa_infer import answer_question

    if args.question is None or args.context is None:
        raise DataError(f"{rd.name} is an extractive_qa run: give --question TEXT and --context TEXT (or --context @FILE)")
    context = args.context
    if context.startswith("@"):
        from pathlib import Path

        context = Path(context[1:]).read_text(encoding="utf-8")
    pred = answer_question(rd, args.question, context, base=args.base, checkpoint=args.checkpoint, on_message=_err)
    if pred.text:
        print(f"{pred.text}\t(score {pred.score:.3f})")
    else:
        extra = f"; best span {pred.best_span!r}" if pred.best_span else ""
        print(f"(no answer in the context)\t(score {pred.score:.3f}{extra})")
    return 0


def evaluate(args, rd) -> int:
    from engine.tasks.qa_infer import EVAL_FILE, evaluate_qa_run

    report = evaluate_qa_run(rd, max_samples=args.max_samples, checkpoint=args.checkpoint, on_message=_err)
    if report["note"]:
        _err(f"note: {report['note']}")
    print(f"{rd.name}: {report['split']} exact match {report['exact_match']:.2f}  F1 {report['f1']:.2f}  "
          f"({report['num_questions']} questions)")
    for part in ("answerable", "unanswerable"):
        if report[part]["total"]:
            print(f"  {part}: exact match {report[part]['exact_match']:.2f}  F1 {report[part]['f1']:.2f}  "
                  f"({report[part]['total']})")
    wrong = [q for q in report["questions"] if not q["correct"]][:5]
    for q in wrong:
        print(f"--- wrong: {q['question'][:120]}")
        print(f"gold:      {' | '.join(q['gold_answers']) or '(no answer)'}")
        print(f"predicted: {q['predicted'] or '(no answer)'}  (score {q['score']:.3f})")
    print(f"saved {rd / EVAL_FILE}")
    return 0


def export(args, rd) -> int:
    from engine.errors import RunError
    from engine.tasks.qa_infer import export_qa

    if not args.merged:
        raise RunError(f"{rd.name} is an extractive_qa run: --data exports causal-LM prompts only; use --merged OUT")
    out = export_qa(rd, args.merged, checkpoint=args.checkpoint, on_progress=_err)
    print(f"question-answering model in {out}: transformers.pipeline(\"question-answering\", model=\"{out}\")")
    return 0
