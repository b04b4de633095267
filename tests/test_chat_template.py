"""The exported tokenizer's chat template reproduces the run's training template (engine.chat_template)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from engine import rundir
from engine.config import load_config, save_config
from engine.demo import demo_model_dir

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "sample_data" / "tunedeck_qa.jsonl"
ALPACA = ROOT / "sample_data" / "tunedeck_alpaca.json"
QUESTION = 'What is "LoRA"? Answer in {one} line, über-briefly 🙂'
ANSWER = "A low-rank adapter."

CASES = {
    "chatml": {"data.path": str(QA), "data.template": "chatml"},
    "chatml+system": {"data.path": str(QA), "data.template": "chatml", "data.system_prompt": "You are TuneDeck's test model."},
    "qa": {"data.path": str(QA), "data.template": "qa"},
    "alpaca": {"data.path": str(ALPACA), "data.template": "alpaca"},
    "custom": {"data.path": str(QA), "data.template": "Q: {question}\n{{literal}} A: "},
    "tokenizer+system": {"data.path": str(QA), "data.template": "tokenizer", "data.system_prompt": "Be brief."},
}


def _cfg(model: str, case: str):
    return load_config(None, {"model.name": model, "model.quantization": "none", **CASES[case]})


def _tokenizers(tiny_model_dir):
    out = [("tiny", str(tiny_model_dir))]
    demo = demo_model_dir("smollm2-135m-instruct")
    if (demo / "config.json").exists():  # SmolLM2's own template injects a system turn of its own
        out.append(("smollm2", "smollm2-135m-instruct"))
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_apply_chat_template_gives_tunedecks_own_prompt_and_training_text(tiny_model_dir, case):
    from engine.chat_template import chat_template_for
    from engine.infer import format_prompt, resolved_template
    from engine.model import load_tokenizer
    from engine.templates import render

    for name, model in _tokenizers(tiny_model_dir):
        cfg = _cfg(model, case)
        tok = load_tokenizer(cfg.model)
        tok.chat_template = chat_template_for(cfg, tok)
        user = [{"role": "user", "content": QUESTION}]
        got = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        assert got == format_prompt(cfg, QUESTION, tokenizer=tok), (name, case)
        # The whole single-turn sample renders as training rendered it (prompt + answer + its end).
        template, _, mapping = resolved_template(cfg)
        record = {"kind": "instruction", "system": "", "instruction": QUESTION, "input": "", "output": ANSWER}
        raw = {mapping.get("instruction", "instruction"): QUESTION, mapping.get("output", "output"): ANSWER} \
            if "{" in template else None
        expected = render(record, template, eos_token=tok.eos_token, tokenizer=tok,
                          system_prompt=cfg.data.system_prompt, raw=raw).text
        whole = tok.apply_chat_template(user + [{"role": "assistant", "content": ANSWER}], tokenize=False)
        assert whole == expected, (name, case)


def _fake_run(tiny_model_dir: Path, root: Path, case: str) -> Path:
    """A run folder (config + a random LoRA adapter) that export_merged takes as a trained run."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    rd = root / f"run-{case}"
    (rd / rundir.ADAPTER_DIR).mkdir(parents=True)
    save_config(_cfg(str(tiny_model_dir), case), rd / rundir.CONFIG_FILE)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(rd / rundir.ADAPTER_DIR)
    rundir.write_status(rd, "finished", step=1)
    return rd


@pytest.mark.parametrize("case", ["chatml+system", "qa"])
def test_merged_export_prompts_as_the_run_trained_and_has_umask_permissions(tiny_model_dir, tmp_path, case):
    from transformers import AutoTokenizer

    from engine.export import export_merged
    from engine.infer import format_prompt, run_config

    rd = _fake_run(tiny_model_dir, tmp_path, case)
    out = tmp_path / "merged"
    old = os.umask(0o022)
    try:
        export_merged(rd, out)
    finally:
        os.umask(old)
    tok = AutoTokenizer.from_pretrained(out)
    cfg = run_config(rd)
    for q in (QUESTION, "Hi"):
        got = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        assert got == format_prompt(cfg, q, tokenizer=tok)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in out.iterdir() if f.is_file()}
    assert modes["model.safetensors"] == 0o644, modes
    assert set(modes.values()) == {0o644}, modes
    assert json.loads((out / "tunedeck_export.json").read_text())["base_model"] == str(tiny_model_dir)
