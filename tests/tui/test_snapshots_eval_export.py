"""Snapshots of the Evaluate screen and the Export dialog at 100x30 and 80x24 (pytest-textual-snapshot).

Drawn from a fixed run folder (name, adapter marker) and a hand-written
eval.json with fixed numbers: no model, no clocks. After an intended change:
    pytest tests/tui/test_snapshots_eval_export.py --snapshot-update
and look at the pictures in tests/tui/__snapshots__/test_snapshots_eval_export/.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from textual.widgets import Input

from tui.screens.evaluate import EvalScreen
from tui.screens.export import ExportScreen
from tui_helpers import Host

SIZES = [(100, 30), (80, 24)]
RUN = "20250101-000000-demo"

SAMPLES = [
    ("What does training.batching do?",
     "padding_free packs each micro-batch into one row with per-sample positions; padded pads every sample.",
     "It packs the samples of a micro-batch into one row, so no compute goes to padding.", 0.8123),
    ("How do I stop a run and keep a checkpoint?", "Press x on the Train screen: it saves a checkpoint, then stops.",
     "Press s on the Train screen.", 2.4410),
    ("Which values are valid for training.weight_decay?", "It must be at least 0; the default is 0.",
     "Any number from 0 up; 0 is the default.", 1.1037),
    ("What is QLoRA?", "LoRA on a base model quantized to 4-bit NF4 with double quantization.",
     "LoRA adapters trained on top of a 4-bit base model.", 0.9561),
    ("How do I resume a stopped run?", "Run tunedeck train --resume RUN.", None, 1.7702),
    ("Where are runs saved?", "In runs/<date>-<name>/ under output.runs_dir.", None, 3.0125),
]


def report(split: str = "validation", note: str = "") -> dict:
    tokens = [18, 14, 11, 15, 9, 13]
    loss = sum(s[3] * t for s, t in zip(SAMPLES, tokens)) / sum(tokens)
    return {
        "loss": round(loss, 6), "perplexity": math.exp(round(loss, 6)), "split": split, "num_samples": len(SAMPLES),
        "num_tokens": sum(tokens), "run_dir": f"runs/{RUN}", "adapter": f"runs/{RUN}/adapter", "created": 0.0,
        "note": note,
        "samples": [{"index": i, "prompt": f"### Question:\n{q}\n\n### Answer:\n", "reference": ref, "generated": gen,
                     "loss": lo, "tokens": t} for i, ((q, ref, gen, lo), t) in enumerate(zip(SAMPLES, tokens))],
    }


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the Export dialog's default paths are relative: exports/<run>...
    rd = tmp_path / "runs" / RUN
    (rd / "adapter").mkdir(parents=True)
    (rd / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")
    return rd


async def settle(pilot) -> None:
    await pilot.pause(0.2)
    pilot.app.clear_notifications()
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_eval_saved_report(snap_compare, run_dir, size):
    (run_dir / "eval.json").write_text(json.dumps(report()), encoding="utf-8")
    assert snap_compare(Host(lambda: EvalScreen(run_dir, generate_samples=4)), terminal_size=size, run_before=settle)


def test_eval_worst_first_with_detail_80x24(snap_compare, run_dir):
    note = "the run had no validation split (data.val_split: 0, no data.val_path); evaluated on up to 50 training rows"
    (run_dir / "eval.json").write_text(json.dumps(report("train", note)), encoding="utf-8")

    async def run_before(pilot):
        await pilot.press("w", "enter")
        await settle(pilot)

    assert snap_compare(Host(lambda: EvalScreen(run_dir, generate_samples=4)), terminal_size=(80, 24),
                        run_before=run_before)


def test_export_dialog_100x30(snap_compare, run_dir):
    async def run_before(pilot):
        pilot.app.screen.query_one("#ex-path", Input).cursor_blink = False
        await settle(pilot)

    assert snap_compare(Host(lambda: ExportScreen(run_dir)), terminal_size=(100, 30), run_before=run_before)


def test_export_refuses_a_non_empty_folder_80x24(snap_compare, run_dir):
    busy = Path("exports") / f"{RUN}-merged"
    busy.mkdir(parents=True)
    (busy / "keep.txt").write_text("mine", encoding="utf-8")

    async def run_before(pilot):
        pilot.app.screen.query_one("#ex-path", Input).cursor_blink = False
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "already exists and is not empty" in str(pilot.app.screen.query_one("#ex-error").render())

    assert snap_compare(Host(lambda: ExportScreen(run_dir)), terminal_size=(80, 24), run_before=run_before)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


@pytest.fixture
def stopped_run(tmp_path, monkeypatch) -> Path:
    """A run stopped at step 12 (no adapter/), with complete checkpoints 6 and 12."""
    monkeypatch.chdir(tmp_path)
    rd = tmp_path / "runs" / RUN
    for step in (6, 12):
        ck = rd / "checkpoints" / f"checkpoint-{step}"
        ck.mkdir(parents=True)
        for name in ("trainer_state.json", "adapter_config.json"):
            (ck / name).write_text("{}", encoding="utf-8")
        for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
            (ck / name).write_text("", encoding="utf-8")
    (rd / "status.json").write_text('{"status": "stopped", "step": 12}', encoding="utf-8")
    return rd


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_eval_checkpoint_picker_on_a_stopped_run(snap_compare, stopped_run, size):
    assert snap_compare(Host(lambda: EvalScreen(stopped_run)), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_export_checkpoint_picker_on_a_stopped_run(snap_compare, stopped_run, size):
    async def run_before(pilot):
        pilot.app.screen.query_one("#ex-path", Input).cursor_blink = False
        await settle(pilot)

    assert snap_compare(Host(lambda: ExportScreen(stopped_run)), terminal_size=size, run_before=run_before)
