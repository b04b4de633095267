"""Loading encoders for extractive QA: tokenizer, ``AutoModelForQuestionAnswering``, optional LoRA.

Full fine-tuning is the default (``qa.method: full``); ``qa.method: lora`` wraps the encoder in a peft
adapter of task type QUESTION_ANS, whose QA head (``qa_outputs``) is trained in full beside it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError

MODEL_DIR = "model"  # a full fine-tune's final weights in the run folder (a LoRA run writes adapter/)


def load_qa_tokenizer(model_cfg, on_message=None, source: str | None = None):
    from transformers import AutoTokenizer

    from ..model import _hub_error, local_model_dir
    from .qa_features import check_tokenizer

    source = source or local_model_dir(model_cfg, on_message)
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=model_cfg.trust_remote_code)
    except Exception as e:
        raise _hub_error(model_cfg.name, e) from None
    check_tokenizer(tok, model_cfg.name)
    if tok.cls_token_id is None:
        raise ModelError(f"model.name: the tokenizer of {model_cfg.name} has no CLS token, which no-answer windows point at")
    return tok


def load_qa_model(model_cfg, on_message=None, source: str | None = None, seed: int | None = None):
    """The encoder with a span-prediction head; a base without one gets a fresh head (seeded)."""
    from transformers import AutoModelForQuestionAnswering

    from ..model import local_model_dir
    from .head_model import head_model_kwargs, load_with_head

    device, dtype, kwargs = head_model_kwargs(model_cfg)
    source = source or local_model_dir(model_cfg, on_message)
    model, qc = load_with_head(AutoModelForQuestionAnswering, source, model_cfg, kwargs, device=device, dtype=dtype,
                               seed=seed, cannot="answer extractive questions",
                               instead="use an encoder such as BERT, RoBERTa, MiniLM")
    if qc is None and device == "cuda":
        model = model.to("cuda")
    return model


def add_qa_lora(model, model_cfg, lora_cfg):
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    if model_cfg.quantization in ("4bit", "8bit"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=model_cfg.gradient_checkpointing)
    peft_cfg = PeftLoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
                              target_modules=lora_cfg.target_modules, task_type="QUESTION_ANS", bias="none",
                              modules_to_save=["qa_outputs"])
    try:
        return get_peft_model(model, peft_cfg)
    except ValueError as e:
        raise ModelError(f"lora.target_modules: {str(e).splitlines()[0][:200]}") from None


def trained_source(run_dir: Path, checkpoint=None) -> tuple[str, str]:
    """("full" | "lora", folder) holding a QA run's trained weights: model/, adapter/ or a checkpoint."""
    from .. import rundir
    from ..errors import RunError

    rd = Path(run_dir)
    if checkpoint is not None and str(checkpoint) != "":
        text = str(checkpoint)
        for c in (Path(text), rd / rundir.CHECKPOINTS_DIR / f"checkpoint-{text}", rd / rundir.CHECKPOINTS_DIR / text):
            if c.is_dir() and rundir.checkpoint_is_complete(c):
                return ("lora" if (c / "adapter_config.json").exists() else "full"), str(c)
        have = ", ".join(p.name for p in rundir.checkpoints(rd)) or "none"
        raise RunError(f"{rd.name}: no checkpoint {text} (complete checkpoints: {have})")
    if (rd / MODEL_DIR / "config.json").exists():
        return "full", str(rd / MODEL_DIR)
    if (rd / rundir.ADAPTER_DIR / "adapter_config.json").exists():
        return "lora", str(rd / rundir.ADAPTER_DIR)
    from ..runs import no_adapter_message

    raise RunError(no_adapter_message(rd).replace("no adapter", "no trained model"))


def load_trained(run_dir: Path, cfg, checkpoint=None, base: bool = False, on_message=None):
    """(model, tokenizer) of a QA run, in eval mode; ``base`` gives the untrained head on the base encoder."""
    tokenizer = load_qa_tokenizer(cfg.model, on_message)
    if base:
        model = load_qa_model(cfg.model, on_message, seed=cfg.training.seed)
    else:
        kind, folder = trained_source(run_dir, checkpoint)
        if kind == "full":
            model = load_qa_model(cfg.model, on_message, source=folder)
        else:
            from peft import PeftModel

            model = PeftModel.from_pretrained(load_qa_model(cfg.model, on_message), folder, is_trainable=False)
    model.eval()
    return model, tokenizer
