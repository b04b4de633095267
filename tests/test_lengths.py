"""Token-length figures (engine/lengths.py, `tunedeck data FILE --config CFG`) against token counts computed
directly with the tiny tokenizer on the sample data."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from engine import lengths as lengths_mod
from engine.config import Config
from engine.data import load_dataset, to_record
from engine.lengths import measure, text_histogram
from engine.model import load_tokenizer
from engine.templates import render

ROOT = Path(__file__).resolve().parents[1]
ALPACA = ROOT / "sample_data" / "tunedeck_alpaca.json"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(lengths_mod, "cache_root", lambda: tmp_path / "lengths-cache")
    return tmp_path / "lengths-cache"


def _cfg(tiny_model_dir, path=ALPACA, **data) -> Config:
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    cfg.data.path = str(path)
    for k, v in data.items():
        setattr(cfg.data, k, v)
    return cfg


def _direct(ds, info, tok) -> tuple[list[int], list[int]]:
    """Per row: total tokens and prompt tokens, counted by tokenising the alpaca text by hand."""
    totals, prompts = [], []
    for row in ds:
        rec = to_record(row, info.format, info.mapping)
        r = render(rec, "alpaca", eos_token=tok.eos_token)
        prompt = len(tok(r.prompt, add_special_tokens=False)["input_ids"])
        answer = len(tok(r.completion, add_special_tokens=False)["input_ids"])
        totals.append(prompt + answer)
        prompts.append(prompt)
    return totals, prompts


def test_figures_are_the_token_counts(tiny_model_dir):
    cfg = _cfg(tiny_model_dir, template="alpaca")
    ds, info = load_dataset(cfg.data)
    tok = load_tokenizer(cfg.model)
    totals, prompts = _direct(ds, info, tok)
    got = measure(ds, info, cfg.data, tok)
    assert sorted(got.lengths) == sorted(totals)
    max_length = sorted(totals)[len(totals) // 2]  # half the samples are cut
    fig = got.figures(max_length)
    ordered = sorted(totals)
    assert (fig.samples, fig.min, fig.max) == (len(ds), ordered[0], ordered[-1])
    assert fig.median == statistics.median(totals)
    assert fig.p95 == ordered[math.ceil(0.95 * len(ordered)) - 1]
    assert fig.p99 == ordered[math.ceil(0.99 * len(ordered)) - 1]
    assert fig.over == sum(1 for t in totals if t > max_length) > 0
    # a sample has no trained token when its prompt alone fills max_length
    short = min(prompts) + 1
    assert got.figures(short).untrained == sum(1 for p in prompts if p >= short) > 0
    assert got.figures(10**6).untrained == 0


def test_lengths_are_cached_per_file_and_template(tiny_model_dir, tmp_path, private_cache):
    data = tmp_path / "faq.jsonl"
    rows = [{"instruction": f"Question {i}?", "output": "Answer " * (i + 1)} for i in range(12)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = _cfg(tiny_model_dir, data, template="alpaca")
    tok = load_tokenizer(cfg.model)
    ds, info = load_dataset(cfg.data)
    first = measure(ds, info, cfg.data, tok)
    assert len(list(private_cache.glob("*.json"))) == 1
    assert measure(ds, info, cfg.data, tok).lengths == first.lengths  # read back
    cfg.data.template = "qa"  # another template: measured again, cached beside
    measure(ds, info, cfg.data, tok)
    assert len(list(private_cache.glob("*.json"))) == 2
    with data.open("a") as f:  # the file changed (size, mtime): measured again
        f.write(json.dumps({"instruction": "One more?", "output": "Yes " * 40}) + "\n")
    ds2, info2 = load_dataset(cfg.data)
    again = measure(ds2, info2, cfg.data, tok)
    assert len(again.lengths) == 13


def test_text_histogram_marks_bands_past_max_length():
    lines = text_histogram([10, 20, 30, 200], max_length=100, rows=4, width=10)
    assert len(lines) == 4
    assert lines[0].rstrip().endswith("3")  # 0-50: three samples
    assert "✂" in lines[-1] and "✂" not in lines[0]


def test_cli_data_with_config_prints_lengths(tiny_model_dir, tmp_path, capsys):
    from engine.config import save_config
    from tui.cli import main

    cfg = _cfg(tiny_model_dir, template="alpaca", max_length=64)
    cfg_path = tmp_path / "cfg.yaml"
    save_config(cfg, cfg_path)
    assert main(["data", str(ALPACA), "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    ds, info = load_dataset(cfg.data)
    fig = measure(ds, info, cfg.data, load_tokenizer(cfg.model)).figures(64)
    assert "template alpaca: set in data.template" in out
    assert f"p95 {fig.p95:,}" in out and f"max {fig.max:,}" in out
    assert f"over data.max_length=64: {fig.over:,}" in out
    assert "with no trained token" in out and "█" in out


def test_cli_data_with_a_bad_config_is_one_line(tmp_path, capsys):
    from tui.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  max_length: -3\n")
    assert main(["data", str(ALPACA), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "data.max_length" in err and len(err.strip().splitlines()) == 1
