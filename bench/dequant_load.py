"""The dequantized frozen base before step 1: the 4-bit load + dequantize pass against one pass (engine.dequant_load).

Same process, the two paths alternating, best of ``--repeats`` each; the weights compared bit for bit::

    python bench/dequant_load.py                      # the demo model, float32 on CPU
    python bench/dequant_load.py --model /tmp/tiny
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed_load(name: str, quantization: str, second_pass):
    """Load ``name`` with ``quantization`` on CPU, then run ``second_pass`` on it: (model, load s, pass s)."""
    from engine.config import ModelConfig
    from engine.model import load_base_model

    t = time.time()
    model = load_base_model(ModelConfig(name=name, quantization=quantization, device="cpu"))
    loaded = time.time()
    second_pass(model)
    return model, loaded - t, time.time() - loaded


def two_pass(name: str):
    from engine.dequant import dequantize_frozen

    return timed_load(name, "4bit", dequantize_frozen)


def one_pass(name: str):
    from engine.dequant_load import quantize_roundtrip

    return timed_load(name, "none", quantize_roundtrip)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    import torch
    from bitsandbytes.functional import quantize_4bit  # noqa: F401  (imports outside the timings)
    from transformers import AutoModelForCausalLM  # noqa: F401

    arms = {"4-bit load + dequantize pass": two_pass, "one pass (quantize->dequantize as loaded)": one_pass}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in arms}
    last = {}
    print(f"{args.model}, float32 on CPU, best of {args.repeats}, alternating; load average {os.getloadavg()[0]:.1f}")
    for _ in range(args.repeats):
        for name, fn in arms.items():
            model, load, second = fn(args.model)
            times[name].append((load, second))
            last[name] = model
            print(f"  {name}: load {load:.1f} s + {second:.1f} s = {load + second:.1f} s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for name, runs in times.items():
        load, second = min(runs, key=sum)
        print(f"{name:<44} best {load + second:6.1f} s  ({load:.1f} s load + {second:.1f} s pass)")
    a, b = (m.state_dict() for m in last.values())
    differ = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
    print(f"weights: {len(a)} tensors, {len(differ)} differ" + (f" ({differ[:3]})" if differ else " (bit-identical)"))
    return 1 if differ or a.keys() != b.keys() else 0


if __name__ == "__main__":
    raise SystemExit(main())
