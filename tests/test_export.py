"""Export: a merged model folder that plain transformers loads, and the formatted training data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_infer import PAIRS, shared_run


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory) -> Path:
    return shared_run(tiny_model_dir, tmp_path_factory.getbasetemp())


def test_merged_export_has_the_logits_of_base_plus_adapter_and_generates(trained_run, tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.export import export_merged
    from engine.infer import format_prompt, run_config

    out = tmp_path / "merged"
    messages = []
    result = export_merged(trained_run, out, on_progress=messages.append)
    assert result.out_dir == out and result.dtype == "float32" and messages
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert not list(out.glob("adapter_*"))  # a plain model, no peft files

    tok = AutoTokenizer.from_pretrained(out)
    prompt = format_prompt(run_config(trained_run), PAIRS[0]["question"], tokenizer=tok)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]

    merged = AutoModelForCausalLM.from_pretrained(out)
    assert merged.config.use_cache
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), trained_run / "adapter")
    with torch.no_grad():
        a = merged(input_ids=ids).logits
        b = reference(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()

    gen = merged.generate(ids, max_new_tokens=24, do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    text = tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)
    assert text.strip() == PAIRS[0]["answer"]


def test_merged_export_refuses_a_non_empty_folder(trained_run, tmp_path):
    from engine.errors import RunError
    from engine.export import export_merged

    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty"):
        export_merged(trained_run, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_data_export_writes_one_line_per_kept_sample(trained_run, tmp_path):
    import jsonlines

    from engine.data import load_dataset
    from engine.export import export_data
    from engine.infer import run_config
    from engine.model import load_tokenizer
    from engine.tokenize import encode_row

    out = tmp_path / "samples.jsonl"
    stats = export_data(trained_run, out)
    with jsonlines.open(out) as reader:
        lines = list(reader)
    cfg = run_config(trained_run)
    raw, info = load_dataset(cfg.data)
    tok = load_tokenizer(cfg.model)
    samples = [encode_row(row, info, cfg.data, tok) for row in raw]
    kept = [s for s in samples if s.num_trained > 0]
    assert len(lines) == len(kept) == stats.written == len(PAIRS) * 8
    for line, sample in zip(lines, kept, strict=False):
        assert set(line) == {"prompt", "completion", "prompt_tokens", "completion_tokens", "truncated"}
        assert line["prompt"] + line["completion"] == sample.rendered.text
        assert line["prompt"] == sample.rendered.prompt
        assert line["prompt_tokens"] + line["completion_tokens"] == len(sample.input_ids)
        assert line["truncated"] is False
    assert all(any(p["question"] in ln["prompt"] and p["answer"] in ln["completion"] for p in PAIRS) for ln in lines)


def test_data_export_leaves_out_rows_with_nothing_to_train(tiny_model_dir, tmp_path):
    import json

    from engine.export import export_data
    from tests.test_infer import overfit_config

    data = tmp_path / "d.jsonl"
    too_long = {"question": "the lazy dog " * 40, "answer": "cut off"}  # the prompt alone fills data.max_length
    data.write_text("".join(json.dumps(r) + "\n" for r in [*PAIRS, too_long]), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    stats = export_data(overfit_config(tiny_model_dir, data, tmp_path / "runs"), out)
    assert (stats.rows, stats.written, stats.dropped) == (3, 2, 1)
    assert len(out.read_text().splitlines()) == 2


def test_4bit_run_generates_quantized_and_exports_an_unquantized_merge(tiny_model_dir, tmp_path):
    import json

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from engine.export import export_merged
    from engine.infer import generate, load_for_generation
    from engine.train import train
    from tests.test_infer import overfit_config

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 4), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, tmp_path / "runs", **{"model.quantization": "4bit", "training.max_steps": 4,
                                                                     "data.val_split": 0})
    result = train(cfg)
    assert result.status == "finished", result.last_event

    gen = load_for_generation(result.run_dir)
    layer = gen.model.base_model.model.model.layers[0].self_attn.q_proj.base_layer
    assert type(layer) is torch.nn.Linear  # on CPU the 4-bit base is dequantized once (engine.dequant)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        trained = gen.model(input_ids=ids).logits  # what the run's model (4-bit base + adapter) computes
    assert isinstance(generate(gen, "The quick", adapter=True, greedy=True, max_new_tokens=4), str)
    del gen

    # Default: the 4-bit base is dequantized, then merged: the export computes what the trained model computed.
    export_merged(result.run_dir, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert not any("4bit" in type(m).__name__ for m in merged.modules())
    assert json.loads((tmp_path / "merged" / "tunedeck_export.json").read_text())["merged_into"] == "dequantized"
    # --original-base: the adapter on the full-precision weights it never saw.
    export_merged(result.run_dir, tmp_path / "original", original_base=True)
    original = AutoModelForCausalLM.from_pretrained(tmp_path / "original")
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), result.run_dir / "adapter")
    with torch.no_grad():
        merged_err = (merged(input_ids=ids).logits - trained).abs().max().item()
        original_err = (original(input_ids=ids).logits - trained).abs().max().item()
        assert torch.allclose(original(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-4)
    # Generation on CPU runs over the dequantized 4-bit weights, as the merge does: the same logits; the original
    # weights are off by whole logits (NF4 rounding of random weights is coarse).
    assert merged_err < 1e-4 and merged_err * 5 < original_err, (merged_err, original_err)


def test_state_files_and_exports_get_the_usual_permissions(trained_run, tmp_path):
    """Temp-file-then-rename must not leave 0600 files: runs and exports are shared on multi-user machines."""
    import os
    import stat

    from engine.export import export_data
    from engine.rundir import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "state.json", "{}")
        export_data(trained_run, tmp_path / "out.jsonl")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "out.jsonl").stat().st_mode) == 0o644
    assert stat.S_IMODE((trained_run / "status.json").stat().st_mode) == 0o644
