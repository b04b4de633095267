"""One config field checked by pydantic, its errors said in TuneDeck's words.

Each dataclass field in :mod:`engine.config` declares its type and rules
(``gt``/``ge``/``lt``/``le``, ``choices``, ``nullable``, ``template``); here they
become a pydantic ``TypeAdapter`` (built once per field) that converts what YAML
or a text box gives and checks it. pydantic's errors are then said the way every
TuneDeck message is: ``training.learning_rate: must be > 0, got -1``.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BeforeValidator, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import FieldSpec

NULL_WORDS = ("", "null", "none", "~")
BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _num(x: Any) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _no_bool(value: Any) -> Any:
    """A YAML ``true`` is not the number 1."""
    if isinstance(value, bool):
        raise ValueError("number")
    return value


def _only_bool_or_text(value: Any) -> Any:
    """``1`` from YAML is not a yes/no answer; ``"yes"``, ``"on"``, ``true`` are."""
    if not isinstance(value, (bool, str)):
        raise ValueError("bool")
    return value.strip() if isinstance(value, str) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _yaml_text(value: Any) -> Any:
    """A text box gives ``[q_proj, v_proj]`` or ``{instruction: q}`` as text: read it as YAML."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        import yaml

        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError("parse") from None
    return value


def _modules(value: Any) -> Any:
    value = _yaml_text(value)
    if isinstance(value, str) and value.strip() != "all-linear":
        return [v.strip() for v in value.split(",") if v.strip()] or value
    return value.strip() if isinstance(value, str) else value


def _tracker_list(value: Any) -> Any:
    """``tensorboard``, ``tensorboard, wandb``, ``[tensorboard]`` or ``none``: a list of tracker names."""
    value = _yaml_text(value)
    if isinstance(value, str):
        value = [] if value.strip().lower() in NULL_WORDS else [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return list(dict.fromkeys(v.strip() if isinstance(v, str) else v for v in value))  # each tracker once
    return value


def _known_trackers(value: list) -> list:
    from .trackers import TRACKERS

    for name in value:
        if name not in TRACKERS:
            close = difflib.get_close_matches(name, TRACKERS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"unknown tracker {_fmt(name)}{hint}; use [] for none or a list of {', '.join(TRACKERS)}")
    return value


def _template_check(builtins: tuple[str, ...]):
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"must be a template name ({', '.join(builtins)}) or a string with {{column}} placeholders")
        if value not in builtins and "{" not in value:
            close = difflib.get_close_matches(value, builtins, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"unknown template {_fmt(value)}{hint}; use one of {', '.join(builtins)} or a string with {{column}} placeholders")
        return value
    return check


def _base_type(spec: FieldSpec) -> Any:
    rules = spec.rules
    bounds = {k: rules[k] for k in BOUNDS if k in rules}
    if rules.get("datasets"):
        from .config_datasets import check_datasets

        return Annotated[Any, BeforeValidator(check_datasets)]  # its ConfigError names the entry and key
    if spec.path == "lora.target_modules":
        names = list[Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]]
        return Annotated[Union[Literal["all-linear"], Annotated[names, Field(min_length=1)]], BeforeValidator(_modules)]
    if rules.get("trackers"):
        from pydantic import AfterValidator

        return Annotated[list[StrictStr], BeforeValidator(_tracker_list), AfterValidator(_known_trackers)]
    if spec.choices:
        return Annotated[Literal[spec.choices], BeforeValidator(_strip)]  # type: ignore[valid-type]
    if spec.type in ("int", "float"):
        return Annotated[int if spec.type == "int" else float, Field(**bounds), BeforeValidator(_no_bool)]
    if spec.type == "bool":
        return Annotated[bool, BeforeValidator(_only_bool_or_text)]
    if spec.type == "dict":
        return Annotated[dict[StrictStr, StrictStr], BeforeValidator(_yaml_text)]
    if rules.get("template"):
        from pydantic import AfterValidator

        from .config import BUILTIN_TEMPLATES

        return Annotated[str, AfterValidator(_template_check(BUILTIN_TEMPLATES))]
    if rules.get("one_char"):
        return Annotated[StrictStr, Field(min_length=1, max_length=1)]
    if spec.type == "str":
        return str
    return Any


_ADAPTERS: dict[str, TypeAdapter] = {}


def _adapter(spec: FieldSpec) -> TypeAdapter:
    if spec.path not in _ADAPTERS:
        _ADAPTERS[spec.path] = TypeAdapter(_base_type(spec), config=ConfigDict(coerce_numbers_to_str=True))
    return _ADAPTERS[spec.path]


def _message(spec: FieldSpec, err: dict, value: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    got = _fmt(value)
    if kind in BOUND_ERRORS:
        rule = BOUND_ERRORS[kind]
        return f"must be {BOUNDS[rule]} {_num(ctx[rule])}, got {_num(value)}"
    if spec.path == "lora.target_modules":
        return f"must be all-linear or a list of module names like [q_proj, v_proj], got {got}"
    if spec.rules.get("trackers") and kind != "value_error":
        return f"must be a list of tracker names like [tensorboard, wandb], or [] for none, got {got}"
    if kind == "literal_error" and spec.choices:
        return f"must be one of {', '.join(spec.choices)}, got {got}"
    if spec.type == "int":
        return f"must be a whole number, got {got}"
    if spec.type == "float":
        return f"must be a number, got {got}"
    if spec.type == "bool":
        return f"must be true or false, got {got}"
    if spec.type == "dict":
        return f"must be a mapping of role to column name, got {got}"
    if spec.rules.get("one_char"):
        return f"must be one character such as ';' or '\\t', got {got}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if spec.type == "str":
        return f"must be text, got {got}"
    return f"{err['msg'].lower()}, got {got}"


BOUND_ERRORS = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def check(spec: FieldSpec, value: Any) -> Any:
    """The field's value converted and checked, or ConfigError([(path, message)])."""
    if isinstance(value, str) and value.strip().lower() in NULL_WORDS:
        if spec.rules.get("nullable"):
            return None
        if spec.type != "str":
            value = None
    if value is None:
        if spec.rules.get("nullable"):
            return None
        if spec.rules.get("trackers"):
            return []  # none
        raise ConfigError([(spec.path, "must be set, got nothing")])
    try:
        return _adapter(spec).validate_python(value)
    except ValidationError as e:
        raise ConfigError([(spec.path, _message(spec, e.errors()[0], value))]) from None
