"""Whole-dataset packing (engine.bins, data.packing: bins): every sample once, no bin over its budget,
fuller and fewer micro-batches, the unpacked loss, and a run that trains with it."""

from __future__ import annotations

import json
import random

from engine.bins import BinBatchSampler, pack_bins
from tests.test_infer import PAIRS, overfit_config


def test_every_sample_is_in_exactly_one_bin_and_no_bin_is_over_budget():
    rng = random.Random(3)
    lengths = [rng.randint(5, 256) for _ in range(2000)]
    bins = pack_bins(lengths, 1024)
    placed = sorted(i for b in bins for i in b)
    assert placed == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 1024 for b in bins)
    # Nearly full: at most a few percent more bins than the tokens strictly need.
    assert len(bins) <= 1.03 * sum(lengths) / 1024 + 1
    assert pack_bins(lengths, 1024) == bins  # deterministic
    assert pack_bins([2000, 10], 1024) == [[0], [1]]  # a sample over the budget gets a bin of its own


def test_each_epoch_visits_the_same_bins_in_a_new_seeded_order():
    lengths = [random.Random(i).randint(5, 200) for i in range(300)]
    sampler = BinBatchSampler(lengths, 800, seed=42)
    first = list(sampler)
    assert len(first) == len(sampler) and sorted(map(sorted, first)) == sorted(map(sorted, sampler.batches))
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(map(tuple, second)) == sorted(map(tuple, first))
    again = BinBatchSampler(lengths, 800, seed=42)
    again.set_epoch(1)
    assert list(again) == second  # a resumed run sees the same order


def test_the_loss_over_bins_is_the_unpacked_loss(tiny_model_dir):
    import torch

    from engine.config import ModelConfig
    from engine.model import load_base_model, load_tokenizer
    from engine.trainer import Collator, trained_positions

    cfg = ModelConfig(name=str(tiny_model_dir), device="cpu")
    tok = load_tokenizer(cfg)
    model = load_base_model(cfg).eval()
    rng = random.Random(0)
    feats = []
    for _ in range(20):
        n, prompt = rng.randint(6, 60), rng.randint(2, 5)
        ids = [rng.randint(5, 250) for _ in range(n)]
        feats.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})

    def summed(batch):
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], position_ids=batch.get("position_ids")).logits
        keep = trained_positions(batch["labels"])
        targets = batch["labels"][:, 1:][keep[:, :-1]]
        return float(torch.nn.functional.cross_entropy(logits[keep], targets, reduction="sum")), targets.numel()

    collator = Collator(tok, "padding_free", row_tokens=64)
    lengths = [len(f["input_ids"]) for f in feats]
    packed = [summed(collator([feats[i] for i in b])) for b in pack_bins(lengths, 128)]
    alone = [summed(Collator(tok, "padded")([f])) for f in feats]
    assert sum(n for _, n in packed) == sum(n for _, n in alone)
    per_token_packed = sum(s for s, _ in packed) / sum(n for _, n in packed)
    per_token_alone = sum(s for s, _ in alone) / sum(n for _, n in alone)
    assert abs(per_token_packed - per_token_alone) < 1e-4 * per_token_alone


def test_a_run_with_bins_trains_one_step_per_bin(tiny_model_dir, tmp_path):
    from engine.events import RunStarted, StepLogged
    from engine.train import train

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 6), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{
        "training.max_steps": 0, "training.epochs": 1, "data.val_split": 0, "data.packing": "bins",
        "training.batch_size": 2, "training.save_steps": 1000, "output.name": "bins"})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    started = next(e for e in events if isinstance(e, RunStarted))
    samples = started.train_samples
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert 0 < len(steps) == started.max_steps < samples / 2  # fuller micro-batches: fewer steps than batch_size 2 gives
    assert steps[-1].tokens_seen > 0
