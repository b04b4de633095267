"""Loading a classifier: ``AutoModelForSequenceClassification`` on an encoder (BERT, MiniLM, ...) or a causal LM
(Llama, SmolLM2, ...), with the label names in its config, optionally 4-bit/8-bit and LoRA.

A causal LM has no pad token of its own: the tokenizer's EOS stands in, and ``config.pad_token_id`` is set
so the model can find each row's last real token (whose state the ``score`` head reads). With LoRA
(``cls.method: lora``, or any quantized base) the head is trained in full beside the adapter
(peft ``modules_to_save``), because a fresh head is random and has to be learned outright.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ModelError

HEAD_NAMES = ("classifier", "score", "classification_head", "cls", "head")


def method(cfg) -> str:
    """"full" or "lora" for ``cfg``: auto trains a quantized base through LoRA, an unquantized one in full."""
    m = cfg.cls.method
    if m == "auto":
        return "lora" if cfg.model.quantization != "none" else "full"
    if m == "full" and cfg.model.quantization != "none":
        raise ConfigError([("cls.method", f"{cfg.model.quantization} weights cannot be fine-tuned in full; "
                                          "set cls.method: lora (or auto), or model.quantization: none")])
    return m


def load_cls_tokenizer(model_cfg, on_message=None, source: str | None = None):
    from transformers import AutoTokenizer

    from ..model import _hub_error, local_model_dir

    source = source or local_model_dir(model_cfg, on_message)
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=model_cfg.trust_remote_code)
    except Exception as e:
        raise _hub_error(model_cfg.name, e) from None
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ModelError(f"model.name: the tokenizer of {model_cfg.name} has neither a pad nor an EOS token; "
                             "set pad_token in its tokenizer_config.json")
        tok.pad_token = tok.eos_token
    return tok


def head_name(model) -> str:
    inner = getattr(model, "base_model", model)
    inner = getattr(inner, "model", inner) if not any(hasattr(inner, h) for h in HEAD_NAMES) else inner
    for name in HEAD_NAMES:
        if hasattr(model, name) or hasattr(inner, name):
            return name
    raise ModelError(f"model.name: cannot find the classification head of {type(model).__name__}")


def load_cls_model(model_cfg, labels=None, tokenizer=None, on_message=None, source: str | None = None,
                   seed: int | None = None):
    """The model with a classification head for ``labels`` (a LabelSpace); from a trained folder, its own head."""
    from transformers import AutoModelForSequenceClassification

    from ..model import local_model_dir
    from .head_model import head_model_kwargs, load_with_head

    device, dtype, kwargs = head_model_kwargs(model_cfg)
    source = source or local_model_dir(model_cfg, on_message)
    if labels is not None and source is not None:
        kwargs["ignore_mismatched_sizes"] = True  # an earlier stage's head for other classes is replaced
    if labels is not None:
        kwargs.update(num_labels=len(labels.names), id2label=labels.id2label, label2id=labels.label2id,
                      problem_type="multi_label_classification" if labels.multi else "single_label_classification")
    if tokenizer is not None and tokenizer.pad_token_id is not None:
        kwargs["pad_token_id"] = tokenizer.pad_token_id
    model, qc = load_with_head(AutoModelForSequenceClassification, source, model_cfg, kwargs, device=device, dtype=dtype,
                               seed=seed, cannot="classify text",
                               instead="use an encoder (BERT, MiniLM) or a Llama-style causal LM")
    if labels is not None and source is not None and _head_labels(source) != labels.names:
        _reset_head(model)  # a start point whose head knew other classes (or none): a fresh, seeded head
    if model.config.pad_token_id is None and tokenizer is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    if qc is None and device == "cuda":
        model = model.to("cuda")
    return model


def _head_labels(folder: str) -> list[str] | None:
    import json

    try:
        cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        arch = " ".join(cfg.get("architectures") or [])
        if "SequenceClassification" not in arch:
            return None
        return [cfg["id2label"][k] for k in sorted(cfg["id2label"], key=int)]
    except (OSError, ValueError, KeyError):
        return None


def _reset_head(model) -> None:
    head = getattr(model, head_name(model))
    for m in head.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def add_cls_lora(model, model_cfg, lora_cfg):
    """A peft SEQ_CLS adapter; the head (``classifier``/``score``) is trained in full and saved with it."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    head = head_name(model)
    if model_cfg.quantization in ("4bit", "8bit"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=model_cfg.gradient_checkpointing)
    targets = lora_cfg.target_modules
    peft_cfg = PeftLoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
                              target_modules=targets, task_type="SEQ_CLS", bias="none", modules_to_save=[head],
                              exclude_modules=[head] if targets == "all-linear" else None)
    try:
        return get_peft_model(model, peft_cfg)
    except ValueError as e:
        raise ModelError(f"lora.target_modules: {str(e).splitlines()[0][:200]}") from None


def load_trained(run_dir: Path, cfg, checkpoint=None, base: bool = False, on_message=None):
    """(model, tokenizer, LabelSpace) of a classification run, in eval mode; ``base`` gives a fresh head on the base."""
    from .cls_data import LabelSpace
    from .qa_model import trained_source

    labels = LabelSpace(**read_labels(run_dir))
    tokenizer = load_cls_tokenizer(cfg.model, on_message)
    if base:
        model = load_cls_model(cfg.model, labels, tokenizer, on_message, seed=cfg.training.seed)
    else:
        kind, folder = trained_source(run_dir, checkpoint)
        if kind == "full":
            model = load_cls_model(cfg.model, None, tokenizer, on_message, source=folder)
        else:
            from peft import PeftModel

            from .stages import start_point

            base_model = load_cls_model(cfg.model, labels, tokenizer, on_message, source=start_point(run_dir))
            model = PeftModel.from_pretrained(base_model, folder, is_trainable=False)  # a stage: on its start point
    from ..dequant import for_cpu_inference
    from ..model import pick_device

    for_cpu_inference(model, pick_device(cfg.model)[0], cfg.model.quantization, on_message or (lambda t: None))
    model.eval()
    return model, tokenizer, labels


LABELS_FILE = "labels.json"  # the run's LabelSpace, written before training starts


def read_labels(run_dir) -> dict:
    import json

    from ..errors import RunError

    p = Path(run_dir) / LABELS_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise RunError(f"{Path(run_dir).name}: no {LABELS_FILE}; is it a classification run that started training?") from None
