"""Evaluate a finished run: loss and perplexity on its validation split, plus sample generations.

The split is the one training used (the task's ``prepare_data``, same seed),
tokenised the same way, so the loss here matches the run's eval events::

    report = evaluate_run("runs/20261124-093000-demo", max_samples=50, generate_samples=10)
    report.loss, report.perplexity, report.split      # 1.21, 3.35, "validation"
    report.samples[0].prompt, .reference, .generated, .loss

A run without a validation split is evaluated on its first ``max_samples``
training rows, and the report says so (``split == "train"``). The report is
saved to ``run_dir/eval.json``.

``stop`` (a ``threading.Event``) cancels between samples and during a
generation: :class:`EvalCancelled` is raised and eval.json is left as it was.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import rundir
from .errors import DataError, TuneDeckError
from .tasks.causal_lm import perplexity, token_loss

EVAL_FILE = rundir.EVAL_FILE

Progress = Callable[[str, int, int], None]  # (stage, done, total); stage is "loss" or "generate"


class EvalCancelled(TuneDeckError):
    """The evaluation was cancelled through its ``stop`` event; nothing was saved."""


@dataclass
class EvalSample:
    index: int
    prompt: str
    reference: str
    generated: str | None
    loss: float | None
    tokens: int = 0  # trained (scored) tokens


@dataclass
class EvalReport:
    loss: float | None
    perplexity: float | None
    samples: list[EvalSample] = field(default_factory=list)
    split: str = "validation"  # "validation" | "train"
    num_samples: int = 0
    num_tokens: int = 0
    run_dir: str = ""
    adapter: str = ""
    created: float = field(default_factory=time.time)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvalReport":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["samples"] = [EvalSample(**{k: v for k, v in s.items() if k in {f.name for f in dataclasses.fields(EvalSample)}})
                             for s in data.get("samples") or []]
        return cls(**kwargs)


def first_trained(labels) -> int:
    """Index of the first token with a label (len(labels) when none)."""
    for i, lab in enumerate(labels):
        if lab != -100:
            return i
    return len(labels)


def sample_loss(model, input_ids, labels, device=None) -> tuple[float, int]:
    """(sum of token losses, number of trained tokens) of one sample, labels shifted as in training."""
    import torch

    ids = torch.tensor([list(input_ids)], device=device)
    lab = torch.tensor([list(labels)], device=device)
    with torch.inference_mode():
        logits = model(input_ids=ids, use_cache=False).logits
    return token_loss(logits[0], lab[0])


def eval_rows(run_cfg, tokenizer, max_samples: int):
    """(dataset with input_ids/labels, split name, note) the evaluation uses, via the training's own data prep."""
    from .tasks import get_task

    cfg = run_cfg
    no_val = cfg.data.val_path is None and cfg.data.val_split <= 0
    if no_val:  # only the first rows are needed; do not tokenise the whole training set
        cfg = dataclasses.replace(run_cfg, data=dataclasses.replace(
            run_cfg.data, limit=min(run_cfg.data.limit or max_samples, max_samples)))
    data = get_task(cfg.task).prepare_data(cfg, tokenizer)
    if data.val is not None and len(data.val):
        return data.val, "validation", ""
    note = ("the run had no validation split (data.val_split: 0, no data.val_path); "
            f"evaluated on up to {max_samples} training rows, so the loss is optimistic")
    if not no_val:
        note = "no validation sample had a trained token; evaluated on training rows instead"
    return data.train, "train", note


def evaluate_run(run_dir: str | os.PathLike, *, max_samples: int = 50, generate_samples: int = 10,
                 max_new_tokens: int = 64, on_progress: Progress | None = None, checkpoint=None, gen=None,
                 save: bool = True, stop: threading.Event | None = None,
                 on_message: Callable[[str], None] | None = None) -> EvalReport:
    """Loss/perplexity on the run's validation split and greedy generations for the first samples.

    ``gen`` reuses an already loaded :class:`engine.infer.Generator` of this run.
    ``stop`` cancels (raises :class:`EvalCancelled`, saves nothing); ``on_message``
    gets one-line loading messages.
    """
    from .infer import adapter_source, load_for_generation

    rd = Path(run_dir)

    def check_stop() -> None:
        if stop is not None and stop.is_set():
            raise EvalCancelled(f"{rd.name}: evaluation cancelled; {EVAL_FILE} left as it was")

    if gen is None:
        adapter_source(rd, checkpoint)  # a missing adapter fails before any loading
        check_stop()
        gen = load_for_generation(rd, checkpoint=checkpoint, on_message=on_message)
    check_stop()
    tokenizer = gen.tokenizer
    ds, split, note = eval_rows(gen.cfg, tokenizer, max_samples)
    n = min(len(ds), max(0, int(max_samples)))
    if n == 0:
        raise DataError(f"{rd.name}: no sample to evaluate on")
    rows = ds.select(range(n))
    samples, scored = _score(gen, rows, check_stop, on_progress)
    g = min(n, max(0, int(generate_samples)))
    if gen.cfg.data.train_on_prompt:  # every token is trained: the prompt/answer boundary is not in the labels
        g = 0
        note = (note + "; " if note else "") + "data.train_on_prompt is on: losses include prompt tokens, no sample generations"
    _generate(gen, rows, samples[:g], max_new_tokens, stop, check_stop, on_progress)
    from .tasks import get_task

    loss = get_task(gen.cfg.task).metrics(scored, rows)["loss"]
    total_tokens = sum(k for _, k in scored)
    report = EvalReport(
        loss=round(loss, 6) if loss is not None else None, perplexity=perplexity(loss), samples=samples, split=split,
        num_samples=n, num_tokens=total_tokens, run_dir=str(rd), adapter=str(gen.adapter_path or ""), note=note,
    )
    if loss is not None:
        report.perplexity = perplexity(report.loss)
    if save:
        save_report(rd, report)
    return report


def _score(gen, rows, check_stop, on_progress) -> tuple[list[EvalSample], list[tuple[float, int]]]:
    """Each row's loss (one EvalSample each, no generation yet) and its (summed loss, trained tokens)."""
    from .infer import _input_device

    tokenizer = gen.tokenizer
    device = _input_device(gen.model)
    samples: list[EvalSample] = []
    scored: list[tuple[float, int]] = []
    for i, row in enumerate(rows):
        check_stop()
        ids, labels = list(row["input_ids"]), list(row["labels"])
        with gen.lock:
            s, k = sample_loss(gen.model, ids, labels, device)
        scored.append((s, k))
        start = first_trained(labels)
        end = start
        while end < len(labels) and labels[end] != -100:
            end += 1
        samples.append(EvalSample(
            index=i,
            prompt=tokenizer.decode(ids[:start], skip_special_tokens=False),
            reference=tokenizer.decode(labels[start:end], skip_special_tokens=True).strip(),
            generated=None,
            loss=round(s / k, 6) if k else None,
            tokens=k,
        ))
        if on_progress:
            on_progress("loss", i + 1, len(rows))
    return samples, scored


def _generate(gen, rows, samples: list[EvalSample], max_new_tokens: int, stop, check_stop, on_progress) -> None:
    """Greedy generations from the first samples' prompts, into ``samples``."""
    from .infer import generate

    for i, sample in enumerate(samples):
        check_stop()
        ids = list(rows[i]["input_ids"])[:first_trained(rows[i]["labels"])]
        sample.generated = generate(gen, None, prompt_ids=ids, adapter=gen.has_adapter, greedy=True,
                                    max_new_tokens=max_new_tokens, stop=stop).strip()
        check_stop()  # a generation cut short by stop is not a result
        if on_progress:
            on_progress("generate", i + 1, len(samples))


def save_report(run_dir: Path, report: EvalReport) -> Path:
    from .events import _finite

    return rundir.atomic_write_text(Path(run_dir) / EVAL_FILE,
                                    json.dumps(_finite(report.to_dict()), indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def load_report(run_dir: str | os.PathLike) -> EvalReport | None:
    """The run's saved eval.json, or None."""
    try:
        return EvalReport.from_dict(json.loads((Path(run_dir) / EVAL_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
