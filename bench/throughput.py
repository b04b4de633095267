"""TuneDeck's engine against the plain recipe, in one process, on the same model, data and steps.

The plain recipe is what most fine-tuning scripts do: transformers Trainer +
peft + bitsandbytes, random batches padded to the longest sample. TuneDeck's
engine packs each micro-batch into rows of at most max_length tokens with
per-sample position ids (padding-free), so no compute goes to padding, and its
Trainer projects onto the vocabulary only the positions that carry loss (the
prompt's and padding's logits are never computed).

    python bench/throughput.py --quick          # tiny model, under a minute on a 2-core CPU
    python bench/throughput.py                  # the demo model (SmolLM2-135M), 4-bit QLoRA
    python bench/throughput.py --quant none     # the demo model, 16/32-bit LoRA
    python bench/throughput.py --whole-process  # whole processes: bench/plain_recipe.py against `tunedeck train`

Arms (:func:`arms_for`), one change at a time: the plain recipe; TuneDeck on bitsandbytes' 4-bit path; TuneDeck
with the frozen weights dequantized once (``model.dequantize_frozen: on``, CPU); with one LoRA dropout mask per
input (engine.lora_dropout); and what ``tunedeck train`` runs, each micro-batch in one uncapped row with
attention per sample (engine.segment_attention) and each LoRA layer in one autograd step (engine.lora_fused,
its frozen matmuls on oneDNN where engine.onednn has it).
On CPU every engine-Trainer arm takes its loss through engine.head_loss (the vocabulary projection and the
cross-entropy a chunk at a time, in a kept buffer). Each arm's line says which path it ran. ``--arms 0,-1``
runs only the plain recipe and what `tunedeck train` runs, for a quick comparison.

Both arms tokenise the same rows with the same template (engine.prepare.prepare_data),
use the same seed (same sample order, same LoRA init) and the same number of
optimizer steps. Real tokens/s counts only non-padding tokens. Each arm runs
``--repeats`` times, alternating, and the best run counts (these machines are noisy).
Each arm lives in a child process of its own (``--child``), which the parent
asks for one run at a time, alternating arms, so peak memory is each arm's own:
see :class:`PeakMemory`. On CUDA it also reports MFU with the
engine's formula. The last line printed is the headline ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
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
    """Peak memory of one arm, measured in the arm's own fresh process.

    CUDA: ``torch.cuda.max_memory_allocated`` (what the tensors of this process ever held at once).
    CPU: the process's peak resident set size (``getrusage`` ``ru_maxrss``, the kernel's high-water mark,
    so no short peak is missed), plus how far RSS rose above its level just before training (sampled
    every 10 ms). Both arms run in separate, identical child processes (same imports, same data, same
    model load), so neither inherits the other's allocator growth: glibc keeps freed memory, and in
    one shared process the arm that ran first paid for both.
    """

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
            while not self.done.wait(0.01):
                self.peak = max(self.peak, self.proc.memory_info().rss)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        import resource

        import torch

        if self.device == "cuda":
            self.mb = torch.cuda.max_memory_allocated() / 2**20
            self.growth_mb = None
        else:
            self.done.set()
            self.thread.join()
            self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
            self.growth_mb = (max(self.peak, self.proc.memory_info().rss) - self.base) / 2**20
        return False


def run_arm(cfg, data, arm: dict, steps: int, device: str) -> dict:
    """Train ``steps`` optimizer steps; returns real tokens/s, peak memory, final loss, parameters, the path run.

    ``arm``: ``batching`` (padded: transformers' Trainer as it comes; padding_free: the engine's Trainer),
    ``dequantize`` (model.dequantize_frozen for a 4-bit base: on/off, engine.dequant) and ``shared_dropout``
    (one LoRA dropout mask per input, engine.lora_dropout)."""
    import torch
    import transformers
    from transformers import Trainer, TrainerCallback, set_seed

    transformers.logging.set_verbosity_error()
    from engine.model import add_lora, count_parameters, load_base_model, load_tokenizer, pick_device
    from engine.trainer import Collator, trainer_class, training_arguments

    _, dtype = pick_device(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    set_seed(cfg.training.seed)
    from engine.dequant import prepare_for_training
    from engine.lora_dropout import share_lora_dropout
    from engine.onednn import available as onednn_on

    batching = arm["batching"]
    cfg.model.dequantize_frozen = arm.get("dequantize", "off")
    model = load_base_model(cfg.model)
    frozen = prepare_for_training(model, cfg, device, dtype)
    model = add_lora(model, cfg.model, cfg.lora)
    shared = share_lora_dropout(model) if arm.get("shared_dropout") else 0
    fused = 0
    if arm.get("fused"):  # engine.lora_fused: each LoRA layer in one autograd step (CPU)
        from engine.lora_fused import fuse_lora_linear

        fused = fuse_lora_linear(model) if device == "cpu" else 0
    if arm.get("segments"):  # what `tunedeck train` decides (engine.segment_attention.packed_rows)
        from engine.segment_attention import packed_rows

        row_tokens, _ = packed_rows(model, device, batching, cfg.data.max_length)
    else:
        row_tokens = cfg.data.max_length
    rows = ("one uncapped row a micro-batch, attention per sample" if row_tokens is None
            else f"rows capped at {row_tokens}, block-masked attention")
    path = (f"{'padded, transformers Trainer' if batching == 'padded' else 'padding-free (' + rows + '), engine Trainer'}; "
            f"{frozen.name}; LoRA dropout {'one mask per input (' + str(shared) + ' layers)' if shared else 'a mask per layer'}"
            f"{'; ' + str(fused) + ' LoRA layers fused' if fused else ''}"
            f"{' (frozen matmuls on oneDNN)' if fused and onednn_on() else ''}")
    from engine.head_loss import plain_head

    if batching != "padded" and plain_head(model) is not None:  # the engine Trainer's loss takes it (CPU)
        path += "; vocabulary head chunked (engine.head_loss)"
    _, total_params = count_parameters(model)
    real_tokens = {"n": 0}
    collator = Collator(tokenizer, batching, row_tokens=row_tokens)

    def counting_collator(features):
        batch = collator(features)
        real_tokens["n"] += sum(len(f["input_ids"]) for f in features)
        return batch

    losses: list[float] = []
    times: list[float] = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    cfg.training.max_steps = steps
    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(cfg, Path(out), device, dtype, False)
        args.save_strategy = "no"
        # The plain recipe: transformers' Trainer as it comes. TuneDeck: the engine's own Trainer (logits and
        # cross-entropy on the trained positions only), exactly what `tunedeck train` uses.
        cls = Trainer if batching == "padded" else trainer_class(0)
        trainer = cls(model=model, args=args, train_dataset=data.train, data_collator=counting_collator,
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
    return {
        "tokens_per_s": tokens_per_step / per_step if per_step > 0 else float("nan"),
        "seconds": total,
        "peak_mb": mem.mb,
        "growth_mb": mem.growth_mb,
        "final_loss": sum(losses[-3:]) / len(losses[-3:]) if losses else float("nan"),
        "real_tokens": real_tokens["n"],
        "total_params": total_params,
        "path": path,
    }


def child() -> int:
    """One arm, in this fresh process, for as many runs as the parent asks.

    The first stdin line is the spec (config overrides, batching, steps); the data are tokenised once.
    Each further line ``run`` trains the arm once (model loaded afresh, same seed) and answers one JSON
    line. Staying alive between runs lets the parent alternate the arms (noise hits both alike) while
    each arm keeps a process, and so a peak memory, of its own; imports are paid once per arm.
    """
    import torch

    from engine.config import load_config
    from engine.model import load_tokenizer, pick_device
    from engine.prepare import prepare_data

    spec = json.loads(sys.stdin.readline())
    torch.set_num_threads(spec.get("threads") or os.cpu_count() or 1)
    cfg = load_config(None, spec["sets"])
    device, _ = pick_device(cfg.model)
    data = prepare_data(cfg, load_tokenizer(cfg.model))
    lengths = [len(x) for x in data.train["input_ids"]]
    print(json.dumps({"ready": True, "samples": len(lengths), "mean": sum(lengths) / len(lengths), "max": max(lengths),
                      "device": device, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        result = run_arm(cfg, data, spec["arm"], spec["steps"], device)
        gc.collect()
        result["device"] = device
        if device == "cuda":
            result["device_name"] = torch.cuda.get_device_name(0)
        print(json.dumps(result), flush=True)
    return 0


class ArmProcess:
    """A child process running one arm (see :func:`child`)."""

    def __init__(self, spec: dict):
        self.name = spec["arm"]["name"]
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child"], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.log.seek(0)
            raise SystemExit(f"arm {self.name} failed (exit {self.proc.returncode}):\n{self.log.read()[-4000:]}")
        return json.loads(line)

    def ready(self) -> dict:
        return self._answer()

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()
        self.log.close()


def mfu_of(result: dict) -> float | None:
    """Model FLOPs utilisation of an arm: engine.throughput's own formula and GPU table (None on CPU)."""
    from engine.throughput import model_flops_utilization, peak_flops

    if result.get("device") != "cuda":
        return None
    return model_flops_utilization(result["total_params"], result["tokens_per_s"], peak_flops(result.get("device_name")))


def arms_for(quant: str, cuda: bool = False) -> list[dict]:
    """The plain recipe first, what `tunedeck train` runs last; the arms between take one change at a time."""
    plain = {"name": "plain recipe (padded)", "batching": "padded"}
    if cuda:  # dequantizing is a CPU path: on CUDA the 4-bit kernels stay
        return [plain, {"name": "TuneDeck", "batching": "padding_free", "shared_dropout": True, "segments": True,
                        "fused": True}]
    if quant == "4bit":
        return [plain, {"name": "TuneDeck 4-bit", "batching": "padding_free"},
                {"name": "TuneDeck dequantized", "batching": "padding_free", "dequantize": "on"},
                {"name": "TuneDeck dequantized, shared dropout", "batching": "padding_free", "dequantize": "on",
                 "shared_dropout": True},
                {"name": "TuneDeck, + per-sample attention", "batching": "padding_free", "dequantize": "on",
                 "shared_dropout": True, "segments": True},
                {"name": "TuneDeck, + fused LoRA layers", "batching": "padding_free", "dequantize": "on",
                 "shared_dropout": True, "segments": True, "fused": True}]
    return [plain, {"name": "TuneDeck (padding-free)", "batching": "padding_free"},
            {"name": "TuneDeck, shared dropout", "batching": "padding_free", "shared_dropout": True},
            {"name": "TuneDeck, + per-sample attention", "batching": "padding_free", "shared_dropout": True,
             "segments": True},
            {"name": "TuneDeck, + fused LoRA layers", "batching": "padding_free", "shared_dropout": True,
             "segments": True, "fused": True}]


def pick_arms(arms: list[dict], chosen: str | None) -> list[dict]:
    """The arms ``--arms`` names ("0,-1": the plain recipe and what `tunedeck train` runs), in their order; the
    plain recipe always first, since every ratio is taken against it."""
    if not chosen:
        return arms
    try:
        numbers = [int(x) for x in chosen.split(",") if x.strip()]
    except ValueError:
        numbers = [len(arms)]
    if any(not -len(arms) <= n < len(arms) for n in numbers):
        raise SystemExit(f"--arms: {chosen!r}: give arm numbers 0 to {len(arms) - 1} (or -1 for the last), comma-separated")
    wanted = {n % len(arms) for n in numbers}
    return [arm for i, arm in enumerate(arms) if i == 0 or i in wanted]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny model built from a config, a few steps")
    p.add_argument("--model", default=None, help="model.name (default: the demo model, or the tiny one with --quick)")
    p.add_argument("--quant", default=None, choices=["4bit", "8bit", "none"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--data", default=None, help="data file (default: ../shared/datasets/alpaca_en_demo.json or the sample set)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--rows", type=int, default=None, help="rows of the data to tokenise")
    p.add_argument("--threads", type=int, default=None, help="torch threads per arm (default: every core)")
    p.add_argument("--arms", default=None,
                   help="comma-separated arm numbers to run, 0 the plain recipe (always run), -1 the last (default: all)")
    p.add_argument("--whole-process", action="store_true",
                   help="whole processes: bench/plain_recipe.py against `tunedeck train`, one epoch of --rows rows")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child()

    from engine.config import load_config
    from engine.tiny import build_tiny_model

    tmp = tempfile.mkdtemp(prefix="tunedeck-bench-")
    if args.quick:
        model = args.model or str(build_tiny_model(Path(tmp) / "tiny", layers=2, hidden=256))
        # max_length 1024: the tiny model's byte-level tokenizer spends ~3x the demo tokenizer's tokens on the same
        # text, and at 512 it would cut 46% of the Alpaca rows to one length, flattening the spread of lengths the
        # benchmark is about; at 1024 a fifth are cut, about as many as 256 cuts with the demo model's tokenizer.
        defaults = dict(quant="none", steps=5, batch=8, length=1024, repeats=2, rows=400)
    else:
        model = args.model or "smollm2-135m-instruct"
        defaults = dict(quant="4bit", steps=8, batch=4, length=256, repeats=2, rows=400)
    quant = args.quant or defaults["quant"]
    steps = args.steps or defaults["steps"]
    repeats = args.repeats or defaults["repeats"]
    sets = {
        "model.name": model, "model.quantization": quant, "model.device": args.device,
        "model.gradient_checkpointing": args.gradient_checkpointing, "data.path": args.data or str(alpaca_like_data()),
        "data.template": "alpaca", "data.max_length": args.max_length or defaults["length"],
        "data.limit": args.rows or defaults["rows"], "training.batch_size": args.batch_size or defaults["batch"],
        "training.learning_rate": 1e-4, "training.warmup_ratio": 0.0, "lora.r": 16,
        "output.runs_dir": tmp,
    }
    cfg = load_config(None, sets)  # a bad value fails here, before any child starts
    if args.whole_process:
        from bench.whole_process import run as whole_process
        from engine.model_files import local_model_dir

        return whole_process(model, local_model_dir(cfg.model), cfg.data.path, args.rows or 64, cfg.data.max_length,
                             cfg.training.batch_size, quant, args.repeats or 2)

    import torch

    arms = pick_arms(arms_for(quant, cuda=args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())),
                     args.arms)
    results: dict[str, list[dict]] = {arm["name"]: [] for arm in arms}
    procs = {arm["name"]: ArmProcess({"sets": sets, "arm": arm, "steps": steps, "threads": args.threads}) for arm in arms}
    try:
        info = [proc.ready() for proc in procs.values()][-1]
        device = info["device"]
        print(f"model {model} ({quant}) on {device}, {args.threads or os.cpu_count()} CPU threads, torch {info['torch']}")
        print(f"data {cfg.data.path}: {info['samples']} samples, mean {info['mean']:.0f} tokens, max {info['max']}; "
              f"batch {cfg.training.batch_size}, {steps} steps, best of {repeats}; each arm in a process of its own")
        print(f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
        for _ in range(repeats):  # alternate: one arm waits idle while the other trains
            for arm in arms:
                results[arm["name"]].append(procs[arm["name"]].run())
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        for proc in procs.values():
            proc.close()

    cuda = device == "cuda"
    mem_head = "peak GPU MB" if cuda else "peak RSS MB"
    print(f"\n{'arm':<34} {'real tok/s':>11} {mem_head:>12} {'train +MB' if not cuda else 'MFU':>10} "
          f"{'final loss':>11} {'seconds':>8}")
    best = {}
    for name, runs in results.items():
        b = max(runs, key=lambda r: r["tokens_per_s"])
        best[name] = b
        peak = max(r["peak_mb"] for r in runs)  # CPU: the process's high-water mark over its runs
        if cuda:
            m = mfu_of(b)
            extra = f"{m * 100:>9.1f}%" if m is not None else f"{'n/a':>10}"
        else:
            extra = f"{runs[0]['growth_mb']:>10.0f}"  # the first run: later ones reuse memory glibc kept
        print(f"{name:<34} {b['tokens_per_s']:>11.1f} {peak:>12.0f} {extra} {b['final_loss']:>11.4f} {b['seconds']:>8.1f}")
        print(f"{'':<34} path: {b['path']}")
        each = ", ".join(f"{r['tokens_per_s']:.1f}" for r in runs)
        print(f"{'':<34} each run (tok/s, in order): {each}")
    plain, ours = best[arms[0]["name"]], best[arms[-1]["name"]]
    assert all(b["real_tokens"] == plain["real_tokens"] for b in best.values()), "every arm must see the same samples"
    print(f"parameters {ours['total_params'] / 1e9:.3f}B (4-bit weights at their logical size, LoRA included)")
    if cuda:
        print("peak GPU MB: torch.cuda.max_memory_allocated in each arm's own process; "
              "MFU = 4 x parameters x real tok/s / the GPU's peak dense bf16 FLOP/s (engine.throughput)")
    else:
        print("peak RSS MB: each arm in its own process, whole-process high-water mark (getrusage: imports, data, "
              "model, training); train +MB: how far RSS rose during the arm's first training run")
    for arm in arms[1:]:
        b = best[arm["name"]]
        print(f"{arm['name']}: {b['tokens_per_s'] / plain['tokens_per_s']:.2f}x the plain recipe, "
              f"loss difference {abs(plain['final_loss'] - b['final_loss']):.4f} (same samples, same order)")
    print(f"TuneDeck ({arms[-1]['name']}) / plain recipe real tokens/s: {ours['tokens_per_s'] / plain['tokens_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
