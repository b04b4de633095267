"""TUI responsiveness: first paint, and key-press latency while a run streams events.

    python bench/ui.py            # tiny model built from a config; about a minute

First paint: a fresh interpreter imports the app and runs it headless until the
first screen is mounted (the import cost counts). Latency: while the real
engine trains the tiny model inside the app, a chart-switch key event is posted
as the terminal driver posts it, and the time until its handler has redrawn the
charts is measured, plus one frame (1/60 s) for the repaint. (Pilot's press()
waits for the whole app to be idle, which a streaming run rarely is, so it
measures the stream, not the key.) The last line is
the headline.

Throughput inside the TUI: the same config (tiny model, same seed and steps)
trains once as ``tunedeck ui --start`` in a real terminal (a tmux session,
100x30, drawing charts as it goes) and once as ``tunedeck train`` headless,
alternating, best of ``--repeats``; each rate is real tokens over the wall time
between the first and the last logged step (the warm-up step left out), read
from the run's own metrics.jsonl. Needs tmux; skipped with a note without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_PAINT = """
import time, asyncio
t0 = time.perf_counter()
from tui.app import TuneDeckApp
from tui.state import AppState
from engine.config import load_config
async def main():
    app = TuneDeckApp(AppState(config=load_config('sample_data/quickstart.yaml')))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - t0)
asyncio.run(main())
"""


def first_paint(repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", FIRST_PAINT], cwd=ROOT, capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


async def latency(presses: int = 30) -> tuple[list[float], int]:
    from engine.config import load_config
    from engine.tiny import build_tiny_model
    from tui.app import TuneDeckApp
    from tui.state import AppState

    tmp = Path(tempfile.mkdtemp(prefix="tunedeck-ui-bench-"))
    model = build_tiny_model(tmp / "tiny", layers=4, hidden=256)
    data = tmp / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i}?", "answer": f"It is {i}."}) + "\n" for i in range(400)))
    cfg = load_config(None, {"model.name": str(model), "model.quantization": "none", "data.path": str(data),
                             "data.template": "qa", "training.max_steps": 5000, "training.save_steps": 1000,
                             "output.runs_dir": str(tmp / "runs")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="train")
    samples = []
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        screen = app.screen
        while not screen.events or not any(e.name == "step" for e in screen.events):
            await pilot.pause(0.1)
        import asyncio

        from textual import events

        handled: list[float] = []
        original = type(screen).action_cycle_chart

        def timed_cycle(self_):
            original(self_)  # redraws the charts synchronously; the frame follows on the next refresh
            handled.append(time.perf_counter())

        type(screen).action_cycle_chart = timed_cycle
        try:
            for _ in range(presses):
                before = len(handled)
                t = time.perf_counter()
                app.post_message(events.Key("c", "c"))  # as the terminal driver does, without waiting for idle
                while len(handled) == before:
                    await asyncio.sleep(0.002)
                samples.append(handled[-1] - t + 1 / 60)  # + one frame until the repaint reaches the terminal
                await asyncio.sleep(0.2)
        finally:
            type(screen).action_cycle_chart = original
        steps = sum(1 for e in screen.events if e.name == "step")
        screen.action_stop()
        await app.workers.wait_for_complete()
    return samples, steps


def steady_rate(run_dir: Path) -> float:
    """Real tokens/s between the first and the last logged step (the first step's warm-up left out)."""
    from engine import rundir

    steps = [e for e in map(json.loads, (run_dir / rundir.METRICS_FILE).read_text().splitlines()) if e.get("event") == "step"]
    first, last = steps[0], steps[-1]
    return (last["tokens_seen"] - first["tokens_seen"]) / (last["elapsed"] - first["elapsed"])


def wait_finished(run_dir: Path, timeout: float) -> str:
    from engine.rundir import read_status

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(run_dir).get("status")
        if status in ("finished", "failed", "stopped"):
            return status
        time.sleep(0.2)
    raise SystemExit(f"{run_dir} did not finish within {timeout:.0f} s")


def tui_against_headless(repeats: int = 2, steps: int = 150) -> tuple[float, float] | None:
    """Best real tokens/s of the same run trained inside the TUI (in tmux) and headless."""
    if shutil.which("tmux") is None:
        return None
    from engine.config import load_config, save_config
    from engine.tiny import build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="tunedeck-ui-bench-"))
    model = build_tiny_model(tmp / "tiny", layers=4, hidden=256)
    data = ROOT / "sample_data" / "tunedeck_alpaca.json"
    cfg = load_config(None, {"model.name": str(model), "model.quantization": "none", "data.path": str(data),
                             "training.max_steps": steps, "training.save_steps": 10_000, "training.eval_steps": 10_000,
                             "output.runs_dir": str(tmp / "runs")})
    cfg_path = tmp / "bench.yaml"
    save_config(cfg, cfg_path)
    cli = [sys.executable, "-m", "tui.cli"]
    rates: dict[str, list[float]] = {"tui": [], "headless": []}
    for i in range(repeats):
        run_dir = tmp / f"tui-{i}"
        # A server of its own each time: a new session sent to a server that is
        # exiting (its last session just killed) fails with "server exited unexpectedly".
        tmux = ["tmux", "-L", f"tunedeck-bench-{os.getpid()}-{i}", "-f", "/dev/null"]
        command = " ".join([*cli, "ui", "--config", str(cfg_path), "--start", "--run-dir", str(run_dir)])
        subprocess.run([*tmux, "new-session", "-d", "-s", "bench", "-x", "100", "-y", "30", "-c", str(ROOT), command],
                       check=True)
        try:
            wait_finished(run_dir, 600)
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)
            (Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / tmux[2]).unlink(missing_ok=True)
        rates["tui"].append(steady_rate(run_dir))
        run_dir = tmp / f"headless-{i}"
        subprocess.run([*cli, "train", "--config", str(cfg_path), "--run-dir", str(run_dir), "--quiet"], cwd=ROOT,
                       check=True, capture_output=True)
        rates["headless"].append(steady_rate(run_dir))
    return max(rates["tui"]), max(rates["headless"])


def main(argv=None) -> int:
    import asyncio

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2, help="TUI and headless runs each, alternating (best counts)")
    p.add_argument("--steps", type=int, default=150, help="optimizer steps per throughput run")
    args = p.parse_args(argv)
    paint = first_paint()
    samples, steps = asyncio.run(latency())
    through = tui_against_headless(args.repeats, args.steps)
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{'measure':<44} {'result':>10} {'target':>8}")
    print(f"{'first paint (fresh process, 80x24)':<44} {paint:>9.2f}s {'<= 1 s':>8}")
    print(f"{'key press to repaint, median, while training':<44} {statistics.median(ms):>8.1f}ms")
    print(f"{'key press to repaint, p95, while training':<44} {p95:>8.1f}ms {'<= 100':>8}")
    if through:
        tui, headless = through
        print(f"{'training real tok/s inside the TUI (tmux)':<44} {tui:>10.1f}")
        print(f"{'training real tok/s headless':<44} {headless:>10.1f}")
        print(f"{'TUI / headless':<44} {tui / headless:>9.2f}x {'>= 0.97x':>8}")
    else:
        print("TUI / headless throughput: not measured (tmux is not installed)")
    print(f"({len(ms)} presses during {steps} streamed training steps)")
    ratio = f"; training inside the TUI {through[0] / through[1]:.2f}x headless" if through else ""
    print(f"first paint {paint:.2f} s; key latency p95 {p95:.0f} ms while training{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
