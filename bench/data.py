"""How the Data and Template screens feel on big data, measured headless through Textual's Pilot.

    python bench/data.py                 # 1,000,000-row JSONL, tiny tokenizer for the preview
    python bench/data.py --rows 200000   # quicker
    python bench/data.py --model smollm2-135m-instruct   # the preview with the demo model's tokenizer

Data screen: time from app start to the first page of rows on screen (the
file is counted in the background), to the full row count, and the latency
of PgDn, End, go-to-row and a search that matches near the end (from the
key press to the row on screen; typing excluded). The table
never holds more than a window of rows; the bench checks that too.

Template screen: time per sample of what the preview does on every step:
``engine.tokenize.encode_row`` (the trainer's own function) plus drawing it as
Rich Text (sample view and token view). The last line printed is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def write_jsonl(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        batch = []
        for i in range(rows):
            batch.append(f'{{"instruction": "Question {i}: what does setting {i % 97} do?", "input": "", '
                         f'"output": "Answer {i}. {"It changes how the run trains. " * (1 + i % 5)}"}}\n')
            if len(batch) == 10000:
                f.write("".join(batch))
                batch.clear()
        f.write("".join(batch))


async def until(pilot, check, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the screen did not get there")
        await pilot.pause(0.005)
    return time.perf_counter() - t0


async def bench_data_screen(path: Path, rows: int) -> dict[str, float]:
    from engine.config import Config
    from tui.app import TuneDeckApp
    from tui.state import AppState

    cfg = Config()
    cfg.data.path = str(path)
    app = TuneDeckApp(AppState(config=cfg), start_screen="data")
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: bool(screen.page_rows))
        out["first page"] = time.perf_counter() - t0
        out["rows in table"] = screen.table.row_count
        await until(pilot, lambda: screen.total == rows)
        out["row count done"] = time.perf_counter() - t0
        page = screen.page_size

        t = time.perf_counter()
        await pilot.press("pagedown")
        await until(pilot, lambda: screen.row_offset == page)
        out["PgDn"] = time.perf_counter() - t

        t = time.perf_counter()
        await pilot.press("end")
        await until(pilot, lambda: screen._current_index() == rows - 1)
        out["End"] = time.perf_counter() - t

        await pilot.press("g", *str(rows // 2))
        t = time.perf_counter()
        await pilot.press("enter")
        await until(pilot, lambda: screen._current_index() == rows // 2 - 1)
        out["go to middle row"] = time.perf_counter() - t

        await pilot.press("home")
        await until(pilot, lambda: screen.row_offset == 0)
        target = rows - 10
        await pilot.press("slash", *f"question {target}")
        t = time.perf_counter()
        await pilot.press("enter")
        await until(pilot, lambda: screen._current_index() == target)
        out["search (match near the end)"] = time.perf_counter() - t
        out["max rows in table"] = max(out["rows in table"], screen.table.row_count)
    return out


def bench_preview(model: str | None, samples: int) -> dict[str, float]:
    from rich.console import Console

    from engine.config import Config
    from engine.data import load_dataset
    from engine.tokenize import encode_row
    from tui.widgets.sample_view import sample_text, token_text

    cfg = Config()
    shared = ROOT.parent / "shared" / "datasets" / "alpaca_en_demo.json"
    cfg.data.path = str(shared if shared.exists() else ROOT / "sample_data" / "tunedeck_alpaca.json")
    if model:
        from engine.model import load_tokenizer

        cfg.model.name = model
        tok = load_tokenizer(cfg.model)
    else:
        from engine.tiny import build_tiny_tokenizer

        tok = build_tiny_tokenizer()
    ds, info = load_dataset(cfg.data)
    console = Console(file=open(os.devnull, "w"), width=100)
    n = min(samples, len(ds))
    encode, draw, tokens = [], [], []
    for i in range(n):
        row = ds[i]
        t = time.perf_counter()
        s = encode_row(row, info, cfg.data, tok)
        t1 = time.perf_counter()
        console.print(sample_text(s, tok))
        t2 = time.perf_counter()
        console.print(token_text(s, tok))
        t3 = time.perf_counter()
        encode.append(t1 - t)
        draw.append(t2 - t1)
        tokens.append(t3 - t2)
    return {"samples": n, "encode_row ms": 1000 * statistics.mean(encode),
            "sample view ms": 1000 * statistics.mean(draw), "token view ms": 1000 * statistics.mean(tokens),
            "p95 encode+view ms": 1000 * sorted(a + b for a, b in zip(encode, draw, strict=False))[int(0.95 * (n - 1))],
            "dataset": Path(cfg.data.path).name, "tokenizer": model or "tiny test tokenizer"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=300, help="samples timed for the template preview")
    ap.add_argument("--model", default=None, help="tokenizer for the preview (default: the tiny test tokenizer)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jsonl"
        t = time.perf_counter()
        write_jsonl(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        print(f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - t:.1f} s")
        data = asyncio.run(bench_data_screen(path, args.rows))
    preview = bench_preview(args.model, args.samples)

    print(f"\nData screen, {args.rows:,}-row JSONL ({size_mb:.0f} MB), headless 100x30")
    print(f"{'step':<30} {'seconds':>9}")
    for k in ("first page", "row count done", "PgDn", "End", "go to middle row", "search (match near the end)"):
        print(f"{k:<30} {data[k]:>9.3f}")
    print(f"{'rows held by the table (max)':<30} {int(data['max rows in table']):>9}")
    print(f"\nTemplate preview, {preview['samples']} samples of {preview['dataset']}, {preview['tokenizer']}")
    print(f"{'step':<30} {'ms/sample':>9}")
    for k in ("encode_row ms", "sample view ms", "token view ms", "p95 encode+view ms"):
        print(f"{k.removesuffix(' ms'):<30} {preview[k]:>9.2f}")
    per_sample = preview["encode_row ms"] + preview["sample view ms"]
    print(f"\nData screen shows the first page of a {args.rows:,}-row JSONL in {data['first page']:.2f} s "
          f"(counted in {data['row count done']:.1f} s); template preview {per_sample:.1f} ms per sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
