"""The extractive-QA training recipe, run by :func:`engine.train.train` for ``task: extractive_qa``.

Same run folder, events and metrics.jsonl as a causal-LM run (the same Trainer callback), with
padded batches grouped by length, and an evaluation at ``training.eval_steps`` that post-processes the
windows' logits into answers and logs ``exact_match`` and ``f1`` beside ``eval_loss``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError
from ..events import MessageLogged


@dataclass
class QaData:
    train: Any  # datasets.Dataset of windows
    val: Any | None
    train_feats: Any  # QaFeatures
    val_feats: Any | None
    val_examples: list[dict] | None
    with_null: bool  # SQuAD 2.0: some questions are unanswerable


def split_examples(examples: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out whole questions (all their windows) for validation, in a seeded order."""
    n_val = max(1, int(round(len(examples) * fraction)))
    if n_val >= len(examples):
        raise DataError(f"data.val_split: {fraction} leaves no training questions out of {len(examples)}; lower it")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    val = set(order[:n_val])
    return [e for i, e in enumerate(examples) if i not in val], [e for i, e in enumerate(examples) if i in val]


def load_splits(cfg) -> tuple[list[dict], list[dict] | None, Any]:
    from .qa_data import load_examples

    train, info = load_examples(cfg.data.path, split=cfg.data.split, limit=cfg.data.limit, columns_map=cfg.data.columns)
    val = None
    if cfg.data.val_path:
        val, _ = load_examples(cfg.data.val_path, split=cfg.data.split, columns_map=cfg.data.columns)
    elif cfg.data.val_split > 0:
        train, val = split_examples(train, cfg.data.val_split, cfg.training.seed)
    return train, val, info


def prepare_qa_data(cfg, tokenizer, emit: Callable = lambda e: None, splits=None) -> QaData:
    from .qa_features import as_dataset, encode_examples

    train_ex, val_ex, info = splits or load_splits(cfg)
    emit(MessageLogged(f"Data: {info.describe()}"))
    tf = encode_examples(train_ex, tokenizer, cfg.qa)
    lost = tf.stats.lost_to_truncation
    emit(MessageLogged(f"Tokenised for extractive QA: {tf.stats.summary()}"
                       + (f" (e.g. question {', '.join(tf.stats.lost_ids[:3])}; raise qa.max_length)" if lost else ""),
                       level="warning" if lost else "info"))
    vf = None
    if val_ex:
        vf = encode_examples(val_ex, tokenizer, cfg.qa)
        emit(MessageLogged(f"Validation: {len(val_ex)} questions in {len(vf)} windows"))
    with_null = info.unanswerable > 0 or any(not e["answers"]["text"] for e in (val_ex or []))
    return QaData(as_dataset(tf), as_dataset(vf) if vf else None, tf, vf, val_ex, with_null)


def predict_features(model, feats, tokenizer, batch_size: int = 16):
    """(start_logits, end_logits) per window, as lists of numpy arrays, without the Trainer."""
    import torch
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in feats.columns]
    device = next(model.parameters()).device
    starts, ends = [], []
    with torch.no_grad():
        for b in range(0, len(feats), batch_size):
            rows = [{k: feats.columns[k][i] for k in names} for i in range(b, min(b + batch_size, len(feats)))]
            batch = {k: v.to(device) for k, v in collate(rows).items()}
            out = model(**batch)
            for i, row in enumerate(rows):
                n = len(row["input_ids"])
                starts.append(out.start_logits[i, :n].float().cpu().numpy())
                ends.append(out.end_logits[i, :n].float().cpu().numpy())
    return starts, ends


def metrics_function(cfg, data: QaData):
    """compute_metrics for the Trainer: the eval windows' logits -> answers -> EM/F1 (0..100)."""
    from .qa_metrics import squad_scores
    from .qa_postprocess import postprocess

    def compute(eval_pred) -> dict:
        start, end = eval_pred.predictions[:2] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        preds = postprocess(data.val_examples, data.val_feats.example_index, data.val_feats.offsets, start, end,
                            n_best=cfg.qa.n_best, max_answer_length=cfg.qa.max_answer_length,
                            with_null=data.with_null, null_threshold=cfg.qa.null_threshold)
        scores = squad_scores((p.text, e["answers"]["text"]) for p, e in zip(preds, data.val_examples, strict=False))
        out = {"exact_match": scores["exact_match"], "f1": scores["f1"]}
        if data.with_null:
            out.update({"answerable_f1": scores["answerable"]["f1"], "unanswerable_f1": scores["unanswerable"]["f1"]})
        return out

    return compute


def qa_trainer_class():
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class QaTrainer(Trainer):
        """Trainer whose evaluation keeps the windows in order (group_by_length would sort them too), so the
        logits line up with the windows' offsets in post-processing."""

        def _get_eval_sampler(self, eval_dataset):
            return SequentialSampler(eval_dataset)

    return QaTrainer


def prepare(cfg, emit) -> tuple:
    """Device, tokenizer and windows: every config and data check, before the run folder is touched."""
    from ..errors import ConfigError
    from ..model import pick_device
    from .qa_model import load_qa_tokenizer

    if cfg.model.quantization != "none" and cfg.qa.method != "lora":
        raise ConfigError([("model.quantization", f"{cfg.model.quantization} weights cannot be fine-tuned in full; "
                                                  "set qa.method: lora or model.quantization: none")])
    device, dtype = pick_device(cfg.model)
    splits = load_splits(cfg)  # data errors surface before anything is loaded
    emit(MessageLogged(f"Loading tokenizer for {cfg.model.name}"))
    tokenizer = load_qa_tokenizer(cfg.model, lambda text: emit(MessageLogged(text)))
    return device, dtype, tokenizer, prepare_qa_data(cfg, tokenizer, emit, splits)


def fit(cfg, rd: Path, resume_ckpt, emit, stop, save_now=None, prep=None):
    """Train an encoder for extractive QA; returns a :class:`engine.tasks.FitResult`."""
    from transformers import DataCollatorWithPadding, set_seed

    from .. import rundir
    from ..callback import EventCallback
    from ..events import RunStarted
    from ..model import count_parameters, device_name
    from ..trainer import quiet_trainer, training_arguments
    from . import FitResult
    from .qa_model import MODEL_DIR, add_qa_lora, load_qa_model

    def say(text: str) -> None:
        emit(MessageLogged(text))

    device, dtype, tokenizer, data = prep if prep is not None else prepare(cfg, emit)
    say(f"Loading {cfg.model.name} for question answering ({cfg.qa.method}) on {device}")
    model = load_qa_model(cfg.model, say, seed=cfg.training.seed)
    if cfg.qa.method == "lora":
        model = add_qa_lora(model, cfg.model, cfg.lora)
    elif cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    set_seed(cfg.training.seed)
    trainable, total = count_parameters(model)
    checkpoints_dir = rd / rundir.CHECKPOINTS_DIR

    def start_event(state) -> RunStarted:
        return RunStarted(
            run_dir=str(rd), config=cfg.to_dict(), device=device_name(device), trainable_params=trainable,
            total_params=total, train_samples=len(data.train), val_samples=len(data.val) if data.val is not None else 0,
            max_steps=state.max_steps, epochs=cfg.training.epochs, batching="padded",
            truncated_samples=data.train_feats.stats.lost_to_truncation, dropped_samples=0,
            resumed_from_step=state.global_step,
        )

    callback = EventCallback(emit, stop, start_event, checkpoints_dir, device, save_now, total_params=total)
    args = training_arguments(cfg, checkpoints_dir, device, dtype, data.val is not None)
    args.train_sampling_strategy = "group_by_length"  # padding wastes least when a batch's lengths are alike
    args.label_names = ["start_positions", "end_positions"]
    args.include_num_input_tokens_seen = "non_padding"
    trainer = qa_trainer_class()(model=model, args=args, train_dataset=data.train, eval_dataset=data.val,
                      data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=metrics_function(cfg, data) if data.val is not None else None,
                      callbacks=[callback])
    quiet_trainer(trainer)
    if resume_ckpt is not None:
        say(f"Resuming from {resume_ckpt.name}")
    trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
    out = rd / (rundir.ADAPTER_DIR if cfg.qa.method == "lora" else MODEL_DIR)
    if not callback.stopped and callback.nan_step is None:
        say(f"Saving {'adapter' if cfg.qa.method == 'lora' else 'model'}")
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return FitResult(trainer.state.global_step, callback.stopped, callback.nan_step, callback.last_loss,
                      output_path=str(out))
