"""Generation speed of a 4-bit run against the same run in 16-bit, on CPU (issue 13: within 1.5x).

What ``tunedeck generate``, ``tunedeck eval`` and the Playground do: load the
run's base with its adapter (engine.infer.load_for_generation), then stream
tokens one at a time with a KV cache (batch 1). On CPU a 4-bit run's frozen
weights are dequantized once (engine.dequant); the ``4bit-bnb`` arms are the
old path, bitsandbytes' 4-bit matmul on every token, for comparison: as it runs
on this CPU (bitsandbytes uses a fused bf16 kernel, inputs rounded to bfloat16,
on CPUs with AVX512-BF16) and its generic CPU path (dequantize every weight at
every token: what CPUs without AVX512-BF16 run).

    python bench/generate.py                 # demo model (SmolLM2-135M-Instruct), 64 new tokens, best of 3
    python bench/generate.py --quick         # tiny model, a few seconds
    python bench/generate.py --no-bnb        # skip the slow old-path arm

Each run folder holds a freshly initialised LoRA adapter (r 16, all linear
layers: the same compute as a trained one). EOS and stop strings are ignored so
every arm generates exactly ``--tokens`` tokens from the same prompt; tokens/s
counts the generated tokens over the time from the first one to the last
(prompt prefill excluded). Arms alternate, best of ``--repeats``. The last line
is the headline ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPT = "Explain in a few sentences what fine-tuning a language model with LoRA means."


def make_run(root: Path, model: str, quant: str) -> Path:
    """A run folder with config.yaml and an initialised LoRA adapter for ``model`` at ``quant``."""
    from engine import rundir
    from engine.config import load_config, save_config
    from engine.model import add_lora, load_base_model

    rd = root / f"run-{quant}"
    cfg = load_config(None, {"model.name": model, "model.quantization": quant, "model.device": "cpu",
                             "data.path": str(ROOT / "sample_data" / "tunedeck_qa.jsonl"), "data.template": "qa",
                             "lora.r": 16, "lora.alpha": 32, "lora.target_modules": "all-linear"})
    rd.mkdir(parents=True)
    save_config(cfg, rd / rundir.CONFIG_FILE)
    model_obj = add_lora(load_base_model(cfg.model), cfg.model, cfg.lora)
    model_obj.save_pretrained(rd / rundir.ADAPTER_DIR)
    del model_obj
    return rd


def load_arm(arm: str, runs: dict[str, Path]):
    from engine.infer import Generator, load_for_generation

    if not arm.startswith("4bit-bnb"):
        return load_for_generation(runs["4bit" if arm == "4bit" else "none"])
    # The old path: the 4-bit base as bitsandbytes loads it, adapter on top, no dequantizing.
    from peft import PeftModel

    from engine import rundir
    from engine.infer import _eos_ids, _template_and_stops, run_config
    from engine.model import load_base_model, load_tokenizer

    rd = runs["4bit"]
    cfg = run_config(rd)
    tok = load_tokenizer(cfg.model)
    model = PeftModel.from_pretrained(load_base_model(cfg.model), str(rd / rundir.ADAPTER_DIR), is_trainable=False).eval()
    if arm == "4bit-bnb-generic":  # as on CPUs without AVX512-BF16: no fused bf16 kernel, dequantize every matmul
        for m in model.modules():
            if type(m).__name__ == "Linear4bit":
                m.support_avx512bf16_for_cpu = False
    template, stops = _template_and_stops(cfg, tok)
    return Generator(model=model, tokenizer=tok, cfg=cfg, run_dir=rd, adapter_path=rd / rundir.ADAPTER_DIR,
                     template=template, stop_strings=stops, eos_ids=_eos_ids(model, tok))


def time_arm(gen, tokens: int) -> float:
    """Generated tokens per second after the first token (prefill excluded)."""
    from engine.infer import generate_stream

    gen.eos_ids = set()
    prompt = gen.format(PROMPT)
    stats: dict = {}
    t_first = None
    for _ in generate_stream(gen, prompt, greedy=True, max_new_tokens=tokens, stop_strings=[], stats=stats):
        if t_first is None:
            t_first, n_first = time.perf_counter(), stats["tokens"]
    t_end = time.perf_counter()
    done = stats["tokens"] - n_first
    return done / (t_end - t_first) if done > 0 and t_end > t_first else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--quick", action="store_true", help="the tiny model (engine.tiny)")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--bnb-tokens", type=int, default=8, help="tokens for the slow 4bit-bnb arm")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-bnb", action="store_true", help="leave out the old 4-bit path arm")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tunedeck-bench-gen-") as tmp:
        model = args.model
        if args.quick:
            from engine.tiny import build_tiny_model

            model = str(build_tiny_model(Path(tmp) / "tiny", layers=4, hidden=256))
        runs = {q: make_run(Path(tmp), model, q) for q in ("none", "4bit")}
        arms = ["none", "4bit"] + ([] if args.no_bnb else ["4bit-bnb", "4bit-bnb-generic"])
        gens = {arm: load_arm(arm, runs) for arm in arms}
        best: dict[str, float] = {arm: 0.0 for arm in arms}
        for r in range(args.repeats):
            for arm in arms:
                n = args.bnb_tokens if arm.startswith("4bit-bnb") else args.tokens
                tps = time_arm(gens[arm], n)
                best[arm] = max(best[arm], tps)
                print(f"repeat {r + 1} {arm:16s} {tps:8.2f} tok/s ({n} tokens)", flush=True)
    names = {"none": "16-bit run (float32 on CPU)", "4bit": "4-bit run, dequantized once (engine.dequant)",
             "4bit-bnb": "4-bit run, bitsandbytes 4-bit (old path; AVX512-BF16 kernel if the CPU has it)",
             "4bit-bnb-generic": "4-bit run, bitsandbytes 4-bit, generic CPU path (old path, no AVX512-BF16)"}
    print(f"\nmodel {model}, {torch.get_num_threads()} threads, batch 1, greedy, KV cache, best of {args.repeats}")
    for arm in arms:
        print(f"{names[arm]:78s} {best[arm]:8.2f} tok/s")
    ratio = best["none"] / best["4bit"]
    print(f"16-bit / 4-bit generation time ratio: {ratio:.2f}x (target <= 1.5x)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
