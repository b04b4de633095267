"""Several datasets in one run (data.datasets): config rules, the weighted mix, per-dataset templates,
errors that name the dataset, the preview, `tunedeck data CONFIG`, and training end to end on the tiny Llama."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.config import load_config
from engine.errors import ConfigError, DataError
from tui.cli import main


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def alpaca_rows(n):
    return [{"instruction": f"Say the number {i}.", "input": "", "output": f"The number is {i}."} for i in range(n)]


def chat_rows(n):
    return [{"conversations": [{"from": "human", "value": f"Hello {i}"}, {"from": "gpt", "value": f"Hi there {i}!"}]}
            for i in range(n)]


def mix_yaml(tmp: Path, model: Path, a: Path, b: Path, **data) -> Path:
    cfg = {"model": {"name": str(model), "quantization": "none"},
           "lora": {"r": 4, "dropout": 0.0},
           "data": {"datasets": [{"path": str(a), "format": "alpaca", "template": "alpaca", "weight": 3},
                                 {"path": str(b), "format": "sharegpt", "template": "chatml", "weight": 1}],
                    "max_length": 64, **data},
           "training": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "save_steps": 100},
           "output": {"runs_dir": str(tmp / "runs")}}
    p = tmp / "mix.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


@pytest.fixture
def files(tmp_path):
    return write_jsonl(tmp_path / "a.jsonl", alpaca_rows(300)), write_jsonl(tmp_path / "b.jsonl", chat_rows(300))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("entries, field, words", [
    ([{"path": "a.jsonl", "weight": -1}], "data.datasets[1].weight", "must be a number > 0"),
    ([{"path": "a.jsonl"}, {"path": "b.jsonl", "format": "csv"}], "data.datasets[2].format", "must be one of auto, alpaca"),
    ([{"path": "a.jsonl"}, {"path": "b.jsonl", "colums": {}}], "data.datasets[2].colums", "unknown key"),
    ([{"format": "alpaca"}], "data.datasets[1].path", "must be set"),
    ([{"path": "a.jsonl", "template": "alpacka"}], "data.datasets[1].template", "did you mean alpaca"),
    ([{"path": "a.jsonl", "limit": 0}], "data.datasets[1].limit", "must be > 0"),
    ("a.jsonl", "data.datasets", "must be a list"),
])
def test_each_entry_is_checked_with_the_data_fields_rules(entries, field, words):
    with pytest.raises(ConfigError) as e:
        load_config(None, {"data.datasets": entries})
    assert [f for f, _ in e.value.errors] == [field] and words in e.value.errors[0][1], e.value.errors


def test_a_bad_entry_in_a_config_file_is_one_line_exit_2(tmp_path, files, tiny_model_dir, capsys):
    p = mix_yaml(tmp_path, tiny_model_dir, *files)
    data = yaml.safe_load(p.read_text())
    data["data"]["datasets"][1]["weight"] = "lots"
    p.write_text(yaml.safe_dump(data))
    assert main(["train", "--config", str(p), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(p) in err[0] and "data.datasets[2].weight" in err[0], err
    assert not (tmp_path / "r").exists()


def test_the_single_path_form_is_unchanged_and_a_mix_round_trips(tmp_path, files, tiny_model_dir):
    one = load_config("sample_data/quickstart.yaml")
    assert "datasets" not in one.to_dict()["data"] and "stopping_strategy" not in one.to_dict()["data"]
    cfg = load_config(mix_yaml(tmp_path, tiny_model_dir, *files))
    assert cfg.data.datasets[0] == {"path": str(files[0]), "format": "alpaca", "template": "alpaca", "weight": 3.0}
    (tmp_path / "again.yaml").write_text(cfg.to_yaml())
    assert load_config(tmp_path / "again.yaml") == cfg


def test_what_does_not_go_with_a_mix_is_named():
    with pytest.raises(ConfigError, match=r"data.val_path: does not go with data.datasets"):
        load_config(None, {"data.datasets": [{"path": "a.jsonl"}], "data.val_path": "v.jsonl"})
    with pytest.raises(ConfigError, match=r"data.datasets: applies to causal_lm runs only"):
        load_config(None, {"task": "classification", "data.datasets": [{"path": "a.jsonl"}]})


# --------------------------------------------------------------------------- the mix


def test_a_3_to_1_mix_gives_that_share_each_row_in_its_own_template(tmp_path, files, tiny_model_dir):
    from engine.events import MessageLogged
    from engine.model import load_tokenizer
    from engine.prepare import prepare_data

    cfg = load_config(mix_yaml(tmp_path, tiny_model_dir, *files))
    tok = load_tokenizer(cfg.model)
    messages = []
    data = prepare_data(cfg, tok, messages.append)
    texts = [tok.decode(ids) for ids in data.train["input_ids"]]
    alpaca = sum("### Instruction:" in t and "<|im_start|>" not in t for t in texts)
    chat = sum("<|im_start|>user\nHello" in t and "### Instruction" not in t for t in texts)
    assert alpaca + chat == len(texts)  # every sample is formatted with its own dataset's template
    # first_exhausted ends the mix when the 300 alpaca rows (p = 0.75) are used up: the chat rows drawn meanwhile
    # are negative-binomial, mean 100, sd sqrt(300 * 0.25) / 0.75 ~ 11.5, so the share is 0.75 +- 0.02 (1 sd);
    # +- 0.05 is over 4 sd, and the seeded draw is the same on every run
    assert alpaca == 300 and abs(alpaca / len(texts) - 0.75) < 0.05, (alpaca, chat)
    mixed = [m.text for m in messages if isinstance(m, MessageLogged) and m.text.startswith("Mixed")]
    assert mixed and f"dataset 1 {files[0]} 300" in mixed[0] and f"dataset 2 {files[1]} {chat}" in mixed[0], mixed


def test_all_exhausted_repeats_the_smaller_share_until_every_row_is_used(tmp_path, tiny_model_dir):
    from engine.data.mix import mix_order

    order = mix_order([300, 30], [3, 1], 42, "all_exhausted")
    seen = {p: {r for q, r in order if q == p} for p in (0, 1)}
    assert seen == {0: set(range(300)), 1: set(range(30))}
    assert abs(sum(1 for p, _ in order if p == 0) / len(order) - 0.75) < 0.05


def test_a_bad_row_in_dataset_2_is_named_with_its_dataset_file_and_row(tmp_path, files, tiny_model_dir):
    from engine.model import load_tokenizer
    from engine.prepare import prepare_data

    bad = chat_rows(5)
    bad[2] = {"conversations": ["not a turn"]}
    write_jsonl(files[1], bad)
    cfg = load_config(mix_yaml(tmp_path, tiny_model_dir, *files))
    with pytest.raises(DataError) as e:
        prepare_data(cfg, load_tokenizer(cfg.model))
    assert str(e.value).startswith(f"dataset 2, {files[1]}: row 3: conversations[0]"), str(e.value)
    files[1].write_text(files[1].read_text().replace('{"conversations": ["not a turn"]}', "{oops"))
    with pytest.raises(DataError) as e:
        prepare_data(cfg, load_tokenizer(cfg.model))
    assert str(e.value).startswith("dataset 2 (data.datasets[2]): ") and f"{files[1]}:3" in str(e.value), str(e.value)


def test_the_preview_rows_name_their_dataset_and_use_its_template(tmp_path, files, tiny_model_dir):
    from engine.data import load_dataset
    from engine.model import load_tokenizer
    from engine.tokenize import encode_row

    cfg = load_config(mix_yaml(tmp_path, tiny_model_dir, *files))
    rows, info = load_dataset(cfg.data)
    assert len(rows) == info.num_rows and 350 < len(rows) < 450
    tok = load_tokenizer(cfg.model)
    kinds = set()
    for i in range(20):
        s = encode_row(rows[i], info, cfg.data, tok)
        if s.source.startswith("dataset 2"):
            assert s.source == f"dataset 2, {files[1]} · chatml" and "<|im_start|>" in s.rendered.text
            assert rows.source(i).startswith(f"dataset 2, {files[1]}: row ")
        else:
            assert s.source == f"dataset 1, {files[0]} · alpaca" and "### Instruction:" in s.rendered.text
        kinds.add(s.source[:9])
    assert kinds == {"dataset 1", "dataset 2"}


def test_tunedeck_data_of_a_mix_config_shows_each_dataset_and_the_counts(tmp_path, files, tiny_model_dir, capsys):
    assert main(["data", str(mix_yaml(tmp_path, tiny_model_dir, *files))]) == 0
    out = capsys.readouterr().out
    assert f"dataset 1: {files[0]}: alpaca (set) · 300 rows" in out and "template alpaca · weight 3" in out
    assert f"dataset 2: {files[1]}: sharegpt (set) · 300 rows" in out and "template chatml · weight 1" in out
    assert "Mixed " in out and f"dataset 1 {files[0]} 300 (" in out


def test_a_mix_trains_end_to_end_on_the_tiny_model(tmp_path, tiny_model_dir, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", alpaca_rows(12))
    b = write_jsonl(tmp_path / "b.jsonl", chat_rows(12))
    p = mix_yaml(tmp_path, tiny_model_dir, a, b, val_split=0.25)
    assert main(["train", "--config", str(p), "--quiet", "--run-dir", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert any(e["event"] == "message" and e["text"].startswith("Mixed ") for e in events)
    started = next(e for e in events if e["event"] == "started")
    assert started["val_samples"] == 6 and started["config"]["data"]["datasets"][1]["template"] == "chatml"
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").exists()
    from engine.infer import resolved_template
    from engine.runs import summarize_run
    from engine.train import run_name

    cfg = load_config(tmp_path / "run" / "config.yaml")
    assert summarize_run(tmp_path / "run").dataset_short == "a.jsonl + b.jsonl"
    assert run_name(cfg).endswith("-a-mix2")
    assert resolved_template(cfg)[:2] == ("alpaca", "alpaca")  # generate formats a prompt as dataset 1's rows
