"""The run configuration: typed dataclasses, YAML round-trip, validation.

Every field carries its help text and its constraints in ``metadata`` so that
the CLI, the TUI form and the validator all read the same source of truth::

    cfg = load_config("sample_data/quickstart.yaml", overrides=["training.max_steps=5"])
    cfg.training.learning_rate   # 0.0002
    save_config(cfg, "out.yaml") # YAML that loads back to an equal Config

Validation collects every problem and raises one :class:`ConfigError` whose
message names each field, the allowed values and what was given::

    training.learning_rate: must be > 0, got -1
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import yaml

from .errors import ConfigError

QUANTIZATIONS = ("4bit", "8bit", "none")
DATA_FORMATS = ("auto", "alpaca", "qa", "text", "messages", "sharegpt")
BUILTIN_TEMPLATES = ("auto", "alpaca", "qa", "chatml", "tokenizer", "text")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
COMPUTE_DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICES = ("auto", "cpu", "cuda")
BATCHING = ("padding_free", "padded")


def _f(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING, **rules: Any):
    """A dataclass field with help text and validation rules in its metadata.

    Rules: ``choices`` (tuple), ``gt``/``ge``/``lt``/``le`` (numbers),
    ``nullable`` (None allowed), ``template`` (built-in name or a ``{field}`` string).
    """
    meta = {"help": help, **rules}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    """Which base model to fine-tune and how to load it."""

    name: str = _f("smollm2-135m-instruct", help="Hub id, local model folder, .gguf file, or a known demo name (smollm2-135m-instruct).")
    quantization: str = _f("4bit", help="Load the base weights in 4-bit NF4 (QLoRA), 8-bit, or unquantized.", choices=QUANTIZATIONS)
    compute_dtype: str = _f("auto", help="Dtype for matmuls: auto = bfloat16 on CUDA with native bf16, else float16 on CUDA, float32 on CPU.", choices=COMPUTE_DTYPES)
    device: str = _f("auto", help="Where to train: auto picks CUDA when present.", choices=DEVICES)
    gradient_checkpointing: bool = _f(False, help="Recompute activations in the backward pass: less memory, ~30% slower.")
    trust_remote_code: bool = _f(False, help="Run Python code shipped with the model. Only for models you trust.")
    allow_pickle: bool = _f(False, help="Allow loading weights from pickle (.bin) files; safetensors only otherwise.")
    dequantize_frozen: str = _f("auto", help="CPU, 4-bit: keep the frozen weights dequantized once (plain matmuls, same loss); auto = when they fit in RAM.", choices=("auto", "on", "off"))


@dataclass
class LoraConfig:
    """The LoRA adapter trained on top of the frozen base."""

    r: int = _f(16, help="Rank of the LoRA update matrices.", gt=0)
    alpha: float = _f(32, help="LoRA scaling numerator (scale = alpha / r).", gt=0)
    dropout: float = _f(0.05, help="Dropout on the LoRA input.", ge=0, lt=1)
    target_modules: Any = _f("all-linear", help="Module names to adapt, or all-linear for every linear layer but the output head.")


@dataclass
class DataConfig:
    """Where the training data is and how each row becomes prompt + completion."""

    path: str = _f("sample_data/tunedeck_alpaca.json", help="JSON, JSONL, CSV or Parquet file, a datasets save_to_disk folder, or a hub dataset id.")
    format: str = _f("auto", help="Row format; auto detects it from the columns.", choices=DATA_FORMATS)
    columns: dict = _f(default_factory=dict, help="Map roles to your column names, e.g. {instruction: prompt_col, output: answer_col}.")
    template: str = _f("auto", help="alpaca, qa, chatml, tokenizer (the model's chat template), text, or a custom string with {column} placeholders; auto picks from the format.", template=True)
    system_prompt: str = _f("", help="System prompt for chat templates when the data has none.")
    train_on_prompt: bool = _f(False, help="Also compute loss on prompt tokens.")
    max_length: int = _f(512, help="Samples longer than this many tokens are truncated.", gt=0)
    val_split: float = _f(0.0, help="Fraction of rows held out for evaluation (0 = none).", ge=0, lt=1)
    val_path: Any = _f(None, help="A separate validation file (overrides val_split).", nullable=True)
    split: str = _f("train", help="Split to read from a hub dataset or a saved DatasetDict.")
    limit: Any = _f(None, help="Use only the first N rows (for quick experiments).", nullable=True, gt=0)


@dataclass
class TrainingConfig:
    """Optimisation hyperparameters, handed to transformers' Trainer."""

    learning_rate: float = _f(2e-4, help="Peak learning rate.", gt=0)
    epochs: float = _f(1.0, help="Passes over the data (ignored when max_steps > 0).", gt=0)
    max_steps: int = _f(0, help="Stop after this many optimizer steps; 0 = train for `epochs`.", ge=0)
    batch_size: int = _f(4, help="Samples per device per step.", gt=0)
    gradient_accumulation: int = _f(1, help="Micro-batches accumulated per optimizer step.", gt=0)
    max_tokens_per_batch: int = _f(0, help="Fill each micro-batch up to this many tokens instead of batch_size samples; 0 = off.", ge=0)
    batching: str = _f("padding_free", help="padding_free packs a batch into one row with per-sample positions; padded pads to the longest.", choices=BATCHING)
    warmup_ratio: float = _f(0.03, help="Fraction of steps spent warming the learning rate up.", ge=0, le=1)
    lr_scheduler: str = _f("cosine", help="Learning-rate schedule after warmup.", choices=SCHEDULERS)
    weight_decay: float = _f(0.0, help="AdamW weight decay.", ge=0)
    max_grad_norm: float = _f(1.0, help="Gradient clipping norm (0 = off).", ge=0)
    logging_steps: int = _f(1, help="Log loss every N steps.", gt=0)
    save_steps: int = _f(50, help="Save a checkpoint every N steps.", gt=0)
    eval_steps: int = _f(50, help="Evaluate on the validation split every N steps.", gt=0)
    save_total_limit: int = _f(3, help="Keep at most this many checkpoints.", gt=0)
    seed: int = _f(42, help="Random seed for data order, LoRA init and dropout.", ge=0)


@dataclass
class OutputConfig:
    """Where runs are written."""

    runs_dir: str = _f("runs", help="Folder that holds one sub-folder per run.")
    name: str = _f("", help="Run name (default: derived from model and data).")


@dataclass
class Config:
    """A complete TuneDeck run configuration."""

    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "Base model"})
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA adapter"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "Data and template"})
    training: TrainingConfig = field(default_factory=TrainingConfig, metadata={"help": "Optimisation"})
    output: OutputConfig = field(default_factory=OutputConfig, metadata={"help": "Output"})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def get(self, dotted: str) -> Any:
        section, key = _split(dotted)
        return getattr(getattr(self, section), key)


SECTIONS: dict[str, type] = {"model": ModelConfig, "lora": LoraConfig, "data": DataConfig, "training": TrainingConfig, "output": OutputConfig}


@dataclass(frozen=True)
class FieldSpec:
    """What a form needs to render and check one config field."""

    path: str
    type: str  # "str" | "int" | "float" | "bool" | "dict" | "any"
    default: Any
    help: str
    choices: tuple[str, ...] | None
    rules: dict[str, Any]


def field_specs() -> Iterator[FieldSpec]:
    """Every config field in section order, with its type, default and help."""
    defaults = Config()
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            meta = dict(f.metadata)
            help_text = meta.pop("help", "")
            choices = meta.pop("choices", None)
            ftype = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "any")
            ftype = {"Any": "any"}.get(ftype, ftype)
            yield FieldSpec(f"{section}.{f.name}", ftype, getattr(getattr(defaults, section), f.name), help_text, choices, meta)


_SPECS: dict[str, FieldSpec] = {}


def spec(path: str) -> FieldSpec:
    if not _SPECS:
        _SPECS.update({s.path: s for s in field_specs()})
    if path not in _SPECS:
        raise ConfigError([(path, _unknown_key_message(path))])
    return _SPECS[path]


def _split(dotted: str) -> tuple[str, str]:
    if dotted.count(".") != 1:
        raise ConfigError([(dotted, "expected SECTION.KEY, e.g. training.learning_rate")])
    section, key = dotted.split(".")
    return section, key


def _unknown_key_message(path: str) -> str:
    parts = path.split(".")
    if parts[0] not in SECTIONS:
        close = difflib.get_close_matches(parts[0], SECTIONS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown section{hint}; sections are {', '.join(SECTIONS)}"
    known = [f.name for f in fields(SECTIONS[parts[0]])]
    key = parts[1] if len(parts) > 1 else ""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {parts[0]}.{close[0]}?)" if close else ""
    return f"unknown key{hint}; keys in {parts[0]} are {', '.join(known)}"


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def coerce_field(path: str, value: Any) -> Any:
    """Convert and check one field's value; raise ConfigError naming the field.

    Accepts what YAML or a text box gives: ``"2e-4"`` for a float, ``"8"`` for
    an int, ``"yes"``/``"true"`` for a bool, ``""``/``"null"`` for a nullable field.
    """
    s = spec(path)
    rules = s.rules

    def fail(msg: str) -> ConfigError:
        return ConfigError([(path, msg)])

    if isinstance(value, str) and s.type not in ("str",):
        text = value.strip()
        if rules.get("nullable") and text.lower() in ("", "null", "none", "~"):
            return None
        if s.type == "int":
            try:
                value = int(text)
            except ValueError:
                try:
                    as_float = float(text)
                except ValueError:
                    raise fail(f"must be a whole number, got {_fmt(value)}") from None
                if not as_float.is_integer():
                    raise fail(f"must be a whole number, got {_fmt(value)}") from None
                value = int(as_float)
        elif s.type == "float":
            try:
                value = float(text)
            except ValueError:
                raise fail(f"must be a number, got {_fmt(value)}") from None
        elif s.type == "bool":
            low = text.lower()
            if low in ("true", "yes", "on", "1"):
                value = True
            elif low in ("false", "no", "off", "0"):
                value = False
            else:
                raise fail(f"must be true or false, got {_fmt(value)}")
        elif s.type in ("any", "dict"):
            try:
                value = yaml.safe_load(text) if text else None
            except yaml.YAMLError:
                raise fail(f"cannot parse {_fmt(value)}") from None

    if value is None:
        if rules.get("nullable"):
            return None
        raise fail("must be set, got nothing")

    if s.type == "bool":
        if not isinstance(value, bool):
            raise fail(f"must be true or false, got {_fmt(value)}")
    elif s.type == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise fail(f"must be a whole number, got {_fmt(value)}")
        value = int(value)
    elif s.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"must be a number, got {_fmt(value)}")
        value = float(value)
    elif s.type == "str":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise fail(f"must be text, got {_fmt(value)}")
    elif s.type == "dict":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise fail(f"must be a mapping of role to column name, got {_fmt(value)}")

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for rule, op, word in (("gt", float.__gt__, ">"), ("ge", float.__ge__, ">="), ("lt", float.__lt__, "<"), ("le", float.__le__, "<=")):
            if rule in rules and not op(float(value), float(rules[rule])):
                raise fail(f"must be {word} {_num(rules[rule])}, got {_num(value)}")
    if s.choices and value not in s.choices:
        raise fail(f"must be one of {', '.join(s.choices)}, got {_fmt(value)}")
    if rules.get("template"):
        if not value.strip():
            raise fail(f"must be a template name ({', '.join(BUILTIN_TEMPLATES)}) or a string with {{column}} placeholders")
        if value not in BUILTIN_TEMPLATES and "{" not in value:
            close = difflib.get_close_matches(value, BUILTIN_TEMPLATES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise fail(f"unknown template {_fmt(value)}{hint}; use one of {', '.join(BUILTIN_TEMPLATES)} or a string with {{column}} placeholders")
    if path == "lora.target_modules":
        ok = value == "all-linear" or (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value))
        if isinstance(value, str) and value != "all-linear" and value.strip():
            value = [v.strip() for v in value.split(",") if v.strip()]
            ok = bool(value)
        if not ok:
            raise fail(f"must be all-linear or a list of module names like [q_proj, v_proj], got {_fmt(value)}")
    return value


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def config_from_dict(data: Any, source: str | None = None) -> Config:
    """Build a Config from nested dicts, filling defaults; every problem is reported at once."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([("", f"expected a mapping of sections ({', '.join(SECTIONS)}), got {type(data).__name__}")], source)
    errors: list[tuple[str, str]] = []
    sections: dict[str, Any] = {}
    for section_name, value in data.items():
        if section_name not in SECTIONS:
            errors.append((str(section_name), _unknown_key_message(str(section_name))))
        elif value is not None and not isinstance(value, dict):
            errors.append((section_name, f"expected a mapping of keys, got {_fmt(value)}"))
    for section_name, cls in SECTIONS.items():
        given = data.get(section_name) or {}
        if not isinstance(given, dict):
            continue
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in given.items():
            path = f"{section_name}.{key}"
            if key not in known:
                errors.append((path, _unknown_key_message(path)))
                continue
            try:
                kwargs[key] = coerce_field(path, value)
            except ConfigError as e:
                errors.extend(e.errors)
        sections[section_name] = cls(**kwargs)
    if not errors:
        cfg = Config(**sections)
        errors.extend(cross_field_errors(cfg))
        if not errors:
            return cfg
    raise ConfigError(errors, source)


def cross_field_errors(cfg: Config) -> list[tuple[str, str]]:
    """Checks that involve more than one field."""
    errors = []
    if cfg.data.val_path is not None and not isinstance(cfg.data.val_path, str):
        errors.append(("data.val_path", f"must be a file path, got {_fmt(cfg.data.val_path)}"))
    if cfg.data.limit is not None and (isinstance(cfg.data.limit, bool) or not isinstance(cfg.data.limit, int)):
        errors.append(("data.limit", f"must be a whole number, got {_fmt(cfg.data.limit)}"))
    budget = cfg.training.max_tokens_per_batch
    if 0 < budget < cfg.data.max_length:
        errors.append(("training.max_tokens_per_batch",
                       f"must be >= data.max_length ({cfg.data.max_length}) so every sample fits, or 0 for off; got {budget}"))
    return errors


def validate(cfg: Config) -> Config:
    """Re-check a Config that was edited in place (the TUI form does that)."""
    return config_from_dict(cfg.to_dict())


def parse_override(text: str) -> tuple[str, Any]:
    """``training.max_steps=5`` -> ("training.max_steps", 5); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError([(text, "override must look like SECTION.KEY=VALUE, e.g. training.max_steps=5")])
    key, _, raw = text.partition("=")
    key = key.strip()
    spec(key)  # unknown keys fail here, naming the key
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if spec(key).type == "str" and not isinstance(value, str):
        value = raw.strip()
    return key, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested config dict (a copy)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    items = overrides.items() if isinstance(overrides, dict) else (parse_override(o) for o in overrides)
    for key, value in items:
        section, name = _split(key)
        spec(key)
        section_dict = out.get(section)
        if not isinstance(section_dict, dict):
            section_dict = {}
        section_dict[name] = value
        out[section] = section_dict
    return out


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a YAML config file into a dict, with file:line errors."""
    p = Path(path)
    if not p.exists():
        raise ConfigError([("", f"config file not found; check the path or create one with `tunedeck init {p}`")], str(p))
    if p.is_dir():
        raise ConfigError([("", "is a folder, expected a YAML config file")], str(p))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError([("", f"not UTF-8 text (byte {e.start}); save the config as UTF-8")], str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([("", f"YAML does not parse: {problem}; fix the line or start from sample_data/quickstart.yaml")], where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([("", f"expected a mapping of sections ({', '.join(SECTIONS)}), got {type(data).__name__}")], str(p))
    return data


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Load a YAML config (or defaults when ``path`` is None) and apply dotted overrides."""
    data = read_yaml(path) if path is not None else {}
    if overrides:
        data = apply_overrides(data, overrides)
    return config_from_dict(data, str(path) if path is not None else None)


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the config as YAML atomically (write to a temp file, then rename)."""
    from .rundir import atomic_write_text

    return atomic_write_text(Path(path), cfg.to_yaml())
