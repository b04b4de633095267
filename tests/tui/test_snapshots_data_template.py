"""Snapshots of the Data and Template screens at 100x30 and 80x24 (plain SSH size).

Data is generated into a temporary folder that becomes the working folder, so
the paths on screen are short and fixed. Update with
``pytest tests/tui/test_snapshots_data_template.py --snapshot-update`` and look
at the SVGs (tests/tui/__snapshots__/) before committing them.
"""

from __future__ import annotations

import json
import time

import pytest

from engine.config import Config
from tui.app import TuneDeckApp
from tui.state import AppState

QA = [
    ("What does LoRA train?", "Small low-rank adapter matrices beside the frozen weights."),
    ("Why use 4-bit QLoRA?", "The frozen base model takes a quarter of the memory, so bigger models fit."),
    ("What is max_length?", "Samples longer than this many tokens are cut; the rest is not trained."),
    ("How do I resume a run?", "Run tunedeck train --resume with the run folder; it picks up at the last checkpoint."),
]
CHATS = [
    [{"role": "system", "content": "You answer questions about TuneDeck."},
     {"role": "user", "content": "How do I see what the model trains on?"},
     {"role": "assistant", "content": "Open the Template screen: prompt text is dim, trained text is green."},
     {"role": "user", "content": "And the tokens?"},
     {"role": "assistant", "content": "Press v for the token view."}],
    [{"role": "user", "content": "Is 80x24 enough?"}, {"role": "assistant", "content": "Yes, every screen fits."}],
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    rows = [{"instruction": q, "input": "" if i % 3 else "in one sentence", "output": a}
            for i in range(60) for q, a in [QA[i % len(QA)]]]
    (tmp_path / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps({"messages": m}) + "\n" for m in CHATS * 10), encoding="utf-8")
    odd = [{"q_text": q, "a_text": a, "n": i} for i, (q, a) in enumerate(QA)]
    (tmp_path / "odd.jsonl").write_text("".join(json.dumps(r) + "\n" for r in odd) + '{"q_text": oops\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_app(path: str, screen: str, model: str | None = None, **data) -> TuneDeckApp:
    cfg = Config()
    cfg.data.path = path
    if model:
        cfg.model.name = model
    for k, v in data.items():
        setattr(cfg.data, k, v)
    return TuneDeckApp(AppState(config=cfg), start_screen=screen)


async def until(pilot, check, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            await pilot.pause(0.1)
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def data_ready(pilot):
    screen = pilot.app.screen
    return until(pilot, lambda: screen.total is not None and screen.page_rows or screen.load_error)


def template_ready(pilot, stats: bool = True):
    screen = pilot.app.screen
    return until(pilot, lambda: screen.sample is not None
                 and (not stats or "samples truncated" in str(screen.query_one("#tpl-stats").render())))


def test_data_chat_100x30(snap_compare, workdir):
    async def run_before(pilot):
        await data_ready(pilot)

    assert snap_compare(make_app("chat.jsonl", "data"), terminal_size=(100, 30), run_before=run_before)


def test_data_paged_80x24(snap_compare, workdir):
    async def run_before(pilot):
        await data_ready(pilot)
        screen = pilot.app.screen
        await pilot.press("pagedown")
        await until(pilot, lambda: screen.row_offset > 0)
        await pilot.press("down", "down")

    assert snap_compare(make_app("faq.jsonl", "data"), terminal_size=(80, 24), run_before=run_before)


def test_data_mapping_80x24(snap_compare, workdir):
    async def run_before(pilot):
        await data_ready(pilot)

    assert snap_compare(make_app("odd.jsonl", "data"), terminal_size=(80, 24), run_before=run_before)


def test_template_100x30(snap_compare, workdir, tiny_model_dir):
    async def run_before(pilot):
        await template_ready(pilot)

    app = make_app("faq.jsonl", "template", str(tiny_model_dir))
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_template_truncated_80x24(snap_compare, workdir, tiny_model_dir):
    async def run_before(pilot):
        await template_ready(pilot)

    app = make_app("chat.jsonl", "template", str(tiny_model_dir), max_length=80)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_template_tokens_80x24(snap_compare, workdir, tiny_model_dir):
    async def run_before(pilot):
        await template_ready(pilot)
        await pilot.press("v")
        await pilot.pause(0.1)

    app = make_app("faq.jsonl", "template", str(tiny_model_dir), max_length=60)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
