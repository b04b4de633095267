"""GPU benchmark: 4-bit QLoRA of a 7B-class Llama shape, TuneDeck against the plain recipe.

Nothing is downloaded: a Llama with LLaMA-2-7B's shape (hidden 4096, 32 layers,
intermediate 11008, vocab 32000) is built from a config with random weights,
saved once as bf16 safetensors, then loaded 4-bit NF4 by both arms of
bench/throughput.py (same data, same steps, same seed). Sequences up to 2048
tokens. Reports real tokens/s, peak GPU memory, and model FLOPs utilisation:

    MFU = 4 x parameters x tokens/s / peak bf16 FLOP/s of the GPU
    (forward 2NT + backward through the frozen base 2NT; LoRA's own FLOPs are tiny)

    python bench/gpu_qlora.py                   # on a CUDA machine
    python bench/gpu_qlora.py --layers 4        # a quick smoke run of the same shape, fewer layers
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "4090": 165.0}


def peak_flops() -> float | None:
    import torch

    name = torch.cuda.get_device_name(0)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def build_7b_shape(path: Path, layers: int) -> tuple[Path, int]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from engine.tiny import build_tiny_tokenizer

    config = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=layers, num_attention_heads=32,
                         num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096)
    if not (path / "config.json").exists():
        with torch.device("cuda"):
            model = LlamaForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(path, safe_serialization=True)
        tok = build_tiny_tokenizer()
        tok.save_pretrained(path)
        del model
        torch.cuda.empty_cache()
    n_params = sum(p.numel() for p in LlamaForCausalLM(config).parameters()) if layers <= 4 else None
    if n_params is None:
        per_layer = 4 * 4096 * 4096 + 3 * 4096 * 11008
        n_params = layers * per_layer + 2 * 32000 * 4096
    return path, n_params


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--out", default=os.environ.get("TUNEDECK_BENCH_DIR", tempfile.gettempdir()))
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU")
        return 2
    model_dir, n_params = build_7b_shape(Path(args.out) / f"llama7b-shape-{args.layers}l", args.layers)
    import throughput

    # The tiny tokenizer's vocabulary is smaller than 32000; ids stay in range, the shape and cost are the 7B's.
    throughput.main(["--model", str(model_dir), "--quant", "4bit", "--steps", str(args.steps),
                     "--batch-size", str(args.batch_size), "--max-length", "2048", "--rows", "2000", "--repeats", "1"])
    peak = peak_flops()
    print(f"parameters {n_params / 1e9:.2f}B; peak bf16 {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s "
          f"({torch.cuda.get_device_name(0)})")
    print("MFU = 4 x params x real tokens/s / peak; see the table above for each arm's tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
