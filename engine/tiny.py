"""A tiny Llama and byte-level BPE tokenizer built from a config, for tests and benchmarks.

Nothing is downloaded: the tokenizer is trained in a second on a built-in
corpus, the model is randomly initialised. It carries a ChatML chat template,
so every template path (including ``tokenizer``) works on it::

    path = build_tiny_model("/tmp/tiny")          # a folder from_pretrained() loads
    cfg.model.name = str(path)
"""

from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

_CORPUS = """Below is an instruction that describes a task. Write a response that appropriately completes the request.
### Instruction:
### Input:
### Response:
### Question:
### Answer:
system user assistant You are a helpful assistant.
The quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital of France.
TuneDeck fine-tunes language models with LoRA and QLoRA from a terminal. How do I start training? Press t.
0 1 2 3 4 5 6 7 8 9 10 100 1000 learning rate batch size epochs tokens loss model data template
"""


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer (any text round-trips) with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(path: str | Path, *, layers: int = 2, hidden: int = 64, seed: int = 0) -> Path:
    """Write a tiny random Llama + tokenizer to ``path`` (safetensors) and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    if (path / "config.json").exists() and (path / "tokenizer.json").exists():
        return path
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        initializer_range=0.2,  # logits with some spread, so a LoRA on the blocks can move the loss
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
