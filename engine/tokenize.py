"""Rendered text -> token ids and labels: the single path the preview and the trainer share.

::

    sample = encode_row(row, info, cfg.data, tokenizer)
    sample.input_ids, sample.labels      # labels are -100 on prompt tokens
    sample.token_view(tokenizer)         # [(text, trained, beyond_max_length), ...] for the preview

Each segment of a :class:`~engine.templates.Rendered` is tokenised on its own
(``add_special_tokens=False``; special-token strings such as ``<|im_end|>`` in
the text become their single ids), the pieces are concatenated, and one BOS is
prepended when the tokenizer adds one by default. So decoding the trained
tokens gives back exactly the completion text.
"""

from __future__ import annotations

import codecs
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import DataError
from .templates import Rendered, render, resolve_template

if TYPE_CHECKING:  # pragma: no cover
    from .config import DataConfig

IGNORE_INDEX = -100


# --- what a tokenizer does, cached per tokenizer object ---------------------------------------------

@dataclass
class _TokInfo:
    bos_id: int | None  # prepended to every sample when the tokenizer adds it by default
    byte_level: bool  # GPT-2 style byte-level BPE (tokens spelt with the bytes_to_unicode alphabet)
    added: dict[int, str] = field(default_factory=dict)  # added/special token id -> its text


_INFO: "weakref.WeakKeyDictionary[Any, _TokInfo]" = weakref.WeakKeyDictionary()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what byte-level BPE tokens are spelt in)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=False))


_BYTE_DECODER = {c: b for b, c in _bytes_to_unicode().items()}


def _tok_info(tokenizer) -> _TokInfo:
    try:
        cached = _INFO.get(tokenizer)
    except TypeError:
        cached = None
    if cached is not None:
        return cached
    bos = getattr(tokenizer, "bos_token_id", None)
    adds_bos = False
    if bos is not None:
        try:
            ids = tokenizer("a")["input_ids"]
            adds_bos = bool(ids) and ids[0] == bos
        except Exception:
            adds_bos = False
    byte_level = False
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        try:
            byte_level = b"ByteLevel" in (backend.decoder.__getstate__() or b"")
        except Exception:
            byte_level = False
    added: dict[int, str] = {}
    try:
        added = {int(i): str(t) for t, i in tokenizer.get_added_vocab().items()}
    except Exception:
        pass
    info = _TokInfo(bos if adds_bos else None, byte_level, added)
    try:
        _INFO[tokenizer] = info
    except TypeError:
        pass
    return info


def _encode_many(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    out = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [list(ids) for ids in out]


def prompt_ids(text: str, tokenizer) -> list[int]:
    """Token ids of a prompt, tokenised exactly as training tokenises a sample's leading prompt."""
    ids = _encode_many(tokenizer, [text])[0] if text else []
    bos = _tok_info(tokenizer).bos_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids


# --- samples ----------------------------------------------------------------------------------------

@dataclass
class TokenizedSample:
    input_ids: list[int]  # truncated to max_length
    labels: list[int]  # IGNORE_INDEX where not trained
    full_length: int  # tokens before truncation
    truncated: bool
    num_trained: int  # labels != IGNORE_INDEX after truncation
    rendered: Rendered
    full_input_ids: list[int]  # before truncation (the preview marks the cut)
    full_labels: list[int]
    empty_completion: bool = False  # the answer is blank: only EOS would be trained, so the trainer drops it
    source: str = ""  # data.datasets: the row's dataset and template ("dataset 2, chats.jsonl · chatml")

    @property
    def trainable(self) -> bool:
        """Whether the trainer keeps this sample (some trained token, and a non-blank answer)."""
        return self.num_trained > 0 and not self.empty_completion

    def token_view(self, tokenizer) -> list[tuple[str, bool, bool]]:
        """(readable token text, carries loss, beyond max_length) for every token before truncation."""
        texts = token_texts(tokenizer, self.full_input_ids)
        cut = len(self.input_ids)
        return [(t, lab != IGNORE_INDEX, i >= cut) for i, (t, lab) in enumerate(zip(texts, self.full_labels, strict=False))]


def token_texts(tokenizer, ids: list[int]) -> list[str]:
    """Readable text of each token, joined they give the decoded text.

    Byte-level ``Ġ``/``Ċ`` spelling is undone and SentencePiece ``▁`` is a space;
    a character split over several tokens shows in the token that completes it
    (the tokens before it show ``""``); special tokens show as written.
    """
    info = _tok_info(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(ids))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out: list[str] = []
    for i, tok in zip(ids, tokens, strict=False):
        if i in info.added:
            out.append(decoder.decode(b"", final=True) + info.added[i])
            decoder.reset()
            continue
        if tok is None:
            data = tokenizer.decode([i]).encode("utf-8")
        elif info.byte_level and all(c in _BYTE_DECODER for c in tok):
            data = bytes(_BYTE_DECODER[c] for c in tok)
        elif len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">") and _is_hex(tok[3:5]):
            data = bytes([int(tok[3:5], 16)])  # SentencePiece byte fallback
        elif "▁" in tok:
            data = tok.replace("▁", " ").encode("utf-8")
        else:
            data = tokenizer.decode([i]).encode("utf-8")
        out.append(decoder.decode(data))
    tail = decoder.decode(b"", final=True)
    if tail and out:
        out[-1] += tail
    return out


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in s)


def tokenize_rendered(rendered: Rendered, tokenizer, max_length: int, *, train_on_prompt: bool = False) -> TokenizedSample:
    """Tokenise each segment on its own, label the trained ones, truncate at ``max_length``."""
    segments = [s for s in rendered.segments if s.text]
    pieces = _encode_many(tokenizer, [s.text for s in segments])
    ids: list[int] = []
    labels: list[int] = []
    for seg, seg_ids in zip(segments, pieces, strict=False):
        ids.extend(seg_ids)
        labels.extend(seg_ids if (seg.trained or train_on_prompt) else [IGNORE_INDEX] * len(seg_ids))
    bos = _tok_info(tokenizer).bos_id
    if bos is not None and (not ids or ids[0] != bos):
        ids.insert(0, bos)
        labels.insert(0, IGNORE_INDEX)
    max_length = int(max_length)
    cut_ids, cut_labels = ids[:max_length], labels[:max_length]
    return TokenizedSample(
        input_ids=cut_ids,
        labels=cut_labels,
        full_length=len(ids),
        truncated=len(ids) > max_length,
        num_trained=sum(1 for lab in cut_labels if lab != IGNORE_INDEX),
        rendered=rendered,
        full_input_ids=ids,
        full_labels=labels,
    )


def encode_row(row: dict, info, cfg: "DataConfig", tokenizer) -> TokenizedSample:
    """A raw data row -> record -> rendered template -> tokens. THE path of both the preview and the trainer."""
    from .data import to_record

    part = None
    if getattr(info, "row_part", None) is not None:  # data.datasets: the row's own dataset, format and template
        info, cfg, part = info.row_part(row, cfg)
    try:
        record = to_record(row, info.format, info.mapping)
        template = resolve_template(cfg.template, info.format, tokenizer)
        rendered = render(record, template, eos_token=tokenizer.eos_token or "", tokenizer=tokenizer,
                          system_prompt=cfg.system_prompt, raw=row)
    except DataError as e:
        if part is None:
            raise
        raise DataError(f"{part.source}: {e}") from None
    sample = tokenize_rendered(rendered, tokenizer, cfg.max_length, train_on_prompt=cfg.train_on_prompt)
    sample.empty_completion = completion_is_empty(record) and not cfg.train_on_prompt
    sample.source = f"{part.source} · {template}" if part is not None else ""
    return sample


def completion_is_empty(record: dict) -> bool:
    """True when a record has nothing to learn: a blank output, text, or no non-blank assistant turn."""
    kind = record.get("kind")
    if kind == "instruction":
        return not str(record.get("output") or "").strip()
    if kind == "text":
        return not str(record.get("text") or "").strip()
    return not any(str(m.get("content") or "").strip() for m in record.get("messages") or [] if m.get("role") == "assistant")
