"""The text-classification training recipe, run by :func:`engine.train.train` for ``task: classification``.

Same run folder, events and metrics.jsonl as any run (engine.train's Trainer callback), padded batches
grouped by length, optional class weights in the loss, and an evaluation at ``training.eval_steps`` that
logs ``accuracy`` and ``f1`` (macro, 0..1) beside ``eval_loss``. The label names are written to
RUN/labels.json and into the saved model's config (``id2label``/``label2id``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..events import EvalLogged, MessageLogged


@dataclass
class ClsData:
    train: Any  # datasets.Dataset of features
    val: Any | None
    train_rows: list[dict]
    val_rows: list[dict] | None
    info: Any  # cls_data.ClsDataInfo
    truncated: int


def encode_rows(rows: list[dict], tokenizer, cfg, labels) -> tuple[dict[str, list], int]:
    """Tokenised texts (pairs) and targets; returns (columns, rows cut at cls.max_length)."""
    texts = [r["text"] for r in rows]
    pairs = [r["text_pair"] for r in rows] if rows and rows[0].get("text_pair") is not None else None
    enc = tokenizer(texts, pairs, truncation=True, max_length=cfg.cls.max_length)
    truncated = sum(1 for n in token_lengths(rows, tokenizer) if n > cfg.cls.max_length)
    cols = {k: list(v) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    cols["labels"] = [labels.encode(r["label"], r.get("dataset", "data"), r["row"]) for r in rows]
    return cols, truncated


def token_lengths(rows: list[dict], tokenizer) -> list[int]:
    """Tokens per row before truncation (text or text pair, special tokens included), as encode_rows counts them."""
    texts = [r["text"] for r in rows]
    pairs = [r["text_pair"] for r in rows] if rows and rows[0].get("text_pair") is not None else None
    return [len(ids) for ids in tokenizer(texts, pairs, truncation=False)["input_ids"]] if rows else []


def preview(row: dict, tokenizer, cfg) -> dict:
    """What the model sees of one row: its tokens (after truncation) and its label."""
    enc = tokenizer(row["text"], row.get("text_pair"), truncation=True, max_length=cfg.cls.max_length)
    n_full = len(tokenizer(row["text"], row.get("text_pair"))["input_ids"])
    ids = enc["input_ids"]
    return {"tokens": tokenizer.convert_ids_to_tokens(ids), "text": tokenizer.decode(ids), "num_tokens": len(ids),
            "truncated": n_full > len(ids), "lost_tokens": max(0, n_full - len(ids)), "label": row["label"]}


def prepare_cls_data(cfg, tokenizer, emit: Callable = lambda e: None, splits=None) -> ClsData:
    import datasets

    from .cls_data import load_splits

    train_rows, val_rows, info = splits or load_splits(cfg)
    emit(MessageLogged(f"Data: {info.describe()}"))
    for warning in info.warnings(cfg.data.val_split if not cfg.data.val_path else 0.0):
        emit(MessageLogged(warning, level="warning"))
    tcols, truncated = encode_rows(train_rows, tokenizer, cfg, info.labels)
    emit(MessageLogged(f"Tokenised for classification: {len(train_rows)} rows"
                       + (f", {truncated} cut at cls.max_length {cfg.cls.max_length}" if truncated else ""),
                       level="warning" if truncated else "info"))
    val = None
    if val_rows:
        vcols, _ = encode_rows(val_rows, tokenizer, cfg, info.labels)
        val = datasets.Dataset.from_dict(vcols)
        emit(MessageLogged(f"Validation: {len(val_rows)} rows"))
    return ClsData(datasets.Dataset.from_dict(tcols), val, train_rows, val_rows, info, truncated)


def class_weights(cfg, data: ClsData) -> list[float] | None:
    """cls.class_weights: balanced -> n_rows / (n_classes * rows of the class) (scikit-learn's formula)."""
    if cfg.cls.class_weights != "balanced" or data.info.labels.multi:
        return None
    counts = [max(1, data.info.counts.get(n, 0)) for n in data.info.labels.names]
    total, k = sum(counts), len(counts)
    return [total / (k * c) for c in counts]


def metrics_function(cfg, labels):
    """compute_metrics for the Trainer: logits -> accuracy and macro F1 (and weighted F1)."""
    from .cls_metrics import classification_scores, predict_ids, probabilities

    def compute(eval_pred) -> dict:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        pred = predict_ids(probabilities(logits, labels.multi), labels.multi, cfg.cls.threshold)
        s = classification_scores(eval_pred.label_ids.astype(int), pred, labels.names, labels.multi)
        return {"accuracy": s["accuracy"], "f1": s["f1"], "weighted_f1": s["weighted"]["f1"]}

    return compute


def cls_trainer_class(weights: list[float] | None):
    from transformers import Trainer

    class ClsTrainer(Trainer):
        """Trainer whose loss weighs each class (cls.class_weights: balanced)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if weights is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            import torch

            labels = inputs.pop("labels")
            outputs = model(**inputs)
            w = torch.tensor(weights, dtype=outputs.logits.dtype, device=outputs.logits.device)
            loss = torch.nn.functional.cross_entropy(outputs.logits.float(), labels, weight=w.float())
            return (loss, outputs) if return_outputs else loss

    return ClsTrainer


def cls_event_callback(*args, **kwargs):
    """engine.callback's event callback, with the eval event carrying ``accuracy`` (0..1) beside ``f1``."""
    from ..callback import EventCallback

    class ClsEventCallback(EventCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            acc = (logs or {}).get("eval_accuracy")
            if acc is None:
                return super().on_log(args, state, control, logs=logs, **kw)
            emit = self.emit
            self.emit = lambda e: emit(replace(e, accuracy=float(acc)) if isinstance(e, EvalLogged) else e)
            try:
                return super().on_log(args, state, control, logs=logs, **kw)
            finally:
                self.emit = emit

    return ClsEventCallback(*args, **kwargs)


def stage_base(cfg, emit) -> str | None:
    """model.from_run: the run's base becomes model.name (said), and its saved tokenizer is the one to use."""
    from .. import rundir
    from ..config import load_config
    from .stages import source_run

    src = source_run(cfg)
    if src is None:
        return None
    base = load_config(src / rundir.CONFIG_FILE).model.name
    if base != cfg.model.name:
        emit(MessageLogged(f"model.from_run: {src.name} was trained on {base}; model.name is {base} for this stage"))
        cfg.model.name = base
    return str(src / "model") if (src / "model" / "tokenizer_config.json").exists() else str(src / rundir.ADAPTER_DIR)


def prepare(cfg, emit) -> tuple:
    """Device, tokenizer and features: every config and data check, before the run folder is touched."""
    from ..model import pick_device
    from .cls_data import load_splits
    from .cls_model import load_cls_tokenizer, method

    method(cfg)  # full fine-tuning of quantized weights is an error naming cls.method
    device, dtype = pick_device(cfg.model)
    tok_source = stage_base(cfg, emit)
    splits = load_splits(cfg)  # data errors surface before anything is loaded
    emit(MessageLogged(f"Loading tokenizer for {cfg.model.name}"))
    tokenizer = load_cls_tokenizer(cfg.model, lambda text: emit(MessageLogged(text)), source=tok_source)
    return device, dtype, tokenizer, prepare_cls_data(cfg, tokenizer, emit, splits)


def fit(cfg, rd: Path, resume_ckpt, emit, stop, save_now=None, prep=None):
    """Train a sequence classifier; returns engine.tasks.FitResult."""
    from transformers import DataCollatorWithPadding, set_seed

    from .. import rundir
    from ..dequant import prepare_for_training
    from ..events import RunStarted
    from ..model import count_parameters
    from ..model import device_name as _device_name
    from ..trainer import quiet_trainer, training_arguments
    from . import FitResult as _FitResult
    from .cls_model import LABELS_FILE, add_cls_lora, load_cls_model, method
    from .qa_model import MODEL_DIR

    def say(text: str) -> None:
        emit(MessageLogged(text))

    device, dtype, tokenizer, data = prep if prep is not None else prepare(cfg, emit)
    labels = data.info.labels
    rundir.atomic_write_text(rd / LABELS_FILE, json.dumps(labels.to_dict(), ensure_ascii=False) + "\n")
    how = method(cfg)
    say(f"Loading {cfg.model.name} as a {len(labels.names)}-label classifier ({how}) on {device}")
    from .stages import start_folder

    model = load_cls_model(cfg.model, labels, tokenizer, say, source=start_folder(cfg, rd, say), seed=cfg.training.seed)
    frozen = None
    if how == "lora":
        if cfg.model.quantization == "4bit":
            frozen = prepare_for_training(model, cfg, device, dtype, say)
        model = add_cls_lora(model, cfg.model, cfg.lora)
    elif cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    set_seed(cfg.training.seed)
    trainable, total = count_parameters(model)
    checkpoints_dir = rd / rundir.CHECKPOINTS_DIR
    weights = class_weights(cfg, data)
    if weights:
        say("Class weights: " + ", ".join(f"{n} {w:.2f}" for n, w in zip(labels.names, weights, strict=True)))

    def start_event(state) -> RunStarted:
        return RunStarted(
            run_dir=str(rd), config=cfg.to_dict(), device=_device_name(device), trainable_params=trainable,
            total_params=total, train_samples=len(data.train), val_samples=len(data.val) if data.val is not None else 0,
            max_steps=state.max_steps, epochs=cfg.training.epochs, batching="padded", truncated_samples=data.truncated,
            dropped_samples=0, resumed_from_step=state.global_step,
            frozen_weights=frozen.describe() if frozen is not None else "",
        )

    callback = cls_event_callback(emit, stop, start_event, checkpoints_dir, device, save_now, total_params=total)
    args = training_arguments(cfg, checkpoints_dir, device, dtype, data.val is not None)
    args.train_sampling_strategy = "group_by_length"  # padding wastes least when a batch's lengths are alike
    args.label_names = ["labels"]
    trainer = cls_trainer_class(weights)(
        model=model, args=args, train_dataset=data.train, eval_dataset=data.val,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_function(cfg, labels) if data.val is not None else None, callbacks=[callback])
    quiet_trainer(trainer)
    if resume_ckpt is not None:
        say(f"Resuming from {resume_ckpt.name}")
    trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
    out = rd / (rundir.ADAPTER_DIR if how == "lora" else MODEL_DIR)
    if not callback.stopped and callback.nan_step is None:
        say(f"Saving {'adapter' if how == 'lora' else 'model'}")
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return _FitResult(trainer.state.global_step, callback.stopped, callback.nan_step, callback.last_loss,
                      output_path=str(out))
