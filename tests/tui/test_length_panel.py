"""The Template screen's token-length panel (tui/widgets/length_hist.py): `l` shows the histogram of the whole
dataset, `m`/`M` set data.max_length to p95/p99 through AppState.set_field; and its snapshot."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import tui_helpers
from tui_helpers import text

from engine import lengths as lengths_mod
from engine.config import Config
from engine.data import load_dataset
from engine.lengths import measure
from engine.model import load_tokenizer
from tui.app import TuneDeckApp
from tui.state import AppState
from tui.widgets.length_hist import LengthPanel

until = partial(tui_helpers.until, timeout=40.0)
ROOT = Path(__file__).resolve().parents[2]
ALPACA = ROOT / "sample_data" / "tunedeck_alpaca.json"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(lengths_mod, "cache_root", lambda: tmp_path / "lengths-cache")


def make_app(tiny_model_dir, path=ALPACA, **data) -> TuneDeckApp:
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    cfg.data.path = str(path)
    for k, v in data.items():
        setattr(cfg.data, k, v)
    return TuneDeckApp(AppState(config=cfg), start_screen="template")


async def test_lengths_panel_sets_max_length_to_p95_then_p99(tiny_model_dir):
    app = make_app(tiny_model_dir, template="alpaca", max_length=512)
    cfg = app.state.config
    ds, info = load_dataset(cfg.data)
    fig = measure(ds, info, cfg.data, load_tokenizer(cfg.model), use_cache=False).figures(512)
    assert fig.p95 != fig.p99 and fig.p95 != 512
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.sample is not None, what="the sample")
        await pilot.press("l")
        panel = screen.query_one(LengthPanel)
        await until(pilot, lambda: panel.lengths is not None, what="the lengths measured")
        assert panel.display and not screen.query_one("#tpl-view").display
        figs = text(screen, "#len-figs")
        assert f"p95 {fig.p95:,}" in figs and f"max {fig.max:,}" in figs and "over max_length 512" in figs
        await pilot.press("m")
        await until(pilot, lambda: cfg.data.max_length == fig.p95, what="max_length = p95")
        assert app.state.dirty and "data.max_length" not in app.state.invalid
        await until(pilot, lambda: screen.query_one("#tpl-maxlen").value == str(fig.p95), what="the field shows it")
        await until(pilot, lambda: f"over max_length {fig.p95:,}" in text(screen, "#len-figs"), what="figures redrawn")
        await pilot.press("M")
        await until(pilot, lambda: cfg.data.max_length == fig.p99, what="max_length = p99")
        await pilot.press("escape")  # back to the sample, whose head counts against the new max_length
        await until(pilot, lambda: screen.query_one("#tpl-view").display and not panel.display, what="the sample back")
        await until(pilot, lambda: f"/{fig.p99} tokens" in text(screen, "#tpl-head"), what="the head's max_length")


async def test_lengths_panel_says_the_template_picked(tiny_model_dir, tmp_path):
    chat = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "Yes."}]}
            for i in range(5)]
    chat.write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = make_app(tiny_model_dir, chat)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.sample is not None, what="the sample")
        head = text(screen, "#tpl-head")
        assert "tokenizer (auto)" in head and "↳ tokenizer: auto on chat data, and the model has its own chat template" in head


def test_length_histogram_80x24(snap_compare, tiny_model_dir, tmp_path, monkeypatch):
    rows = [{"instruction": "Say it " + "again " * (i % 17), "output": "ok " * (3 + i % 29)} for i in range(120)]
    (tmp_path / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.sample is not None, what="the sample")
        await pilot.press("l")
        await until(pilot, lambda: screen.query_one(LengthPanel).lengths is not None, what="the lengths")
        await pilot.pause(0.2)

    app = make_app(tiny_model_dir, "faq.jsonl", template="alpaca", max_length=64)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
