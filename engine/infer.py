"""The playground: generate text from a run's base model with its adapter on or off.

One copy of the base is loaded (quantized as the run trained it; on CPU a
4-bit base's frozen weights are dequantized once, see :mod:`engine.dequant`)
with the adapter on top; base-vs-tuned comparisons toggle the adapter per token
(``PeftModel.disable_adapter``), so both can even stream side by side from two
threads::

    gen = load_for_generation("runs/20261124-093000-demo")
    prompt = format_prompt(gen.cfg, "What is LoRA?")
    for piece in generate_stream(gen, prompt, adapter=True, stop=stop_event):
        print(piece, end="", flush=True)

Generation is a plain token loop with a KV cache: it checks ``stop`` before
every token, ends at EOS or at the template's stop strings, and never yields
half a UTF-8 character or the beginning of a stop string.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import rundir
from .config import Config, ModelConfig
from .errors import RunError, TuneDeckError
from .runs import no_adapter_message


@dataclass
class Generator:
    """A loaded model ready to generate: the base, optionally wrapped with a LoRA adapter."""

    model: Any
    tokenizer: Any
    cfg: Config
    run_dir: Path | None = None
    adapter_path: Path | None = None
    device: str = "cpu"
    template: str | None = None
    stop_strings: list[str] = field(default_factory=list)
    eos_ids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def has_adapter(self) -> bool:
        return self.adapter_path is not None

    def format(self, text: str, raw: bool = False) -> str:
        return format_prompt(self.cfg, text, raw=raw, tokenizer=self.tokenizer)


def adapter_source(run_dir: Path, checkpoint: str | int | os.PathLike | None = None) -> Path:
    """The folder holding the adapter to load: ``adapter/``, or a named/numbered checkpoint.

    Raises RunError naming the run and what to do when there is none yet.
    """
    rd = Path(run_dir)
    if checkpoint is not None and str(checkpoint) != "":
        text = str(checkpoint)
        candidates = [Path(text)]
        if text.isdigit():
            candidates.append(rd / rundir.CHECKPOINTS_DIR / f"checkpoint-{text}")
        candidates.append(rd / rundir.CHECKPOINTS_DIR / text)
        for c in candidates:
            if c.is_dir() and (c / "adapter_config.json").exists():
                return c
        have = ", ".join(p.name for p in rundir.checkpoints(rd)) or "none"
        raise RunError(f"{rd.name}: no checkpoint {text} (complete checkpoints: {have})")
    adapter = rd / rundir.ADAPTER_DIR
    if (adapter / "adapter_config.json").exists():
        return adapter
    raise RunError(no_adapter_message(rd))


def default_checkpoint(run_dir: Path) -> tuple[str | None, str | None]:
    """What to load when no checkpoint is named: ``(None, None)`` for the final adapter, else the newest
    complete checkpoint's name and a line saying so (a stopped or killed run has no adapter/).

    Raises RunError (:func:`no_adapter_message`) when the run has neither.
    """
    rd = Path(run_dir)
    if (rd / rundir.ADAPTER_DIR / "adapter_config.json").exists():
        return None, None
    ckpt = rundir.last_checkpoint(rd)
    if ckpt is None:
        raise RunError(no_adapter_message(rd))
    status = rundir.read_status(rd)
    state = status.get("status", "unknown")
    if state == "running":
        from .runs import pid_alive

        state = "still training" if pid_alive(status.get("pid")) else "killed"
    why = state if state == "still training" else f"run {state}"
    return ckpt.name, f"{rd.name}: no final adapter ({why}); using its newest complete checkpoint, {ckpt.name}"


def run_config(run_dir: Path) -> Config:
    from .config import load_config

    return load_config(Path(run_dir) / rundir.CONFIG_FILE)


def load_for_generation(run_dir: str | os.PathLike | None = None, *, base_model_cfg: ModelConfig | None = None,
                        checkpoint: str | int | os.PathLike | None = None, adapter: bool = True,
                        on_message: Callable[[str], None] | None = None) -> Generator:
    """Load the base model (quantized as the run says) and, for a run, its adapter.

    ``run_dir=None`` loads ``base_model_cfg`` alone (no adapter). With a run,
    ``base_model_cfg`` overrides the run's model section (e.g. another device).
    """
    from .model import load_base_model, load_tokenizer, pick_device

    if run_dir is None and base_model_cfg is None:
        raise TuneDeckError("load_for_generation needs a run folder or a base model config")
    rd = Path(run_dir) if run_dir is not None else None
    cfg = run_config(rd) if rd is not None else Config()
    if base_model_cfg is not None:
        cfg.model = base_model_cfg
    from .tasks import get_task

    if not get_task(cfg.task).generates:
        raise RunError(f"{rd.name if rd else cfg.model.name}: task {cfg.task} does not generate text "
                       "(only causal_lm runs do)")
    adapter_path = adapter_source(rd, checkpoint) if (rd is not None and adapter) else None
    say = on_message or (lambda text: None)
    device, dtype = pick_device(cfg.model)
    say(f"Loading tokenizer for {cfg.model.name}")
    tokenizer = load_tokenizer(cfg.model, say)
    from .model import quantization_words

    say(f"Loading {cfg.model.name} ({quantization_words(cfg.model.quantization)}, {dtype}) on {device}")
    from .tasks.stages import weights_model

    model = load_base_model(weights_model(rd, cfg.model), say)  # a stage: its start point, not the chain's base
    from .dequant import for_cpu_inference

    model = for_cpu_inference(model, device, cfg.model.quantization, say)  # before any forward pass
    if adapter_path is not None:
        from peft import PeftModel

        say(f"Loading adapter {adapter_path}")
        try:
            model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=False)
        except (ValueError, OSError, RuntimeError, KeyError) as e:
            raise RunError(f"{adapter_path}: cannot load the adapter onto {cfg.model.name}: {str(e).splitlines()[0][:200]}") from None
    model.eval()
    template, stops = _template_and_stops(cfg, tokenizer)
    eos_ids = _eos_ids(model, tokenizer)
    return Generator(model=model, tokenizer=tokenizer, cfg=cfg, run_dir=rd, adapter_path=adapter_path, device=device,
                     template=template, stop_strings=stops, eos_ids=eos_ids)


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gc = getattr(model, "generation_config", None)
    val = getattr(gc, "eos_token_id", None) if gc is not None else None
    if isinstance(val, int):
        ids.add(val)
    elif isinstance(val, (list, tuple)):
        ids.update(int(v) for v in val if v is not None)
    return ids


# --- prompt formatting -----------------------------------------------------------------------------

_FORMAT_CACHE: dict[tuple[str, str, str], tuple[str, dict]] = {}


def _data_format(cfg: Config) -> tuple[str, dict]:
    """(detected data format, role->column mapping) of the run's data; cheap guesses when the file is gone."""
    key = (cfg.data.path, cfg.data.format, repr(sorted(cfg.data.columns.items())))
    if key in _FORMAT_CACHE:
        return _FORMAT_CACHE[key]
    fmt, mapping = (cfg.data.format if cfg.data.format != "auto" else "alpaca"), dict(cfg.data.columns)
    try:
        from .data import load_dataset

        _, info = load_dataset(cfg.data)
        fmt, mapping = info.format, dict(info.mapping)
    except Exception:  # the data moved or cannot be read: the prompt can still be formatted
        pass
    _FORMAT_CACHE[key] = (fmt, mapping)
    return fmt, mapping


def resolved_template(cfg: Config, tokenizer=None) -> tuple[str, str, dict]:
    """(template, data format, mapping) the run trained with (``auto`` on chat data depends on the tokenizer)."""
    from .templates import resolve_template

    if cfg.data.datasets:  # several datasets: a prompt is formatted as the first dataset's rows were
        import dataclasses

        from .data.mix import parts

        cfg = dataclasses.replace(cfg, data=parts(cfg.data)[0].data(cfg.data))

    fmt, mapping = _data_format(cfg) if (cfg.data.template == "auto" or "{" in cfg.data.template) else (cfg.data.format, dict(cfg.data.columns))
    return resolve_template(cfg.data.template, fmt, tokenizer), fmt, mapping


def _template_and_stops(cfg: Config, tokenizer) -> tuple[str | None, list[str]]:
    try:
        from .template_checks import turn_end
        from .templates import stop_strings

        template, _, _ = resolved_template(cfg, tokenizer)
        stops = [s for s in stop_strings(template, tokenizer.eos_token) if s]
        end = turn_end(tokenizer) if template == "tokenizer" else None
        if end and end not in stops:  # the model's own end of turn (<|im_end|>, <|eot_id|>) when it is not EOS
            stops.append(end)
    except TuneDeckError:
        template, stops = None, []
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return template, stops


def format_prompt(run_cfg: Config, text: str, raw: bool = False, *, tokenizer=None) -> str:
    """The text the model sees for a user prompt: the run's own template up to the answer, or ``text`` as typed."""
    if raw:
        return text
    from .templates import render

    template, _, mapping = resolved_template(run_cfg, tokenizer)
    if template == "text":
        return text
    record = {"kind": "instruction", "system": "", "instruction": text, "input": "", "output": ""}
    raw_row = None
    if "{" in template:  # a custom {column} template reads the user's own column names
        roles = {"instruction": text, "input": "", "output": "", "system": ""}
        raw_row = {col: roles.get(role, "") for role, col in mapping.items()}
        raw_row.update({k: v for k, v in roles.items() if k not in raw_row})
    eos = tokenizer.eos_token if tokenizer is not None else ""
    rendered = render(record, template, eos_token=eos or "", tokenizer=tokenizer,
                      system_prompt=run_cfg.data.system_prompt, raw=raw_row)
    return rendered.prompt


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids for a prompt, tokenised exactly as training tokenised a sample's prompt segment."""
    from .tokenize import prompt_ids

    return list(prompt_ids(text, tokenizer))


# --- generation -----------------------------------------------------------------------------------


def _input_device(model):
    try:
        return model.get_input_embeddings().weight.device
    except Exception:
        return next(model.parameters()).device


def _pick_token(logits, *, greedy: bool, temperature: float, top_p: float, generator=None) -> int:
    import torch

    if greedy or temperature <= 0:
        return int(torch.argmax(logits).item())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if 0 < top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        cum = torch.cumsum(sorted_probs, dim=-1)
        keep = cum - sorted_probs < top_p  # always keeps the most likely token
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice].item())
    return int(torch.multinomial(probs, 1, generator=generator).item())


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could be the start of a stop string (kept back until known)."""
    n = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), n, -1):
            if text.endswith(s[:k]):
                n = k
                break
    return n


def _start_ids(tokenizer, prompt_text: str | None, prompt_ids: Sequence[int] | None) -> list[int]:
    """The prompt's token ids (``prompt_ids`` as given), or one BOS (else EOS) token for an empty prompt."""
    ids = list(prompt_ids) if prompt_ids is not None else encode_prompt(tokenizer, prompt_text or "")
    if not ids:
        ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    return ids


def generate_stream(gen: Generator, prompt_text: str | None, *, adapter: bool = True, max_new_tokens: int = 128,
                    temperature: float = 0.7, top_p: float = 0.9, greedy: bool = False,
                    stop: threading.Event | None = None, prompt_ids: Sequence[int] | None = None,
                    seed: int | None = None, stop_strings: Sequence[str] | None = None,
                    stats: dict | None = None) -> Iterator[str]:
    """Yield the generated text piece by piece (about one token each).

    Ends at EOS, at one of the template's stop strings (not yielded), after
    ``max_new_tokens``, or as soon as ``stop`` is set. ``prompt_ids`` bypasses
    tokenisation of ``prompt_text`` (evaluation passes the training tokens).
    ``stats``, when given, is filled in as it goes: ``prompt_tokens``,
    ``tokens`` (generated so far) and, once it ends, ``reason``: ``"eos"``,
    ``"stop_string"``, ``"max_tokens"`` or ``"cancelled"``.
    """
    import contextlib

    import torch

    if adapter and not gen.has_adapter:
        raise TuneDeckError("no adapter is loaded; generate with the base model (adapter off) or load a run")
    ids = _start_ids(gen.tokenizer, prompt_text, prompt_ids)
    stops = [s for s in (gen.stop_strings if stop_strings is None else stop_strings) if s]
    rng = torch.Generator().manual_seed(seed) if seed is not None else None
    device = _input_device(gen.model)
    model = gen.model

    def forward(input_ids, past):
        ctx = model.disable_adapter() if (gen.has_adapter and not adapter) else contextlib.nullcontext()
        with gen.lock, ctx, torch.inference_mode():
            out = model(input_ids=input_ids, past_key_values=past, use_cache=True)
        return out.logits[0, -1, :], out.past_key_values

    generated: list[int] = []
    emitted = 0
    info = stats if stats is not None else {}
    info.update(prompt_tokens=len(ids), tokens=0, reason="max_tokens")
    if stop is not None and stop.is_set():
        info["reason"] = "cancelled"
        return
    logits, past = forward(torch.tensor([ids], device=device), None)
    for _ in range(max(0, int(max_new_tokens))):
        if stop is not None and stop.is_set():
            info["reason"] = "cancelled"
            return
        token = _pick_token(logits, greedy=greedy, temperature=temperature, top_p=top_p, generator=rng)
        if token in gen.eos_ids:
            info["reason"] = "eos"
            break
        generated.append(token)
        info["tokens"] = len(generated)
        text = gen.tokenizer.decode(generated, skip_special_tokens=False)
        cut = min((i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            info["reason"] = "stop_string"
            if cut > emitted:
                yield text[emitted:cut]
            return
        if not text.endswith("\ufffd"):  # a multi-byte character is not complete yet
            safe = len(text) - _held_back(text, stops)
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
        if len(generated) >= max_new_tokens:
            break
        logits, past = forward(torch.tensor([[token]], device=device), past)
    if generated:
        text = gen.tokenizer.decode(generated, skip_special_tokens=False)
        if len(text) > emitted and not (stop is not None and stop.is_set()):
            yield text[emitted:]
    if stop is not None and stop.is_set() and info["reason"] == "max_tokens":
        info["reason"] = "cancelled"


def generate(gen: Generator, prompt_text: str | None, **kwargs: Any) -> str:
    """The whole generated text at once (see :func:`generate_stream`)."""
    return "".join(generate_stream(gen, prompt_text, **kwargs))
