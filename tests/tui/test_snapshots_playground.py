"""Snapshots of the Playground screen at 100x30 and 80x24 (pytest-textual-snapshot).

The run is real (the tiny Llama, trained once for this module under a fixed
folder name, on CPU) so the run picker, the status line and the formatted
prompt are the screen's own; the replies are scripted: ReplyChunk/ReplyEnded
messages with fixed text and timings, as the generation workers post them.
After an intended change:
    pytest tests/tui/test_snapshots_playground.py --snapshot-update
and look at the pictures in tests/tui/__snapshots__/test_snapshots_playground/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_playground import train_tiny_run
from textual.widgets import Input
from tui_helpers import until

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.messages import ReplyChunk, ReplyEnded
from tui.screens.playground import PANES, Reply
from tui.state import AppState

ROOT = Path(__file__).resolve().parents[2]
SIZES = [(100, 30), (80, 24)]
QUESTION = "What is the capital of France?"
BASE_REPLY = ("The capital of France is a question that many people ask when they first travel to Europe. "
              "Some say Lyon, some say Marseille, and the answer depends on")
TUNED_REPLY = "Paris is the capital of France."


@pytest.fixture(scope="module")
def runs_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("pg-snap")).parent


@pytest.fixture(autouse=True)
def fixed_world(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative runs folders in the pictures


def app_on(runs_dir) -> TuneDeckApp:
    cfg = load_config(None, {"data.path": str(ROOT / "sample_data" / "tunedeck_qa.jsonl"),
                             "output.runs_dir": str(runs_dir)})
    return TuneDeckApp(AppState(config=cfg), start_screen="playground")


async def loaded(pilot, prompt: str = QUESTION):
    screen = pilot.app.screen
    await until(pilot, lambda: screen.gen is not None, timeout=90, what="the run to load")
    box = screen.query_one("#pg-prompt", Input)
    box.cursor_blink = False
    box.value = prompt
    return screen


def script(screen, base: str, tuned: str, end_base=None, end_tuned=None) -> None:
    """A Send's replies as the workers post them, with fixed text and timings (no generation)."""
    screen.request += 1
    screen.replies = {p: Reply(state="streaming") for p in PANES}
    for pane, reply in (("base", base), ("tuned", tuned)):
        for i, word in enumerate(reply.split(" ")):
            screen.post_message(ReplyChunk(pane, screen.request, (" " if i else "") + word, tokens=i + 1))
    for pane, end in (("base", end_base), ("tuned", end_tuned)):
        if end is not None:
            reason, tokens, seconds = end
            screen.post_message(ReplyEnded(pane, screen.request, reason, tokens=tokens, seconds=seconds))
    screen._update_controls()


async def settle(pilot):
    await pilot.pause(0.4)  # a redraw tick
    pilot.app.clear_notifications()
    await pilot.pause(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_playground_replies(snap_compare, runs_dir, size):
    async def run_before(pilot):
        screen = await loaded(pilot)
        script(screen, BASE_REPLY, TUNED_REPLY, ("max_tokens", 32, 2.0), ("eos", 8, 0.5))
        await settle(pilot)

    assert snap_compare(app_on(runs_dir), terminal_size=size, run_before=run_before)


@pytest.mark.slow
def test_playground_streaming_full_prompt_80x24(snap_compare, runs_dir):
    async def run_before(pilot):
        screen = await loaded(pilot)
        await pilot.press("f10")
        script(screen, BASE_REPLY, "Paris is the", ("cancelled", 28, 1.0), None)
        await settle(pilot)

    assert snap_compare(app_on(runs_dir), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.slow
def test_playground_raw_with_a_bad_value_100x30(snap_compare, runs_dir):
    async def run_before(pilot):
        screen = await loaded(pilot, "The quick brown fox")
        await pilot.press("f8")
        top_p = screen.query_one("#pg-top-p", Input)
        top_p.cursor_blink = False
        top_p.focus()
        top_p.value = "1.5"
        await settle(pilot)

    assert snap_compare(app_on(runs_dir), terminal_size=(100, 30), run_before=run_before)


def test_playground_no_runs_80x24(snap_compare):
    async def run_before(pilot):
        screen = pilot.app.screen
        await until(pilot, lambda: screen.scanned, what="the scan")
        screen.query_one("#pg-prompt", Input).cursor_blink = False
        await settle(pilot)

    assert snap_compare(app_on("runs"), terminal_size=(80, 24), run_before=run_before)
