"""The real training loop (transformers Trainer + peft) on a tiny Llama, on CPU."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine import rundir
from engine.config import load_config
from engine.events import CheckpointSaved, MessageLogged, RunFailed, RunFinished, RunStarted, StepLogged, read_events
from engine.train import train

QA = [
    {"question": "What key starts training?", "answer": "Press t on the Train screen."},
    {"question": "Where is the adapter saved?", "answer": "In the adapter folder of the run directory."},
    {"question": "What does 4bit mean?", "answer": "The base weights are stored as 4-bit NF4 numbers."},
    {"question": "What is LoRA?", "answer": "A pair of small matrices trained beside a frozen layer."},
]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def qa_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", QA * 4)


def tiny_config(tiny_model_dir, data_path, tmp_path, **over):
    sets = {
        "model.name": str(tiny_model_dir),
        "model.quantization": "none",
        "data.path": str(data_path),
        "data.template": "qa",
        "data.max_length": 64,
        "training.learning_rate": 5e-3,
        "training.max_steps": 20,
        "training.batch_size": 4,
        "training.warmup_ratio": 0.0,
        "training.lr_scheduler": "constant",
        "training.save_steps": 10,
        "lora.r": 8,
        "lora.dropout": 0.0,
        "output.runs_dir": str(tmp_path / "runs"),
    }
    sets.update(over)
    return load_config(None, sets)


def test_tiny_model_trains_loss_falls_lora_changes_base_does_not(tiny_model_dir, qa_file, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    events = []
    result = train(tiny_config(tiny_model_dir, qa_file, tmp_path), on_event=events.append)
    assert result.status == "finished", result.last_event

    steps = [e for e in events if isinstance(e, StepLogged)]
    assert [s.step for s in steps] == list(range(1, 21))
    first = sum(s.loss for s in steps[:3]) / 3
    last = sum(s.loss for s in steps[-3:]) / 3
    assert last < first * 0.7, (first, last)
    assert all(s.tokens_per_second and s.tokens_per_second > 0 for s in steps[1:])
    assert all(s.mfu is None for s in steps)  # no peak FLOP/s to divide by on a CPU
    assert steps[-1].eta == 0

    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.max_steps == 20 and started.train_samples == 16 and 0 < started.trainable_params < started.total_params
    assert started.batching == "padding_free"
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [10, 20]
    assert isinstance(events[-1], RunFinished)

    rd = result.run_dir
    assert rundir.read_status(rd)["status"] == "finished"
    assert [type(e) for e in read_events(rd / "metrics.jsonl")] == [type(e) for e in events]
    assert load_config(rd / "config.yaml").model.name == str(tiny_model_dir)

    # LoRA B matrices start at zero; training moved them. The frozen base weights did not move.
    adapter = load_file(rd / "adapter" / "adapter_model.safetensors")
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = PeftModel.from_pretrained(base, rd / "adapter")
    merged = tuned.merge_and_unload()
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all(("proj" in k) for k in changed)  # only LoRA-adapted linear layers differ once merged
    fresh = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert all(torch.equal(fresh[k], before[k]) for k in fresh)


def test_stop_request_saves_checkpoint_and_resume_continues_steps(tiny_model_dir, qa_file, tmp_path):
    stop = threading.Event()

    def on_event(e):
        if isinstance(e, StepLogged) and e.step == 3:
            stop.set()

    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.max_steps": 8, "training.save_steps": 100})
    result = train(cfg, on_event=on_event, stop=stop)
    assert result.status == "stopped"
    assert rundir.read_status(result.run_dir)["status"] == "stopped"
    # The stop asked for while step 3 was being logged ends training after the next step, with a checkpoint.
    assert rundir.last_checkpoint(result.run_dir).name == "checkpoint-4"
    assert result.last_event.checkpoint.endswith("checkpoint-4")

    resumed = train(None, resume=result.run_dir)
    assert resumed.status == "finished", resumed.last_event
    steps = [e.step for e in read_events(result.run_dir / "metrics.jsonl") if isinstance(e, StepLogged)]
    assert steps == [1, 2, 3, 4, 5, 6, 7, 8]  # appended, continuous
    started = [e for e in read_events(result.run_dir / "metrics.jsonl") if isinstance(e, RunStarted)]
    assert started[-1].resumed_from_step == 4
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").exists()


def test_4bit_qlora_trains_on_cpu(tiny_model_dir, qa_file, tmp_path):
    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"model.quantization": "4bit", "training.max_steps": 3,
                                                           "model.name": str(tiny_model_dir)})
    # bitsandbytes quantizes linear layers whose dims are multiples of its block size; the tiny model's are.
    result = train(cfg)
    assert result.status == "finished", result.last_event
    assert (result.run_dir / "adapter" / "adapter_config.json").exists()


def test_validation_split_logs_eval_loss(tiny_model_dir, qa_file, tmp_path):
    events = []
    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"data.val_split": 0.25, "training.max_steps": 4,
                                                           "training.eval_steps": 2})
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    evals = [e for e in events if e.name == "eval"]
    assert [e.step for e in evals] == [2, 4]
    assert all(e.eval_loss > 0 and e.perplexity > 1 for e in evals)


def test_missing_data_file_fails_with_one_line_before_model_loads(tiny_model_dir, tmp_path):
    events = []
    result = train(tiny_config(tiny_model_dir, tmp_path / "nope.jsonl", tmp_path), on_event=events.append)
    assert result.status == "failed"
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.user_error
    assert "nope.jsonl" in failed.error and "\n" not in failed.error
    assert not any(isinstance(e, MessageLogged) and e.text.startswith("Loading " + str(tiny_model_dir)) for e in events)
    assert not (tmp_path / "runs").exists()  # bad data: no run folder is made at all


def test_all_empty_completions_refused_before_model_loads(tiny_model_dir, tmp_path):
    data = write_jsonl(tmp_path / "empty.jsonl", [{"question": f"q{i}", "answer": ""} for i in range(5)])
    events = []
    result = train(tiny_config(tiny_model_dir, data, tmp_path), on_event=events.append)
    assert result.status == "failed"
    assert "nothing to train" in result.last_event.error
    assert not any(isinstance(e, MessageLogged) and "compute" in e.text for e in events)


def test_padding_free_batch_has_the_same_loss_as_padded(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.trainer import Collator

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.config.use_cache = False
    g = torch.Generator().manual_seed(0)
    feats = []
    for n in (5, 17, 9, 30):
        ids = torch.randint(5, 400, (n,), generator=g).tolist()
        feats.append({"input_ids": ids, "labels": [-100] * (n // 2) + ids[n // 2:]})
    packed = Collator(tok, "padding_free")(feats)
    rows = Collator(tok, "padding_free", row_tokens=32)(feats)  # 30 | 17+9+5 = 31: two rows, one padded by 1
    padded = Collator(tok, "padded")(feats)
    assert packed["input_ids"].shape == (1, 61) and "position_ids" in packed
    assert rows["input_ids"].shape == (2, 31) and rows["position_ids"][0, -1] == 0  # the tail is a block of its own
    assert padded["input_ids"].shape == (4, 30)
    with torch.no_grad():
        a = model(**packed).loss.item()
        b = model(**padded).loss.item()
        c = model(**rows).loss.item()
    assert a == pytest.approx(b, rel=1e-5)
    assert c == pytest.approx(b, rel=1e-5)


def test_cli_bad_config_value_exits_2_with_one_line(capsys, tmp_path):
    from tui.cli import main

    code = main(["train", "--config", "sample_data/quickstart.yaml", "--set", "training.learning_rate=-1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "error: --set training.learning_rate: must be > 0, got -1"  # the override, not the file


def test_cli_trains_headless(tiny_model_dir, qa_file, tmp_path, capsys):
    from tui.cli import main

    run_dir = tmp_path / "myrun"
    code = main(["train", "--config", "sample_data/quickstart.yaml", "--model", str(tiny_model_dir), "--data", str(qa_file),
                 "--max-steps", "2", "--run-dir", str(run_dir), "--set", "model.quantization=none",
                 "--set", "data.template=qa", "--set", "data.val_split=0"])
    assert code == 0, capsys.readouterr().err
    assert rundir.read_status(run_dir)["status"] == "finished"
    assert "Finished at step 2" in capsys.readouterr().err


def test_another_process_can_stop_and_checkpoint_through_request_files(tiny_model_dir, qa_file, tmp_path):
    run_dir = tmp_path / "r"

    def on_event(e):
        if isinstance(e, StepLogged) and e.step == 2:
            rundir.request_save(run_dir)
        if isinstance(e, StepLogged) and e.step == 4:
            rundir.request_stop(run_dir)

    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.max_steps": 10, "training.save_steps": 100})
    result = train(cfg, run_dir=run_dir, on_event=on_event)
    assert result.status == "stopped"
    assert [p.name for p in rundir.checkpoints(run_dir)] == ["checkpoint-3", "checkpoint-5"]
    assert not (run_dir / rundir.STOP_REQUEST).exists()


def test_token_budget_batches_fill_up_to_the_budget_and_train(tiny_model_dir, qa_file, tmp_path):
    from engine.trainer import TokenBudgetBatchSampler

    lengths = [5, 60, 30, 30, 10, 64, 1, 40]
    sampler = TokenBudgetBatchSampler(lengths, 64, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(8))  # every sample once
    assert all(sum(lengths[i] for i in b) <= 64 for b in batches)
    sampler.set_epoch(1)
    assert sorted(map(tuple, sampler)) == sorted(map(tuple, batches)) and len(sampler) == len(batches)

    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.max_tokens_per_batch": 64, "training.max_steps": 3})
    result = train(cfg)
    assert result.status == "finished", result.last_event


def test_token_budget_below_max_length_is_a_config_error():
    from engine.config import ConfigError

    with pytest.raises(ConfigError, match="training.max_tokens_per_batch: must be >= data.max_length"):
        load_config(None, {"training.max_tokens_per_batch": 100, "data.max_length": 512})


def test_attention_that_cannot_pack_falls_back_to_length_grouped_padded_batches(tiny_model_dir, qa_file, tmp_path,
                                                                                monkeypatch):
    import transformers.trainer as hf_trainer

    import engine.trainer as engine_trainer

    sampled = []

    class RecordingSampler(hf_trainer.LengthGroupedSampler):  # the real sampler; it only notes that it ran
        def __iter__(self):
            sampled.append(len(self.lengths))
            return super().__iter__()

    monkeypatch.setattr(hf_trainer, "LengthGroupedSampler", RecordingSampler)
    monkeypatch.setattr(engine_trainer, "supports_padding_free", lambda model: False)  # as for an attention without position ids
    events = []
    result = train(tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.max_steps": 3}), on_event=events.append)
    assert result.status == "finished", result.last_event
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.batching == "padded"
    assert any("cannot pack samples; using padded batches of similar lengths" in e.text
               for e in events if isinstance(e, MessageLogged))
    assert sampled, "padded fallback batches are grouped by length"


def test_completion_only_logits_give_the_models_own_loss_and_gradients(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.config import LoraConfig, ModelConfig
    from engine.model import add_lora
    from engine.trainer import Collator, accepts_logits_mask, completion_only_loss

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    base.config.use_cache = False  # as engine.model loads it: with a cache, packed samples would attend to each other
    model = add_lora(base, ModelConfig(name=str(tiny_model_dir), quantization="none"), LoraConfig(r=4, dropout=0.0))
    assert accepts_logits_mask(model)
    g = torch.Generator().manual_seed(0)
    feats = []
    for n in (5, 17, 9, 30):
        ids = torch.randint(5, 400, (n,), generator=g).tolist()
        feats.append({"input_ids": ids, "labels": [-100] * (n // 2) + ids[n // 2:]})
    for mode in ("padding_free", "padded"):
        batch = Collator(tok, mode, row_tokens=32)(feats)
        model.zero_grad()
        own = model(**batch).loss
        own.backward()
        own_grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        model.zero_grad()
        ours = completion_only_loss(model, batch)
        ours.backward()
        assert ours.item() == pytest.approx(own.item(), rel=1e-5)
        for a, b in zip(own_grads, (p.grad for p in model.parameters() if p.requires_grad), strict=False):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
        # Under gradient accumulation the sum is divided by the tokens of all micro-batches, as the model does.
        total = int((batch["labels"][:, 1:] != -100).sum()) * 3
        with torch.no_grad():
            scaled = completion_only_loss(model, batch, num_items_in_batch=torch.tensor(total)).item()
            own_scaled = model(**batch, num_items_in_batch=torch.tensor(total)).loss.item()
        assert scaled == pytest.approx(own_scaled, rel=1e-5)


def test_tokens_seen_counts_the_packed_rows_real_tokens_not_their_filler(tiny_model_dir, qa_file, tmp_path):
    """Padding-free rows have no attention mask: Trainer alone would count each row's trailing filler."""
    import torch
    from transformers import AutoTokenizer

    from engine.tasks import get_task
    from engine.trainer import Collator, packed_tokens

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    feats = [{"input_ids": [7] * n, "labels": [-100] + [7] * (n - 1)} for n in (5, 17, 9, 30)]
    rows = Collator(tok, "padding_free", row_tokens=32)(feats)  # 30 | 17+9+5 = 31: one row padded by 1
    assert rows["input_ids"].numel() == 62 and packed_tokens(rows["position_ids"], rows["labels"]) == 61
    one = Collator(tok, "padding_free")(feats)  # a single row, no filler
    assert packed_tokens(one["position_ids"], one["labels"]) == 61
    assert packed_tokens(torch.arange(4)[None, :], torch.tensor([[-100, 1, 2, 3]])) == 4

    cfg = tiny_config(tiny_model_dir, qa_file, tmp_path, **{"training.max_steps": 4})  # 16 samples, batch 4: one epoch
    real = sum(len(ids) for ids in get_task(cfg.task).prepare(cfg, lambda e: None)[3].train["input_ids"])
    events = []
    assert train(cfg, on_event=events.append).status == "finished"
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert steps[-1].step == 4 and steps[-1].tokens_seen == real, (steps[-1].tokens_seen, real)
