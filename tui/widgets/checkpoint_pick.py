"""The "weights" picker of the Evaluate and Export screens: the final adapter or one of the run's checkpoints.

``CheckpointPicker(run_dir, checkpoint)`` shows ``Weights [final adapter ▾]`` and a word on what it
picked. With no checkpoint asked for it starts on the final adapter, or, when the run has none (stopped,
failed, killed), on its newest complete checkpoint, and says so: the same choice the CLI makes
(engine.infer.default_checkpoint). ``picker.checkpoint`` is ``None`` for the final adapter, else a
checkpoint's name; a change posts ``Select.Changed`` from the Select inside (id ``<id>-select``).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Select, Static

from engine import rundir
from engine.errors import TuneDeckError

ADAPTER = ""  # the Select's value for the run's final adapter/


def weight_choices(run_dir: str | Path, checkpoint: str | None = None) -> tuple[list[tuple[str, str]], str | None, str]:
    """(options, the value to start on, a note on why) for run ``run_dir``; the start is None when it has none."""
    rd = Path(run_dir)
    names = [p.name for p in reversed(rundir.checkpoints(rd))]  # newest first
    has_adapter = (rd / rundir.ADAPTER_DIR / "adapter_config.json").exists()
    options = ([("final adapter", ADAPTER)] if has_adapter else []) + [(n, n) for n in names]
    if checkpoint:
        name = Path(str(checkpoint)).name
        if name.isdigit():
            name = f"checkpoint-{name}"
        if name not in names:
            options.append((name, name))  # as asked; loading it says what is wrong
        return options, name, "as asked"
    from engine.infer import default_checkpoint  # light: no torch

    try:
        picked, note = default_checkpoint(rd)
    except TuneDeckError:
        return options, None, "no final adapter and no checkpoint yet"
    if picked is None:
        return options, ADAPTER, "the run's final adapter"
    why = note.split("(", 1)[1].split(")", 1)[0] if note and "(" in note else "run stopped"  # "run killed"...
    return options, picked, f"newest checkpoint: {why}, no adapter"


class CheckpointPicker(Horizontal):
    DEFAULT_CSS = """
    CheckpointPicker { height: 1; width: 1fr; }
    CheckpointPicker > .ck-label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    CheckpointPicker > Select { width: 20; }
    CheckpointPicker > .ck-note { width: 1fr; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, run_dir: str | Path, checkpoint: str | None = None, *, id: str):
        super().__init__(id=id)
        self.options, start, self.note = weight_choices(run_dir, checkpoint)
        self.start = start

    def compose(self) -> ComposeResult:
        yield Label("Weights", classes="ck-label")
        if self.options:
            yield Select(self.options, value=self.start if self.start is not None else self.options[0][1],
                         allow_blank=False, compact=True, id=f"{self.id}-select",
                         tooltip="The final adapter, or one of the run's complete checkpoints (newest first)")
        else:
            yield Select([], prompt="none yet", compact=True, id=f"{self.id}-select", disabled=True)
        yield Static(Text(self.note), classes="ck-note", id=f"{self.id}-note")

    @property
    def checkpoint(self) -> str | None:
        """None for the final adapter (or when there is nothing), else the checkpoint's name."""
        value = self.query_one(Select).value
        return None if value in (ADAPTER, Select.BLANK) else str(value)

    def picked(self) -> None:
        """The user chose: the note now says what, not why."""
        ck = self.checkpoint
        self.query_one(".ck-note", Static).update(Text("the run's final adapter" if ck is None else f"checkpoint {ck}"))
