"""Config: defaults, YAML round-trip, validation messages that name the field."""

from __future__ import annotations

import pytest

from engine.config import (
    Config,
    ConfigError,
    coerce_field,
    config_from_dict,
    field_specs,
    load_config,
    parse_override,
    save_config,
)


def errors_of(data) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return dict(info.value.errors)


def test_defaults_fill_missing_sections_and_keys():
    cfg = config_from_dict({"training": {"learning_rate": 1e-4}})
    assert cfg.training.learning_rate == 1e-4
    assert cfg.training.batch_size == Config().training.batch_size == 4
    assert cfg.model.quantization == "4bit"
    assert cfg.lora.target_modules == "all-linear"


def test_yaml_round_trip(tmp_path):
    cfg = load_config(None, ["lora.r=8", "data.columns={instruction: q, output: a}", "lora.target_modules=[q_proj, v_proj]"])
    path = save_config(cfg, tmp_path / "c.yaml")
    again = load_config(path)
    assert again == cfg
    assert again.data.columns == {"instruction": "q", "output": "a"}
    assert again.lora.target_modules == ["q_proj", "v_proj"]


def test_negative_learning_rate_names_field_and_value():
    errs = errors_of({"training": {"learning_rate": -1}})
    assert errs == {"training.learning_rate": "must be > 0, got -1"}


def test_every_problem_is_reported_at_once():
    errs = errors_of({"training": {"learning_rate": 0, "batch_size": 0, "epochz": 2}, "model": {"quantization": "3bit"}})
    assert set(errs) == {"training.learning_rate", "training.batch_size", "training.epochz", "model.quantization"}
    assert "did you mean training.epochs" in errs["training.epochz"]
    assert errs["model.quantization"] == "must be one of 4bit, 8bit, none, got '3bit'"


def test_unknown_section_and_key_are_errors_not_ignored():
    errs = errors_of({"lora": {"rank": 8}, "optimiser": {}})
    assert "lora.rank" in errs and "keys in lora are r, alpha" in errs["lora.rank"]
    assert "optimiser" in errs


def test_strings_from_text_boxes_are_coerced():
    assert coerce_field("training.learning_rate", "2e-4") == 2e-4
    assert coerce_field("training.max_steps", "10") == 10
    assert coerce_field("model.gradient_checkpointing", "yes") is True
    assert coerce_field("data.val_path", "") is None
    with pytest.raises(ConfigError, match="training.max_steps: must be a whole number, got '1.5'"):
        coerce_field("training.max_steps", "1.5")
    with pytest.raises(ConfigError, match="lora.dropout: must be < 1, got 1"):
        coerce_field("lora.dropout", 1)


def test_template_must_be_builtin_or_have_placeholders():
    assert coerce_field("data.template", "Q: {question}\nA: ") == "Q: {question}\nA: "
    with pytest.raises(ConfigError, match="did you mean alpaca"):
        coerce_field("data.template", "alpacca")


def test_override_parsing():
    assert parse_override("training.max_steps=5") == ("training.max_steps", 5)
    assert parse_override("model.name=007") == ("model.name", "007")
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        parse_override("training.max_steps")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_override("training.nope=1")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  name: x\n training: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert f"{p}:3" in str(info.value) and "YAML does not parse" in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_every_field_has_help_and_a_default_that_validates():
    specs = list(field_specs())
    assert len(specs) > 30
    for s in specs:
        assert s.help, s.path
        if s.default is not None:
            coerce_field(s.path, s.default)


def test_required_keys_exist():
    paths = {s.path for s in field_specs()}
    for key in ["model.name", "model.quantization", "lora.r", "lora.alpha", "lora.dropout", "lora.target_modules",
                "data.path", "data.format", "data.template", "data.max_length", "data.val_split",
                "training.learning_rate", "training.epochs", "training.max_steps", "training.batch_size",
                "training.gradient_accumulation", "training.warmup_ratio", "training.save_steps",
                "training.eval_steps", "training.seed", "output.runs_dir"]:
        assert key in paths


def test_config_set_validates_and_stores_one_field():
    cfg = Config()
    assert cfg.set("training.learning_rate", "1e-4") == 1e-4
    assert cfg.get("training.learning_rate") == 1e-4
    with pytest.raises(ConfigError, match="training.batch_size: must be > 0, got 0"):
        cfg.set("training.batch_size", "0")
    assert cfg.training.batch_size == 4  # unchanged after a refused value


def test_typed_fields_that_were_any():
    assert coerce_field("lora.target_modules", "q_proj, v_proj") == ["q_proj", "v_proj"]
    assert coerce_field("lora.target_modules", "[q_proj, v_proj]") == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match="lora.target_modules: must be all-linear or a list"):
        coerce_field("lora.target_modules", [1, 2])
    assert coerce_field("data.limit", "10") == 10
    with pytest.raises(ConfigError, match="data.limit: must be a whole number"):
        coerce_field("data.limit", "ten")
    with pytest.raises(ConfigError, match="data.limit: must be > 0"):
        coerce_field("data.limit", 0)
    assert coerce_field("data.val_path", "val.jsonl") == "val.jsonl"
    assert coerce_field("data.val_path", "null") is None
    with pytest.raises(ConfigError, match="lora.r: must be a whole number, got True"):
        coerce_field("lora.r", True)


def test_app_state_set_field_runs_the_cross_field_rules():
    from tui.state import AppState

    state = AppState()
    assert state.set_field("training.max_tokens_per_batch", "1000") is None
    assert not state.invalid and state.dirty
    # Raising max_length above the token budget breaks a rule across fields: the writer says so.
    message = state.set_field("data.max_length", "2048")
    assert message.startswith("training.max_tokens_per_batch: must be >= data.max_length (2048)")
    assert "must be >= data.max_length (2048)" in state.invalid["training.max_tokens_per_batch"]
    assert state.config.data.max_length == 2048
    assert state.set_field("data.max_length", "512") is None
    assert not state.invalid
    assert state.set_field("lora.r", "sixteen") == "must be a whole number, got 'sixteen'"
    assert state.config.lora.r == 16 and state.invalid == {"lora.r": "must be a whole number, got 'sixteen'"}
