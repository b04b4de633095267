"""Whole-dataset packing (``data.packing: bins``): the epoch's samples packed into full micro-batches.

Micro-batches of ``batch_size`` samples drawn at random leave their packed rows part empty (a batch of
four short answers fills one row of 256 tokens by a third). Here, once per run, every sample is placed
best-fit-decreasing into *bins* of ``budget`` tokens (``batch_size x max_length`` by default: what a
full micro-batch of rows holds), so each micro-batch is nearly full and there are fewer of them. Each
epoch visits the bins in a new seeded order (``set_epoch``, as the Trainer calls it), so a resumed run
sees the same order; the collator then packs a bin into rows as it packs any micro-batch. Every
sample is in exactly one bin and no bin holds more than ``budget`` tokens (a single sample longer
than the budget gets a bin of its own). The loss per token is the unpacked one: samples never attend
to each other (per-sample position ids), only the grouping of samples into steps changes.
"""

from __future__ import annotations

import bisect

from .batch_order import SeededBatches


def pack_bins(lengths: list[int], budget: int) -> list[list[int]]:
    """Sample indices grouped best-fit-decreasing into bins of at most ``budget`` tokens (O(n log n)):
    longest first, each into the fullest bin it still fits, else a new bin."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    rooms: list[tuple[int, int]] = []  # (room left, bin), sorted
    for i in order:
        n = lengths[i]
        k = bisect.bisect_left(rooms, (n, -1))
        if k < len(rooms):
            room, b = rooms.pop(k)
        else:
            room, b = budget, len(bins)
            bins.append([])
        bins[b].append(i)
        if room - n > 0:
            bisect.insort(rooms, (room - n, b))
    return bins


class BinBatchSampler(SeededBatches):
    """Batches = the bins of :func:`pack_bins`, in a new seeded order each epoch."""

    def __init__(self, lengths: list[int], budget: int, seed: int):
        super().__init__(pack_bins(lengths, budget), seed)
