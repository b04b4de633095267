"""data.template: auto picks the model's own chat template for chat data (engine/templates.py,
engine/template_checks.py), and the template is checked against the tokenizer before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import Config
from engine.demo import demo_model_dir
from engine.model import load_tokenizer
from engine.template_checks import template_choice, template_warnings, turn_end
from engine.templates import resolve_template

ROOT = Path(__file__).resolve().parents[1]
CHAT = [{"messages": [{"role": "user", "content": "What is LoRA?"},
                      {"role": "assistant", "content": "Small adapter matrices beside frozen weights."}]}] * 4


def _plain_tokenizer(*, specials=("<|endoftext|>",), eos="<|endoftext|>", bos=None, chat_template=None):
    """A byte-level BPE tokenizer without ChatML tokens (and, unless given, no chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["What is the capital of France? Paris is the capital of France. assistant user"] * 20,
                            trainer=trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, bos_token=bos)
    fast.chat_template = chat_template
    return fast


@pytest.fixture
def tiny_tok(tiny_model_dir):
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    return load_tokenizer(cfg.model)


def test_auto_picks_the_tokenizer_template_for_chat_data_only(tiny_tok):
    plain = _plain_tokenizer()
    assert resolve_template("auto", "messages", tiny_tok) == "tokenizer"
    assert resolve_template("auto", "sharegpt", tiny_tok) == "tokenizer"
    assert resolve_template("auto", "messages", plain) == "chatml"  # no chat template: today's choice
    assert resolve_template("auto", "messages") == "chatml"
    assert resolve_template("auto", "alpaca", tiny_tok) == "alpaca"  # other data keeps today's choice
    assert resolve_template("auto", "text", tiny_tok) == "text"
    assert resolve_template("chatml", "messages", tiny_tok) == "chatml"  # asked for by name
    name, why = template_choice("auto", "messages", tiny_tok)
    assert (name, why) == ("tokenizer", "tokenizer: auto on chat data, and the model has its own chat template")
    name, why = template_choice("auto", "messages", plain)
    assert name == "chatml" and "no chat template" in why
    assert template_choice("qa", "alpaca", tiny_tok) == ("qa", "qa: set in data.template")
    assert template_choice("auto", "alpaca", tiny_tok)[1] == "alpaca: auto on instruction data (tokenizer: the model's chat template)"


def test_training_samples_use_the_picked_template(tiny_model_dir, tmp_path):
    from engine.prepare import prepare_data

    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in CHAT))
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    cfg.data.path = str(data)
    cfg.data.val_split = 0
    tok = load_tokenizer(cfg.model)
    events = []
    prepared = prepare_data(cfg, tok, events.append)
    lines = [e.text for e in events if hasattr(e, "text")]
    assert "Template tokenizer: auto on chat data, and the model has its own chat template" in lines, lines
    assert any("Tokenised with template tokenizer" in t for t in lines), lines
    assert not [e for e in events if getattr(e, "level", "") == "warning"]  # the tiny model's template is sound
    assert len(prepared.train) == len(CHAT)


def test_generation_stops_on_the_templates_end_of_turn(tiny_model_dir, tmp_path):
    """The tiny tokenizer's EOS is <|endoftext|>, its chat template ends turns with <|im_end|>."""
    from engine.infer import _template_and_stops

    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in CHAT))
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    cfg.data.path = str(data)
    tok = load_tokenizer(cfg.model)
    assert turn_end(tok) == "<|im_end|>"
    template, stops = _template_and_stops(cfg, tok)
    assert template == "tokenizer" and "<|im_end|>" in stops and "<|endoftext|>" in stops


def test_chatml_on_a_tokenizer_without_its_tokens_warns():
    plain = _plain_tokenizer()
    warnings = template_warnings("chatml", plain, "messages")
    assert any("writes <|im_start|>, which is not a token of the model's tokenizer" in w for w in warnings), warnings
    assert any("does not learn to stop" in w for w in warnings), warnings
    assert all("use template alpaca or qa" in w or "pick a template" in w for w in warnings)
    assert template_warnings("alpaca", plain, "alpaca") == []  # alpaca ends with the EOS the tokenizer has


def test_a_reply_without_an_end_token_warns():
    no_eos = _plain_tokenizer(eos=None)
    (warning,) = template_warnings("alpaca", no_eos, "alpaca")
    assert "replies end with '.'" in warning and "the tokenizer has no eos_token" in warning


def test_a_doubled_bos_warns():
    template = ("\n{{ bos_token }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token }}{% endfor %}"
                "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    tok = _plain_tokenizer(specials=("<|endoftext|>", "<s>"), bos="<s>", chat_template=template)
    assert tok("a")["input_ids"][0] == tok.bos_token_id  # the tokenizer adds a BOS itself
    warnings = template_warnings("tokenizer", tok, "messages")
    assert any("start with 2 BOS tokens (<s>)" in w and "remove the BOS" in w for w in warnings), warnings
    fine = _plain_tokenizer(specials=("<|endoftext|>", "<s>"), bos="<s>", chat_template=template.lstrip("\n"))
    assert template_warnings("tokenizer", fine, "messages") == []


def test_the_demo_models_own_template():
    path = demo_model_dir("smollm2-135m-instruct")
    if not (path / "tokenizer_config.json").exists():
        pytest.skip(f"the demo model is not downloaded ({path}); tunedeck models pull smollm2-135m-instruct")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    assert template_choice("auto", "messages", tok)[0] == "tokenizer"
    assert turn_end(tok) == "<|im_end|>"
    assert template_warnings("tokenizer", tok, "messages") == []
    assert template_warnings("chatml", tok, "messages") == []  # SmolLM2 knows the ChatML tokens
    assert template_warnings("alpaca", tok, "alpaca") == []
