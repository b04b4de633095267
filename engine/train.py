"""A training run: prepare data, load the model, fit with transformers' Trainer, report events.

The one entry point is :func:`train`; it never raises. Whatever happens is
reported as typed events (:mod:`engine.events`) to ``on_event`` and to
``metrics.jsonl``, and the run directory's ``status.json`` says how it ended::

    result = train(cfg, on_event=print, stop=threading.Event())
    result.status      # "finished" | "stopped" | "failed"
    result.run_dir     # runs/20261124-093000-smollm2-tunedeck_qa/

The pieces are small functions of their own (``prepare_data``, ``build_trainer``)
so tests, benchmarks and the TUI can call them one by one.
"""

from __future__ import annotations

import errno
import math
import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import rundir
from .config import Config, save_config
from .errors import TuneDeckError
from .events import (
    CheckpointSaved,
    EvalLogged,
    Event,
    MessageLogged,
    MetricsWriter,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
    fan_out,
)


@dataclass
class RunResult:
    run_dir: Path
    status: str  # finished | stopped | failed
    last_event: Event | None = None
    claimed: bool = True  # False: refused before the run folder was made or claimed (nothing was written there)


@dataclass
class PrepStats:
    """What tokenisation did to the data (reported in the run's start event)."""

    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_no_trained: int = 0
    tokens: int = 0
    trained_tokens: int = 0

    def summary(self) -> str:
        return (
            f"{self.kept} samples ({self.tokens} tokens, {self.trained_tokens} trained); "
            f"{self.truncated} truncated, {self.dropped_no_trained} dropped (empty answer or no trained token left)"
        )


@dataclass
class PreparedData:
    train: Any  # datasets.Dataset with input_ids, labels
    val: Any | None
    info: Any  # engine.data.DatasetInfo
    stats: PrepStats
    val_stats: PrepStats | None = None


def run_name(cfg: Config) -> str:
    if cfg.output.name:
        return cfg.output.name
    model = Path(cfg.model.name).stem if cfg.model.name else "model"
    data = Path(cfg.data.path).stem if cfg.data.path else "data"
    return f"{model}-{data}"


def iter_samples(rows, info, cfg: Config, tokenizer, source: str, numbers=None):
    """(row index, TokenizedSample) for each row, through the preview's own function; errors name the row
    (``numbers``: each row's index in the file, when ``rows`` is a split of it)."""
    from .errors import DataError
    from .tokenize import encode_row

    for index, row in enumerate(rows):
        try:
            yield index, encode_row(row, info, cfg.data, tokenizer)
        except DataError as e:
            raise DataError(f"{source}: row {(numbers[index] if numbers else index) + 1}: {e}") from None


def encode_rows(rows, info, cfg: Config, tokenizer, source: str, numbers=None) -> tuple[dict[str, list], PrepStats]:
    """Tokenise every row; drop rows with nothing to train (blank answer or no trained token left)."""
    stats = PrepStats()
    columns: dict[str, list] = {"input_ids": [], "labels": []}
    for _, sample in iter_samples(rows, info, cfg, tokenizer, source, numbers):
        stats.rows += 1
        if sample.truncated:
            stats.truncated += 1
        if not sample.trainable:
            stats.dropped_no_trained += 1
            continue
        stats.kept += 1
        stats.tokens += len(sample.input_ids)
        stats.trained_tokens += sample.num_trained
        columns["input_ids"].append(sample.input_ids)
        columns["labels"].append(sample.labels)
    return columns, stats


def prepare_data(cfg: Config, tokenizer, emit: Callable[[Event], None] = lambda e: None) -> PreparedData:
    """Load, detect, template and tokenise the data. Raises DataError before any model is loaded."""
    from datasets import Dataset

    from .data import load_dataset, load_validation
    from .errors import DataError
    from .templates import resolve_template, validate_template

    raw, info = load_dataset(cfg.data)
    emit(MessageLogged(f"Data: {info.describe()}"))
    from .datacheck import row_warnings

    for warning in row_warnings(raw, info):
        emit(MessageLogged(warning, level="warning"))
    template = resolve_template(cfg.data.template, info.format)
    validate_template(template, info.columns, info.format)
    val_raw, numbers, val_numbers = None, None, None
    val = load_validation(cfg.data, info)  # same mapping as the training file
    if val is not None:
        val_raw = val[0]
    elif cfg.data.val_split > 0:
        n_val = max(1, int(round(len(raw) * cfg.data.val_split)))
        if n_val >= len(raw):
            raise DataError(f"data.val_split: {cfg.data.val_split} leaves no training rows out of {len(raw)}; lower it")
        # the rows train_test_split would pick (its permutation depends only on length and seed), keeping
        # each row's place in the file so an error names the right row
        split = Dataset.from_dict({"i": list(range(len(raw)))}).train_test_split(test_size=n_val, seed=cfg.training.seed, shuffle=True)
        numbers, val_numbers = split["train"]["i"], split["test"]["i"]
        raw, val_raw = raw.select(numbers), raw.select(val_numbers)
    columns, stats = encode_rows(raw, info, cfg, tokenizer, cfg.data.path, numbers)
    if stats.kept == 0:
        raise DataError(
            f"{cfg.data.path}: nothing to train: none of {stats.rows} rows has a trained token "
            f"({stats.dropped_no_trained} with an empty completion or cut off by data.max_length={cfg.data.max_length}); "
            "check data.columns maps the answer column to output, or raise data.max_length"
        )
    emit(MessageLogged(f"Tokenised with template {template}: {stats.summary()}",
                       level="warning" if stats.dropped_no_trained or stats.truncated else "info"))
    val_ds, val_stats = None, None
    if val_raw is not None:
        val_columns, val_stats = encode_rows(val_raw, info, cfg, tokenizer, cfg.data.val_path or cfg.data.path, val_numbers)
        if val_stats.kept:
            val_ds = Dataset.from_dict(val_columns)
            emit(MessageLogged(f"Validation: {val_stats.kept} samples"))
    return PreparedData(Dataset.from_dict(columns), val_ds, info, stats, val_stats)


class Collator:
    """Padding-free packed rows with per-sample position ids, or padded batches.

    Padding-free puts the samples of a micro-batch end to end into as few rows
    of at most ``row_tokens`` tokens as fit (first-fit decreasing), restarting
    ``position_ids`` at each sample, so attention never crosses samples and
    almost no compute goes to padding. Capping a row at ``row_tokens`` (the
    data's max_length) keeps attention's cost bounded: one giant row would make
    attention quadratic in the whole batch's tokens where no varlen kernel
    (FlashAttention) is available, as on CPU. A row's unused tail is filled
    with a block of its own (positions from 0, labels ignored), so it touches
    no real token. The loss equals the padded batch's (tested).
    """

    def __init__(self, tokenizer, mode: str, row_tokens: int | None = None):
        from transformers import DataCollatorForSeq2Seq

        self.mode = mode
        self.row_tokens = row_tokens
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = pad if pad is not None else 0
        if mode != "padding_free":
            self._padded = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100, return_tensors="pt")

    def __call__(self, features):
        features = [{"input_ids": list(f["input_ids"]), "labels": list(f["labels"])} for f in features]
        if self.mode != "padding_free":
            return self._padded(features)
        return self.pack(features)

    def pack(self, features):
        import torch

        lengths = [len(f["input_ids"]) for f in features]
        cap = max(self.row_tokens or sum(lengths), max(lengths))
        rows: list[list[int]] = []
        used: list[int] = []
        for i in sorted(range(len(features)), key=lambda i: -lengths[i]):
            for r, u in enumerate(used):
                if u + lengths[i] <= cap:
                    rows[r].append(i)
                    used[r] += lengths[i]
                    break
            else:
                rows.append([i])
                used.append(lengths[i])
        width = max(used)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        position_ids = torch.zeros((len(rows), width), dtype=torch.long)
        for r, members in enumerate(rows):
            pos = 0
            for i in members:
                n = lengths[i]
                input_ids[r, pos:pos + n] = torch.tensor(features[i]["input_ids"])
                lab = torch.tensor(features[i]["labels"])
                lab[0] = -100  # never predict a sample's first token from the previous sample
                labels[r, pos:pos + n] = lab
                position_ids[r, pos:pos + n] = torch.arange(n)
                pos += n
            position_ids[r, pos:] = torch.arange(width - pos)
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}


class TokenBudgetBatchSampler:
    """Micro-batches filled up to a token budget instead of a fixed sample count.

    Batches are formed once from a seeded shuffle (so their number is fixed, as
    the Trainer's step count needs); each epoch visits them in a new seeded order
    (``set_epoch``, which the Trainer calls), so a resumed run sees the same order.
    """

    def __init__(self, lengths: list[int], budget: int, seed: int):
        import random

        order = list(range(len(lengths)))
        random.Random(seed).shuffle(order)
        self.batches: list[list[int]] = []
        current: list[int] = []
        used = 0
        for i in order:
            n = lengths[i]
            if current and used + n > budget:
                self.batches.append(current)
                current, used = [], 0
            current.append(i)
            used += n
        if current:
            self.batches.append(current)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        import random

        order = list(range(len(self.batches)))
        random.Random(self.seed * 1000 + self.epoch).shuffle(order)
        for b in order:
            yield self.batches[b]


def trained_positions(labels):
    """Where a logit is needed: position t predicts labels[t + 1], so those with a label to learn (not -100)."""
    import torch

    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    return keep


def completion_only_loss(model, inputs: dict, num_items_in_batch=None):
    """The causal-LM loss, with the vocabulary projection computed only where a token is trained.

    The model's own loss projects every position onto the vocabulary (49,152 columns for SmolLM2) and takes a
    log-softmax over all of them, then throws away the prompt's and the padding's: with prompts masked that is
    about half of a batch's logits. Here the model returns logits only at the positions whose next label counts
    (``logits_to_keep`` as a boolean mask, transformers >= 5) and the cross-entropy is taken over those, summed
    and divided as the model's own loss is (by ``num_items_in_batch`` under gradient accumulation, else by the
    count), so the value and gradients are the same (tested)."""
    import torch.nn.functional as F

    labels = inputs["labels"]
    keep = trained_positions(labels)
    rest = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**rest, logits_to_keep=keep, use_cache=False).logits  # (trained tokens, vocab)
    targets = labels[:, 1:][keep[:, :-1]].to(logits.device)
    loss = F.cross_entropy(logits.float(), targets, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else targets.numel()
    if hasattr(count, "to"):
        count = count.to(loss.device)
    return loss / count


def accepts_logits_mask(model) -> bool:
    """Whether the causal LM under ``model`` (peft-wrapped or not) takes ``logits_to_keep`` as a mask."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # PeftModel -> the LM
    try:
        return "logits_to_keep" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def trainer_class(token_budget: int, completion_only_logits: bool = True):
    """transformers' Trainer, taking batches from a token budget when one is set, and (where the model takes
    a logits mask) computing the training loss from the trained positions' logits only."""
    from torch.utils.data import DataLoader
    from transformers import Trainer

    class TuneDeckTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.masked_logits = completion_only_logits and accepts_logits_mask(self.model)  # once, not every step

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs or not self.masked_logits or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            # Divided as Trainer expects: by the accumulated token count where the model's own loss would be
            # (Trainer then does not divide again), else the mean, which Trainer divides by the accumulation.
            return completion_only_loss(model, inputs, num_items_in_batch if self.model_accepts_loss_kwargs else None)

        def create_scheduler(self, num_training_steps, optimizer=None):
            from .schedule import warm_up_above_zero  # no optimizer step at learning rate 0

            scheduler = super().create_scheduler(num_training_steps, optimizer)
            return warm_up_above_zero(scheduler, self.args.get_warmup_steps(num_training_steps))

        def get_train_dataloader(self):
            if token_budget <= 0:
                return super().get_train_dataloader()
            lengths = [len(x) for x in self.train_dataset["input_ids"]]
            sampler = TokenBudgetBatchSampler(lengths, token_budget, self.args.seed)
            loader = DataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=self.data_collator,
                                num_workers=0, pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

    return TuneDeckTrainer


def supports_padding_free(model) -> bool:
    """Packed rows need attention that separates samples by position_ids (sdpa/eager/flash on decoder models)."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return impl in ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")


# Peak dense (no sparsity) bf16/fp16 tensor-core FLOP/s, matched against torch.cuda.get_device_name() by
# substring, most specific first ("H100 PCIe" before "H100", "A100" before "A10", "L40S" before "L4").
# The H100 SXM reports itself as "NVIDIA H100 80GB HBM3", so a plain "H100" means SXM. V100 and T4 have no
# bf16: their fp16 figure is used. GeForce cards: fp16 with fp32 accumulate (what training uses).
PEAK_DENSE_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200", 989e12),  # also GH200
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 125e12),
    ("A10", 125e12),
    ("RTX 6000 Ada", 364e12),
    ("A6000", 155e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),
    ("T4", 65e12),
)


def peak_flops(device_name: str | None) -> float | None:
    """The GPU's peak dense bf16/fp16 FLOP/s from its name, or None (unknown GPU, CPU)."""
    if not device_name:
        return None
    name = device_name.upper()
    for key, flops in PEAK_DENSE_FLOPS:
        if key.upper() in name:
            return flops
    return None


def model_flops_utilization(total_params: int, tokens_per_second: float | None, peak: float | None) -> float | None:
    """Model FLOPs utilisation: 4 x total parameters x tokens/s / the device's peak FLOP/s.

    A dense transformer costs about 2N FLOPs per token forward and 4N backward (2N for the gradient
    with respect to the activations, 2N for the gradient with respect to the weights): the usual 6N.
    LoRA and QLoRA freeze the base, so no weight gradient is computed for it: 2N + 2N = 4N per trained
    token; the LoRA matrices' own FLOPs are negligible. Attention's sequence-length term is left out,
    as in the usual 6N figure, and recomputation under gradient checkpointing does not count (model
    FLOPs, not hardware FLOPs). ``total_params`` counts 4-bit weights at their logical size.
    None when any input is unknown.
    """
    if not peak or not tokens_per_second or total_params <= 0:
        return None
    return 4.0 * total_params * tokens_per_second / peak


def cuda_peak_flops(device: str) -> float | None:
    """peak_flops() of the first CUDA device when training on CUDA; None on CPU."""
    if device != "cuda":
        return None
    try:
        import torch

        return peak_flops(torch.cuda.get_device_name(0))
    except Exception:
        return None


class EventCallbackMixin:
    """Turns Trainer logs into typed events (TRL-style ``on_log``); see :func:`event_callback`."""

    def __init__(self, emit: Callable[[Event], None], stop: threading.Event | None, start_event: Callable[[Any], RunStarted],
                 checkpoints_dir: Path, device: str, save_now: threading.Event | None = None, total_params: int = 0):
        self.emit = emit
        self.total_params = total_params
        self.peak_flops = cuda_peak_flops(device)
        self.stop = stop if stop is not None else threading.Event()
        self.save_now = save_now
        self.run_dir = checkpoints_dir.parent
        self.start_event = start_event
        self.checkpoints_dir = checkpoints_dir
        self.device = device
        self.stopped = False
        self.nan_step: int | None = None
        self.last_loss: float | None = None
        self._t0 = time.time()
        self._step0 = 0
        self._last_t = self._t0
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = self._last_t = time.time()
        self._step0 = state.global_step
        self._last_tokens = state.num_input_tokens_seen or 0
        self.emit(self.start_event(state))
        return control

    def on_step_end(self, args, state, control, **kw):
        # Requests come from this process (events) or any other one (files in the run directory).
        if (self.save_now is not None and self.save_now.is_set()) or rundir.take_request(self.run_dir, rundir.SAVE_REQUEST):
            if self.save_now is not None:
                self.save_now.clear()
            control.should_save = True
        if rundir.take_request(self.run_dir, rundir.STOP_REQUEST):
            self.stop.set()
        if self.stop.is_set() and not self.stopped:
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        now = time.time()
        step = state.global_step
        if "loss" in logs:
            loss = float(logs["loss"])
            elapsed = now - self._t0
            done = step - self._step0
            eta = (state.max_steps - step) * elapsed / done if done > 0 else None
            tokens = state.num_input_tokens_seen or 0
            dt = now - self._last_t
            tps = (tokens - self._last_tokens) / dt if dt > 0 and tokens else None
            self._last_t, self._last_tokens = now, tokens
            mfu = model_flops_utilization(self.total_params, tps, self.peak_flops)
            self.emit(StepLogged(
                step=step, max_steps=state.max_steps, epoch=round(float(state.epoch or 0), 4), loss=loss,
                learning_rate=float(logs.get("learning_rate", 0.0)),
                grad_norm=_float_or_none(logs.get("grad_norm")),
                tokens_per_second=round(tps, 2) if tps else None, tokens_seen=int(tokens),
                elapsed=round(elapsed, 3), eta=round(eta, 1) if eta is not None else None,
                memory_mb=_memory_mb(self.device), mfu=round(mfu, 4) if mfu is not None else None,
            ))
            grad_norm = _float_or_none(logs.get("grad_norm"))
            if not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(grad_norm)):
                self.nan_step = step
                control.should_training_stop = True
                control.should_save = False
            else:
                self.last_loss = loss
        if "eval_loss" in logs:
            ev = float(logs["eval_loss"])
            qa = "eval_f1" in logs  # extractive QA: EM/F1 instead of perplexity
            self.emit(EvalLogged(step=step, eval_loss=ev, perplexity=None if qa else _perplexity(ev),
                                 epoch=_float_or_none(state.epoch), exact_match=_float_or_none(logs.get("eval_exact_match")),
                                 f1=_float_or_none(logs.get("eval_f1"))))
        return control

    def on_save(self, args, state, control, **kw):
        path = self.checkpoints_dir / f"checkpoint-{state.global_step}"
        self.emit(CheckpointSaved(step=state.global_step, path=str(path), stopping=self.stopped))
        return control


def event_callback(*args, **kwargs):
    """An EventCallbackMixin that is also a transformers TrainerCallback (imported lazily)."""
    from transformers import TrainerCallback

    cls = type("EventCallback", (EventCallbackMixin, TrainerCallback), {})
    return cls(*args, **kwargs)


def _float_or_none(x) -> float | None:
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


def _perplexity(loss: float) -> float | None:
    try:
        return math.exp(loss) if loss < 50 else None
    except OverflowError:
        return None


def _memory_mb(device: str) -> float | None:
    try:
        if device == "cuda":
            import torch

            return round(torch.cuda.max_memory_allocated() / 2**20, 1)
        import psutil

        return round(psutil.Process().memory_info().rss / 2**20, 1)
    except Exception:
        return None


def training_arguments(cfg: Config, output_dir: Path, device: str, dtype: str, has_eval: bool):
    from transformers import TrainingArguments

    t = cfg.training
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        warmup_steps=t.warmup_ratio if t.warmup_ratio < 1 else 1.0 - 1e-9,
        lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm if t.max_grad_norm > 0 else 0.0,
        logging_steps=t.logging_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=t.eval_steps if has_eval else None,
        seed=t.seed,
        data_seed=t.seed,
        report_to="none",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        bf16=device == "cuda" and dtype == "bfloat16",
        fp16=device == "cuda" and dtype == "float16",
        optim="adamw_torch_fused" if device == "cuda" else "adamw_torch",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=device == "cuda",
        include_num_input_tokens_seen="non_padding",
        logging_nan_inf_filter=False,  # a NaN loss must be seen, not averaged away
        save_only_model=False,
    )


DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(exc: BaseException, run_dir: Path | None = None) -> bool:
    """True when ``exc`` (or an exception it was raised from) means the disk or quota is full.

    Python's OSError carries errno ENOSPC/EDQUOT; safetensors' Rust error and torch's C++ writer only
    have text ("No space left on device", or "PytorchStreamWriter failed writing file ...: file write
    failed" with no reason), so for the latter the free space of ``run_dir``'s disk decides.
    """
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return True
        text = str(e).lower()
        if "no space left" in text or "disk quota exceeded" in text or "storagefull" in text:
            return True
        if run_dir is not None and any(w in text for w in ("file write failed", "failed writing", "unexpected pos",
                                                             "inline_container", "error while serializing")):
            try:
                if shutil.disk_usage(run_dir).free < 64 * 2**20:
                    return True
            except OSError:
                pass
        e = e.__cause__ or e.__context__
    return False


def disk_full_error(run_dir: Path) -> tuple[str, str]:
    """(one-line error, hint) for a run that ran out of disk, naming the checkpoint being written and the way out."""
    complete = rundir.last_checkpoint(run_dir)
    partial = [p for p in rundir.checkpoint_folders(run_dir) if not rundir.checkpoint_is_complete(p)]
    where = f" while saving {partial[-1].name} (left incomplete; resume ignores it)" if partial else ""
    error = f"disk full{where}: No space left on device in {run_dir.parent}"
    then = (f"; then continue from {complete.name}: tunedeck train --resume {run_dir}" if complete
            else "; then start the run again")
    hint = ("The disk is full: free space (old runs' checkpoints folders), lower training.save_total_limit to keep "
            "fewer checkpoints, or set output.runs_dir to a disk with room" + then)
    return error, hint


def hint_for(exc: BaseException, run_dir: Path | None = None) -> str:
    """Plain-language advice for an error that ended a run."""
    text = f"{type(exc).__name__}: {exc}".lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "outofmemory" in text or "cannot allocate memory" in text:
        return ("Out of memory: lower training.batch_size or data.max_length, raise training.gradient_accumulation "
                "to keep the effective batch, turn on model.gradient_checkpointing, or use model.quantization: 4bit.")
    if is_disk_full(exc, run_dir):
        return ("The disk is full: free space (old runs' checkpoints folders), lower training.save_total_limit to keep "
                "fewer checkpoints, or set output.runs_dir to a disk with room.")
    if isinstance(exc, TuneDeckError):
        return ""
    return "Unexpected error; the traceback is in error.log in the run folder. Please report it with that file."


def _prepare(cfg: Config, emit) -> tuple:
    """Device, tokenizer and tokenised data: every config and data check, before the run folder is touched."""
    from .model import load_tokenizer, pick_device
    from .sanity import config_warnings

    if cfg.task != "causal_lm":
        from .tasks import get_task

        return get_task(cfg.task).prepare(cfg, emit)
    device, dtype = pick_device(cfg.model)
    emit(MessageLogged(f"Loading tokenizer for {cfg.model.name}"))
    tokenizer = load_tokenizer(cfg.model, lambda text: emit(MessageLogged(text)))
    data = prepare_data(cfg, tokenizer, emit)  # data errors surface before the model is loaded
    for warning in config_warnings(cfg, tokenizer):
        emit(MessageLogged(warning, level="warning"))
    return device, dtype, tokenizer, data


def train(cfg: Config | None, *, run_dir: str | Path | None = None, on_event: Callable[[Event], None] | None = None,
          stop: threading.Event | None = None, resume: str | Path | None = None,
          save_now: threading.Event | None = None) -> RunResult:
    """Run one fine-tuning job end to end. Never raises; see the module docstring."""
    import transformers

    transformers.logging.set_verbosity_error()
    from . import runsafety

    early: list[Event] = []  # events from before the run folder may be written; replayed into metrics.jsonl
    early_emit = fan_out([early.append, on_event])
    try:  # nothing is written to the run folder until config and data are known good and the folder is ours
        cfg, rd, resume_ckpt, lock, prep = runsafety.open_and_claim(cfg, run_dir, resume, early_emit, _prepare, run_name)
    except BaseException as e:  # noqa: BLE001 - every failure becomes an event
        if isinstance(e, KeyboardInterrupt):
            raise
        user_error = isinstance(e, TuneDeckError)
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if user_error else hint_for(e).replace("the traceback is in error.log in the run folder",
                                                        "no run folder was made yet")
        event = RunFailed(error=(text if user_error else f"{type(e).__name__}: {text}")[:500], hint=hint,
                          user_error=user_error)
        early_emit(event)
        return RunResult(Path(run_dir or resume or "."), "failed", event, claimed=False)

    writer = MetricsWriter(rd / rundir.METRICS_FILE)
    for event in early:
        writer(event)
    last_step = {"step": 0}  # the last logged step, so a crash reports where it happened

    def track(event: Event) -> None:
        if isinstance(event, StepLogged):
            last_step["step"] = event.step
        elif isinstance(event, RunStarted):
            last_step["step"] = event.resumed_from_step

    emit = fan_out([track, writer, on_event])
    t0 = time.time()
    step = 0
    try:
        save_config(cfg, rd / rundir.CONFIG_FILE)
        rundir.write_status(rd, "running", step=0)
        for stale in (rundir.STOP_REQUEST, rundir.SAVE_REQUEST):
            rundir.take_request(rd, stale)
        result = _fit(cfg, rd, resume_ckpt, emit, stop, save_now, prep)
        step = result.final_step
        if result.nan_step is not None:
            ckpt = rundir.last_checkpoint(rd)
            raise _NaNLoss(result.nan_step, ckpt)
        if result.stopped:
            ckpt = rundir.last_checkpoint(rd)
            event: Event = RunStopped(step=step, checkpoint=str(ckpt) if ckpt else None, elapsed=round(time.time() - t0, 2))
            rundir.write_status(rd, "stopped", step=step, checkpoint=str(ckpt) if ckpt else None)
            emit(event)
            return RunResult(rd, "stopped", event)
        event = RunFinished(step=step, adapter_path=result.output_path or str(rd / rundir.ADAPTER_DIR), elapsed=round(time.time() - t0, 2),
                            final_loss=result.last_loss)
        rundir.write_status(rd, "finished", step=step)
        emit(event)
        return RunResult(rd, "finished", event)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an event
        if isinstance(exc, KeyboardInterrupt):
            raise
        user_error = isinstance(exc, TuneDeckError)
        ckpt = rundir.last_checkpoint(rd)
        step = max(step, last_step["step"])
        if isinstance(exc, _NaNLoss):
            message, hint, step = str(exc), exc.hint, exc.step
        elif not user_error and is_disk_full(exc, rd):
            message, hint = disk_full_error(rd)
            runsafety.remove_partial_checkpoints(rd)  # make room; the last complete checkpoint stays
            _write_error_log(rd)
        else:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not user_error:
                message = f"{type(exc).__name__}: {message}"
                _write_error_log(rd)
            hint = hint_for(exc, rd)
        event = RunFailed(error=message[:500], hint=hint, step=step, checkpoint=str(ckpt) if ckpt else None, user_error=user_error)
        runsafety.write_failed_status(rd, step=step, error=event.error, hint=hint)
        emit(event)
        return RunResult(rd, "failed", event)
    finally:
        writer.close()
        lock.release()


def _write_error_log(rd: Path) -> None:
    try:  # the disk may be the very thing that is full
        (rd / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        pass


class _NaNLoss(Exception):
    def __init__(self, step: int, ckpt):
        self.step = step
        where = f"; the last finite checkpoint is {ckpt.name}" if ckpt else ""
        super().__init__(f"loss or gradients became NaN or infinite at step {step}{where}")
        self.hint = "Lower training.learning_rate (try 10x smaller) or set training.max_grad_norm to 1.0."


@dataclass
class _FitResult:
    final_step: int
    stopped: bool
    nan_step: int | None
    last_loss: float | None
    output_path: str | None = None  # where the final weights went (default: the adapter folder)


def _fit(cfg: Config, rd: Path, resume_ckpt: Path | None, emit, stop, save_now=None, prep=None) -> _FitResult:
    from transformers import set_seed

    from .console import quantization_words
    from .dequant import prepare_for_training
    from .model import add_lora, count_parameters, load_base_model

    if cfg.task != "causal_lm":  # another task's recipe (engine.tasks); the run folder and events are the same
        from .tasks import get_task

        return get_task(cfg.task).fit(cfg, rd, resume_ckpt, emit, stop, save_now, prep)

    def say(text: str) -> None:
        emit(MessageLogged(text))

    device, dtype, tokenizer, data = prep if prep is not None else _prepare(cfg, emit)
    set_seed(cfg.training.seed)
    say(f"Loading {cfg.model.name} ({quantization_words(cfg.model.quantization)}, compute {dtype}) on {device}")
    model = load_base_model(cfg.model, say)
    frozen = prepare_for_training(model, cfg, device, dtype, say)  # engine.dequant: CPU 4-bit, dequantized once?
    model = add_lora(model, cfg.model, cfg.lora)
    trainable, total = count_parameters(model)
    batching = cfg.training.batching
    if batching == "padding_free" and not supports_padding_free(model):
        say(f"Attention implementation {model.config._attn_implementation} cannot pack samples; "
            "using padded batches of similar lengths")
        batching = "padded_grouped"
    checkpoints_dir = rd / rundir.CHECKPOINTS_DIR

    def start_event(state) -> RunStarted:
        return RunStarted(
            run_dir=str(rd), config=cfg.to_dict(), device=_device_name(device), trainable_params=trainable,
            total_params=total, train_samples=len(data.train), val_samples=len(data.val) if data.val is not None else 0,
            max_steps=state.max_steps, epochs=cfg.training.epochs, batching=batching,
            truncated_samples=data.stats.truncated, dropped_samples=data.stats.dropped_no_trained,
            resumed_from_step=state.global_step, frozen_weights=frozen.describe(),
        )

    callback = event_callback(emit, stop, start_event, checkpoints_dir, device, save_now, total_params=total)
    args = training_arguments(cfg, checkpoints_dir, device, dtype, data.val is not None)
    if batching == "padded_grouped":  # the fallback: padding wastes least when a batch's lengths are alike
        args.train_sampling_strategy = "group_by_length"
        batching = "padded"
    trainer = trainer_class(cfg.training.max_tokens_per_batch)(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.val,
        data_collator=Collator(tokenizer, batching, row_tokens=cfg.data.max_length),
        callbacks=[callback],
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for noisy in (PrinterCallback, ProgressCallback):  # they print to stdout, which belongs to the UI
        trainer.remove_callback(noisy)
    if resume_ckpt is not None:
        say(f"Resuming from {resume_ckpt.name}")
    trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
    if not callback.stopped and callback.nan_step is None:
        say("Saving adapter")
        model.save_pretrained(rd / rundir.ADAPTER_DIR, safe_serialization=True)
        tokenizer.save_pretrained(rd / rundir.ADAPTER_DIR)
    return _FitResult(trainer.state.global_step, callback.stopped, callback.nan_step, callback.last_loss)


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    import os

    return f"cpu ({os.cpu_count()} cores)"
