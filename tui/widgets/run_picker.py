"""The Playground's run picker: a run (with something to load) and its final adapter or one of its checkpoints.

It only shows choices; the screen decides what to load. Changes reach the screen as the Selects' own
``Select.Changed`` messages (``#pg-run``, ``#pg-ckpt``); setting choices from code never posts them.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Select

from engine.runs import RunSummary

ADAPTER = ""  # the checkpoint Select's value for the run's final adapter/


def same_path(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


def default_checkpoint(s: RunSummary) -> str:
    """The final adapter when the run has one (or nothing else), else its newest checkpoint."""
    return ADAPTER if s.has_adapter or not s.checkpoints else s.checkpoints[-1]


def run_label(s: RunSummary) -> str:
    what = "" if s.has_adapter else f" · {len(s.checkpoints)} ckpt"
    return f"{s.name} · {s.status}{what}"


class RunPicker(Horizontal):
    def compose(self) -> ComposeResult:
        yield Label("Run", classes="pg-label")
        yield Select([], prompt="pick a run", id="pg-run", compact=True, tooltip="The run to load (Ctrl+R: look for new runs)")
        yield Select([("final adapter", ADAPTER)], id="pg-ckpt", compact=True, allow_blank=False,
                     tooltip="The final adapter, or one of the run's checkpoints")

    def set_runs(self, runs: list[RunSummary]) -> None:
        run_select = self.query_one("#pg-run", Select)
        with run_select.prevent(Select.Changed):
            run_select.set_options([(run_label(s), str(s.path)) for s in runs])

    def show(self, known: RunSummary | None, checkpoint: str) -> None:
        """Show run ``known`` (None: one the list does not know yet) and ``checkpoint`` among its own."""
        run_select = self.query_one("#pg-run", Select)
        ckpt_select = self.query_one("#pg-ckpt", Select)
        options = []
        if known is None or known.has_adapter:
            options.append(("final adapter", ADAPTER))
        options += [(c, c) for c in reversed(known.checkpoints if known else [])]
        if checkpoint not in [v for _, v in options]:
            options.append((checkpoint, checkpoint))  # open_run named one the list does not know (yet)
        with run_select.prevent(Select.Changed), ckpt_select.prevent(Select.Changed):
            if known is not None:
                run_select.value = str(known.path)
            ckpt_select.set_options(options)
            ckpt_select.value = checkpoint

    def disable(self, off: bool) -> None:
        for picker in ("#pg-run", "#pg-ckpt"):
            self.query_one(picker, Select).disabled = off
