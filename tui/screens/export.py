"""Export dialog: a finished run as a merged model folder, or its training data as JSON Lines.

Pushed over another screen (the Runs screen opens it)::

    self.app.push_screen(ExportScreen("runs/20261124-093000-demo"))

Choose what to export, edit the output path (defaults: ``exports/<run>-merged``
and ``exports/<run>.jsonl``) and press Start (Enter in the path, or Ctrl+S).
engine.export.export_merged / export_data run in a thread worker (torch,
transformers and peft load there); their progress lines and the result reach
the dialog only as ExportProgress / ExportEnded messages. The result shows the
path written and a ready-to-paste line that loads it.

Nothing is overwritten: an existing non-empty target is refused with the
engine's one-line error before anything loads. A merge cannot be interrupted
safely, so Esc is refused while it writes; the engine builds the folder under a
temporary name and moves it into place only when complete, so a folder named
here is never half-written.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, RadioButton, RadioSet, Select, Static

# Light imports (no torch/transformers/peft): errors and the target check.
from engine.errors import TuneDeckError
from engine.export import check_target

from ..messages import ExportEnded, ExportProgress
from ..notify import Notifying, error_line, one_line
from ..widgets.checkpoint_pick import CheckpointPicker

__all__ = ["ExportScreen", "default_output", "load_snippet"]

KINDS = ("merged", "data")


def default_output(run_dir: str | Path, kind: str) -> str:
    """``exports/<run>-merged`` for a merged model, ``exports/<run>.jsonl`` for the data."""
    name = Path(run_dir).name
    return f"exports/{name}-merged" if kind == "merged" else f"exports/{name}.jsonl"


def load_snippet(kind: str, path: str | Path) -> str:
    """Python that loads what was exported (two lines: import, load)."""
    p = str(path)
    if kind == "merged":
        return f'from transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained("{p}")'
    return f'from datasets import load_dataset\nds = load_dataset("json", data_files="{p}", split="train")'


class ExportScreen(Notifying, ModalScreen):
    ERROR_LINE = "#ex-error"
    CSS_PATH = "export.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "start", "Start export"),
        Binding("ctrl+y", "copy", "Copy load code"),
    ]

    def __init__(self, run_dir: str | Path, checkpoint: str | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.kind = "merged"
        self.running = False
        self.result = None  # the last MergedExport / DataExport
        self.result_path: Path | None = None
        self.snippet: str | None = None
        self.error: str | None = None
        self.progress_lines: list[str] = []  # the engine's progress lines of the current export
        self.notifications: list[tuple[str, str]] = []  # (severity, text), for tests

    def compose(self) -> ComposeResult:
        picker = CheckpointPicker(self.run_dir, self.checkpoint, id="ex-ckpt")
        self.checkpoint = picker.start or None  # the final adapter, else the newest complete checkpoint
        with Vertical(id="ex-dialog") as box:
            box.border_title = f"Export {self.run_dir.name}"
            with RadioSet(id="ex-kind", compact=True):
                yield RadioButton("Merged model: base + adapter as one transformers folder",
                                  value=True, id="ex-merged")
                yield RadioButton("Training data: the samples as formatted for training (JSONL)", id="ex-data")
            yield picker
            yield Label("Output folder", id="ex-path-label")
            yield Input(default_output(self.run_dir, "merged"), id="ex-path", compact=True,
                        tooltip="Relative to the folder TuneDeck runs in; must not exist or be empty")
            with Horizontal(id="ex-buttons"):
                yield Button("▶ Start", id="ex-start", variant="success", compact=True, tooltip="Enter or Ctrl+S")
                yield Button("Copy load code", id="ex-copy", compact=True, disabled=True, tooltip="Ctrl+Y")
                yield Button("Close", id="ex-close", compact=True, tooltip="Esc")
                yield ProgressBar(total=None, show_eta=False, id="ex-progress", classes="hidden")
            yield Static("", id="ex-log")
            yield Static("", id="ex-error", classes="hidden")
            yield Static("", id="ex-result", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self._show_log()
        self.query_one("#ex-path", Input).focus()
        self.query_one("#ex-path-label", Label).update("Output folder (must not exist, or be empty)")

    # -- choosing -------------------------------------------------------------------------------
    @on(RadioSet.Changed, "#ex-kind")
    def _kind_changed(self, event: RadioSet.Changed) -> None:
        self.set_kind("merged" if event.pressed.id == "ex-merged" else "data")

    def set_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        path = self.query_one("#ex-path", Input)
        if path.value.strip() in ("", default_output(self.run_dir, self.kind)):  # not edited: follow the kind
            path.value = default_output(self.run_dir, kind)
        self.kind = kind
        self.query_one("#ex-ckpt").display = kind == "merged"  # the data export needs no weights
        self.query_one("#ex-path-label", Label).update(
            "Output folder (must not exist, or be empty)" if kind == "merged" else "Output file (.jsonl, must not exist)")
        button = self.query_one("#ex-merged" if kind == "merged" else "#ex-data", RadioButton)
        if not button.value:
            button.value = True
        self._set_error(None, notify=False)
        self._show_log()

    @on(Select.Changed, "#ex-ckpt-select")
    def _weights_changed(self, event: Select.Changed) -> None:
        picker = self.query_one("#ex-ckpt", CheckpointPicker)
        if picker.checkpoint != self.checkpoint:
            self.checkpoint = picker.checkpoint
            picker.picked()
            self._set_error(None, notify=False)

    # -- running --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return None if self.running else True
        if action == "copy":
            return True if self.snippet and not self.running else None
        return True

    @on(Input.Submitted, "#ex-path")
    @on(Button.Pressed, "#ex-start")
    def action_start(self) -> None:
        if self.running:
            return
        out = self.query_one("#ex-path", Input).value.strip()
        self._set_error(None, notify=False)
        self._show_result(None)
        self.progress_lines = []
        self._show_log()
        try:  # refuse at once, before anything loads: nothing is overwritten
            check_target(out, folder=self.kind == "merged")
            if self.kind == "merged":
                from engine.infer import adapter_source  # light: no torch

                adapter_source(self.run_dir, self.checkpoint)
        except TuneDeckError as e:
            self._set_error(str(e))
            return
        self.running = True
        self.progress_lines = []
        self._show_log()
        bar = self.query_one("#ex-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.remove_class("hidden")
        self._update_controls()
        self._export(self.kind, out)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", name="export")
    def _export(self, kind: str, out: str) -> None:
        """Worker thread: run the export; progress and the result go back as messages."""
        from engine.export import export_data, export_merged  # torch/transformers/peft load in here

        post = self.post_message
        say = lambda text: post(ExportProgress(str(text)))  # noqa: E731
        try:
            if kind == "merged":
                result = export_merged(self.run_dir, out, on_progress=say, checkpoint=self.checkpoint)
            else:
                result = export_data(self.run_dir, out, on_progress=say, overwrite=False)
        except Exception as e:  # noqa: BLE001 - one line in the dialog, not a traceback
            post(ExportEnded(error=error_line(e)))
        else:
            post(ExportEnded(result=result))

    def on_export_progress(self, msg: ExportProgress) -> None:
        self.progress_lines.append(msg.text)
        self._show_log()

    def on_export_ended(self, msg: ExportEnded) -> None:
        self.running = False
        self.query_one("#ex-progress", ProgressBar).add_class("hidden")
        if msg.error is not None or msg.result is None:
            self._set_error(msg.error or "export failed")
        else:
            self._show_result(msg.result)
            self._notify(f"Exported to {self.result_path}", "information")
        self._show_log()
        self._update_controls()

    def _update_controls(self) -> None:
        self.query_one("#ex-start", Button).disabled = self.running
        self.query_one("#ex-close", Button).disabled = self.running
        self.query_one("#ex-path", Input).disabled = self.running
        self.query_one("#ex-kind", RadioSet).disabled = self.running
        self.query_one("#ex-ckpt-select", Select).disabled = self.running or not self.query_one(
            "#ex-ckpt", CheckpointPicker).options
        self.query_one("#ex-copy", Button).disabled = self.running or not self.snippet
        if not self.running and self.query_one("#ex-path", Input).disabled is False and self.focused is None:
            self.query_one("#ex-path", Input).focus()
        self.refresh_bindings()

    # -- drawing --------------------------------------------------------------------------------
    def _show_log(self) -> None:
        log = self.query_one("#ex-log", Static)
        log.set_class(self.result is not None and not self.running, "hidden")  # the result says it all
        if self.running or self.progress_lines:
            lines = self.progress_lines[-3:] or [
                "Loading torch, transformers and peft…" if self.kind == "merged" else "Loading the tokenizer…"]
            t = Text()
            for i, line in enumerate(lines):
                last = i == len(lines) - 1
                t.append(("… " if self.running and last else "  ") + one_line(line, 200) + ("\n" if not last else ""),
                         style="yellow" if self.running and last else "dim")
            log.update(t)
        elif self.kind == "merged":
            log.update(Text("Loads the base unquantized on CPU, merges the adapter and saves safetensors + tokenizer: "
                            "a plain transformers model, no peft needed.", style="dim"))
        else:
            log.update(Text("Writes one {prompt, completion, prompt_tokens, completion_tokens, truncated} object per "
                            "sample, rendered and tokenised as training did.", style="dim"))

    def _show_result(self, result) -> None:
        box = self.query_one("#ex-result", Static)
        self.result = result
        if result is None:
            self.result_path = self.snippet = None
            box.add_class("hidden")
            return
        kind = "merged" if hasattr(result, "out_dir") else "data"
        path = Path(result.out_dir if kind == "merged" else result.path).resolve()
        self.result_path = path
        self.snippet = load_snippet(kind, path)
        t = Text()
        t.append("✓ ", style="bold green")
        if kind == "merged":
            t.append(f"Merged model ({result.dtype}) written to ", style="green")
            t.append(str(path), style="bold")
        else:
            t.append(f"Wrote {result.written} samples to ", style="green")
            t.append(str(path), style="bold")
            extra = [f"{result.truncated} truncated"] if result.truncated else []
            extra += [f"{result.dropped} without a trained token left out"] if result.dropped else []
            if extra:
                t.append(f" ({', '.join(extra)})", style="green")
        t.append("\nLoad it with (Ctrl+Y copies):\n", style="dim")
        t.append(self.snippet, style="cyan")
        box.update(t)
        box.remove_class("hidden")

    # -- copy and close -------------------------------------------------------------------------
    @on(Button.Pressed, "#ex-copy")
    def action_copy(self) -> None:
        if self.snippet:
            self.app.copy_to_clipboard(self.snippet)
            self._notify("Load code copied to the clipboard", "information")

    @on(Button.Pressed, "#ex-close")
    def action_close(self) -> None:
        if self.running:
            self._notify("The export is still writing and cannot be interrupted safely; it ends by itself "
                         "(the output appears only once complete).", "warning")
            return
        self.dismiss(self.result_path)
