"""Token-length figures for extractive QA and classification (engine/tasks/task_lengths.py, `tunedeck data FILE
--config CFG`) against token counts computed directly with a tiny BERT tokenizer on the sample data."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from engine import lengths as lengths_mod
from engine.config import Config, save_config
from engine.tasks import get_task
from engine.tasks.task_lengths import measure_task, qa_floor, suggest_max_length

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT / "sample_data" / "tunedeck_squad.json"
TICKETS = ROOT / "sample_data" / "support_tickets.jsonl"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(lengths_mod, "cache_root", lambda: tmp_path / "lengths-cache")
    return tmp_path / "lengths-cache"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from engine.tasks.qa_data import load_examples
    from engine.tasks.qa_tiny import build_tiny_bert

    ex, _ = load_examples(str(SQUAD))
    corpus = sorted({e["context"] for e in ex}) + [e["question"] for e in ex]
    corpus += [line for line in TICKETS.read_text().splitlines()]
    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert", corpus, vocab_size=1500)


def _tok(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def _cfg(task: str, model: Path, path: Path, **section) -> Config:
    cfg = Config()
    cfg.task, cfg.model.name, cfg.model.quantization, cfg.data.path = task, str(model), "none", str(path)
    for k, v in section.items():
        setattr(cfg.qa if task == "extractive_qa" else cfg.cls, k, v)
    return cfg


def _check_figures(fig, direct: list[int], max_length: int) -> None:
    ordered = sorted(direct)
    assert (fig.samples, fig.min, fig.max) == (len(direct), ordered[0], ordered[-1])
    assert fig.median == statistics.median(direct)
    assert fig.p95 == ordered[math.ceil(0.95 * len(ordered)) - 1]
    assert fig.p99 == ordered[math.ceil(0.99 * len(ordered)) - 1]
    assert fig.over == sum(1 for n in direct if n > max_length)


def test_classification_figures_are_the_token_counts(tiny_bert):
    from engine.tasks.cls_train import encode_rows

    tok = _tok(tiny_bert)
    cfg = _cfg("classification", tiny_bert, TICKETS)
    rows, info = get_task("classification").load_examples(cfg)
    direct = [len(tok(r["text"])["input_ids"]) for r in rows]  # [CLS] text [SEP], no truncation
    tl = measure_task(cfg, rows, tok)
    assert tl.lengths == direct
    cfg.cls.max_length = sorted(direct)[len(direct) // 2]  # about half are cut
    fig = tl.figures(cfg.cls.max_length)
    _check_figures(fig, direct, cfg.cls.max_length)
    assert fig.over == encode_rows(rows, tok, cfg, info.labels)[1] > 0  # the trainer's own count of cut rows
    assert suggest_max_length(tl, cfg, 95) == fig.p95 and suggest_max_length(tl, cfg, 99) == fig.p99


def test_classification_text_pairs_count_both_texts(tiny_bert, tmp_path):
    import json

    data = tmp_path / "pairs.jsonl"
    rows = [{"sentence1": "the template editor " * (i + 1), "sentence2": "spins at cpu", "label": i % 2} for i in range(6)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = _tok(tiny_bert)
    cfg = _cfg("classification", tiny_bert, data)
    examples, _ = get_task("classification").load_examples(cfg)
    direct = [len(tok(r["sentence1"], r["sentence2"])["input_ids"]) for r in rows]
    assert measure_task(cfg, examples, tok).lengths == direct


def test_qa_figures_are_the_token_counts_and_windows(tiny_bert):
    tok = _tok(tiny_bert)
    cfg = _cfg("extractive_qa", tiny_bert, SQUAD, max_length=96, doc_stride=32)
    rows, _ = get_task("extractive_qa").load_examples(cfg)
    questions = [r["question"].lstrip() for r in rows]
    direct = [len(tok(q, r["context"])["input_ids"]) for q, r in zip(questions, rows, strict=True)]
    enc = tok(questions, [r["context"] for r in rows], truncation="only_second", max_length=96, stride=32,
              return_overflowing_tokens=True)
    windows = [0] * len(rows)
    for i in enc["overflow_to_sample_mapping"]:
        windows[i] += 1
    tl = measure_task(cfg, rows, tok)
    assert tl.lengths == direct and tl.windows == windows
    _check_figures(tl.figures(96), direct, 96)
    assert all(w > 1 for w, n in zip(windows, direct, strict=True) if n > 96)
    assert tl.window_figures() == (min(windows), statistics.median(windows), max(windows), len(enc["input_ids"]))
    assert max(windows) > 1
    # an answer in no window: the trainer's own count, which a small window over long contexts makes
    from engine.tasks.qa_features import encode_examples

    assert tl.lost == encode_examples(rows, tok, cfg.qa).stats.lost_to_truncation
    assert tl.answerable == sum(1 for r in rows if r["answers"]["text"])
    lines = tl.lines(cfg)
    assert f"{sum(windows):,} features" in lines[1] and f"{tl.lost:,} of {tl.answerable:,}" in lines[2]


def test_qa_suggested_max_length_is_a_multiple_of_8_and_leaves_doc_stride_room(tiny_bert):
    tok = _tok(tiny_bert)
    cfg = _cfg("extractive_qa", tiny_bert, SQUAD, max_length=192, doc_stride=64)
    rows, _ = get_task("extractive_qa").load_examples(cfg)
    tl = measure_task(cfg, rows, tok)
    fig = tl.figures(192)
    for q, p in ((95, fig.p95), (99, fig.p99)):
        value = suggest_max_length(tl, cfg, q)
        assert value % 8 == 0 and value == max(-(-p // 8) * 8, -(-qa_floor(tl, 64) // 8) * 8)
    longest_q = max(len(tok(r["question"].lstrip(), add_special_tokens=False)["input_ids"]) for r in rows)
    assert tl.longest_question == longest_q
    cfg.qa.doc_stride = fig.p99  # a stride as long as the longest sample: the floor rules
    value = suggest_max_length(tl, cfg, 95)
    assert value % 8 == 0 and value >= longest_q + 3 + cfg.qa.doc_stride + 1
    cfg.qa.max_length = value  # and the trainer accepts it
    from engine.tasks.qa_features import encode_examples

    encode_examples(rows, tok, cfg.qa)
    assert suggest_max_length(tl, cfg, 99, model_max=16) == value  # a model limit never goes below the floor


def test_lengths_are_cached_by_task_settings(tiny_bert, private_cache):
    tok = _tok(tiny_bert)
    cfg = _cfg("extractive_qa", tiny_bert, SQUAD, max_length=96, doc_stride=32)
    rows, _ = get_task("extractive_qa").load_examples(cfg)
    first = measure_task(cfg, rows, tok)
    assert len(list(private_cache.glob("task-*.json"))) == 1
    assert measure_task(cfg, rows, tok) == first  # read back
    cfg.qa.doc_stride = 16  # other windows: measured again, cached beside
    again = measure_task(cfg, rows, tok)
    assert len(list(private_cache.glob("task-*.json"))) == 2 and again.windows != first.windows
    cfg.qa.max_length = 128
    measure_task(cfg, rows, tok)
    assert len(list(private_cache.glob("task-*.json"))) == 3
    cls = _cfg("classification", tiny_bert, TICKETS)
    cls_rows, _ = get_task("classification").load_examples(cls)
    measure_task(cls, cls_rows, tok)
    cls.cls.max_length = 8  # the lengths before truncation do not depend on it: the same entry
    measure_task(cls, cls_rows, tok)
    assert len(list(private_cache.glob("task-*.json"))) == 4
    cls.data.limit = 50  # another reading of the file: another entry
    measure_task(cls, get_task("classification").load_examples(cls)[0], tok)
    assert len(list(private_cache.glob("task-*.json"))) == 5


@pytest.mark.parametrize("task,path", [("extractive_qa", SQUAD), ("classification", TICKETS)])
def test_cli_data_with_a_task_config_prints_lengths(tiny_bert, tmp_path, capsys, task, path):
    from tui.cli import main

    cfg = _cfg(task, tiny_bert, path, max_length=96, **({"doc_stride": 32} if task == "extractive_qa" else {}))
    cfg_path = tmp_path / "cfg.yaml"
    save_config(cfg, cfg_path)
    assert main(["data", str(path), "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    rows, _ = get_task(task).load_examples(cfg)
    tl = measure_task(cfg, rows, _tok(tiny_bert))
    fig = tl.figures(96)
    assert f"p95 {fig.p95:,}, p99 {fig.p99:,}, max {fig.max:,}" in out and "█" in out
    if task == "extractive_qa":
        assert "windows at qa.max_length=96, qa.doc_stride=32" in out and "answers lost to truncation" in out
    else:
        assert f"over cls.max_length=96: {fig.over:,}" in out


def test_cli_data_with_qa_windows_that_cannot_be_made_is_one_line(tiny_bert, tmp_path, capsys):
    from tui.cli import main

    cfg = _cfg("extractive_qa", tiny_bert, SQUAD, max_length=96, doc_stride=128)
    cfg_path = tmp_path / "cfg.yaml"
    save_config(cfg, cfg_path)
    assert main(["data", str(SQUAD), "--config", str(cfg_path)]) == 2
    err = capsys.readouterr().err
    assert "qa.doc_stride" in err and len(err.strip().splitlines()) == 1
