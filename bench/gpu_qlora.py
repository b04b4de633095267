"""GPU benchmark: 4-bit QLoRA of a 7B-class Llama shape, TuneDeck against the plain recipe.

Nothing is downloaded: a Llama with LLaMA-2-7B's shape (hidden 4096, 32 layers,
intermediate 11008, 32 heads, vocab 32000) is built from a config with random
weights, saved once as bf16 safetensors, then loaded 4-bit NF4 by both arms of
bench/throughput.py (same data, same steps, same seed, each arm in a process of
its own). Rows of up to 2048 tokens. Reports real tokens/s, peak GPU memory
(``torch.cuda.max_memory_allocated``) and model FLOPs utilisation with the
engine's own formula and GPU table (engine.throughput.model_flops_utilization):

    MFU = 4 x parameters x real tokens/s / the GPU's peak dense bf16 FLOP/s
    (forward 2NT + backward through the frozen base 2NT; LoRA's own FLOPs are tiny)

    python bench/gpu_qlora.py                   # on a CUDA machine: the 7B shape
    python bench/gpu_qlora.py --layers 4        # the same widths, 4 layers: a quick run on a small GPU
    python bench/gpu_qlora.py --smoke           # a tiny shape on CPU: checks the script end to end

The last line is the headline ratio (TuneDeck / plain recipe real tokens/s).
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

SEVEN_B = dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32,
               vocab_size=32000)
SMOKE = dict(hidden_size=256, intermediate_size=688, num_attention_heads=4, num_key_value_heads=4, vocab_size=32000)


def build_model(path: Path, layers: int, shape: dict, device: str) -> Path:
    """A random Llama of the given shape, saved as bf16 safetensors with a tokenizer (once per shape)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from engine.tiny import build_tiny_tokenizer

    if (path / "config.json").exists():
        return path
    config = LlamaConfig(num_hidden_layers=layers, max_position_embeddings=4096, **shape)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path, safe_serialization=True)
    build_tiny_tokenizer().save_pretrained(path)  # its ids are < 32000: in range; the cost is the shape's
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return path


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=None, help="decoder layers (default 32; 2 with --smoke)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per arm (default 10; 2 with --smoke)")
    p.add_argument("--batch-size", type=int, default=None, help="samples per micro-batch (default 8; 2 with --smoke)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per row (default 2048; 256 with --smoke)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a tiny shape on CPU, to check the script runs")
    p.add_argument("--out", default=os.environ.get("TUNEDECK_BENCH_DIR", tempfile.gettempdir()))
    args = p.parse_args(argv)
    if args.smoke:
        device, shape, layers = "cpu", SMOKE, args.layers or 2
        steps, batch, length = args.steps or 2, args.batch_size or 2, args.max_length or 256
    else:
        if not torch.cuda.is_available():
            print("error: no CUDA device: this benchmark needs a GPU (--smoke checks the script on CPU)")
            return 2
        device, shape, layers = "cuda", SEVEN_B, args.layers or 32
        steps, batch, length = args.steps or 10, args.batch_size or 8, args.max_length or 2048
    name = "smoke" if args.smoke else "7b-shape"
    model_dir = build_model(Path(args.out) / f"tunedeck-llama-{name}-{layers}l", layers, shape, device)
    import throughput

    argv = ["--model", str(model_dir), "--quant", "4bit", "--device", device, "--steps", str(steps),
            "--batch-size", str(batch), "--max-length", str(length), "--rows", "2000", "--repeats", str(args.repeats)]
    if args.gradient_checkpointing:
        argv.append("--gradient-checkpointing")
    return throughput.main(argv)


if __name__ == "__main__":
    sys.exit(main())
