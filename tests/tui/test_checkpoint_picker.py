"""The Evaluate and Export screens' weights picker (issue 13): a stopped or killed run is evaluated and
exported from its newest complete checkpoint, saying so; any checkpoint can be picked; a finished run
starts on its final adapter."""

from __future__ import annotations

import shutil

from run_fixtures import make_run
from textual.widgets import Select
from tui_helpers import Host, text

from tui.screens.evaluate import EvalScreen
from tui.screens.export import ExportScreen


async def test_evaluate_a_stopped_run_from_its_newest_complete_checkpoint(tmp_path):
    rd = make_run(tmp_path / "runs", "stopped-run", "stopped", steps=25)
    torn = rd / "checkpoints" / "checkpoint-25"  # being written when it stopped: passed over
    shutil.copytree(rd / "checkpoints" / "checkpoint-20", torn)
    (torn / "trainer_state.json").unlink()
    app = Host(lambda: EvalScreen(rd))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        pick = screen.query_one("#ev-ckpt-select", Select)
        assert pick.value == "checkpoint-20" and screen.checkpoint == "checkpoint-20"
        assert [v for _, v in pick._options] == ["checkpoint-20", "checkpoint-10"]
        note = text(app, "#ev-ckpt-note")
        assert note == "newest checkpoint: run stopped, no adapter"
        assert not screen.query_one("#ev-error").display and screen.error is None  # nothing to fix
        assert "checkpoint-20" in text(app, "#ev-title")
        pick.value = "checkpoint-10"
        await pilot.pause()
        assert screen.checkpoint == "checkpoint-10" and "checkpoint-10" in text(app, "#ev-title")


async def test_evaluate_a_finished_run_starts_on_the_final_adapter(tmp_path):
    rd = make_run(tmp_path / "runs", "done-run", "finished", steps=20)
    app = Host(lambda: EvalScreen(rd))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        pick = screen.query_one("#ev-ckpt-select", Select)
        assert pick.value == "" and screen.checkpoint is None and "final adapter" in text(app, "#ev-ckpt-note")
        assert [v for _, v in pick._options] == ["", "checkpoint-20", "checkpoint-10"]
        pick.value = "checkpoint-10"
        await pilot.pause()
        assert screen.checkpoint == "checkpoint-10"


async def test_export_a_killed_run_from_its_newest_checkpoint(tmp_path, monkeypatch):
    rd = make_run(tmp_path / "runs", "killed-run", "killed", steps=30)
    started = []
    monkeypatch.setattr(ExportScreen, "_export", lambda self, kind, out: started.append((kind, out, self.checkpoint)))
    app = Host(lambda: ExportScreen(rd))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#ex-ckpt-select", Select).value == "checkpoint-30"
        assert text(app, "#ex-ckpt-note") == "newest checkpoint: run killed, no adapter"
        await pilot.press("ctrl+s")  # the cheap check before loading passes: there is something to merge
        await pilot.pause()
        assert screen.error is None and started == [("merged", f"exports/{rd.name}-merged", "checkpoint-30")]
        screen.running = False
        screen.query_one("#ex-ckpt-select", Select).value = "checkpoint-10"
        await pilot.pause()
        assert screen.checkpoint == "checkpoint-10"
