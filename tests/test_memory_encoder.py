"""The memory estimate for encoder tasks: parameters of encoder + head counted like transformers builds them,
full fine-tuning against LoRA, activations for max_length x batch."""

from __future__ import annotations

import pytest

from engine.config import load_config
from engine.memory import estimate_memory
from engine.memory_encoder import MINILM_SHAPE, encoder_params

RAM = ("RAM", 16.0)


@pytest.fixture(scope="module")
def tiny_bert_config(tmp_path_factory):
    from transformers import BertConfig

    config = BertConfig(vocab_size=997, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
                        max_position_embeddings=160, type_vocab_size=2)
    path = tmp_path_factory.mktemp("tinybert")
    config.save_pretrained(path)
    return path, config


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("task", ["extractive_qa", "classification"])
def test_encoder_parameters_match_the_model_transformers_builds(tiny_bert_config, task):
    from transformers import BertForQuestionAnswering, BertForSequenceClassification

    path, config = tiny_bert_config
    model = BertForQuestionAnswering(config) if task == "extractive_qa" else BertForSequenceClassification(config)
    est = estimate_memory(load_config(None, {"task": task, "model.name": str(path)}), device=RAM)
    assert est.params == _count(model)
    assert est.method == "full" and est.grads_gb == est.weights_gb  # full fine-tune: a gradient per weight
    assert est.optimizer_gb == pytest.approx(2 * est.weights_gb)  # AdamW: two fp32 moments per weight (fp32 on CPU)


def test_minilm_counts_as_the_model_the_quickstart_trains():
    assert encoder_params(MINILM_SHAPE, "extractive_qa")[0] == 22_566_146  # "22,566,146 trainable" in the run log


def test_full_fine_tuning_against_lora_and_activations_for_length_times_batch(tiny_bert_config):
    path, _ = tiny_bert_config
    base = {"task": "extractive_qa", "model.name": str(path)}
    full = estimate_memory(load_config(None, base), device=RAM)
    lora = estimate_memory(load_config(None, {**base, "qa.method": "lora", "lora.target_modules": ["query", "value"]}),
                           device=RAM)
    assert lora.method == "lora" and lora.lora_gb > 0 and lora.optimizer_gb < full.optimizer_gb / 10
    assert lora.weights_gb == full.weights_gb and lora.total_gb < full.total_gb
    assert "full fine-tune: weights" in full.breakdown() and "LoRA" in lora.breakdown()
    longer = estimate_memory(load_config(None, {**base, "qa.max_length": 768}), device=RAM)
    bigger = estimate_memory(load_config(None, {**base, "training.batch_size": 8}), device=RAM)
    assert longer.activations_gb > 2 * full.activations_gb  # attention scores grow with the length squared
    assert bigger.activations_gb == pytest.approx(full.activations_gb * 8 / load_config(None, base).training.batch_size)
    cls = estimate_memory(load_config(None, {"task": "classification", "model.name": str(path), "cls.max_length": 64}),
                          device=RAM)
    assert cls.activations_gb < full.activations_gb  # 64 tokens a row, not the QA window's 384
