"""Model loading: hub id, local folder or .gguf file; 4-bit / 8-bit / unquantized; LoRA.

Small functions, each usable alone::

    device, dtype = pick_device(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    model = load_base_model(cfg.model)
    model = add_lora(model, cfg.model, cfg.lora)

The demo model name ``smollm2-135m-instruct`` resolves to a safetensors folder
in the user cache, written once by ``tunedeck models pull`` (see :mod:`engine.demo`); where a model's
files are is :mod:`engine.model_files`.
"""

from __future__ import annotations

from typing import Any

from .config import LoraConfig, ModelConfig
from .errors import ModelError
from .model_files import ResolvedModel, cache_dir, local_model_dir, resolve_model  # noqa: F401 - their old home


def pick_device(model_cfg: ModelConfig) -> tuple[str, str]:
    """(device, compute dtype name): bf16 only where the GPU has it natively; float32 on CPU."""
    import torch

    cuda = torch.cuda.is_available()
    if model_cfg.device == "cuda" and not cuda:
        raise ModelError("model.device: cuda requested but no CUDA GPU is visible; set model.device: auto or cpu")
    device = "cuda" if (cuda and model_cfg.device != "cpu") else "cpu"
    dtype = model_cfg.compute_dtype
    if dtype == "auto":
        if device == "cuda":
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "float32"
    return device, dtype


def _hub_error(name: str, err: Exception) -> ModelError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ModelError(
        f"model.name: cannot load {name!r} ({text[:160]}); for a hub id you need internet access, "
        "or use a local folder / .gguf file, or the demo: tunedeck models pull smollm2-135m-instruct"
    )


def load_tokenizer(model_cfg: ModelConfig, on_message=None):
    from transformers import AutoTokenizer

    source = local_model_dir(model_cfg, on_message)
    if resolve_model(model_cfg.name).kind == "hub":
        from .hubcheck import unavailable_reason

        reason = unavailable_reason(source)
        if reason:  # seconds, not minutes of HTTP retries
            raise _hub_error(model_cfg.name, RuntimeError(reason))
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=model_cfg.trust_remote_code)
    except ModelError:
        raise
    except Exception as e:  # missing files, offline hub, bad repo id
        raise _hub_error(model_cfg.name, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.eos_token is None:
        raise ModelError(f"model.name: the tokenizer of {model_cfg.name} has no EOS token; set one in its tokenizer_config.json")
    return tok


def quantization_config(model_cfg: ModelConfig, compute_dtype: str, fsdp: bool = False):
    """bitsandbytes' config; under FSDP the 4-bit weights are stored in the compute dtype (QLoRA + FSDP:
    FSDP flattens parameters of one dtype into its shards)."""
    import torch
    from transformers import BitsAndBytesConfig

    if model_cfg.quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
            bnb_4bit_quant_storage=getattr(torch, compute_dtype) if fsdp else torch.uint8,
        )
    if model_cfg.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def load_base_model(model_cfg: ModelConfig, on_message=None, fsdp: bool = False):
    """The frozen base model, quantized as configured, on the chosen device."""
    import torch
    from transformers import AutoModelForCausalLM

    from .distributed import device_map

    device, dtype = pick_device(model_cfg)
    source = local_model_dir(model_cfg, on_message)
    kwargs: dict[str, Any] = dict(
        trust_remote_code=model_cfg.trust_remote_code,
        use_safetensors=None if model_cfg.allow_pickle else True,
        dtype=getattr(torch, dtype),
        device_map=device_map(device),  # each rank's own GPU under torchrun
    )
    qc = quantization_config(model_cfg, dtype, fsdp)
    if qc is not None:
        kwargs["quantization_config"] = qc
    from .gpu_paths import attention_implementation

    if attention_implementation(device):  # CUDA with flash-attn installed: varlen attention for packed rows
        kwargs["attn_implementation"] = attention_implementation(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as e:
        if "safetensors" in str(e).lower() and not model_cfg.allow_pickle:
            raise ModelError(
                f"model.name: {model_cfg.name} has no safetensors weights; convert it, or set model.allow_pickle: true if you trust the files"
            ) from None
        raise _hub_error(model_cfg.name, e) from None
    except ValueError as e:
        raise ModelError(f"model.name: cannot load {model_cfg.name}: {str(e).splitlines()[0][:200]}") from None
    model.config.use_cache = False
    return model


def add_lora(model, model_cfg: ModelConfig, lora_cfg: LoraConfig):
    """Wrap the base in a trainable LoRA adapter (peft); quantized bases get prepare_model_for_kbit_training."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    if model_cfg.quantization in ("4bit", "8bit"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=model_cfg.gradient_checkpointing)
    elif model_cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    peft_cfg = PeftLoraConfig(
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=lora_cfg.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )
    try:
        return get_peft_model(model, peft_cfg)
    except ValueError as e:
        raise ModelError(f"lora.target_modules: {str(e).splitlines()[0][:200]}") from None


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total); 4-bit weights count as their logical size."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        if p.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def quantization_words(quantization: str) -> str:
    """The user's words for ``model.quantization``: 4-bit, 8-bit, 16-bit (not the config value 'none')."""
    return {"4bit": "4-bit", "8bit": "8-bit", "none": "16-bit"}.get(quantization, quantization)


def device_name(device: str) -> str:
    """The device in a run's start event: "cuda (NVIDIA H100 80GB HBM3)" or "cpu (16 cores)"."""
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(torch.cuda.current_device())})"
    import os

    return f"cpu ({os.cpu_count()} cores)"
