"""Snapshots of the Runs screen, the run view and the compare screen, over recorded run folders with fixed numbers.

After an intended change:
    pytest tests/tui/test_snapshots_runs.py --snapshot-update
and look at the pictures in tests/tui/__snapshots__/test_snapshots_runs/.
"""

from __future__ import annotations

import time

import pytest
from run_fixtures import make_run
from tui_helpers import compared, until

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.screens.run_view import RunScreen
from tui.state import AppState

SIZES = [(100, 30), (80, 24)]


@pytest.fixture(autouse=True)
def fixed_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in the pictures
    monkeypatch.setenv("TZ", "UTC")  # the "started" column
    time.tzset()
    make_run("runs", "20251124-090000-base", "finished")
    make_run("runs", "20251124-100000-lr-high", "stopped", steps=25, scale=1.3, sets={"training.learning_rate": 5e-4})
    make_run("runs", "20251124-110000-oom", "failed", steps=5, sets={"training.batch_size": 16})
    make_run("runs", "20251124-120000-killed", "killed", steps=12)
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def runs_app() -> TuneDeckApp:
    return TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs")


async def listed(pilot) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "listed", False), what="the listing")
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_list(snap_compare, size):
    async def run_before(pilot):
        await listed(pilot)
        await pilot.press("down")  # the failed run: its error and hint below the table
        await pilot.pause(0.1)

    assert snap_compare(runs_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_view_of_a_stopped_run(snap_compare, size):
    async def run_before(pilot):
        await listed(pilot)
        pilot.app.screen.select("20251124-100000-lr-high")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.loaded, what="view")
        await pilot.pause(0.3)

    assert snap_compare(runs_app(), terminal_size=size, run_before=run_before)


def test_compare_two_runs(snap_compare):
    async def run_before(pilot):
        await listed(pilot)
        pilot.app.screen.select("20251124-100000-lr-high")
        await pilot.press("space", "down", "space", "c")
        await compared(pilot)
        await pilot.pause(0.3)

    assert snap_compare(runs_app(), terminal_size=(100, 30), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_list_with_a_long_run_name(snap_compare, size):
    """Columns shrink by priority, the long name keeps both ends around an ellipsis, hidden columns are named."""
    make_run("runs", "20251124-130000-qlora-r64-alpha128-lr1e-4-sharegpt-long-context", "finished", steps=40,
             sets={"data.path": "sample_data/a_rather_long_dataset_file_name.jsonl"})

    async def run_before(pilot):
        await listed(pilot)
        await pilot.pause(0.1)

    assert snap_compare(runs_app(), terminal_size=size, run_before=run_before)
