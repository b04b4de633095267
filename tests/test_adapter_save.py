"""The finished run's adapter/ is the final checkpoint's adapter, copied (engine.adapter_save): one
serialisation instead of two, the same bytes, and the checkpoint a finished run continues from stays."""

from __future__ import annotations

import json

from engine import rundir
from tests.test_infer import PAIRS, overfit_config


def _run(tiny_model_dir, tmp_path, monkeypatch, name="a", **sets):
    from peft import PeftModel

    from engine.train import train

    calls = []
    original = PeftModel.save_pretrained

    def counting(self, *args, **kwargs):
        calls.append(str(args[0]) if args else "")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PeftModel, "save_pretrained", counting)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 4), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{
        "training.max_steps": 4, "data.val_split": 0, "training.save_steps": 100, "output.name": name, **sets})
    result = train(cfg)
    assert result.status == "finished", result.last_event
    return result.run_dir, calls


def test_a_finished_run_serialises_its_adapter_once_and_adapter_is_the_final_checkpoints(tiny_model_dir, tmp_path,
                                                                                        monkeypatch):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    from engine.config import ModelConfig
    from engine.model import load_base_model

    rd, calls = _run(tiny_model_dir, tmp_path, monkeypatch)
    ckpt = rd / rundir.CHECKPOINTS_DIR / "checkpoint-4"
    assert rundir.checkpoint_is_complete(ckpt)  # kept: `--resume RUN --max-steps N` continues from it
    assert len(calls) == 1 and "checkpoint-4" in calls[0], calls  # the old code saved a second time into adapter/
    adapter = rd / rundir.ADAPTER_DIR
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert (adapter / name).read_bytes() == (ckpt / name).read_bytes()
    assert (adapter / "tokenizer_config.json").is_file()
    assert not list(adapter.glob(".*.tmp"))
    tuned = PeftModel.from_pretrained(load_base_model(ModelConfig(name=str(tiny_model_dir), device="cpu")), str(adapter))
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    assert any(torch.count_nonzero(v) for k, v in saved.items() if "lora_B" in k)  # trained, not the init
    assert tuned is not None


def test_a_finished_run_continued_with_more_steps_gets_the_new_final_adapter(tiny_model_dir, tmp_path, monkeypatch):
    from engine.config import load_config
    from engine.train import train

    rd, _ = _run(tiny_model_dir, tmp_path, monkeypatch, name="more")
    first = (rd / rundir.ADAPTER_DIR / "adapter_model.safetensors").read_bytes()
    cfg = load_config(rd / rundir.CONFIG_FILE, {"training.max_steps": 6})
    result = train(cfg, resume=rd)
    assert result.status == "finished", result.last_event
    assert result.last_event.step == 6
    ckpt = rd / rundir.CHECKPOINTS_DIR / "checkpoint-6"
    now = (rd / rundir.ADAPTER_DIR / "adapter_model.safetensors").read_bytes()
    assert now == (ckpt / "adapter_model.safetensors").read_bytes() and now != first


def test_without_a_complete_final_checkpoint_the_adapter_is_saved(tiny_model_dir, tmp_path):
    from engine.adapter_save import save_final_adapter
    from engine.config import LoraConfig, ModelConfig
    from engine.model import add_lora, load_base_model, load_tokenizer

    model_cfg = ModelConfig(name=str(tiny_model_dir), device="cpu")
    model = add_lora(load_base_model(model_cfg), model_cfg, LoraConfig(r=4))
    rd = tmp_path / "run"
    ckpt = rd / rundir.CHECKPOINTS_DIR / "checkpoint-3"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_model.safetensors").write_bytes(b"torn")
    (ckpt / "adapter_config.json").write_text("{}")  # no optimizer.pt, no trainer state: not complete
    assert save_final_adapter(model, load_tokenizer(model_cfg), rd, 3) == "saved"
    assert (rd / rundir.ADAPTER_DIR / "adapter_model.safetensors").read_bytes() != b"torn"
