"""Staged runs (``--from RUN``) on the Runs screen and in compare: the chain in the details, a mark in the table,
and ``l`` overlaying the chain's stages end to end. Recorded run folders with lineage.json written by hand.

After an intended change to the pictures:
    pytest tests/tui/test_runs_lineage.py --snapshot-update
"""

from __future__ import annotations

import time

import pytest
from run_fixtures import STAGES, make_chain, make_run
from textual.widgets import DataTable
from tui_helpers import compared, text, until

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.screens.compare import CompareScreen
from tui.state import AppState

SIZES = [(100, 30), (80, 24)]
ONE, TWO, THREE = STAGES


@pytest.fixture(autouse=True)
def chain_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in the pictures
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    make_run("runs", "20251124-120000-plain", "finished")
    make_chain("runs")
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def runs_app() -> TuneDeckApp:
    return TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="runs")


async def listed(pilot) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "listed", False), what="the listing")
    await pilot.pause(0.1)


def run_cell(pilot, name: str) -> str:
    table = pilot.app.screen.query_one(DataTable)
    return str(table.get_cell(name, "run"))


async def test_the_table_marks_staged_runs_and_the_details_show_the_chain():
    async with runs_app().run_test(size=(120, 30)) as pilot:
        await listed(pilot)
        screen = pilot.app.screen
        assert run_cell(pilot, THREE).startswith("⤷3 ") and run_cell(pilot, TWO).startswith("⤷2 ")
        assert run_cell(pilot, ONE) == ONE and run_cell(pilot, "20251124-120000-plain") == "20251124-120000-plain"
        screen.select(THREE)
        await until(pilot, lambda: "stage 3" in text(pilot.app, "#runs-detail"), what="the chain in the details")
        detail = text(pilot.app, "#runs-detail")
        assert ("stage 3: smollm2-135m-instruct → docs-stage1 (causal_lm) → "
                "qa-stage2 (causal_lm, merged adapter) → this run (classification, merged adapter)"
                in detail.replace("\n", " "))
        assert "l: compare its chain" in detail
        screen.select(ONE)  # stage 1 itself is a one-stage run: no chain, no l
        await until(pilot, lambda: text(pilot.app, "#runs-detail").startswith(ONE), what="stage 1's details")
        assert "stage " not in text(pilot.app, "#runs-detail")
        assert not screen.check_action("compare_chain", ())


async def test_l_opens_compare_with_the_chain_end_to_end():
    async with runs_app().run_test(size=(120, 30)) as pilot:
        await listed(pilot)
        pilot.app.screen.select(THREE)
        await pilot.pause(0.1)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.histories,
                    what="compare")
        screen = pilot.app.screen
        assert [p.name for p in screen.run_dirs] == [ONE, TWO, THREE]  # every stage, oldest first
        assert screen.chain and screen.offsets() == [0, 30, 50]  # stage 2 after stage 1's 30 steps, stage 3 after 50
        assert "Chain of 3 stages" in text(pilot.app, "#cmp-title")
        legend = text(pilot.app, "#cmp-legend")
        assert "1. " in legend and "3. " in legend and "each stage after the ones before" in legend
        pilot.app.pop_screen()
        await until(pilot, lambda: not isinstance(pilot.app.screen, CompareScreen), what="back")
        pilot.app.screen.select("20251124-120000-plain")  # not staged: l does nothing
        await pilot.pause(0.1)
        await pilot.press("l")
        await pilot.pause(0.2)
        assert not isinstance(pilot.app.screen, CompareScreen)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_list_with_a_chain(snap_compare, size):
    async def run_before(pilot):
        await listed(pilot)
        pilot.app.screen.select(THREE)
        await until(pilot, lambda: "stage 3" in text(pilot.app, "#runs-detail"), what="the chain")
        await pilot.pause(0.1)

    assert snap_compare(runs_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_a_chain(snap_compare, size):
    async def run_before(pilot):
        await listed(pilot)
        pilot.app.screen.select(THREE)
        await pilot.pause(0.1)
        await pilot.press("l")
        await compared(pilot)
        await pilot.pause(0.3)

    assert snap_compare(runs_app(), terminal_size=size, run_before=run_before)
