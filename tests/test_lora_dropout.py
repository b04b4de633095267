"""One LoRA dropout mask per input (engine.lora_dropout): shared where projections read one tensor, same
expectation, nothing changed without dropout, and the adapter is plain peft's."""

from __future__ import annotations

import json

import pytest

from engine.config import LoraConfig, ModelConfig
from tests.test_infer import PAIRS, overfit_config

IDS = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]


def _lora(tiny_model_dir, dropout: float, shared: bool, seed: int = 0):
    """The tiny base with a LoRA whose B is non-zero (so dropout visibly moves the output)."""
    import torch

    from engine.lora_dropout import share_lora_dropout
    from engine.model import add_lora, load_base_model

    model_cfg = ModelConfig(name=str(tiny_model_dir), device="cpu")
    torch.manual_seed(seed)
    model = add_lora(load_base_model(model_cfg), model_cfg, LoraConfig(r=4, alpha=8, dropout=dropout))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    n = share_lora_dropout(model) if shared else 0
    return model, n


def _lora_inputs(model):
    """The tensor each LoRA A of layer 0 received in the last forward, by projection name."""
    seen = {}
    layer = model.base_model.model.model.layers[0]
    for owner in (layer.self_attn, layer.mlp):
        for name, module in owner.named_children():
            if hasattr(module, "lora_A"):
                module.lora_A["default"].register_forward_hook(
                    lambda m, args, out, name=name: seen.__setitem__(name, args[0].detach().clone()))
    return seen


def _loss(model, seed: int) -> float:
    import torch

    torch.manual_seed(seed)
    ids = torch.tensor(IDS)
    return model(input_ids=ids, labels=ids).loss.item()


@pytest.mark.parametrize("p", [0.5, 0.05])  # a one-byte mask; drawn positions (engine.lora_dropout.SPARSE_P)
@pytest.mark.parametrize("shared", [False, True])
def test_projections_that_read_one_input_share_one_mask_and_no_others(tiny_model_dir, shared, p):
    import torch

    model, n = _lora(tiny_model_dir, p, shared)
    assert n == (14 if shared else 0)  # q, k, v, o, gate, up, down in each of the two layers
    model.train()
    seen = _lora_inputs(model)
    _loss(model, 1)
    same = torch.equal(seen["q_proj"], seen["k_proj"]) and torch.equal(seen["q_proj"], seen["v_proj"])
    assert same == shared
    assert torch.equal(seen["gate_proj"], seen["up_proj"]) == shared
    # The o projection reads a different tensor: its own mask either way (never the q/k/v one).
    assert seen["o_proj"].shape == seen["q_proj"].shape and not torch.equal((seen["o_proj"] == 0), (seen["q_proj"] == 0))
    # Whatever is shared is a real dropout: about p of the inputs zeroed (within five standard deviations).
    zeroed = float((seen["q_proj"] == 0).float().mean())
    assert abs(zeroed - p) < 5 * (p * (1 - p) / seen["q_proj"].numel()) ** 0.5


def test_eval_mode_and_dropout_zero_are_bit_identical(tiny_model_dir):
    import torch

    a, _ = _lora(tiny_model_dir, 0.3, shared=False)
    b, n = _lora(tiny_model_dir, 0.3, shared=True)
    assert n > 0
    a.eval()
    b.eval()
    with torch.no_grad():
        assert _loss(a, 1) == _loss(b, 1)
    c, _ = _lora(tiny_model_dir, 0.0, shared=False)
    d, n = _lora(tiny_model_dir, 0.0, shared=True)
    assert n == 0  # dropout 0: peft's Identity, nothing to share
    c.train()
    d.train()
    assert _loss(c, 1) == _loss(d, 1)


def test_the_loss_in_expectation_is_the_same(tiny_model_dir):
    """Over many masks the mean training loss with shared masks equals the one with a mask per layer (within
    four standard errors), and both differ from the loss without dropout (so the test can see dropout)."""
    import statistics

    import torch

    a, _ = _lora(tiny_model_dir, 0.3, shared=False)
    b, _ = _lora(tiny_model_dir, 0.3, shared=True)
    a.train()
    b.train()
    with torch.no_grad():
        la = [_loss(a, s) for s in range(200)]
        lb = [_loss(b, s) for s in range(200)]
        a.eval()
        clean = _loss(a, 0)
    se = (statistics.variance(la) / len(la) + statistics.variance(lb) / len(lb)) ** 0.5
    assert abs(statistics.mean(la) - statistics.mean(lb)) < 4 * se, (statistics.mean(la), statistics.mean(lb), se)
    assert statistics.stdev(lb) > 0 and abs(statistics.mean(lb) - clean) > 4 * se


def test_a_run_trains_with_shared_masks_and_fused_layers_and_its_adapter_loads_in_plain_peft(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    from engine import rundir
    from engine.events import MessageLogged, StepLogged
    from engine.model import load_base_model
    from engine.train import train

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 4), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{
        "training.max_steps": 6, "training.learning_rate": 5e-3, "data.val_split": 0, "lora.dropout": 0.1,
        "training.save_steps": 100, "output.name": "shared"})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    # on CPU every LoRA layer of the tiny model also ran in one autograd step (engine.lora_fused)
    assert any(isinstance(e, MessageLogged) and e.text.startswith("LoRA: 14 layers fused") for e in events)
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert losses[-1] < losses[0]
    adapter = result.run_dir / rundir.ADAPTER_DIR
    tuned = PeftModel.from_pretrained(load_base_model(ModelConfig(name=str(tiny_model_dir), device="cpu")), str(adapter))
    layer = tuned.base_model.model.model.layers[0].self_attn.q_proj
    assert type(layer.lora_dropout["default"]) is torch.nn.Dropout and "forward" not in layer.__dict__  # plain peft
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    state = {k: v for k, v in tuned.state_dict().items() if "lora_" in k}
    assert len(saved) == len(state) > 0
    for key, value in saved.items():
        loaded = next(v for k, v in state.items() if k.startswith(key.removesuffix(".weight")))
        assert torch.equal(loaded, value)


def test_dropped_positions_are_a_bernoulli_process_at_rate_p(monkeypatch):
    """engine.lora_dropout.drop_positions: sorted, distinct, inside the tensor; the rate and the gaps of a
    Bernoulli(p) dropout (within five standard deviations); drawn again when the first draw ends short."""
    import math

    import torch

    from engine import lora_dropout

    torch.manual_seed(0)
    n, p = 1_000_000, 0.05
    pos = lora_dropout.drop_positions(n, p)
    assert pos.dtype == torch.int64 and int(pos.min()) >= 0 and int(pos.max()) < n
    assert bool((pos[1:] > pos[:-1]).all())  # sorted, no position twice
    assert abs(len(pos) - n * p) < 5 * math.sqrt(n * p * (1 - p))
    gaps = torch.diff(pos)
    ones = float((gaps == 1).float().mean())  # P(gap = 1) = p: the next element dropped too, independently
    assert abs(ones - p) < 5 * math.sqrt(p * (1 - p) / len(gaps))
    # Too few gaps drawn at first (a six-sigma event made certain): drawn again from the last, same process.
    real_sqrt = math.sqrt
    monkeypatch.setattr(lora_dropout.math, "sqrt", lambda v: -real_sqrt(v) * 3)  # k far below n * p
    again = lora_dropout.drop_positions(n, p)
    assert bool((again[1:] > again[:-1]).all()) and int(again.max()) < n
    assert abs(len(again) - n * p) < 5 * real_sqrt(n * p * (1 - p))
    assert len(lora_dropout.drop_positions(0, p)) == 0


@pytest.mark.parametrize("p", [0.05, 0.3])  # drawn positions; a one-byte mask
def test_cpu_dropout_zeroes_and_scales_and_its_backward_follows_the_same_zeros(p):
    import torch

    from engine.lora_dropout import SPAN, SPARSE_P, cpu_dropout

    torch.manual_seed(0)
    x = (torch.rand(300, 200) + 1.0).requires_grad_()  # no zero of its own
    out = cpu_dropout(x, p)
    zero = out == 0
    scale = 1 / (1 - p) if p <= SPARSE_P else SPAN / (SPAN - round(p * SPAN))
    torch.testing.assert_close(out[~zero], x[~zero] * scale)
    assert abs(float(zero.float().mean()) - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5
    g = torch.rand(200, 300).t()  # a non-contiguous gradient, as a transpose hands back
    out.backward(g)
    torch.testing.assert_close(x.grad, torch.where(zero, 0.0, g * scale))
    torch.manual_seed(5)  # the generator decides: the same seed, the same dropout
    a = cpu_dropout(x.detach(), p)
    torch.manual_seed(5)
    assert torch.equal(a, cpu_dropout(x.detach(), p))
