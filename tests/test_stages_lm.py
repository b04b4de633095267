"""Training in stages for causal LMs (model.from_run / tunedeck train --from RUN) on the tiny Llama, on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import load_config
from engine.events import StepLogged, read_events
from engine.train import train
from tui.cli import main

DOCS = [
    {"text": "TuneDeck trains a LoRA adapter on a frozen base model and writes every run to its own folder."},
    {"text": "The Template screen shows each sample exactly as the trainer sees it, prompt dim and answer bright."},
    {"text": "A run folder holds config.yaml, status.json, metrics.jsonl, the checkpoints and the adapter."},
    {"text": "Press t on the Train screen to start training and s to save a checkpoint at once."},
]
QA = [
    {"question": "What key starts training?", "answer": "Press t on the Train screen."},
    {"question": "Where is the adapter saved?", "answer": "In the adapter folder of the run directory."},
]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def losses(run: Path) -> list[float]:
    return [e.loss for e in read_events(run / "metrics.jsonl") if isinstance(e, StepLogged)]


def lm_config(model: Path, data: Path, tmp: Path, **over):
    sets = {"model.name": str(model), "model.quantization": "none", "data.path": str(data), "data.max_length": 64,
            "training.learning_rate": 5e-3, "training.max_steps": 24, "training.batch_size": 4,
            "training.warmup_ratio": 0.0, "training.lr_scheduler": "constant", "training.save_steps": 100,
            "lora.r": 8, "lora.dropout": 0.0, "output.runs_dir": str(tmp / "runs")}
    sets.update(over)
    return load_config(None, sets)


@pytest.fixture(scope="module")
def domain_run(tiny_model_dir, tmp_path_factory) -> Path:
    """Stage 1: the tiny Llama on raw domain text (format text), trained until its loss is well down."""
    tmp = tmp_path_factory.mktemp("stage1")
    docs = write_jsonl(tmp / "docs.jsonl", DOCS * 4)
    result = train(lm_config(tiny_model_dir, docs, tmp, **{"data.format": "text", "data.template": "text"}),
                   run_dir=tmp / "runs" / "domain")
    assert result.status == "finished", result.last_event
    return result.run_dir


def test_stage_two_starts_from_stage_one_not_the_base(domain_run, tiny_model_dir, tmp_path):
    first = losses(domain_run)
    final = sum(first[-4:]) / 4  # the last pass over the 4 batches
    assert final < first[0] * 0.6, (first[0], final)
    # stage 2 on stage 1's own data, with a learning rate too small to move: its first loss is where stage 1 ended
    docs = load_config(domain_run / "config.yaml").data.path
    cfg = lm_config(tiny_model_dir, Path(docs), tmp_path, **{"data.format": "text", "data.template": "text",
                    "training.learning_rate": 1e-7, "training.max_steps": 4, "model.from_run": str(domain_run)})
    result = train(cfg, run_dir=tmp_path / "runs" / "stage2")
    assert result.status == "finished", result.last_event
    second = losses(result.run_dir)
    # at stage 1's final level (its last losses were measured before their updates, so it may be a little lower)
    # and nowhere near the base model's
    assert second[0] < 1.25 * final and second[0] < first[0] / 3, (first[0], final, second[0])
    # the chain is recorded: config, lineage.json, the run summary; the start point is the merged adapter
    run = result.run_dir
    saved = load_config(run / "config.yaml")
    assert saved.model.from_run == str(domain_run) and saved.model.name == str(tiny_model_dir)
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage == {"from_run": str(domain_run), "chain": [str(domain_run)], "start": "merged adapter",
                       "from_task": "causal_lm"}
    assert (run / "start" / "config.json").exists()
    from engine.runs import summarize_run

    assert summarize_run(run).lineage == [str(domain_run), str(run)]

    # stage 3 from stage 2: stage 2's adapter is merged into stage 2's start point, not into the base
    cfg3 = lm_config(tiny_model_dir, Path(docs), tmp_path, **{"data.format": "text", "data.template": "text",
                     "training.learning_rate": 1e-7, "training.max_steps": 1, "model.from_run": str(run)})
    third = train(cfg3, run_dir=tmp_path / "runs" / "stage3")
    assert third.status == "finished", third.last_event
    assert abs(losses(third.run_dir)[0] - second[0]) < 0.1 * second[0], (second[0], losses(third.run_dir))
    assert json.loads((third.run_dir / "lineage.json").read_text())["chain"] == [str(domain_run), str(run)]


def test_instruction_tuning_from_a_domain_stage_generates_from_its_start_point(domain_run, tiny_model_dir, tmp_path, capsys):
    qa = write_jsonl(tmp_path / "qa.jsonl", QA * 4)
    code = main(["train", "--config", "sample_data/quickstart.yaml", "--from", str(domain_run), "--quiet",
                 "--data", str(qa), "--set", "model.quantization=none", "--set", "data.template=qa",
                 "--set", "data.val_split=0", "--max-steps", "2", "--run-dir", str(tmp_path / "qa-stage")])
    assert code == 0, capsys.readouterr().err
    run = tmp_path / "qa-stage"
    assert load_config(run / "config.yaml").model.from_run == str(domain_run)
    # the model of generate/eval/export is the start point plus this stage's adapter
    from engine.infer import load_for_generation

    gen = load_for_generation(run, adapter=False)
    from safetensors.torch import load_file

    start = load_file(str(run / "start" / "model.safetensors"))
    name = next(k for k in start if k.endswith("q_proj.weight"))
    import torch

    loaded = dict(gen.model.named_parameters())[name]
    assert torch.equal(loaded.detach().float(), start[name].float())


def test_from_an_unfinished_or_missing_run_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("model:\n  quantization: none\n")
    for given, words in ((tmp_path / "half", "no final model or adapter"), (tmp_path / "nowhere", "model.from_run")):
        code = main(["train", "--config", "sample_data/quickstart.yaml", "--from", str(given),
                     "--run-dir", str(tmp_path / "r")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "model.from_run" in err[0] and words in err[0], err
        assert not (tmp_path / "r").exists()


def test_a_causal_lm_stage_from_a_classification_run_is_refused(tmp_path, capsys):
    cls = tmp_path / "cls"
    (cls / "model").mkdir(parents=True)
    (cls / "config.yaml").write_text("task: classification\n")
    (cls / "model" / "config.json").write_text("{}")
    code = main(["train", "--config", "sample_data/quickstart.yaml", "--from", str(cls), "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is a classification run" in err[0], err


def test_a_lora_classification_stage_is_evaluated_on_its_start_point(domain_run, tiny_model_dir, tmp_path):
    """After a LoRA stage the trained model is the start point plus the adapter (not the chain's base plus it)."""
    import torch
    from safetensors.torch import load_file

    from engine.tasks.cls_model import load_trained

    rows = [{"text": f"{w} number {i}", "label": w} for i in range(6) for w in ("bug", "praise")]
    data = write_jsonl(tmp_path / "cls.jsonl", rows)
    cfg = load_config(None, {"task": "classification", "model.name": str(tiny_model_dir), "cls.method": "lora",
                             "model.from_run": str(domain_run), "data.path": str(data), "cls.max_length": 32,
                             "training.max_steps": 1, "training.batch_size": 4, "lora.r": 4,
                             "output.runs_dir": str(tmp_path / "runs")})
    result = train(cfg, run_dir=tmp_path / "runs" / "cls-stage")
    assert result.status == "finished", result.last_event
    model, _, labels = load_trained(result.run_dir, load_config(result.run_dir / "config.yaml"))
    start = load_file(str(result.run_dir / "start" / "model.safetensors"))
    name = next(k for k in start if k.endswith("layers.0.mlp.down_proj.weight"))
    loaded = next(p for n, p in model.named_parameters() if n.endswith("layers.0.mlp.down_proj.base_layer.weight")
                  or n.endswith("layers.0.mlp.down_proj.weight"))
    assert torch.equal(loaded.detach().float(), start[name].float()) and labels.names == ["bug", "praise"]
