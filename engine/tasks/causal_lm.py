"""The causal-LM task: a decoder learns to continue a prompt with its completion (prompt tokens masked).

Its pieces live in the engine's own modules: templates and tokenisation (:mod:`engine.templates`,
:mod:`engine.tokenize`), data preparation (:mod:`engine.prepare`), batching and the completion-only
loss (:mod:`engine.trainer`), evaluation (:mod:`engine.evaluate`) and generation (:mod:`engine.infer`).
:meth:`CausalLM.fit` is its training recipe: load the base, add LoRA, fit with the Trainer, save the adapter.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from ..events import MessageLogged, RunStarted
from . import FitResult, Task


def perplexity(loss: float | None) -> float | None:
    if loss is None or not math.isfinite(loss):
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return None


def token_loss(logits, labels) -> tuple[float, int]:
    """(sum of token losses, number of trained tokens) of one sample's logits (sequence, vocabulary)."""
    import torch
    import torch.nn.functional as F

    labels = torch.as_tensor(labels, device=logits.device)
    shift_logits = logits[:-1, :].float()
    shift_labels = labels[1:]
    n = int((shift_labels != -100).sum().item())
    if n == 0:
        return 0.0, 0
    total = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum").item()
    return float(total), n


class CausalLM(Task):
    name = "causal_lm"
    model_class = "AutoModelForCausalLM"
    generates = True

    def load_examples(self, cfg):
        from ..data import load_dataset

        return load_dataset(cfg.data)

    def features(self, rows, tokenizer, cfg, info=None):
        """Rows -> ({"input_ids", "labels"} columns, PrepStats); rows with nothing to train are dropped."""
        from ..prepare import encode_rows

        return encode_rows(rows, info if info is not None else self._info(rows, cfg), cfg, tokenizer, cfg.data.path)

    def samples(self, rows, info, cfg, tokenizer, source: str, numbers=None):
        """(row index, TokenizedSample) for each row: the rendered text, ids, labels and what was cut."""
        from ..prepare import iter_samples

        return iter_samples(rows, info, cfg, tokenizer, source, numbers)

    def prepare_data(self, cfg, tokenizer, emit=lambda e: None):
        """Tokenised train and validation datasets (engine.prepare.PreparedData)."""
        from ..prepare import prepare_data

        return prepare_data(cfg, tokenizer, emit)

    def collator(self, tokenizer, mode: str = "padding_free", row_tokens: int | None = None):
        from ..trainer import Collator

        return Collator(tokenizer, mode, row_tokens=row_tokens)

    def preview(self, row, tokenizer, cfg, info=None):
        """The Template screen's sample: the rendered prompt and completion, tokens and their labels."""
        from ..tokenize import encode_row

        return encode_row(row, info if info is not None else self._info([row], cfg), cfg.data, tokenizer)

    def predictions(self, rows, features, logits, cfg):
        """One (summed token loss, trained tokens) pair per sample: ``logits`` of ``features``' input_ids."""
        return [token_loss(lg, lab) for lg, lab in zip(logits, features["labels"], strict=False)]

    def metrics(self, predictions, rows):
        """Token-weighted loss and perplexity over the samples' (summed loss, tokens) pairs."""
        total, tokens = sum(s for s, _ in predictions), sum(k for _, k in predictions)
        loss = total / tokens if tokens else None
        return {"loss": loss, "perplexity": perplexity(loss)}

    def prepare(self, cfg, emit):
        """Device, tokenizer and tokenised data: every config and data check, before the run folder is touched."""
        from ..distributed import world
        from ..gpu_paths import check_kernels
        from ..model import load_tokenizer, pick_device
        from ..sanity import config_warnings
        from ..strategy import check
        from .stages import causal_base

        device, dtype = pick_device(cfg.model)
        check(cfg, world().world_size)
        causal_base(cfg, lambda text: emit(MessageLogged(text)))  # model.from_run: checked, its base is model.name
        check_kernels(cfg.training.kernels, device)  # training.kernels: liger refused here, before the run folder
        emit(MessageLogged(f"Loading tokenizer for {cfg.model.name}"))
        tokenizer = load_tokenizer(cfg.model, lambda text: emit(MessageLogged(text)))
        data = self.prepare_data(cfg, tokenizer, emit)  # data errors surface before the model is loaded
        for warning in config_warnings(cfg, tokenizer):
            emit(MessageLogged(warning, level="warning"))
        return device, dtype, tokenizer, data

    def fit(self, cfg, run_dir, resume_ckpt, emit, stop, save_now=None, prep=None) -> FitResult:
        return fit(self, cfg, run_dir, resume_ckpt, emit, stop, save_now, prep)

    @staticmethod
    def _info(rows, cfg):
        from ..data import dataset_info

        return dataset_info(rows, cfg.data.path, cfg.data)


def _batching(cfg, model, say) -> str:
    """The configured batching, or padded batches grouped by length where attention cannot pack samples."""
    from .. import trainer

    if cfg.training.batching == "padding_free" and not trainer.supports_padding_free(model):
        say(f"Attention implementation {model.config._attn_implementation} cannot pack samples; "
            "using padded batches of similar lengths")
        return "padded_grouped"
    return cfg.training.batching


def fit(task: CausalLM, cfg, rd: Path, resume_ckpt, emit, stop, save_now=None, prep=None) -> FitResult:
    """The causal-LM recipe: seed, base model, LoRA, the Trainer with the event callback, train, save the adapter."""
    from transformers import set_seed

    from .. import distributed, gpu_paths, rundir
    from ..callback import EventCallback
    from ..dequant_load import load_for_training
    from ..model import add_lora, count_parameters, device_name, quantization_words
    from ..strategy import cpu_note, strategy_arguments
    from ..trainer import quiet_trainer, trainer_class, training_arguments
    from .stages import start_folder

    def say(text: str) -> None:
        emit(MessageLogged(text))

    device, dtype, tokenizer, data = prep if prep is not None else task.prepare(cfg, emit)
    set_seed(cfg.training.seed)
    ranks = distributed.world()
    # Training in stages: the previous run's adapter merged into its base, by rank 0 alone; every rank loads it.
    start = distributed.share_from_main(start_folder(cfg, rd, say) if ranks.is_main else None)
    what = f"{start} (the start point)" if start else cfg.model.name
    say(f"Loading {what} ({quantization_words(cfg.model.quantization)}, compute {dtype}) on {device}")
    if cpu_note(cfg, device, ranks.world_size):
        emit(MessageLogged(cpu_note(cfg, device, ranks.world_size), level="warning"))
    # engine.dequant_load: CPU 4-bit dequantized once? Then in one pass (NF4 values as the weights load).
    model, frozen = load_for_training(cfg, dataclasses.replace(cfg.model, name=start) if start else cfg.model,
                                      device, dtype, say, fsdp=ranks.distributed and cfg.training.distributed == "fsdp")
    model = add_lora(model, cfg.model, cfg.lora)
    if cfg.lora.dropout > 0:  # engine.lora_dropout: one mask per input (q/k/v share one, gate/up another)
        from ..lora_dropout import share_lora_dropout

        share_lora_dropout(model)
    if device == "cpu":  # engine.lora_fused: each LoRA layer over a plain frozen Linear in one autograd step
        from ..lora_fused import fuse_lora_linear

        if n := fuse_lora_linear(model):
            from ..onednn import available as on_onednn

            kernel = "; frozen matmuls on oneDNN" if on_onednn() else ""
            say(f"LoRA: {n} layers fused (frozen matmul, update and backward in one step each{kernel})")
        from ..head_loss import plain_head  # engine.head_loss: used in completion_only_loss where it applies

        if not ranks.distributed and plain_head(model) is not None:
            say("Loss: vocabulary projection and cross-entropy a chunk at a time (no vocabulary-sized tensor kept)")
    trainable, total = count_parameters(model)
    batching = _batching(cfg, model, say)
    checkpoints_dir = rd / rundir.CHECKPOINTS_DIR

    def start_event(state) -> RunStarted:
        devices = distributed.gather(distributed.device_label(device, device_name(device)))  # every rank takes part
        return RunStarted(
            run_dir=str(rd), config=cfg.to_dict(), device=device_name(device), trainable_params=trainable,
            total_params=total, train_samples=len(data.train), val_samples=len(data.val) if data.val is not None else 0,
            max_steps=state.max_steps, epochs=cfg.training.epochs, batching=batching,
            truncated_samples=data.stats.truncated, dropped_samples=data.stats.dropped_no_trained,
            resumed_from_step=state.global_step, frozen_weights=frozen.describe(),
            world_size=ranks.world_size, devices=devices,
        )

    callback = EventCallback(emit, stop, start_event, checkpoints_dir, device, save_now, total_params=total)
    args = training_arguments(cfg, checkpoints_dir, device, dtype, data.val is not None,
                              **strategy_arguments(cfg, device, ranks.world_size, rd, ranks.is_main))
    args.use_liger_kernel = gpu_paths.use_liger(cfg.training.kernels, device)  # the Trainer patches the model
    from ..segment_attention import packed_rows  # one uncapped row per micro-batch where attention allows

    row_tokens, rows_words = packed_rows(model, device, batching, cfg.data.max_length)
    if rows_words:
        say(rows_words)
    if batching == "padded_grouped":  # the fallback: padding wastes least when a batch's lengths are alike
        args.train_sampling_strategy = "group_by_length"
        batching = "padded"
    bins = (cfg.training.max_tokens_per_batch or cfg.training.batch_size * cfg.data.max_length) \
        if cfg.data.packing == "bins" else 0  # engine.bins: the epoch packed into full micro-batches
    trainer = trainer_class(cfg.training.max_tokens_per_batch, bins_budget=bins)(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.val,
        data_collator=task.collator(tokenizer, batching, row_tokens=row_tokens),
        callbacks=[callback],
    )
    quiet_trainer(trainer)
    if resume_ckpt is not None:
        say(f"Resuming from {resume_ckpt.name}")
    trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
    if not callback.stopped and callback.nan_step is None:
        from ..adapter_save import save_final_adapter  # the final checkpoint's adapter copied, not saved again

        say("Saving adapter")
        if ranks.distributed:  # every rank takes part (FSDP gathers the shards); rank 0 writes
            trainer.save_model(str(rd / rundir.ADAPTER_DIR))
            if ranks.is_main:
                tokenizer.save_pretrained(rd / rundir.ADAPTER_DIR)
        else:
            save_final_adapter(model, tokenizer, rd, trainer.state.global_step)
    return FitResult(trainer.state.global_step, callback.stopped, callback.nan_step, callback.last_loss)
