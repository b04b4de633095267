"""Loading a base model with a task head (QA span head, classification head): what both encoder tasks share.

:func:`head_model_kwargs` gives the device, dtype and the ``from_pretrained`` keywords every such load
takes; :func:`load_with_head` adds 4-bit/8-bit quantization, seeds the new head and turns the library's
errors into one ModelError line naming ``model.name`` (``cannot``: what the model failed to do, ``instead``: what to use).
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelError


def head_model_kwargs(model_cfg) -> tuple[str, str, dict[str, Any]]:
    """(device, dtype, keywords): safetensors only unless ``model.allow_pickle``, float32 on CPU."""
    import torch

    from ..model import pick_device

    device, dtype = pick_device(model_cfg)
    kwargs: dict[str, Any] = dict(trust_remote_code=model_cfg.trust_remote_code,
                                  use_safetensors=None if model_cfg.allow_pickle else True,
                                  dtype=getattr(torch, dtype) if device == "cuda" else torch.float32)
    return device, dtype, kwargs


def load_with_head(auto_class, source: str, model_cfg, kwargs: dict[str, Any], *, device: str, dtype: str,
                   seed: int | None, cannot: str, instead: str):
    """``auto_class.from_pretrained(source)``, quantized as configured; (model, quantization config or None)."""
    from transformers import set_seed

    from ..model import _hub_error, quantization_config

    qc = quantization_config(model_cfg, dtype)
    if qc is not None:
        kwargs["quantization_config"] = qc
        kwargs["device_map"] = {"": 0 if device == "cuda" else "cpu"}
    if seed is not None:
        set_seed(seed)  # the new head's initial weights
    try:
        return auto_class.from_pretrained(source, **kwargs), qc
    except OSError as e:
        if "safetensors" in str(e).lower() and not model_cfg.allow_pickle:
            raise ModelError(f"model.name: {model_cfg.name} has no safetensors weights; set model.allow_pickle: true "
                             "if you trust the files") from None
        raise _hub_error(model_cfg.name, e) from None
    except ValueError as e:
        raise ModelError(f"model.name: {model_cfg.name} cannot {cannot} ({str(e).splitlines()[0][:160]}); {instead}") from None
