"""Batching and the loss for causal-LM training: the collator (packed or padded), the token-budget batch
sampler, the completion-only loss, transformers' Trainer subclass and its TrainingArguments.

transformers and torch are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path

from .batch_order import SeededBatches
from .config import Config


class Collator:
    """Padding-free packed rows with per-sample position ids, or padded batches.

    Padding-free puts the samples of a micro-batch end to end into as few rows
    of at most ``row_tokens`` tokens as fit (first-fit decreasing), restarting
    ``position_ids`` at each sample, so attention never crosses samples and
    almost no compute goes to padding. ``row_tokens`` None puts the whole
    micro-batch in one row, for attention that runs each sample on its own
    (FlashAttention's varlen kernel on CUDA, engine.segment_attention on CPU;
    engine.segment_attention.packed_rows decides). Otherwise rows are capped at
    ``row_tokens`` (the data's max_length), which keeps block-masked attention's
    cost bounded, and a row's unused tail is filled with a block of its own
    (positions from 0, labels ignored), so it touches no real token. The loss
    equals the padded batch's (tested).
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


class TokenBudgetBatchSampler(SeededBatches):
    """Micro-batches filled up to a token budget instead of a fixed sample count.

    Batches are formed once from a seeded shuffle (so their number is fixed, as
    the Trainer's step count needs); each epoch visits them in a new seeded order
    (``set_epoch``, which the Trainer calls), so a resumed run sees the same order.
    """

    def __init__(self, lengths: list[int], budget: int, seed: int):
        import random

        order = list(range(len(lengths)))
        random.Random(seed).shuffle(order)
        batches: list[list[int]] = []
        current: list[int] = []
        used = 0
        for i in order:
            n = lengths[i]
            if current and used + n > budget:
                batches.append(current)
                current, used = [], 0
            current.append(i)
            used += n
        if current:
            batches.append(current)
        super().__init__(batches, seed)


def trained_positions(labels):
    """Where a logit is needed: position t predicts labels[t + 1], so those with a label to learn (not -100)."""
    import torch

    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    return keep


def packed_tokens(position_ids, labels) -> int:
    """Real tokens in padding-free packed rows: every position but each row's trailing filler.

    A packed row ends with filler when its samples do not fill it: the filler's positions restart at 0 and
    none of its labels is trained. A real sample always has a trained label (samples without one are
    dropped before training), so a last segment with no trained label is filler."""
    import torch

    width = position_ids.shape[1]
    starts = position_ids == 0
    last = width - 1 - torch.argmax(starts.flip(1).int(), dim=1)  # where each row's last segment begins
    tail = torch.arange(width, device=position_ids.device)[None, :] >= last[:, None]
    trained = ((labels != -100) & tail).any(dim=1)
    filler = torch.where(trained, torch.zeros_like(last), width - last)
    return int(position_ids.numel() - filler.sum())


def completion_only_loss(model, inputs: dict, num_items_in_batch=None):
    """The causal-LM loss, with the vocabulary projection computed only where a token is trained.

    The model's own loss projects every position onto the vocabulary (49,152 columns for SmolLM2) and takes a
    log-softmax over all of them, then throws away the prompt's and the padding's: with prompts masked that is
    about half of a batch's logits. Here the model returns logits only at the positions whose next label counts
    (``logits_to_keep`` as a boolean mask, transformers >= 5) and the cross-entropy is taken over those, summed
    and divided as the model's own loss is (by ``num_items_in_batch`` under gradient accumulation, else by the
    count), so the value and gradients are the same (tested)."""
    import torch.nn.functional as F

    from . import head_loss

    labels = inputs["labels"]
    keep = trained_positions(labels)
    rest = {k: v for k, v in inputs.items() if k != "labels"}
    targets = labels[:, 1:][keep[:, :-1]]
    plain = head_loss.plain_head(model) if model.training else None
    if plain is not None:  # CPU: projection and cross-entropy a chunk at a time, no vocabulary-sized tensor kept
        decoder, head = plain
        hidden = decoder(**rest, use_cache=False).last_hidden_state[keep]  # (trained tokens, hidden)
        loss = head_loss.head_loss(hidden, head, targets.to(hidden.device))
    else:
        logits = model(**rest, logits_to_keep=keep, use_cache=False).logits  # (trained tokens, vocab)
        loss = F.cross_entropy(logits.float(), targets.to(logits.device), reduction="sum")
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


def trainer_class(token_budget: int, completion_only_logits: bool = True, bins_budget: int = 0):
    """transformers' Trainer, taking batches from a token budget when one is set (or the whole epoch packed
    into bins of ``bins_budget`` tokens, engine.bins), and (where the model takes a logits mask) computing the
    training loss from the trained positions' logits only."""
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
            count = num_items_in_batch if self.model_accepts_loss_kwargs else None
            loss = completion_only_loss(model, inputs, count)
            if count is not None and self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                loss = loss * self.accelerator.num_processes  # divided by the global count; DDP averages the ranks
            return loss

        def _track_num_input_tokens(self, inputs):
            # Padding-free rows carry no attention mask, so Trainer would count their trailing filler too.
            if (self.args.include_num_input_tokens_seen == "no" or "attention_mask" in inputs
                    or "position_ids" not in inputs or "labels" not in inputs):
                return super()._track_num_input_tokens(inputs)
            import torch

            n = torch.as_tensor(packed_tokens(inputs["position_ids"], inputs["labels"]), device=self.args.device,
                                dtype=torch.int64)
            self.state.num_input_tokens_seen += self.accelerator.gather(n).sum().item()

        def create_scheduler(self, num_training_steps, optimizer=None):
            from .schedule import warm_up_above_zero  # no optimizer step at learning rate 0

            scheduler = super().create_scheduler(num_training_steps, optimizer)
            return warm_up_above_zero(scheduler, self.args.get_warmup_steps(num_training_steps))

        def get_train_dataloader(self):
            if token_budget <= 0 and bins_budget <= 0:
                return super().get_train_dataloader()
            lengths = [len(x) for x in self.train_dataset["input_ids"]]
            if bins_budget > 0:
                from .bins import BinBatchSampler

                sampler = BinBatchSampler(lengths, bins_budget, self.args.seed)
            else:
                sampler = TokenBudgetBatchSampler(lengths, token_budget, self.args.seed)
            loader = DataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=self.data_collator,
                                num_workers=0, pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

    return TuneDeckTrainer


def supports_padding_free(model) -> bool:
    """Packed rows need attention that separates samples by position_ids (sdpa/eager/flash on decoder models)."""
    from .segment_attention import NAME as PER_SAMPLE

    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return impl in ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention", PER_SAMPLE)


def training_arguments(cfg: Config, output_dir: Path, device: str, dtype: str, has_eval: bool, **extra):
    from transformers import TrainingArguments

    from .trackers import report_to

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
        report_to=report_to(cfg),  # engine.trackers; the run's name in a tracker is its folder's
        run_name=output_dir.parent.name,
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
        **extra,  # the distributed strategy's (engine.strategy)
    )


def quiet_trainer(trainer) -> None:
    """Remove the Trainer's printing callbacks: stdout belongs to the UI; trackers' files go in the run folder."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from .trackers import place_logs

    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    place_logs(trainer, Path(trainer.args.output_dir).parent)  # output_dir is the run's checkpoints/
