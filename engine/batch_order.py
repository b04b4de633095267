"""Fixed micro-batches visited in a new seeded order each epoch: the part the batch samplers share.

The token-budget sampler (engine.trainer) and the whole-dataset bins (engine.bins) form their batches
once per run, so their number is fixed as the Trainer's step count needs; each epoch visits them in the
order ``random.Random(seed * 1000 + epoch)`` shuffles them into (``set_epoch``, which the Trainer calls),
so a resumed run sees the same order.
"""

from __future__ import annotations

import random


class SeededBatches:
    def __init__(self, batches: list[list[int]], seed: int):
        self.batches = batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        order = list(range(len(self.batches)))
        random.Random(self.seed * 1000 + self.epoch).shuffle(order)
        for b in order:
            yield self.batches[b]
