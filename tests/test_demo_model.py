"""The real demo model (SmolLM2-135M-Instruct, pulled by scripts/setup.sh): a few real QLoRA steps on CPU."""

from __future__ import annotations

import pytest

from engine import rundir
from engine.config import load_config
from engine.demo import demo_model_dir
from engine.events import RunStarted, StepLogged
from engine.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_ready():
    if not (demo_model_dir("smollm2-135m-instruct") / "config.json").exists():
        pytest.fail("demo model missing: run `tunedeck models pull smollm2-135m-instruct` (scripts/setup.sh does)")


def test_quickstart_qlora_4bit_three_steps_saves_loadable_adapter(demo_ready, tmp_path):
    from peft import PeftConfig

    cfg = load_config("sample_data/quickstart.yaml", {"training.max_steps": 3, "output.runs_dir": str(tmp_path),
                                                       "data.limit": 48, "training.eval_steps": 3})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.total_params > 100_000_000 and started.trainable_params < started.total_params / 10
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert [s.step for s in steps] == [1, 2, 3]
    assert all(0 < s.loss < 10 for s in steps)  # a pretrained model, not random: loss well under ln(49152)=10.8
    assert any(e.name == "eval" for e in events)
    adapter = result.run_dir / rundir.ADAPTER_DIR
    assert PeftConfig.from_pretrained(adapter).r == cfg.lora.r


def test_demo_model_answers_a_chat_prompt(demo_ready):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = demo_model_dir("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][enc["input_ids"].shape[1]:])
