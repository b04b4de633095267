"""Text classification (task: classification): labels, detection, warnings, scikit-learn scores against hand
computation, a tiny BERT and the tiny Llama overfitting a few rows, the 4-bit LoRA path, and the CLI
(eval -> eval.json, generate, export through transformers' pipeline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.config import load_config
from engine.tasks.cls_data import LabelSpace, load_examples, load_splits, sniff
from engine.tasks.cls_metrics import classification_scores
from tui.cli import main

ROWS = [
    ("the screen freezes and crashes", "bug"),
    ("an error appears when saving", "bug"),
    ("how do I change the learning rate?", "question"),
    ("where are the runs kept?", "question"),
    ("thank you, this tool is wonderful", "praise"),
    ("great work, I love it", "praise"),
]


def jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def rows_file(path: Path, rows=ROWS, text="text", label="label") -> Path:
    return jsonl(path, [{text: t, label: lab} for t, lab in rows])


# --------------------------------------------------------------------------- labels and data


def test_string_labels_map_to_sorted_ids_and_back(tmp_path):
    rows, info = load_examples(str(rows_file(tmp_path / "d.jsonl")))
    labels = info.labels
    assert labels.kind == "string" and labels.names == ["bug", "praise", "question"]
    assert labels.label2id == {"bug": 0, "praise": 1, "question": 2}
    assert [labels.id2label[labels.encode(r["label"], "d", r["row"])] for r in rows] == [lab for _, lab in ROWS]
    assert info.counts == {"bug": 2, "praise": 2, "question": 2}
    again = LabelSpace(**json.loads(json.dumps(labels.to_dict())))  # as RUN/labels.json keeps it
    assert again.id2label == labels.id2label


def test_integer_labels_keep_their_ids(tmp_path):
    rows, info = load_examples(str(jsonl(tmp_path / "d.jsonl", [{"sentence": "a b", "label": 2},
                                                                 {"sentence": "c d", "label": 0}])))
    assert info.labels.kind == "int" and info.labels.names == ["0", "1", "2"]
    assert [info.labels.encode(r["label"], "d", r["row"]) for r in rows] == [2, 0]
    assert info.counts == {"0": 1, "1": 0, "2": 1}
    assert any("'1' has no rows" in w for w in info.warnings())


def test_a_list_label_makes_the_data_multi_label(tmp_path):
    rows, info = load_examples(str(jsonl(tmp_path / "d.jsonl", [{"text": "a", "labels": ["x", "y"]},
                                                                 {"text": "b", "labels": ["y"]}])))
    assert info.labels.multi and info.labels.names == ["x", "y"]
    assert info.labels.encode(rows[0]["label"], "d", 1) == [1.0, 1.0]
    assert info.counts == {"x": 1, "y": 2}


def test_a_text_pair_is_found(tmp_path):
    _, info = load_examples(str(jsonl(tmp_path / "d.jsonl", [{"premise": "p", "hypothesis": "h", "label": "yes"}])))
    assert (info.text_column, info.pair_column, info.label_column) == ("premise", "hypothesis", "label")


def test_a_validation_label_unseen_in_training_names_the_row(tmp_path, capsys):
    train = rows_file(tmp_path / "train.jsonl")
    val = rows_file(tmp_path / "val.jsonl", [ROWS[0], ROWS[2], ("please add dark mode", "feature")])
    code = main(["train", "--config", "sample_data/classify_quickstart.yaml", "--data", str(train),
                 "--set", f"data.val_path={val}", "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "val.jsonl: row 3: label 'feature' is not among the training labels" in err[0], err
    assert "bug, praise, question" in err[0]
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_csv_with_quoted_commas_and_unicode_is_detected(tmp_path, capsys):
    p = tmp_path / "reviews.csv"
    p.write_text('review,sentiment\n"Great, really great — café crème ☕",pos\n"Bad, slow, and \'broken\'",neg\n'
                 '"Ça marche, merci",pos\n', encoding="utf-8")
    info = sniff(str(p))
    assert info is not None and (info.text_column, info.label_column) == ("review", "sentiment")
    rows, _ = load_examples(str(p))
    assert rows[0]["text"] == "Great, really great — café crème ☕" and rows[2]["text"] == "Ça marche, merci"
    assert main(["data", str(p)]) == 0
    out = capsys.readouterr().out
    assert "task: classification fits this data: 3 rows, text <- review, label <- sentiment (2 classes)" in out
    assert "pos" in out and "neg" in out


def test_cli_data_warns_about_strong_imbalance_and_tiny_classes(tmp_path, capsys):
    rows = [(f"message number {i}", "common") for i in range(40)] + [("rare one", "rare"), ("rare two", "rare")]
    p = rows_file(tmp_path / "imb.jsonl", rows)
    assert main(["data", str(p)]) == 0
    captured = capsys.readouterr()
    assert re.search(r"common\s+40\s+95\.2%", captured.out) and re.search(r"rare\s+2\s+4\.8%", captured.out)
    assert "strongly imbalanced: 'common' has 40 rows, 'rare' 2 (20x)" in captured.err
    assert "cls.class_weights: balanced" in captured.err
    assert "'rare' (2 rows) has too few rows for a 10% validation split" in captured.err


def test_balanced_data_gets_no_warning(tmp_path, capsys):
    assert main(["data", str(rows_file(tmp_path / "d.jsonl", ROWS * 10))]) == 0
    assert "warning" not in capsys.readouterr().err


def test_data_without_a_label_column_lists_the_columns(tmp_path, capsys):
    p = jsonl(tmp_path / "d.jsonl", [{"text": "a", "kind": "x"}])
    code = main(["train", "--config", "sample_data/classify_quickstart.yaml", "--data", str(p)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "needs a label column" in err[0] and "found columns: text, kind" in err[0]


def test_a_stratified_split_keeps_every_class_in_training(tmp_path):
    p = rows_file(tmp_path / "d.jsonl", [(f"a{i}", "a") for i in range(20)] + [(f"b{i}", "b") for i in range(10)])
    cfg = load_config("sample_data/classify_quickstart.yaml", [f"data.path={p}", "data.val_split=0.2"])
    train, val, _ = load_splits(cfg)
    assert sorted(r["label"] for r in val) == ["a"] * 4 + ["b"] * 2
    assert len(train) == 24


def test_full_fine_tuning_of_a_quantized_base_is_an_error_naming_cls_method(tmp_path, capsys):
    code = main(["train", "--config", "sample_data/classify_quickstart.yaml", "--set", "model.quantization=4bit",
                 "--set", "cls.method=full", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cls.method" in err[0]


# --------------------------------------------------------------------------- metrics


def test_scores_match_a_hand_computed_confusion_matrix():
    gold = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 2, 2]
    s = classification_scores(gold, pred, ["a", "b", "c"])
    # per class: a P=2/2 R=2/3 F1=0.8; b P=1/2 R=1/2 F1=0.5; c P=1/2 R=1/1 F1=2/3; supports 3, 2, 1
    assert s["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert s["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3, abs=1e-6)
    assert s["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3, abs=1e-6)
    assert s["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3, abs=1e-6)
    assert s["weighted"]["precision"] == pytest.approx((3 * 1 + 2 * 0.5 + 1 * 0.5) / 6, abs=1e-6)
    assert s["weighted"]["recall"] == pytest.approx(4 / 6, abs=1e-6)
    assert s["weighted"]["f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6, abs=1e-6)
    assert s["f1"] != pytest.approx(s["weighted"]["f1"], abs=1e-3)
    assert s["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3, abs=1e-6), "f1": 0.8, "support": 3}
    assert s["confusion_matrix"] == {"labels": ["a", "b", "c"], "matrix": [[2, 1, 0], [0, 1, 1], [0, 0, 1]]}


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from engine.tasks.qa_tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert", [t for t, _ in ROWS], vocab_size=300)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    from engine.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("llama") / "tiny-llama")


def overfit(model: Path, tmp: Path, **extra) -> Path:
    from engine.train import train

    data = rows_file(tmp / "tiny.jsonl")
    settings = {"task": "classification", "model.name": str(model), "data.path": str(data), "data.val_path": str(data),
                "cls.max_length": 32, "training.learning_rate": 3e-3, "training.max_steps": 40,
                "training.batch_size": 6, "training.eval_steps": 20, "training.save_steps": 40,
                "training.warmup_ratio": 0.0, "training.lr_scheduler": "constant", "output.runs_dir": str(tmp / "runs")}
    settings.update(extra)
    result = train(load_config(None, settings), run_dir=tmp / "runs" / "run")
    assert result.status == "finished", result.last_event
    return result.run_dir


@pytest.fixture(scope="module")
def bert_run(tiny_bert, tmp_path_factory) -> Path:
    return overfit(tiny_bert, tmp_path_factory.mktemp("cls"))


def last_eval(run: Path):
    from engine.events import EvalLogged, read_events

    return [e for e in read_events(run / "metrics.jsonl") if isinstance(e, EvalLogged)][-1]


def test_a_tiny_bert_overfits_a_few_rows_to_accuracy_one(bert_run):
    ev = last_eval(bert_run)
    assert ev.accuracy == 1.0 and ev.f1 == 1.0 and ev.perplexity is None and ev.eval_loss < 0.3
    line = [json.loads(x) for x in (bert_run / "metrics.jsonl").read_text().splitlines() if '"eval"' in x][-1]
    assert {"accuracy", "f1", "eval_loss"} <= set(line) and "exact_match" not in line
    saved = json.loads((bert_run / "model" / "config.json").read_text())
    assert saved["id2label"] == {"0": "bug", "1": "praise", "2": "question"}


def test_cli_eval_writes_eval_json_and_prints_the_confusion_matrix(bert_run, capsys):
    assert main(["eval", str(bert_run)]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.0000  macro F1 1.0000" in out and "confusion matrix (rows: gold, columns: predicted)" in out
    report = json.loads((bert_run / "eval.json").read_text())
    assert report["task"] == "classification" and report["accuracy"] == 1.0 and report["f1"] == 1.0
    assert report["weighted"]["f1"] == 1.0 and report["per_class"]["bug"]["support"] == 2
    assert report["confusion_matrix"] == {"labels": ["bug", "praise", "question"],
                                          "matrix": [[2, 0, 0], [0, 2, 0], [0, 0, 2]]}
    row = report["rows"][0]
    assert row["text"] == ROWS[0][0] and row["gold"] == "bug" and row["predicted"] == "bug"
    assert set(row["probabilities"]) == {"bug", "praise", "question"}
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_cli_generate_prints_probabilities_tuned_and_base(bert_run, capsys):
    assert main(["generate", str(bert_run), "--text", ROWS[4][0]]) == 0
    tuned = capsys.readouterr().out.strip().splitlines()
    assert tuned[0].split()[0] == "praise" and float(tuned[0].split()[1]) > 0.5
    assert main(["generate", str(bert_run), "--text", ROWS[4][0], "--base"]) == 0
    base = capsys.readouterr().out.strip().splitlines()
    assert {line.split()[0] for line in base} == {"bug", "praise", "question"}
    assert float(base[0].split()[1]) < float(tuned[0].split()[1])


def test_export_classifies_through_the_transformers_pipeline_with_label_names(bert_run, tmp_path, capsys):
    from transformers import pipeline

    out = tmp_path / "exported"
    assert main(["export", str(bert_run), "--merged", str(out)]) == 0
    clf = pipeline("text-classification", model=str(out), device="cpu")
    got = [r["label"] for r in clf([t for t, _ in ROWS])]
    assert got == [lab for _, lab in ROWS]


@pytest.fixture(scope="module")
def llama_run(tiny_llama, tmp_path_factory) -> Path:
    return overfit(tiny_llama, tmp_path_factory.mktemp("llama-cls"), **{
        "cls.method": "lora", "lora.r": 8, "training.learning_rate": 1e-2, "training.max_steps": 60,
        "training.eval_steps": 30, "training.save_steps": 60})


def test_the_tiny_llama_as_a_classifier_overfits_with_lora_and_a_fully_trained_head(llama_run, tmp_path, capsys):
    run = llama_run
    ev = last_eval(run)
    assert ev.accuracy == 1.0 and ev.f1 == 1.0
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    from safetensors import safe_open

    with safe_open(str(run / "adapter" / "adapter_model.safetensors"), "pt") as f:
        assert any("score" in k for k in f.keys())  # the head is saved with the adapter
    assert main(["eval", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["accuracy"] == 1.0
    out = tmp_path / "merged"
    assert main(["export", str(run), "--merged", str(out)]) == 0
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(out), device="cpu")
    assert [r["label"] for r in clf([t for t, _ in ROWS])] == [lab for _, lab in ROWS]


def test_the_4bit_causal_lm_classifier_trains_through_lora(tiny_llama, tmp_path):
    run = overfit(tiny_llama, tmp_path, **{"model.quantization": "4bit", "training.max_steps": 2,
                                           "training.eval_steps": 2, "training.save_steps": 2})
    cfg = json.loads(json.dumps(load_config(run / "config.yaml").to_dict()))
    assert cfg["cls"]["method"] == "auto" and cfg["model"]["quantization"] == "4bit"
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    from engine.events import RunStarted, StepLogged, read_events

    events = list(read_events(run / "metrics.jsonl"))
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.trainable_params < start.total_params / 2 and start.frozen_weights
    assert [e.step for e in events if isinstance(e, StepLogged)] == [1, 2]
    assert last_eval(run).accuracy is not None


def test_class_weights_balanced_trains_and_says_its_weights(tiny_bert, tmp_path):
    from engine.events import MessageLogged, read_events

    rows = ROWS + [("another crash on start", "bug")] * 4
    data = rows_file(tmp_path / "w.jsonl", rows)
    run = overfit(tiny_bert, tmp_path, **{"data.path": str(data), "data.val_path": str(data),
                                          "cls.class_weights": "balanced", "training.max_steps": 3})
    said = [e.text for e in read_events(run / "metrics.jsonl") if isinstance(e, MessageLogged)]
    assert "Class weights: bug 0.56, praise 1.67, question 1.67" in said


@pytest.mark.slow
def test_the_quickstart_switched_to_the_4bit_demo_lm_trains_two_steps(tmp_path, capsys):
    from engine.demo import demo_model_dir

    if not (demo_model_dir("smollm2-135m-instruct") / "config.json").exists():
        pytest.skip("the demo model is not pulled (scripts/setup.sh does it)")
    code = main(["train", "--config", "sample_data/classify_quickstart.yaml", "--model", "smollm2-135m-instruct",
                 "--set", "model.quantization=4bit", "--max-steps", "2", "--quiet", "--set", "data.limit=48",
                 "--set", "training.batch_size=4", "--set", "training.logging_steps=1", "--run-dir", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert all(0 < e["loss"] < 10 for e in events if e["event"] == "step")
    assert [("accuracy" in e, "f1" in e) for e in events if e["event"] == "eval"] == [(True, True)]
    adapter = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    assert main(["generate", str(tmp_path / "run"), "--text", "The export crashes"]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.strip().splitlines()} == {"bug", "praise", "question"}


# --------------------------------------------------------------------------- training in stages


def losses(run: Path) -> list[float]:
    from engine.events import StepLogged, read_events

    return [e.loss for e in read_events(run / "metrics.jsonl") if isinstance(e, StepLogged)]


def stage_two(stage1: Path, tmp: Path, model: Path, **extra) -> Path:
    from engine.train import train

    settings = {"task": "classification", "model.name": str(model), "model.from_run": str(stage1),
                "data.path": str(rows_file(tmp / "tiny.jsonl")), "cls.max_length": 32, "training.learning_rate": 1e-5,
                "training.max_steps": 2, "training.batch_size": 6, "training.save_steps": 2,
                "training.warmup_ratio": 0.0, "output.runs_dir": str(tmp / "runs")}
    settings.update(extra)
    result = train(load_config(None, settings), run_dir=tmp / "runs" / "stage2")
    assert result.status == "finished", result.last_event
    return result.run_dir


def test_stage_two_starts_from_stage_one_fine_tuned_model(bert_run, tiny_bert, tmp_path):
    first = losses(bert_run)
    run = stage_two(bert_run, tmp_path, tiny_bert)
    second = losses(run)
    assert first[0] > 0.9  # the base with a fresh head: about ln(3)
    assert second[0] < 0.3 and abs(second[0] - first[-1]) < 0.15, (first[-1], second[0])
    assert load_config(run / "config.yaml").model.from_run == str(bert_run)
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage == {"from_run": str(bert_run), "chain": [str(bert_run)], "start": "fine-tuned model",
                       "from_task": "classification"}
    from engine.runs import summarize_run

    assert summarize_run(run).lineage == [str(bert_run), str(run)]
    assert summarize_run(bert_run).lineage == [str(bert_run)]


def test_stage_two_from_a_lora_run_starts_from_its_merged_adapter(llama_run, tiny_llama, tmp_path):
    first = losses(llama_run)
    run = stage_two(llama_run, tmp_path, tiny_llama, **{"cls.method": "lora", "lora.r": 8})
    second = losses(run)
    assert first[0] > 0.9 and second[0] < 0.3 and abs(second[0] - first[-1]) < 0.15, (first[0], first[-1], second[0])
    assert (run / "start" / "config.json").exists()
    assert json.loads((run / "lineage.json").read_text())["start"] == "merged adapter"


def test_a_stage_from_a_run_without_a_result_names_model_from_run(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("task: classification\n")
    code = main(["train", "--config", "sample_data/classify_quickstart.yaml", "--from", str(tmp_path / "half"),
                 "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "model.from_run" in err[0] and "no final model or adapter" in err[0]


def test_a_classification_stage_starts_from_a_causal_lm_run_on_raw_text(tiny_llama, tmp_path):
    from engine.train import train

    text = rows_file(tmp_path / "raw.jsonl")
    stage1 = train(load_config(None, {"model.name": str(tiny_llama), "model.quantization": "none", "data.path": str(text),
                                      "data.format": "text", "data.template": "text", "training.max_steps": 2,
                                      "training.batch_size": 3, "training.save_steps": 2, "output.runs_dir": str(tmp_path)}),
                   run_dir=tmp_path / "domain")
    assert stage1.status == "finished", stage1.last_event
    run = stage_two(tmp_path / "domain", tmp_path, tiny_llama, **{"model.name": "minilm-l6-v2", "cls.method": "lora"})
    assert load_config(run / "config.yaml").model.name == str(tiny_llama)  # the stage's base is RUN's base
    saved = json.loads((run / "start" / "config.json").read_text())
    assert saved["architectures"] == ["LlamaForCausalLM"]  # stage 1 merged; stage 2 put a head on it
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage["from_task"] == "causal_lm" and lineage["start"] == "merged adapter"
    assert json.loads((run / "adapter" / "adapter_config.json").read_text())["task_type"] == "SEQ_CLS"
