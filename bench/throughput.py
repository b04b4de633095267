"""TuneDeck's engine against the plain recipe, in one process, on the same model, data and steps.

The plain recipe is what most fine-tuning scripts do: transformers Trainer +
peft + bitsandbytes, random batches padded to the longest sample. TuneDeck's
engine packs each micro-batch into one row with per-sample position ids
(padding-free), so no compute goes to padding.

    python bench/throughput.py --quick          # tiny model, < 1 minute on a 2-core CPU
    python bench/throughput.py                  # the demo model (SmolLM2-135M), 4-bit QLoRA
    python bench/throughput.py --quant none     # the demo model, 16/32-bit LoRA

Both arms tokenise the same rows with the same template (engine.train.prepare_data),
use the same seed (same sample order, same LoRA init) and the same number of
optimizer steps. Real tokens/s counts only non-padding tokens. Each arm runs
``--repeats`` times, alternating, and the best run counts (these machines are noisy).
The last line printed is the headline ratio.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def alpaca_like_data() -> Path:
    shared = ROOT.parent / "shared" / "datasets" / "alpaca_en_demo.json"
    return shared if shared.exists() else ROOT / "sample_data" / "tunedeck_alpaca.json"


class PeakMemory:
    """Peak GPU memory (CUDA) or peak process RSS growth (CPU), sampled in a thread."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        import psutil
        import torch

        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            return self
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.done = threading.Event()

        def sample():
            while not self.done.wait(0.05):
                self.peak = max(self.peak, self.proc.memory_info().rss)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        import torch

        if self.device == "cuda":
            self.mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.done.set()
            self.thread.join()
            self.mb = (max(self.peak, self.proc.memory_info().rss) - self.base) / 2**20
        return False


def run_arm(cfg, data, batching: str, steps: int, device: str) -> dict:
    """Train ``steps`` optimizer steps; returns real tokens/s, peak memory, final loss."""
    import torch
    import transformers
    from transformers import Trainer, TrainerCallback, set_seed

    transformers.logging.set_verbosity_error()
    from engine.model import add_lora, load_base_model, load_tokenizer
    from engine.train import Collator, training_arguments

    tokenizer = load_tokenizer(cfg.model)
    set_seed(cfg.training.seed)
    model = add_lora(load_base_model(cfg.model), cfg.model, cfg.lora)
    real_tokens = {"n": 0}
    collator = Collator(tokenizer, batching, row_tokens=cfg.data.max_length)

    def counting_collator(features):
        batch = collator(features)
        real_tokens["n"] += sum(len(f["input_ids"]) for f in features)
        return batch

    losses: list[float] = []
    times: list[float] = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    cfg.training.max_steps = steps
    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(cfg, Path(out), device, "float32" if device == "cpu" else "bfloat16", False)
        args.save_strategy = "no"
        trainer = Trainer(model=model, args=args, train_dataset=data.train, data_collator=counting_collator,
                          callbacks=[Record()])
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)
        with PeakMemory(device) as mem:
            start = time.perf_counter()
            trainer.train()
            total = time.perf_counter() - start
    # Skip the first step (warm-up: allocator, kernels, first dequantization) for the rate.
    per_step = (times[-1] - times[0]) / max(1, len(times) - 1)
    tokens_per_step = real_tokens["n"] / max(1, steps)
    del trainer, model
    gc.collect()
    return {
        "tokens_per_s": tokens_per_step / per_step if per_step > 0 else float("nan"),
        "seconds": total,
        "peak_mb": mem.mb,
        "final_loss": sum(losses[-3:]) / len(losses[-3:]) if losses else float("nan"),
        "real_tokens": real_tokens["n"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny model built from a config, a few steps")
    p.add_argument("--model", default=None, help="model.name (default: the demo model, or the tiny one with --quick)")
    p.add_argument("--quant", default=None, choices=["4bit", "8bit", "none"])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--rows", type=int, default=None, help="rows of the data to tokenise")
    args = p.parse_args(argv)

    import torch

    from engine.config import load_config
    from engine.model import load_tokenizer, pick_device
    from engine.tiny import build_tiny_model
    from engine.train import prepare_data

    tmp = tempfile.mkdtemp(prefix="tunedeck-bench-")
    if args.quick:
        model = args.model or str(build_tiny_model(Path(tmp) / "tiny", layers=4, hidden=256))
        defaults = dict(quant="none", steps=12, batch=8, length=512, repeats=2, rows=400)
    else:
        model = args.model or "smollm2-135m-instruct"
        defaults = dict(quant="4bit", steps=8, batch=4, length=256, repeats=2, rows=400)
    quant = args.quant or defaults["quant"]
    steps = args.steps or defaults["steps"]
    cfg = load_config(None, {
        "model.name": model, "model.quantization": quant, "data.path": str(alpaca_like_data()),
        "data.template": "alpaca", "data.max_length": args.max_length or defaults["length"],
        "data.limit": args.rows or defaults["rows"], "training.batch_size": args.batch_size or defaults["batch"],
        "training.learning_rate": 1e-4, "training.warmup_ratio": 0.0, "lora.r": 16,
        "output.runs_dir": tmp,
    })
    device, _ = pick_device(cfg.model)
    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = load_tokenizer(cfg.model)
    data = prepare_data(cfg, tokenizer)
    lengths = [len(x) for x in data.train["input_ids"]]
    print(f"model {model} ({quant}) on {device}, {os.cpu_count()} CPU threads, torch {torch.__version__}")
    print(f"data {cfg.data.path}: {len(lengths)} samples, mean {sum(lengths) / len(lengths):.0f} tokens, "
          f"max {max(lengths)}; batch {cfg.training.batch_size}, {steps} steps, best of {args.repeats or defaults['repeats']}")

    results: dict[str, list[dict]] = {"plain recipe (padded)": [], "TuneDeck (padding-free)": []}
    for _ in range(args.repeats or defaults["repeats"]):
        for name, batching in (("plain recipe (padded)", "padded"), ("TuneDeck (padding-free)", "padding_free")):
            results[name].append(run_arm(cfg, data, batching, steps, device))

    print(f"\n{'arm':<26} {'real tok/s':>11} {'peak MB':>9} {'final loss':>11} {'seconds':>8}")
    best = {}
    for name, runs in results.items():
        b = max(runs, key=lambda r: r["tokens_per_s"])
        best[name] = b
        print(f"{name:<26} {b['tokens_per_s']:>11.1f} {b['peak_mb']:>9.0f} {b['final_loss']:>11.4f} {b['seconds']:>8.1f}")
    plain, ours = best["plain recipe (padded)"], best["TuneDeck (padding-free)"]
    assert plain["real_tokens"] == ours["real_tokens"], "both arms must see the same samples"
    print(f"loss difference {abs(plain['final_loss'] - ours['final_loss']):.4f} (same samples, same order)")
    print(f"TuneDeck / plain recipe real tokens/s: {ours['tokens_per_s'] / plain['tokens_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
