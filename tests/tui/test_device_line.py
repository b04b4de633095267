"""The device monitor and OOM recoveries on screen: the Train screen's device line and the loss chart's mark
(snapshot, from recorded events), the same line when following a run through its folder (attach), and the
run summary's peak and recoveries (Runs screen, `tunedeck runs`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from run_fixtures import T0, make_run
from tui_helpers import text, until

from engine import rundir
from engine.config import load_config
from engine.events import MetricsWriter, OomRecovered, RunStarted, StepLogged
from tui.app import TuneDeckApp
from tui.cli import main as cli_main
from tui.device_line import device_compact, device_line
from tui.screens.run_view import RunScreen
from tui.screens.runs import RunsScreen
from tui.state import AppState

ROOT = Path(__file__).resolve().parents[2]
CUDA = {"device": "cuda:0", "mem_allocated_mb": 10444.8, "mem_reserved_mb": 11264.0, "mem_peak_mb": 12288.0,
        "mem_total_mb": 81920.0, "gpu_util": 93.0}
CPU = {"device": "cpu", "rss_mb": 1228.8, "rss_peak_mb": 1433.6}
HEALED = dict(step=13, resumed_from_step=10, unit="samples", old_micro_batch=8, new_micro_batch=4,
              old_gradient_accumulation=1, new_gradient_accumulation=2, error="CUDA out of memory.")


def recorded(run_dir: str, device: dict, last: int = 24, max_steps: int = 40, t: float = T0):
    """A run that ran out of memory after step 13 and went on from checkpoint-10 with half the micro-batch."""
    yield RunStarted(run_dir=run_dir, config={}, device="cuda (NVIDIA H100 80GB HBM3)" if "gpu_util" in device
                     else "cpu (2 cores)", trainable_params=4_884_480, total_params=139_399_488, train_samples=285,
                     val_samples=0, max_steps=max_steps, epochs=1.0, time=t)
    steps = [*range(1, 14), *range(11, last + 1)]
    for i, step in enumerate(steps):
        if i == 13:
            yield OomRecovered(**HEALED, time=t)
        loss = 2.4 * math.exp(-step / 15) + 1.1 + 0.15 * math.sin(step * 1.7)
        yield StepLogged(step=step, max_steps=max_steps, epoch=step / max_steps, loss=round(loss, 4), learning_rate=2e-4,
                         tokens_per_second=9000.0, tokens_seen=256 * step, elapsed=3.0 * step,
                         eta=3.0 * (max_steps - step), time=t + 3.0 * i, **device)


def test_the_device_line_in_words():
    assert device_line(StepLogged(step=1, max_steps=2, epoch=0.5, loss=1.0, learning_rate=1e-4, **CPU)) == \
        "cpu · RSS 1.2 GiB (peak 1.4)"
    cuda = StepLogged(step=1, max_steps=2, epoch=0.5, loss=1.0, learning_rate=1e-4, **CUDA)
    assert device_line(cuda) == "cuda:0 · 10.2/80 GiB · reserved 11.0 · peak 12.0 · util 93%"
    assert device_compact(cuda) == "10.2/80G 93%"
    no_util = StepLogged(step=1, max_steps=2, epoch=0.5, loss=1.0, learning_rate=1e-4, **{**CUDA, "gpu_util": None})
    assert device_line(no_util).endswith("peak 12.0")  # no pynvml: no utilisation, nothing made up
    assert "gpu_util" not in no_util.to_dict() and "rss_mb" not in cuda.to_dict()  # a line carries what the device has


def test_train_screen_device_line_and_oom_mark_80x24(snap_compare, monkeypatch):
    monkeypatch.chdir(ROOT)
    app = TuneDeckApp(AppState(config=load_config(None, {"data.path": "sample_data/tunedeck_qa.jsonl",
                                                         "output.runs_dir": "runs"})), start_screen="train")

    async def run_before(pilot):
        screen = pilot.app.screen
        screen.running = True  # as while the worker runs
        for e in recorded("runs/20250101-000000-demo", CUDA):
            screen.handle_event(e)
        screen._update_controls()
        await until(pilot, lambda: "util 93%" in text(pilot.app, "#device-line"), what="the device line")
        screen.monitor.redraw_if_dirty(force=True)
        await pilot.pause(0.5)
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _write(rd: Path, device: dict) -> None:
    w = MetricsWriter(rd / rundir.METRICS_FILE)
    for e in recorded(str(rd), device):
        w(e)
    w.close()


async def test_attach_shows_the_device_line_and_the_oom_mark_from_the_run_folder(tmp_path):
    runs = tmp_path / "runs"
    live = make_run(runs, "20251124-130000-live", "running", steps=0, max_steps=40, pid=os.getpid())
    _write(live, CPU)
    cfg = load_config(None, {"output.runs_dir": str(runs), "data.path": str(ROOT / "sample_data" / "tunedeck_qa.jsonl")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="runs", attach=live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.loaded, what="the run view")
        await until(pilot, lambda: "RSS" in text(app, "#device-line"), what="the device line")
        assert text(app, "#device-line") == "cpu · RSS 1.2 GiB (peak 1.4)"
        assert app.screen.monitor.charts.history.oom_steps == [10]
        assert app.screen.monitor.charts.history.steps[-1] == 24


async def test_run_summary_keeps_the_peak_and_lists_oom_recoveries(tmp_path, capsys):
    runs = tmp_path / "runs"
    rd = make_run(runs, "20251124-140000-healed", "finished", steps=0, max_steps=40)
    _write(rd, CUDA)
    assert cli_main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "PEAK MEM" in out[0] and "finished (OOM healed 1×)" in out[1] and "12.0G cuda:0" in out[1], out
    cfg = load_config(None, {"output.runs_dir": str(runs), "data.path": str(ROOT / "sample_data" / "tunedeck_qa.jsonl")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="runs")
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listed, what="the listing")
        await until(pilot, lambda: "OOM" in text(app, "#runs-detail"), what="the run's details")
        assert "peak cuda:0 12.0 GiB · OOM healed 1× (micro-batch 8 → 4)" in text(app, "#runs-detail")


@pytest.mark.parametrize("device", [CPU], ids=["cpu"])
def test_step_events_carry_the_device_monitor(device):
    from engine.devicemon import sample

    got = sample("cpu")
    assert set(got) == set(device) and got["device"] == "cpu"
    assert 0 < got["rss_mb"] <= got["rss_peak_mb"] + 1  # peak RSS (getrusage) is at least what is resident now
