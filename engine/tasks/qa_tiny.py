"""A tiny BERT with a WordPiece tokenizer built from a config, for extractive-QA tests (nothing downloaded)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable


def build_tiny_bert(path: str | Path, corpus: Iterable[str], *, layers: int = 2, hidden: int = 64, seed: int = 0,
                    vocab_size: int = 600) -> Path:
    """Write a tiny random BertModel + fast WordPiece tokenizer built from ``corpus`` to ``path``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    if (path / "config.json").exists() and (path / "tokenizer.json").exists():
        return path
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # The vocabulary is built here, not by tokenizers' WordPieceTrainer: that one breaks ties between equally
    # frequent merges in hash order, so one corpus gave a different tokenizer (and a different run) each time.
    # Every character (and its ## continuation), then the corpus's words, most frequent first, ties by spelling.
    normalizer, pre = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts = Counter(w for text in corpus for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in counts for c in w})
    pieces = chars + [f"##{c}" for c in chars]
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    ordered = specials + pieces + words[:max(0, vocab_size - len(specials) - len(pieces))]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(ordered)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre, decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=hidden * 2, max_position_embeddings=512, pad_token_id=fast.pad_token_id)
    torch.manual_seed(seed)
    model = BertModel(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    fast.save_pretrained(path)
    return path
