"""Follow a run from outside its process: new metrics.jsonl events and its live state, by polling files.

Any viewer (the run view, ``tunedeck attach``) watches a run this way; the
training process never knows it is watched, so closing a viewer never affects
training and any number of viewers can watch one run::

    tail = MetricsTail(run_dir / rundir.METRICS_FILE)
    history = tail.poll()          # everything so far
    ...
    new = tail.poll()              # only what was appended since (a torn last line waits for its end)
    state = run_state(run_dir)     # "running", "finished", "stopped", "failed", "killed", "unknown"
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import rundir
from .events import Event, event_from_dict


class MetricsTail:
    """Reads a metrics.jsonl file incrementally.

    ``poll`` returns the events of the complete lines appended since the last
    call. A line still being written (no newline yet) is kept back until it is
    complete. If the file shrinks or is replaced (a run folder deleted and made
    again), reading starts over and ``restarted`` is set until the next poll.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int = 64 * 1024 * 1024):
        self.path = Path(path)
        self.offset = 0
        self.max_bytes = max_bytes  # read at most this much per poll (a huge history comes in pieces)
        self.restarted = False
        self._inode: int | None = None

    def poll(self) -> list[Event]:
        self.restarted = False
        try:
            st = self.path.stat()
        except OSError:
            return []
        if (self._inode is not None and st.st_ino != self._inode) or st.st_size < self.offset:
            self.offset, self.restarted = 0, True
        self._inode = st.st_ino
        if st.st_size == self.offset:
            return []
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read(self.max_bytes)
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []  # no complete line yet
        self.offset += end + 1
        events = []
        for raw in chunk[: end + 1].splitlines():
            raw = raw.strip()
            if not raw:
                continue
            try:
                event = event_from_dict(json.loads(raw))
            except ValueError:  # a torn line from a crash mid-write: skip it
                continue
            if event is not None:
                events.append(event)
        return events


def run_state(run_dir: str | os.PathLike) -> str:
    """The run's state from status.json; "running" whose process is gone reads as "killed"."""
    from .runs import pid_alive

    status = rundir.read_status(Path(run_dir))
    state = str(status.get("status", "unknown"))
    if state == "running" and not pid_alive(status.get("pid")):
        from .runlock import record_killed

        record_killed(Path(run_dir))  # the first process to see the dead pid writes it down
        return "killed"
    return state


def newest_running(runs_dir: str | os.PathLike) -> Path | None:
    """The most recently started run under ``runs_dir`` that is training right now."""
    for info in rundir.list_runs(runs_dir):
        if run_state(info.path) == "running":
            return info.path
    return None
