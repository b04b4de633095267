"""Per-sample attention over packed rows (engine.segment_attention) and the cheaper CPU dropout mask
(engine.lora_dropout.cpu_dropout): the same numbers as what they replace, for less work."""

from __future__ import annotations

import pytest

from tests.test_train import tiny_config, write_jsonl

LENGTHS = (37, 80, 5, 1, 60)


def _model(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.config.use_cache = False
    return model


def _packed(lengths=LENGTHS):
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 400, (1, sum(lengths)), generator=g)
    pos = torch.cat([torch.arange(n) for n in lengths])[None]
    return ids, pos


def test_segment_bounds_start_where_positions_restart():
    import torch

    from engine.segment_attention import segment_bounds

    pos = torch.tensor([[0, 1, 2, 0, 1, 0, 0, 1], [0, 1, 2, 3, 4, 5, 6, 7]])
    assert segment_bounds(pos) == [[(0, 3), (3, 5), (5, 6), (6, 8)], [(0, 8)]]


def test_a_packed_row_gives_each_sample_its_own_logits_and_the_same_gradients(tiny_model_dir):
    """One row of five samples (one of a single token): per-sample attention gives the logits of each sample
    run alone and of transformers' block-masked SDPA, and the same gradients, on a model with grouped heads."""
    import torch

    from engine.segment_attention import NAME, use_segment_attention

    ref, seg = _model(tiny_model_dir), _model(tiny_model_dir)
    assert ref.config.num_key_value_heads < ref.config.num_attention_heads  # GQA: key/value heads repeated
    assert use_segment_attention(seg) and seg.config._attn_implementation == NAME
    ids, pos = _packed()
    labels = ids.clone()
    a = ref(input_ids=ids, position_ids=pos, labels=labels)
    b = seg(input_ids=ids, position_ids=pos, labels=labels)
    assert torch.allclose(a.logits, b.logits, atol=1e-4)
    with torch.no_grad():
        starts = [0]
        for n in LENGTHS[:-1]:
            starts.append(starts[-1] + n)
        alone = torch.cat([ref(input_ids=ids[:, s:s + n]).logits for s, n in zip(starts, LENGTHS, strict=True)], dim=1)
    assert torch.allclose(b.logits, alone, atol=1e-4)
    a.loss.backward()
    b.loss.backward()
    for (name, p), (_, q) in zip(ref.named_parameters(), seg.named_parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), name


def test_a_padding_mask_or_another_attention_keeps_transformers_own_path(tiny_model_dir):
    import torch

    from engine.segment_attention import packed_rows, use_segment_attention

    ref, seg = _model(tiny_model_dir), _model(tiny_model_dir)
    use_segment_attention(seg)
    ids = torch.randint(5, 400, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 8:] = 0  # right padding
    with torch.no_grad():
        a = ref(input_ids=ids, attention_mask=mask).logits
        b = seg(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1, :8], b[1, :8], atol=1e-5)
    eager = _model(tiny_model_dir)
    eager.set_attn_implementation("eager")
    assert not use_segment_attention(eager)
    assert packed_rows(eager, "cpu", "padding_free", 256) == (256, "Packed rows: up to 256 tokens a row, "
                                                                   "block-masked attention")
    assert packed_rows(_model(tiny_model_dir), "cpu", "padded", 256) == (None, None)


def test_a_cpu_run_packs_each_micro_batch_in_one_row_with_the_capped_runs_losses(tiny_model_dir, tmp_path,
                                                                                monkeypatch):
    import engine.segment_attention as sa
    from engine.events import MessageLogged, StepLogged
    from engine.train import train

    rows = [{"question": "q" * (3 + 7 * i), "answer": "a" * (20 + 11 * i)} for i in range(8)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    runs = {}
    for name in ("segments", "capped"):
        if name == "capped":  # the path as it was: attention over rows of at most max_length, block-masked
            monkeypatch.setattr(sa, "use_segment_attention", lambda model: False)
        events = []
        cfg = tiny_config(tiny_model_dir, data, tmp_path / name, **{"training.max_steps": 4, "data.max_length": 96})
        result = train(cfg, on_event=events.append)
        assert result.status == "finished", result.last_event
        runs[name] = events
    said = {name: [e.text for e in ev if isinstance(e, MessageLogged)] for name, ev in runs.items()}
    assert "Packed rows: each micro-batch in one row, attention per sample (no filler)" in said["segments"]
    assert "Packed rows: up to 96 tokens a row, block-masked attention" in said["capped"]
    steps = {name: [e for e in ev if isinstance(e, StepLogged)] for name, ev in runs.items()}
    assert len(steps["segments"]) == len(steps["capped"]) == 4
    assert [e.loss for e in steps["segments"]] == pytest.approx([e.loss for e in steps["capped"]], rel=1e-4)
    # real tokens alike: neither counts filler
    assert [e.tokens_seen for e in steps["segments"]] == [e.tokens_seen for e in steps["capped"]]


def test_the_cpu_dropout_mask_keeps_1_minus_p_and_its_expectation_is_the_input():
    import torch

    from engine.lora_dropout import SPAN, cpu_dropout, cpu_keep_mask

    torch.manual_seed(0)
    keep, scale = cpu_keep_mask((2000, 1000), 0.05)
    drop = round(0.05 * SPAN)
    assert scale == SPAN / (SPAN - drop)
    rate = 1 - keep.float().mean().item()
    assert abs(rate - drop / SPAN) < 5 * (0.05 * 0.95 / keep.numel()) ** 0.5  # five standard errors
    x = torch.randn(300, 64, requires_grad=True)
    y = cpu_dropout(x, 0.3)
    kept = y != 0
    scale = SPAN / (SPAN - round(0.3 * SPAN))
    assert torch.allclose(y[kept], x[kept] * scale)
    assert 0.25 < 1 - kept.float().mean().item() < 0.35
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.equal(x.grad == 0, ~kept) and torch.allclose(x.grad[kept], g[kept] * scale)
    ones = torch.ones(4000, 500)
    assert cpu_dropout(ones, 0.5).mean().item() == pytest.approx(1.0, abs=0.005)  # E[dropout(x)] = x
    assert cpu_dropout(x, 0.0) is x



def test_the_flash_steps_equal_sdpa_per_sample_for_several_rows_and_grouped_heads(monkeypatch):
    """engine.segment_attention's one-step Function (the CPU flash kernel forward and backward, each sample's
    values written in place) against the per-sample slices through F.scaled_dot_product_attention: the same
    output and gradients, for two rows of different samples, grouped heads and a one-token sample."""
    import torch

    from engine import segment_attention as sa

    torch.manual_seed(0)

    class Attention:
        num_key_value_groups, is_causal = 3, True

    position_ids = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 0, 0, 1, 2, 3]])
    q0, k0, v0 = torch.randn(2, 6, 12, 8), torch.randn(2, 2, 12, 8), torch.randn(2, 2, 12, 8)
    g = torch.randn(2, 12, 6, 8)
    results = []
    for steps in (True, False):
        monkeypatch.setattr(sa, "FLASH_STEPS", steps)
        q, k, v = (t.clone().requires_grad_(True) for t in (q0, k0, v0))
        out, _ = sa.segment_attention_forward(Attention(), q, k, v, None, scaling=0.3, position_ids=position_ids)
        out.backward(g)
        results.append((out.detach(), q.grad, k.grad, v.grad))
    assert sa._flash_ops() is not None
    for a, b in zip(*results, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)
