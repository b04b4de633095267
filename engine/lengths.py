"""Token lengths of a whole dataset, measured through the trainer's own tokenisation, before any GPU time::

    lengths = measure(ds, info, cfg.data, tokenizer)     # every row through engine.tokenize.encode_row
    fig = lengths.figures(cfg.data.max_length)
    fig.p95, fig.over, fig.untrained                    # tokens; samples cut at max_length; nothing to train
    print("\\n".join(text_histogram(lengths.lengths, cfg.data.max_length)))

Each sample keeps its length before truncation and where its first trained
token sits, so the figures for any ``max_length`` come from one pass (the
Template screen moves its max_length line without measuring again). A pass is
cached per file (path, mtime, size), data settings, template and tokenizer in
``<cache>/lengths/`` (``engine.model_files.cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

CACHE_VERSION = 1


@dataclass
class Lengths:
    """Per sample: tokens before truncation, index of its first trained token (-1: none), blank answer."""

    lengths: list[int] = field(default_factory=list)
    first_trained: list[int] = field(default_factory=list)
    empty: list[bool] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def add(self, sample) -> None:
        first = next((i for i, lab in enumerate(sample.full_labels) if lab != -100), -1)
        self.lengths.append(int(sample.full_length))
        self.first_trained.append(int(first))
        self.empty.append(bool(sample.empty_completion))

    def figures(self, max_length: int) -> "Figures":
        return figures(self, max_length)


@dataclass
class Figures:
    samples: int
    min: int
    median: float
    p95: int
    p99: int
    max: int
    max_length: int
    over: int  # samples longer than max_length (truncated)
    untrained: int  # samples the trainer drops: blank answer, or no trained token before max_length
    errors: int

    @property
    def over_share(self) -> float:
        return self.over / self.samples if self.samples else 0.0

    def lines(self) -> list[str]:
        """The figures as ``tunedeck data`` prints them."""
        if not self.samples:
            return ["token lengths: no sample could be formatted"]
        return [
            f"token lengths: {self.samples:,} samples, min {self.min:,}, median {self.median:,.0f}, "
            f"p95 {self.p95:,}, p99 {self.p99:,}, max {self.max:,}",
            f"over data.max_length={self.max_length:,}: {self.over:,} ({self.over_share:.1%}) truncated; "
            f"{self.untrained:,} with no trained token (dropped by the trainer)",
        ]


def percentile(sorted_values: list[int], q: float) -> int:
    """The smallest value with at least ``q`` percent of the values at or below it (nearest rank)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return int(sorted_values[rank - 1])


def figures(lengths: Lengths, max_length: int) -> Figures:
    values = sorted(lengths.lengths)
    n = len(values)
    median = 0.0
    if n:
        median = float(values[n // 2]) if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    untrained = sum(1 for first, empty in zip(lengths.first_trained, lengths.empty, strict=False)
                    if empty or first < 0 or first >= max_length)
    return Figures(samples=n, min=values[0] if n else 0, median=median, p95=percentile(values, 95),
                   p99=percentile(values, 99), max=values[-1] if n else 0, max_length=int(max_length),
                   over=sum(1 for v in values if v > max_length), untrained=untrained, errors=lengths.errors)


def bins(values: list[int], count: int) -> tuple[list[int], float]:
    """``count`` equal-width bins from 0 to the longest sample: (samples per bin, tokens per bin)."""
    top = max(values, default=0)
    width = max(1.0, top / count) if top else 1.0
    out = [0] * count
    for v in values:
        out[min(count - 1, int(v / width))] += 1
    return out, width


def text_histogram(values: list[int], max_length: int, rows: int = 8, width: int = 40) -> list[str]:
    """A small histogram as lines of text, one line per length band; ``✂`` marks the bands over max_length."""
    if not values:
        return []
    counts, step = bins(values, rows)
    peak = max(counts) or 1
    label_w = len(f"{int(step * rows):,}")
    out = []
    for i, c in enumerate(counts):
        lo, hi = int(i * step), int((i + 1) * step)
        bar = "█" * max(1 if c else 0, round(c / peak * width))
        mark = " ✂" if hi > max_length else ""
        out.append(f"  {lo:>{label_w},}-{hi:<{label_w},} {bar:<{width}} {c:,}{mark}")
    return out


# --- measuring, with a cache -------------------------------------------------------------------------

def cache_root() -> Path:
    from .model_files import cache_dir

    return cache_dir() / "lengths"


def _file_stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return path  # a hub id: the name is all there is
    return f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}"


def _tokenizer_stamp(tokenizer) -> str:
    parts = [str(getattr(tokenizer, "name_or_path", "")), str(len(tokenizer)), str(tokenizer.eos_token),
             str(getattr(tokenizer, "bos_token", None)), str(getattr(tokenizer, "chat_template", None))]
    return "|".join(parts)


def cache_key(data_cfg, info, tokenizer) -> str:
    """What the lengths depend on: the file, how it is read and templated, and the tokenizer (not max_length)."""
    parts = [str(CACHE_VERSION), _file_stamp(str(data_cfg.path)), str(info.format),
             json.dumps(sorted(info.mapping.items())), str(data_cfg.limit), str(data_cfg.split),
             str(data_cfg.template), str(data_cfg.system_prompt), str(data_cfg.train_on_prompt),
             _tokenizer_stamp(tokenizer)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def load_cached(key: str, kind=Lengths):
    """The cached ``kind`` (a dataclass: Lengths, or engine.tasks.task_lengths.TaskLengths) under ``key``."""
    try:
        raw = json.loads((cache_root() / f"{key}.json").read_text())
        return kind(**raw)
    except (OSError, ValueError, TypeError):
        return None


def save_cached(key: str, lengths) -> None:
    """Write a dataclass to the cache under ``key`` atomically; a cache that cannot be written is skipped."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(lengths)))
        os.replace(tmp, root / f"{key}.json")
    except OSError:
        pass  # a cache that cannot be written only costs a second pass


def measure(ds, info, data_cfg, tokenizer, *, progress: Callable[[int, int], None] | None = None,
            cancelled: Callable[[], bool] = lambda: False, use_cache: bool = True) -> Lengths | None:
    """Every row through :func:`engine.tokenize.encode_row`; None when ``cancelled()`` turned true."""
    from .errors import TuneDeckError
    from .tokenize import encode_row

    key = cache_key(data_cfg, info, tokenizer) if use_cache else None
    if key:
        cached = load_cached(key)
        if cached is not None and len(cached.lengths) + cached.errors == len(ds):
            if progress:
                progress(len(ds), len(ds))
            return cached
    out = Lengths()
    total = len(ds)
    for i in range(total):
        if cancelled():
            return None
        try:
            out.add(encode_row(ds[i], info, data_cfg, tokenizer))
        except Exception as e:  # a row the template cannot format: counted, named once
            out.errors += 1
            msg = str(e) if isinstance(e, TuneDeckError) else f"{type(e).__name__}: {e}"
            out.first_error = out.first_error or f"row {i + 1}: {msg.strip().splitlines()[0] if msg.strip() else msg}"
        if progress and (i + 1) % 200 == 0:
            progress(i + 1, total)
    if progress:
        progress(total, total)
    if key:
        save_cached(key, out)
    return out
