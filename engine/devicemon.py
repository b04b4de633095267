"""The device monitor: what each logged step says about the device's memory (and, on CUDA, how busy it is).

:func:`sample` gives the ``StepLogged`` fields (:data:`engine.events.DEVICE_FIELDS`), in MiB::

    sample("cuda")  # {"device": "cuda:0", "mem_allocated_mb": 10444.2, "mem_reserved_mb": 11264.0,
                    #  "mem_peak_mb": 12288.5, "mem_total_mb": 81559.0, "gpu_util": 93.0}
    sample("cpu")   # {"device": "cpu", "rss_mb": 1228.8, "rss_peak_mb": 1433.6}

Utilisation needs NVIDIA's management library (``pip install nvidia-ml-py``); without it the field is left out.
A field that cannot be read is left out rather than failing the step.
"""

from __future__ import annotations

import sys
from typing import Any

MIB = 2**20


def sample(device: str) -> dict[str, Any]:
    try:
        return _cuda() if device == "cuda" else _cpu()
    except Exception:  # a monitor never stops training
        return {}


def _cuda() -> dict[str, Any]:
    import torch

    index = torch.cuda.current_device()
    out: dict[str, Any] = {
        "device": f"cuda:{index}",
        "mem_allocated_mb": round(torch.cuda.memory_allocated(index) / MIB, 1),
        "mem_reserved_mb": round(torch.cuda.memory_reserved(index) / MIB, 1),
        "mem_peak_mb": round(torch.cuda.max_memory_allocated(index) / MIB, 1),
        "mem_total_mb": round(torch.cuda.get_device_properties(index).total_memory / MIB, 1),
    }
    try:
        out["gpu_util"] = float(torch.cuda.utilization(index))  # pynvml (nvidia-ml-py) or amdsmi
    except Exception:
        pass
    return out


def _cpu() -> dict[str, Any]:
    import resource

    import psutil

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    peak_mb = peak / MIB if sys.platform == "darwin" else peak / 1024
    return {"device": "cpu", "rss_mb": round(psutil.Process().memory_info().rss / MIB, 1), "rss_peak_mb": round(peak_mb, 1)}


def peak_mb(event) -> float | None:
    """The peak memory a step event reports: CUDA's peak allocated or the process's peak RSS (None before the monitor)."""
    for key in ("mem_peak_mb", "rss_peak_mb"):
        value = getattr(event, key, None)
        if value is not None:
            return value
    return None
