"""LoRA dropout drawn once per input: the projections that read the same tensor share one mask.

peft gives every LoRA layer a dropout of its own, so in a Llama block the
hidden state that feeds q, k and v is masked three times and the one that
feeds gate and up twice: seven masks a block where four inputs exist. Drawing
a mask (and multiplying by it) is a sixth of a CPU training step on the demo
model. Here each layer's dropout module is swapped for a :class:`SharedDropout`
that remembers the last tensor it dropped and the result: a layer called with
the very same tensor object (same version, nothing written to it in place)
gets the same dropped tensor back; any other input gets a fresh mask. So
sharing happens exactly where projections read one input, in any architecture,
with no list of module names.

What each projection sees is unchanged in distribution (each element kept
with probability 1 - p and scaled by 1 / (1 - p)); only the masks of q, k and v
(gate and up) are now the same instead of independent. With dropout 0, or in
eval mode, nothing differs at all (tested bit for bit). The modules hold no
weights, so the adapter's files are the same and load in plain peft.

    n = share_lora_dropout(model)   # after get_peft_model; the number of layers that now share
"""

from __future__ import annotations

import weakref

import torch


class _Memo:
    """The last input dropped and its result, shared by every SharedDropout of one model (weak references)."""

    __slots__ = ("x", "out", "version")

    def __init__(self) -> None:
        self.x = self.out = None
        self.version = -1

    def get(self, x):
        if self.x is None or self.x() is not x or x._version != self.version:
            return None
        return self.out() if self.out is not None else None

    def put(self, x, out) -> None:
        self.x, self.out, self.version = weakref.ref(x), weakref.ref(out), x._version


class SharedDropout(torch.nn.Dropout):
    """``nn.Dropout`` that reuses the last mask when handed the same tensor again (see the module docstring)."""

    def __init__(self, p: float, memo: _Memo):
        super().__init__(p)
        self._memo = memo

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        out = self._memo.get(x)
        if out is None:
            out = super().forward(x)
            self._memo.put(x, out)
        return out


def share_lora_dropout(model) -> int:
    """Give every LoRA layer's ``nn.Dropout`` under ``model`` one shared memo; returns how many were swapped."""
    memo = _Memo()
    n = 0
    for module in model.modules():
        drops = getattr(module, "lora_dropout", None)
        if not isinstance(drops, torch.nn.ModuleDict):
            continue
        for name, drop in list(drops.items()):
            if type(drop) is torch.nn.Dropout and drop.p > 0:
                shared = SharedDropout(drop.p, memo)
                shared.train(drop.training)
                drops[name] = shared
                n += 1
    return n
