"""The memory estimate for encoder tasks (extractive QA, classification on a BERT-style encoder).

Parameters from the encoder's config.json (BERT, RoBERTa, ELECTRA, MiniLM, DistilBERT, DeBERTa shapes):
embeddings, the blocks and the task head. Full fine-tuning keeps weights, gradients and the AdamW moments
of every parameter; LoRA keeps the base frozen (at its quantized size) and trains the adapter and the
head. Activations for ``batch_size x max_length`` tokens per layer (Korthikanti et al. 2022: 34 bytes per
hidden unit plus the attention scores, 5 x heads x length per token, at 16-bit).
"""

from __future__ import annotations

GB = 1024**3
MINILM_SHAPE = {"model_type": "bert", "hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6,
                "num_attention_heads": 12, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2}
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "electra", "distilbert", "deberta", "deberta-v2", "albert",
                 "camembert", "mpnet", "modernbert")
# LoRA target names -> the block's linears they match: 0-3 q, k, v, attention out; 4, 5 feed-forward in, out.
LORA_TARGETS = {"query": (0,), "key": (1,), "value": (2,), "dense": (3, 4, 5), "q_proj": (0,), "k_proj": (1,),
                "v_proj": (2,), "o_proj": (3,), "q_lin": (0,), "k_lin": (1,), "v_lin": (2,), "out_lin": (3,),
                "lin1": (4,), "lin2": (5,), "query_proj": (0,), "key_proj": (1,), "value_proj": (2,)}


def is_encoder(shape: dict) -> bool:
    return shape.get("model_type") in ENCODER_TYPES or "type_vocab_size" in shape or "n_layers" in shape


def encoder_dims(shape: dict) -> tuple[int, int, int, int, int, int, int]:
    """(hidden, intermediate, layers, heads, vocab, positions, token types), DistilBERT's names too."""
    h = shape.get("hidden_size") or shape.get("dim") or 0
    return (h, shape.get("intermediate_size") or shape.get("hidden_dim") or 4 * h,
            shape.get("num_hidden_layers") or shape.get("n_layers") or 0,
            shape.get("num_attention_heads") or shape.get("n_heads") or 1, shape.get("vocab_size", 0),
            shape.get("max_position_embeddings", 512), shape.get("type_vocab_size", 0))


def head_params(task: str, h: int, shape: dict) -> int:
    """The task head: QA's start/end projection; a classifier's pooler (BERT) and label projection."""
    if task == "extractive_qa":
        return 2 * h + 2
    labels = len(shape.get("id2label") or {}) or 2
    pooler = h * h + h if shape.get("model_type", "bert") == "bert" else 0
    return pooler + h * labels + labels


def encoder_params(shape: dict, task: str) -> tuple[int, int, int]:
    """(total, of which the blocks' linear weights, of which the head) for the encoder with its task head."""
    h, inter, layers, _, vocab, positions, types = encoder_dims(shape)
    embed = (vocab + positions + types) * h + 2 * h  # token, position, token-type embeddings + LayerNorm
    linear = 4 * h * h + 2 * h * inter
    block = linear + 4 * h + inter + h + 4 * h  # + biases (q, k, v, o; in; out) + two LayerNorms
    head = head_params(task, h, shape)
    return embed + layers * block + head, layers * linear, head


def estimate(cfg, shape: dict, device_name: str, device_gb: float | None, method: str):
    """A :class:`engine.memory.MemoryEstimate` for an encoder task; ``method`` is "full" or "lora"."""
    from .memory import MemoryEstimate

    h, inter, layers, heads, *_ = encoder_dims(shape)
    params, linear, head = encoder_params(shape, cfg.task)
    gpu = "GPU" in device_name
    cb = 2 if cfg.model.compute_dtype in ("bfloat16", "float16") or (cfg.model.compute_dtype == "auto" and gpu) else 4
    if method == "full":
        weights, grads, trained = params * cb, params * cb, params
        lora = 0.0
    else:
        per = {"4bit": 0.5 * 1.07, "8bit": 1.0 * 1.03}.get(cfg.model.quantization, cb)
        weights = linear * per + (params - linear) * cb
        targets = cfg.lora.target_modules
        picked = set(range(6)) if targets == "all-linear" else {i for t in targets for i in LORA_TARGETS.get(t, ())}
        dims = [(h, h)] * 4 + [(h, inter), (inter, h)]
        chosen = [dims[i] for i in sorted(picked)]
        lora_params = layers * sum(cfg.lora.r * (i + o) for i, o in chosen)
        trained = lora_params + head
        lora, grads = lora_params * 4, trained * 4
    optimizer = trained * 8  # AdamW's two fp32 moments
    batch = cfg.training.batch_size
    length = cfg.qa.max_length if cfg.task == "extractive_qa" else cfg.cls.max_length
    per_layer = batch * length * (34 * h + 5 * heads * length) * cb / 2
    if cfg.model.gradient_checkpointing:
        activations = layers * batch * length * h * cb + per_layer
    else:
        activations = layers * per_layer
    total = weights + grads + lora + optimizer + activations + 0.3 * GB
    return MemoryEstimate(params, weights / GB, lora / GB, optimizer / GB, activations / GB, total / GB, device_name,
                          device_gb, grads_gb=grads / GB, method=method,
                          layer_gb=(weights - (params - linear) * cb if method == "lora" else linear * cb) / max(layers, 1) / GB)
