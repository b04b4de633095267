"""What `tunedeck train` prints (tui.console, engine.console): no library noise, a bar on a terminal, a line a step otherwise;
the words it uses; the warm-up that never runs a step at learning rate 0; one message after a stop."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "sample_data" / "tunedeck_qa.jsonl"
NOISE = ("Loading weights", "Warning", "warnings.warn", "%|", "it/s]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _train_args(tiny_model_dir: Path, run_dir: Path, steps: int = 3) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "train", "--config", str(ROOT / "sample_data" / "quickstart.yaml"),
            "--model", str(tiny_model_dir), "--data", str(QA), "--max-steps", str(steps), "--run-dir", str(run_dir),
            "--set", "model.quantization=4bit", "--set", "data.max_length=64", "--set", "training.batch_size=2",
            "--set", "data.val_split=0", "--set", "training.save_steps=100", "--set", "training.logging_steps=1",
            "--set", "training.warmup_ratio=0.5"]


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="default")
    env.pop("TUNEDECK_PROGRESS", None)
    return env


@pytest.mark.slow
def test_piped_train_output_has_no_library_noise_and_one_line_per_step(tiny_model_dir, tmp_path):
    rd = tmp_path / "run"
    proc = subprocess.run(_train_args(tiny_model_dir, rd), cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for noise in NOISE:
        assert noise not in out, (noise, out)
    lines = out.splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert [s.split()[1] for s in steps] == ["1/3", "2/3", "3/3"], out
    assert all(all(w in s for w in ("loss ", "lr ", "tok/s", "ETA ", "RSS ")) for s in steps)  # RSS: the device monitor
    run_line = next(line for line in lines if line.startswith("Run "))
    assert "4-bit" in run_line and "4bit" not in run_line  # words, not the config value
    assert any("(4-bit, compute float32)" in line for line in lines)
    # The library's warnings are kept in the run's own log, not lost.
    log = (rd / "train.log").read_text(encoding="utf-8")
    assert "Warning" in log
    # Warm-up starts above zero: step 1 trained at a learning rate > 0; the peak comes as before (step 3 of 3 here:
    # warmup_ratio 0.5 of 3 steps is 2 warm-up steps).
    events = [json.loads(x) for x in (rd / "metrics.jsonl").read_text().splitlines()]
    lrs = [e["learning_rate"] for e in events if e["event"] == "step"]
    assert lrs[0] > 0 and lrs[0] < lrs[1] < lrs[2], lrs


@pytest.mark.slow
def test_train_on_a_terminal_draws_a_rich_progress_bar(tiny_model_dir, tmp_path):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = _env()
    env.update(COLUMNS="120", LINES="30", TERM="xterm-256color")
    proc = subprocess.Popen(_train_args(tiny_model_dir, tmp_path / "run"), cwd=ROOT, env=env, stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    out = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    assert proc.returncode == 0, out
    for noise in NOISE:
        assert noise not in out, (noise, out)
    bar = [line for line in re.split(r"[\r\n]", out) if line.startswith("train ")]
    assert bar and "━" in bar[-1], out
    assert all(w in bar[-1] for w in ("step 3/3", "loss ", "tok/s", "ETA ", "RSS ")), bar[-1]  # 120 columns: room for it
    assert not re.search(r"^step \d+/\d+ ", out, re.M)  # the bar, not the plain per-step lines


def test_library_log_keeps_warnings_and_log_records_and_restores_everything(tmp_path):
    import logging
    import warnings

    from engine.console import LOG_FILE, LibraryLog

    before = (logging.getLogger("transformers").handlers[:], warnings.filters[:])
    stderr = io.StringIO()
    old, sys.stderr = sys.stderr, stderr
    try:
        with LibraryLog() as libs:
            warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning, stacklevel=1)
            logging.getLogger("peft").warning("a library note")
            libs.attach(tmp_path)  # the run folder becomes known: what came before is written too
            logging.getLogger("transformers.modeling_utils").warning("after the folder is known")
    finally:
        sys.stderr = old
    assert stderr.getvalue() == ""
    log = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    assert "FutureWarning" in log and "a library note" in log and "after the folder is known" in log
    assert (logging.getLogger("transformers").handlers[:], warnings.filters[:]) == before


def test_warm_up_starts_above_zero_and_the_rest_of_the_schedule_is_unchanged():
    import torch
    from transformers import get_scheduler

    from engine.schedule import warm_up_above_zero

    def lrs(kind: str, wrap: bool, warmup: int = 4, total: int = 20) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = get_scheduler(kind, optimizer=opt, num_warmup_steps=warmup, num_training_steps=total)
        if wrap:
            sched = warm_up_above_zero(sched, warmup)
            assert warm_up_above_zero(sched, warmup) is sched  # once
        out = []
        for _ in range(total):
            out.append(opt.param_groups[0]["lr"])  # the learning rate this optimizer step runs at
            opt.step()
            sched.step()
        return out

    for kind in ("cosine", "linear", "constant_with_warmup"):
        old, new = lrs(kind, False), lrs(kind, True)
        assert old[0] == 0.0 and new[0] > 0, kind  # the old first step did nothing
        assert new[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8]) and new[4] == 1.0  # peak at the same step
        assert new[4:] == old[4:], kind
    assert lrs("cosine", True, warmup=0) == lrs("cosine", False, warmup=0)


def test_a_stop_reports_its_checkpoint_in_one_message(tiny_model_dir, tmp_path):
    """The checkpoint a stop saves is not announced on its own: "Checkpoint saved at step 2" followed at once by
    "Stopped at step 2; checkpoint ..." was two messages for one thing."""
    from rich.console import Console

    from engine.config import load_config
    from engine.events import CheckpointSaved, RunStopped, StepLogged
    from engine.train import train
    from tui.console import ProgressView
    from tui.widgets.monitor import describe

    cfg = load_config(None, {"model.name": str(tiny_model_dir), "model.quantization": "none", "data.path": str(QA),
                             "data.max_length": 64, "training.batch_size": 2, "training.max_steps": 6,
                             "training.save_steps": 100, "output.runs_dir": str(tmp_path / "runs")})
    stop = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, StepLogged) and e.step == 2:
            stop.set()

    result = train(cfg, on_event=on_event, stop=stop)
    assert result.status == "stopped", result.last_event
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    stopped = events[-1]
    assert isinstance(stopped, RunStopped) and stopped.step in (2, 3)
    assert len(saved) == 1 and saved[0].stopping and saved[0].step == stopped.step
    assert stopped.checkpoint.endswith(f"checkpoint-{stopped.step}")

    buf = io.StringIO()
    view = ProgressView(Console(file=buf, width=300), quiet=True)
    for e in events:
        view(e)
    assert "checkpoint saved" not in buf.getvalue()  # the CLI's final line names it (run_headless)
    lines = [describe(e) for e in events if isinstance(e, (CheckpointSaved, RunStopped))]
    assert lines[0] is None and "checkpoint saved: " in lines[1][0] and f"checkpoint-{stopped.step}" in lines[1][0]
