"""The plain recipe as a user would write it: transformers Trainer + peft + bitsandbytes, nothing of TuneDeck.

Alpaca rows formatted with the Alpaca template (the text TuneDeck's ``alpaca`` template renders), prompt
tokens masked, truncated to ``--max-length``, random batches padded to their longest sample
(``DataCollatorForSeq2Seq``), 4-bit NF4 with double quantisation, ``prepare_model_for_kbit_training``,
LoRA on every linear layer, one epoch, then ``save_pretrained`` of the adapter. Used by
``bench/throughput.py --whole-process`` as a process of its own; the last stdout line is a JSON summary::

    python bench/plain_recipe.py --model DIR --data alpaca.json --rows 64 --out /tmp/plain
"""

from __future__ import annotations

import argparse
import json
import os
import time

T0 = time.time()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
PREAMBLE_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                  "Write a response that appropriately completes the request.")


def prompt_of(row: dict) -> str:
    text = (PREAMBLE_INPUT if row.get("input") else PREAMBLE) + "\n\n### Instruction:\n" + row["instruction"]
    if row.get("input"):
        text += "\n\n### Input:\n" + row["input"]
    return text + "\n\n### Response:\n"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--quant", default="4bit", choices=["4bit", "none"])
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BitsAndBytesConfig,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(args.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    with open(args.data, encoding="utf-8") as f:
        rows = json.load(f)[: args.rows]
    features = []
    for row in rows:
        prompt = tok(prompt_of(row), add_special_tokens=False)["input_ids"]
        answer = tok(row["output"] + tok.eos_token, add_special_tokens=False)["input_ids"]
        ids = (prompt + answer)[: args.max_length]
        labels = ([-100] * len(prompt) + answer)[: args.max_length]
        if any(x != -100 for x in labels[1:]):
            features.append({"input_ids": ids, "labels": labels})
    real_tokens = sum(len(x["input_ids"]) for x in features)

    kwargs = {"dtype": torch.float32, "device_map": {"": "cpu"}}
    if args.quant == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    if args.quant == "4bit":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    losses: list[float] = []
    marks: dict[str, float] = {}

    class Record(TrainerCallback):
        def on_train_begin(self, *a, **k):
            marks["train_begin"] = time.time()

        def on_log(self, args_, state, control, logs=None, **k):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

        def on_train_end(self, *a, **k):
            marks["train_end"] = time.time()

    targs = TrainingArguments(output_dir=args.out, per_device_train_batch_size=args.batch_size, num_train_epochs=1,
                              learning_rate=args.lr, logging_steps=1, save_strategy="no", report_to="none",
                              use_cpu=True, disable_tqdm=True, seed=42, warmup_steps=0)
    trainer = Trainer(model=model, args=targs, train_dataset=features, callbacks=[Record()],
                      data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100,
                                                           return_tensors="pt"))
    trainer.train()
    model.save_pretrained(os.path.join(args.out, "adapter"))
    end = time.time()
    print(json.dumps({"real_tokens": real_tokens, "samples": len(features), "steps": trainer.state.global_step,
                      "final_loss": sum(losses[-3:]) / len(losses[-3:]) if losses else None,
                      "startup_s": marks["train_begin"] - T0, "train_s": marks["train_end"] - marks["train_begin"],
                      "after_train_s": end - marks["train_end"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
