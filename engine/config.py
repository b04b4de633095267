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
TASKS = ("causal_lm", "extractive_qa", "classification")
QA_METHODS = ("full", "lora")
CLS_METHODS = ("auto", "full", "lora")


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
    from_run: str | None = _f(None, help="Start from this run's result (its adapter merged into its base, or its fine-tuned model) instead of the base: training in stages.", nullable=True, hidden=True)
    dequantize_frozen: str = _f("auto", help="CPU, 4-bit: keep the frozen weights dequantized once (plain matmuls, same loss); auto = when they fit in RAM.", choices=("auto", "on", "off"))


@dataclass
class LoraConfig:
    """The LoRA adapter trained on top of the frozen base."""

    r: int = _f(16, help="Rank of the LoRA update matrices.", gt=0)
    alpha: float = _f(32, help="LoRA scaling numerator (scale = alpha / r).", gt=0)
    dropout: float = _f(0.05, help="Dropout on the LoRA input.", ge=0, lt=1)
    target_modules: str | list[str] = _f("all-linear", help="Module names to adapt, or all-linear for every linear layer but the output head.")


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
    val_path: str | None = _f(None, help="A separate validation file (overrides val_split).", nullable=True)
    split: str = _f("train", help="Split to read from a hub dataset or a saved DatasetDict.")
    limit: int | None = _f(None, help="Use only the first N rows (for quick experiments).", nullable=True, gt=0)
    packing: str = _f("none", help="bins: pack the whole epoch's samples into full micro-batches of batch_size x max_length tokens; none: batch_size samples each.", choices=("none", "bins"))
    delimiter: str | None = _f(None, help="CSV field separator, e.g. ';' (default: sniffed from the file).", nullable=True, one_char=True)
    datasets: list | None = _f(default_factory=list, help="Several datasets in one run: a list of {path, format, columns, template, weight} (engine.config_datasets); data.path is then unused.", nullable=True, datasets=True, hidden=True)
    stopping_strategy: str = _f("first_exhausted", help="Mixing data.datasets: stop when the first dataset runs out (no row repeated), or when all have (smaller ones repeated).", choices=("first_exhausted", "all_exhausted"), hidden=True)


@dataclass
class TrainingConfig:
    """Optimisation hyperparameters, handed to transformers' Trainer."""

    learning_rate: float = _f(2e-4, help="Peak learning rate.", gt=0)
    epochs: float = _f(1.0, help="Passes over the data (ignored when max_steps > 0).", gt=0)
    max_steps: int = _f(0, help="Stop after this many optimizer steps; 0 = train for `epochs`.", ge=0)
    batch_size: int = _f(4, help="Samples per device per step.", gt=0)
    gradient_accumulation: int = _f(1, help="Micro-batches accumulated per optimizer step.", gt=0)
    max_tokens_per_batch: int = _f(0, help="Fill each micro-batch up to this many tokens instead of batch_size samples; 0 = off.", ge=0)
    batching: str = _f("padding_free", help="padding_free packs a batch into one row with per-sample positions and attention; padded pads to the longest.", choices=BATCHING)
    warmup_ratio: float = _f(0.03, help="Fraction of steps spent warming the learning rate up.", ge=0, le=1)
    lr_scheduler: str = _f("cosine", help="Learning-rate schedule after warmup.", choices=SCHEDULERS)
    weight_decay: float = _f(0.0, help="AdamW weight decay.", ge=0)
    max_grad_norm: float = _f(1.0, help="Gradient clipping norm (0 = off).", ge=0)
    logging_steps: int = _f(1, help="Log loss every N steps.", gt=0)
    save_steps: int = _f(50, help="Save a checkpoint every N steps.", gt=0)
    eval_steps: int = _f(50, help="Evaluate on the validation split every N steps.", gt=0)
    save_total_limit: int = _f(3, help="Keep at most this many checkpoints.", gt=0)
    seed: int = _f(42, help="Random seed for data order, LoRA init and dropout.", ge=0)
    processes: int = _f(1, help="Training processes on this machine (one per GPU); more than 1 starts them through torchrun (docs/distributed.md).", ge=1)
    distributed: str = _f("ddp", help="How several processes share the work: ddp (a model copy each), fsdp deepspeed (ZeRO-3) or deepspeed_zero2: shards over the processes.", choices=("ddp", "fsdp", "deepspeed", "deepspeed_zero2"))
    report_to: list[str] = _f(default_factory=list, help="Experiment trackers to log to, e.g. [tensorboard, wandb] (tensorboard logs in the run folder, W&B offline unless WANDB_MODE is set); [] = none.", trackers=True)
    oom_recovery: str = _f("auto", help="Out of device memory: halve the micro-batch, double gradient_accumulation and go on from the last checkpoint (3 times at most); auto = on for CUDA.", choices=("auto", "on", "off"))
    kernels: str = _f("none", help="Fused GPU kernels: liger (Liger-Kernel, CUDA only, when installed) or none.", choices=("none", "liger"))


@dataclass
class OutputConfig:
    """Where runs are written."""

    runs_dir: str = _f("runs", help="Folder that holds one sub-folder per run.")
    name: str = _f("", help="Run name (default: derived from model and data).")


@dataclass
class QaConfig:
    """Extractive question answering (task: extractive_qa): windows over the context and answer decoding."""

    max_length: int = _f(384, help="Tokens per window (question + context part).", gt=0)
    doc_stride: int = _f(128, help="Tokens of overlap between consecutive windows of a long context.", ge=0)
    max_answer_length: int = _f(30, help="Longest answer span, in tokens, the decoder may pick.", gt=0)
    n_best: int = _f(20, help="Start and end candidates per window considered when decoding.", gt=0)
    null_threshold: float = _f(0.0, help="SQuAD 2.0: answer 'no answer' when the null score beats the best span by more than this.")
    method: str = _f("full", help="full fine-tuning (the default for encoders) or lora (the QA head is trained in full).", choices=QA_METHODS)


@dataclass
class ClsConfig:
    """Text classification (task: classification): how a text becomes a label."""

    max_length: int = _f(256, help="Tokens per text (or text pair); longer texts are truncated.", gt=0)
    method: str = _f("auto", help="auto = full fine-tuning for an unquantized base, LoRA for a 4-bit/8-bit one (the head is trained in full).", choices=CLS_METHODS)
    class_weights: str = _f("none", help="balanced weighs each class's loss by n_rows / (n_classes * rows of the class), for imbalanced data.", choices=("none", "balanced"))
    threshold: float = _f(0.5, help="Multi-label data: a label is predicted when its probability reaches this.", gt=0, lt=1)


@dataclass
class Config:
    """A complete TuneDeck run configuration."""

    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "Base model"})
    lora: LoraConfig = field(default_factory=LoraConfig, metadata={"help": "LoRA adapter"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "Data and template"})
    training: TrainingConfig = field(default_factory=TrainingConfig, metadata={"help": "Optimisation"})
    output: OutputConfig = field(default_factory=OutputConfig, metadata={"help": "Output"})
    task: str = field(default="causal_lm", metadata={"help": "What to train", "choices": TASKS})
    qa: QaConfig = field(default_factory=QaConfig, metadata={"help": "Extractive QA"})
    cls: ClsConfig = field(default_factory=ClsConfig, metadata={"help": "Text classification"})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["model"]["from_run"] is None:
            del out["model"]["from_run"]  # a one-stage config reads as it always did
        if not out["data"]["datasets"]:  # a one-dataset config too
            del out["data"]["datasets"], out["data"]["stopping_strategy"]
        task, qa, cls = out.pop("task"), out.pop("qa"), out.pop("cls")
        if task == "causal_lm" and qa == dataclasses.asdict(QaConfig()) and cls == dataclasses.asdict(ClsConfig()):
            return out  # a causal-LM config reads as it always did
        extra = {"cls": cls} if task == "classification" or cls != dataclasses.asdict(ClsConfig()) else {}
        return {"task": task, **out, "qa": qa, **extra}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def get(self, dotted: str) -> Any:
        if dotted == "task":
            return self.task
        section, key = _split(dotted)
        return getattr(getattr(self, section), key)

    def set(self, dotted: str, value: Any) -> Any:
        """Validate one field (as a text box or YAML gives it) and store it; returns the stored value.

        Raises ConfigError naming the field; the config is unchanged then. Cross-field
        rules are checked by :func:`cross_field_errors` (``tui.state.AppState.set_field`` runs both).
        """
        if dotted == "task":  # the one top-level key (the app's task picker sets it like any field)
            self.task = coerce_field("task", value)
            return self.task
        section, key = _split(dotted)
        value = coerce_field(dotted, value)
        setattr(getattr(self, section), key, value)
        return value


SECTIONS: dict[str, type] = {"model": ModelConfig, "lora": LoraConfig, "data": DataConfig, "training": TrainingConfig, "output": OutputConfig}
TASK_SECTIONS: dict[str, type] = {"qa": QaConfig, "cls": ClsConfig}  # not in the causal-LM form (field_specs)
ALL_SECTIONS: dict[str, type] = {**SECTIONS, **TASK_SECTIONS}
# Options that mean something to causal-LM runs only: set on another task, they are an error naming the field.
LM_ONLY = ("data.format", "data.template", "data.system_prompt", "data.train_on_prompt", "data.max_length", "data.datasets",
           "training.batching", "training.max_tokens_per_batch")


@dataclass(frozen=True)
class FieldSpec:
    """What a form needs to render and check one config field."""

    path: str
    type: str  # "str" | "int" | "float" | "bool" | "dict" | "any"
    default: Any
    help: str
    choices: tuple[str, ...] | None
    rules: dict[str, Any]


def field_specs(sections: dict[str, type] = SECTIONS, hidden: bool = False) -> Iterator[FieldSpec]:
    """Every config field in section order, with its type, default and help (``hidden`` ones: not in the form)."""
    defaults = Config()
    for section, cls in sections.items():
        for f in fields(cls):
            meta = dict(f.metadata)
            if meta.pop("hidden", False) and not hidden:
                continue
            help_text = meta.pop("help", "")
            choices = meta.pop("choices", None)
            ftype = _form_type(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "any"))
            yield FieldSpec(f"{section}.{f.name}", ftype, getattr(getattr(defaults, section), f.name), help_text, choices, meta)


def _form_type(annotation: str) -> str:
    """The form's kind of input for an annotation: ``int | None`` is an int that may be empty."""
    parts = [p.strip() for p in annotation.split("|") if p.strip() != "None"]
    if len(parts) == 1 and parts[0] in ("str", "int", "float", "bool", "dict"):
        return parts[0]
    return "any"


_SPECS: dict[str, FieldSpec] = {}


def spec(path: str) -> FieldSpec:
    if not _SPECS:
        _SPECS.update({s.path: s for s in field_specs(ALL_SECTIONS, hidden=True)})
        _SPECS["task"] = FieldSpec("task", "str", "causal_lm", "What to train", TASKS, {})
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
    if parts[0] not in ALL_SECTIONS:
        close = difflib.get_close_matches(parts[0], [*ALL_SECTIONS, "task"], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown section{hint}; sections are {', '.join(ALL_SECTIONS)} (and the key task)"
    known = [f.name for f in fields(ALL_SECTIONS[parts[0]])]
    key = parts[1] if len(parts) > 1 else ""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {parts[0]}.{close[0]}?)" if close else ""
    return f"unknown key{hint}; keys in {parts[0]} are {', '.join(known)}"


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def coerce_field(path: str, value: Any) -> Any:
    """Convert and check one field's value with pydantic; raise ConfigError naming the field.

    Accepts what YAML or a text box gives: ``"2e-4"`` for a float, ``"8"`` for
    an int, ``"yes"``/``"true"`` for a bool, ``""``/``"null"`` for a nullable field.
    """
    from .config_rules import check

    return check(spec(path), value)


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _section_shape_errors(data: dict) -> list[tuple[str, str]]:
    """Top-level keys that are no section, and sections that are no mapping."""
    errors = []
    for section_name, value in data.items():
        if section_name == "task":
            continue
        if section_name not in ALL_SECTIONS:
            errors.append((str(section_name), _unknown_key_message(str(section_name))))
        elif value is not None and not isinstance(value, dict):
            errors.append((section_name, f"expected a mapping of keys, got {_fmt(value)}"))
    return errors


def _build_section(section_name: str, cls: type, given: dict, errors: list[tuple[str, str]]):
    """One section's dataclass from its given keys, each checked; problems appended to ``errors``."""
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
    return cls(**kwargs)


def config_from_dict(data: Any, source: str | None = None) -> Config:
    """Build a Config from nested dicts, filling defaults; every problem is reported at once."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([("", f"expected a mapping of sections ({', '.join(SECTIONS)}), got {type(data).__name__}")], source)
    errors: list[tuple[str, str]] = []
    task = "causal_lm"
    if "task" in data:
        try:
            task = coerce_field("task", data["task"])
        except ConfigError as e:
            errors.extend(e.errors)
    errors.extend(_section_shape_errors(data))
    sections = {name: _build_section(name, cls, data.get(name) or {}, errors)
                for name, cls in ALL_SECTIONS.items() if isinstance(data.get(name) or {}, dict)}
    if not errors:
        cfg = Config(**sections, task=task)
        if task != "causal_lm":
            errors.extend(_task_defaults(cfg, data))
        errors.extend(cross_field_errors(cfg))
        if not errors:
            return cfg
    raise ConfigError(errors, source)


def cross_field_errors(cfg: Config) -> list[tuple[str, str]]:
    """Checks that involve more than one field."""
    errors = []
    from .config_datasets import cross_errors

    errors.extend(cross_errors(cfg))
    budget = cfg.training.max_tokens_per_batch
    if 0 < budget < cfg.data.max_length:
        errors.append(("training.max_tokens_per_batch",
                       f"must be >= data.max_length ({cfg.data.max_length}) so every sample fits, or 0 for off; got {budget}"))
    return errors


def _task_defaults(cfg: Config, data: dict) -> list[tuple[str, str]]:
    """For encoder tasks: the demo encoder, full precision by default; LM-only options set are errors."""
    given = lambda section, key: isinstance(data.get(section), dict) and key in data[section]  # noqa: E731
    if not given("model", "name"):
        cfg.model.name = "minilm-l6-v2"
    if not given("model", "quantization"):
        cfg.model.quantization = "none"
    errors = []
    for path in LM_ONLY:
        section, key = path.split(".")
        if given(section, key) and getattr(getattr(cfg, section), key) != spec(path).default:
            errors.append((path, f"applies to causal_lm runs only, not task {cfg.task}; remove it"
                                 + (f" (set {'cls' if cfg.task == 'classification' else 'qa'}.max_length instead)" if path == "data.max_length" else "")))
    return errors


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
        if key == "task":
            out["task"] = value
            continue
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
    if not overrides:
        return config_from_dict(data, str(path) if path is not None else None)
    try:
        data = apply_overrides(data, overrides)
        return config_from_dict(data, str(path) if path is not None else None)
    except ConfigError as e:
        raise _blame_overrides(e, overrides) from None


def _blame_overrides(err: ConfigError, overrides: list[str] | dict[str, Any]) -> ConfigError:
    """The same error, each problem named where it came from: ``--set lora.r`` for an override, else the file."""
    given = set(overrides) if isinstance(overrides, dict) else {o.partition("=")[0].strip() for o in overrides}
    parts = []
    for field_name, msg in err.errors:
        if field_name in given:
            parts.append(f"--set {field_name}: {msg}")
        elif field_name and "=" in field_name and not isinstance(overrides, dict):
            parts.append(f"--set {field_name}: {msg}")  # a malformed override names itself
        else:
            where = f"{err.source}: " if err.source else ""
            parts.append(f"{where}{field_name}: {msg}" if field_name else f"{where}{msg}")
    blamed = ConfigError(err.errors, err.source)
    blamed.args = ("; ".join(parts),)
    return blamed


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the config as YAML atomically (write to a temp file, then rename)."""
    from .rundir import atomic_write_text

    return atomic_write_text(Path(path), cfg.to_yaml())
