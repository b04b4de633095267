"""The device monitor in words: the Train screen's device line, the CLI's compact part, a run's peaks and OOM recoveries.

All from recorded events (:class:`engine.events.StepLogged`'s device fields, :class:`engine.events.OomRecovered`),
so a run followed through its folder reads the same as the one trained here::

    device_line(step)     # "cpu · RSS 1.2 GiB (peak 1.4)" | "cuda:0 · 10.2/80 GiB · reserved 11.0 · peak 12.0 · util 93%"
    device_compact(step)  # "RSS 1.2G" | "10.2/80G 93%"
"""

from __future__ import annotations


def _gib(mb: float) -> str:
    return f"{mb / 1024:.1f}"


def device_line(e, fallback_device: str = "") -> str:
    """One line about the device from a step event (empty when the event says nothing about it)."""
    if e is None:
        return f"device {fallback_device}" if fallback_device else ""
    if getattr(e, "mem_allocated_mb", None) is not None:
        total = f"/{e.mem_total_mb / 1024:.0f}" if e.mem_total_mb else ""
        parts = [e.device or "cuda", f"{_gib(e.mem_allocated_mb)}{total} GiB"]
        if e.mem_reserved_mb is not None:
            parts.append(f"reserved {_gib(e.mem_reserved_mb)}")
        if e.mem_peak_mb is not None:
            parts.append(f"peak {_gib(e.mem_peak_mb)}")
        if e.gpu_util is not None:
            parts.append(f"util {e.gpu_util:.0f}%")
        return " · ".join(parts)
    if getattr(e, "rss_mb", None) is not None:
        peak = f" (peak {_gib(e.rss_peak_mb)})" if e.rss_peak_mb is not None else ""
        return f"{e.device or 'cpu'} · RSS {_gib(e.rss_mb)} GiB{peak}"
    if getattr(e, "memory_mb", None):  # a run from before the device monitor
        return f"{fallback_device or 'device'} · mem {_gib(e.memory_mb)} GiB"
    return f"device {fallback_device}" if fallback_device else ""


def device_compact(e) -> str:
    """The device line in a few characters, for the CLI's progress line."""
    if getattr(e, "mem_allocated_mb", None) is not None:
        total = f"/{e.mem_total_mb / 1024:.0f}" if e.mem_total_mb else ""
        util = f" {e.gpu_util:.0f}%" if e.gpu_util is not None else ""
        return f"{_gib(e.mem_allocated_mb)}{total}G{util}"
    if getattr(e, "rss_mb", None) is not None:
        return f"RSS {_gib(e.rss_mb)}G"
    return ""


def oom_words(e) -> str:
    """What one OomRecovered did, in a line."""
    unit = " tokens" if e.unit == "tokens" else ""
    where = f"checkpoint-{e.resumed_from_step}" if e.resumed_from_step else "the start"
    return (f"out of memory at step {e.step}: micro-batch {e.old_micro_batch} → {e.new_micro_batch}{unit}, "
            f"gradient accumulation {e.old_gradient_accumulation} → {e.new_gradient_accumulation}, "
            f"going on from {where}")


def peak_words(summary) -> str:
    """A run summary's peak memory and OOM recoveries, e.g. "peak cuda:0 12.0 GiB · OOM healed 1× (batch 8 → 4)"."""
    parts = []
    if summary.peak_memory_mb is not None:
        parts.append(f"peak {summary.peak_device + ' ' if summary.peak_device else ''}{_gib(summary.peak_memory_mb)} GiB")
    oom = summary.oom_recoveries
    if oom:
        sizes = " → ".join([str(oom[0].old_micro_batch), *(str(e.new_micro_batch) for e in oom)])
        parts.append(f"OOM healed {len(oom)}× (micro-batch {sizes}{' tokens' if oom[0].unit == 'tokens' else ''})")
    return " · ".join(parts)


def status_cell(summary) -> str:
    """``tunedeck runs``' STATUS: the state, and how often out-of-memory was healed."""
    n = len(summary.oom_recoveries)
    return f"{summary.status} (OOM healed {n}×)" if n else summary.status


def peak_cell(summary) -> str:
    """``tunedeck runs``' PEAK MEM: "12.0G cuda:0", "1.4G cpu" or "-"."""
    if summary.peak_memory_mb is None:
        return "-"
    return f"{_gib(summary.peak_memory_mb)}G {summary.peak_device}".strip()
