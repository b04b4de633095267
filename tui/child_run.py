"""A run the app starts as a child process group (``tunedeck train --nproc N``) and follows through its folder.

Several processes cannot train inside the app, so the Train screen starts the command line in a new
session (its own process group: quitting the app leaves it training, Ctrl+C in the app's terminal does
not reach it) and reads the run folder as ``tunedeck attach`` does: new ``metrics.jsonl`` events, stop and
checkpoint requests as files. Nothing here imports torch::

    child = ChildRun.start(cfg, processes=2)
    events = child.poll()            # new events since the last poll
    child.stop()                     # stop.request: every rank stops at one step, with a checkpoint
    child.ended()                    # the launcher process has exited
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from engine import rundir
from engine.config import Config, save_config
from engine.events import Event, RunFailed
from engine.follow import MetricsTail
from engine.memory_dist import visible_gpus

LAUNCH_LOG = "tunedeck-launch.log"


def devices_line() -> str:
    n = visible_gpus()
    cores = os.cpu_count() or 1
    return f"devices: {n} GPU{'s' if n != 1 else ''}" if n else f"devices: no GPU, {cores} CPU cores (gloo)"


class ChildRun:
    def __init__(self, proc: subprocess.Popen, run_dir: Path, log: Path):
        self.proc = proc
        self.run_dir = run_dir
        self.log = log
        self.tail = MetricsTail(run_dir / rundir.METRICS_FILE)

    @classmethod
    def start(cls, cfg: Config | None, processes: int, *, run_dir: str | Path | None = None,
              resume: str | Path | None = None) -> "ChildRun":
        """``tunedeck train --nproc N`` on ``cfg`` (a copy written outside the run folder), or ``--resume``."""
        if resume is not None:
            rd = Path(resume)
            args = ["--resume", str(rd)]
        else:
            assert cfg is not None
            from engine.train import run_name

            rd = Path(run_dir) if run_dir else rundir.new_run_dir(cfg.output.runs_dir, run_name(cfg))
            fd, cfg_file = tempfile.mkstemp(prefix="tunedeck-", suffix=".yaml")
            os.close(fd)
            save_config(cfg, cfg_file)
            args = ["--config", cfg_file, "--run-dir", str(rd)]
        log = Path(tempfile.gettempdir()) / f"{rd.name}-{LAUNCH_LOG}"
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", *args, "--nproc", str(processes), "--quiet"],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # its own process group: it outlives the app
        child = cls(proc, rd, log)
        if resume is not None:
            child.tail.poll()  # the steps before the resume are the screen's history already
        return child

    def poll(self) -> list[Event]:
        return self.tail.poll()

    def ended(self) -> bool:
        return self.proc.poll() is not None

    def stop(self) -> None:
        rundir.request_stop(self.run_dir)

    def save(self) -> None:
        rundir.request_save(self.run_dir)

    def refusal(self) -> RunFailed | None:
        """The launcher's own error line when it ended without the run folder recording an end."""
        if rundir.read_status(self.run_dir).get("status") not in ("running", "unknown"):
            return None
        if self.run_dir.is_dir() and not any(self.run_dir.iterdir()):
            self.run_dir.rmdir()  # refused before it started: the folder chosen for it goes
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        errors = [ln[len("error: "):] for ln in lines if ln.startswith("error: ")]
        return RunFailed(error=errors[-1] if errors else f"tunedeck train --nproc exited with code {self.proc.returncode}; "
                                                         f"see {self.log}")
