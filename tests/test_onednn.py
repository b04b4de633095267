"""engine.onednn: the frozen weights' products on oneDNN equal F.linear's, and F.linear is what runs wherever
oneDNN must not (switched off, autograd following, not float32, empty). The fused LoRA layer's and the chunked
head's gradients with it on: tests/test_lora_fused.py, tests/test_head_loss.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine import onednn  # noqa: E402


@pytest.fixture
def fresh(monkeypatch):
    """onednn's one-time check run again in this test (and its result restored after)."""
    monkeypatch.setattr(onednn, "_checked", None)
    return onednn


def _close(a, b):
    return torch.allclose(a, b, rtol=1e-5, atol=1e-4 * b.abs().max().item())


def test_it_equals_f_linear_for_every_layout_a_step_hands_it(fresh):
    if not fresh.available():
        pytest.skip("this torch build has no oneDNN")
    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(96, 64, generator=gen), torch.randn(96, generator=gen)
    x3 = torch.randn(1, 37, 64, generator=gen)  # the forward: (1, tokens, in)
    g = torch.randn(37, 96, generator=gen)  # the backward: g @ W, as linear(g, W.T)
    wide = torch.randn(64, 37, generator=gen).t()  # a transposed, non-contiguous input
    cases = [(x3, w, None), (x3, w, b), (g, w.t(), None), (wide, w, b)]
    for x, weight, bias in cases:
        got = fresh.linear(x, weight, bias)
        assert got.shape == torch.nn.functional.linear(x, weight, bias).shape
        assert _close(got, torch.nn.functional.linear(x, weight, bias))
    ref = (x3.double() @ w.double().t())
    assert (fresh.linear(x3, w).double() - ref).abs().max() < 1e-5 * ref.abs().max()  # float32 accumulation


def test_switched_off_tracked_by_autograd_other_dtypes_and_empty_take_f_linear(fresh, monkeypatch):
    gen = torch.Generator().manual_seed(1)
    x, w = torch.randn(5, 8, generator=gen), torch.randn(4, 8, generator=gen)
    with monkeypatch.context() as m:
        m.setenv("TUNEDECK_ONEDNN", "0")
        assert fresh.available() is False
        assert torch.equal(fresh.linear(x, w), torch.nn.functional.linear(x, w))
    monkeypatch.setattr(onednn, "_checked", None)
    tracked = x.clone().requires_grad_(True)
    out = fresh.linear(tracked, w)
    assert out.grad_fn is not None  # autograd follows it: F.linear, so the gradient flows
    out.sum().backward()
    assert torch.allclose(tracked.grad, w.sum(0).expand(5, 8))
    x64, w64 = x.double(), w.double()
    assert torch.equal(fresh.linear(x64, w64), torch.nn.functional.linear(x64, w64))
    assert fresh.linear(x[:0], w).shape == (0, 4)


def test_a_probe_that_disagrees_turns_it_off(fresh, monkeypatch):
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")

    monkeypatch.setattr(onednn, "_kernel", lambda: lambda x, w, b, *rest: torch.nn.functional.linear(x, w, b) + 1.0)
    assert fresh.available() is False
    x, w = torch.ones(2, 3), torch.ones(4, 3)
    assert torch.equal(fresh.linear(x, w), torch.full((2, 4), 3.0))


def test_a_build_without_the_kernel_takes_f_linear(fresh, monkeypatch):
    def missing():
        raise AttributeError("_linear_pointwise")

    monkeypatch.setattr(onednn, "_kernel", missing)
    assert fresh.available() is False
