"""Playground screen: one prompt, the base model's and the tuned adapter's replies side by side, streamed.

Pick a run (or one of its checkpoints); the model loads once in a thread worker
(engine.infer.load_for_generation: one copy of the base with the adapter on
top). Each Send starts two thread workers on that one model, the adapter off
for the base pane and on for the tuned pane (engine.infer.generate_stream;
their forward passes take turns, so both panes grow together). The prompt is
formatted with the run's own template, as in training, unless raw mode is on;
the line under the prompt shows what the model receives.

Workers never touch widgets: they post messages (tui/messages.py) and the
handlers only record them; a 10 Hz timer redraws what changed, so a fast model
costs at most ten repaints a second. Cancel sets a threading.Event that the
generation loop checks before every token.

Keys: Enter (in the prompt) or Ctrl+S send, Esc cancels, F8 raw/template,
F9 greedy, F10 shows the whole formatted prompt, Ctrl+R looks for new runs.
The Runs screen opens a run here with ``screen.open_run(path, checkpoint)``.
torch and transformers load only inside the workers.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Select, Static
from textual.worker import Worker, WorkerState

from engine.errors import TuneDeckError
from engine.runs import RunSummary, list_summaries, summarize_run

from ..messages import PlaygroundLoaded, PlaygroundLoadProgress, PlaygroundRunsListed, ReplyChunk, ReplyEnded
from ..text import error_line, one_line, printable
from ..widgets.fields import LateInput
from ..widgets.nav import NavTabs
from ..widgets.prompt_view import sees_line
from ..widgets.reply_pane import Reply, ReplyPane
from ..widgets.run_picker import ADAPTER, RunPicker, default_checkpoint, same_path
from ..widgets.sampling_form import SamplingForm, parse_sampling

REDRAW_HZ = 10
PANES = ("base", "tuned")

__all__ = ["PANES", "PlaygroundScreen", "Reply", "ReplyPane", "parse_sampling", "printable"]
class PlaygroundScreen(Screen):
    CSS_PATH = "playground.tcss"
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", key_display="⏎/^s"),
        Binding("escape", "cancel", "Cancel"),
        Binding("f8", "toggle_raw", "Raw"),
        Binding("f9", "toggle_greedy", "Greedy"),
        Binding("f10", "toggle_full_prompt", "Prompt"),
        Binding("ctrl+r", "rescan(True)", "Look for new runs, retry loading", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.runs: list[RunSummary] = []  # runs that have something to load, newest first
        self.all_runs = 0  # runs found, loadable or not
        self.scanned = False
        self.scan_error = ""
        self.selected: tuple[str, str] | None = None  # (run path, checkpoint name or ADAPTER) picked in the form
        self.gen = None  # engine.infer.Generator once loaded
        self.loaded_key: tuple[str, str] | None = None
        self.loading_key: tuple[str, str] | None = None
        self.load_note = ""
        self.load_error = ""
        self.failed_key: tuple[str, str] | None = None  # the last (run, checkpoint) that failed to load
        self.request = 0  # id of the latest Send; chunks of older ones are dropped
        self.stop_event: threading.Event | None = None
        self.pending: tuple[str, bool, dict] | None = None  # a Send waiting for the model to load
        self.replies: dict[str, Reply] = {p: Reply() for p in PANES}
        self.sent_prompt: str | None = None  # the formatted text of the latest Send
        self.sent_params: dict = {}
        self.full_prompt = False
        self._dirty: set[str] = set(PANES)
        self._retry = False  # the next run list retries a run that failed to load
        self._want: tuple[str, str | None] | None = None  # open_run's request, applied when the run list arrives

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield NavTabs("playground")
        yield RunPicker(id="pg-run-bar")
        yield Static("", id="pg-status")
        yield SamplingForm(id="pg-sampling")
        yield Static("", id="pg-sampling-error")  # under the field in error (a blank spacer otherwise)
        with Horizontal(id="pg-prompt-bar"):
            yield LateInput(placeholder="Type a prompt; Enter sends", id="pg-prompt", compact=True)
            yield Button("▶ Send", id="pg-send", variant="success", compact=True, tooltip="Enter or Ctrl+S")
            yield Button("■ Cancel", id="pg-cancel", variant="error", compact=True, disabled=True, tooltip="Esc")
        yield Static("", id="pg-sees")
        with Horizontal(id="pg-replies"):
            yield ReplyPane("base", "Base model")
            yield ReplyPane("tuned", "Tuned")
        yield Static("", id="pg-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1 / REDRAW_HZ, self._redraw)
        self.query_one("#pg-empty").display = False
        self._update_sees()
        self._update_status()
        self._update_controls()
        self._redraw()
        self.query_one("#pg-prompt", LateInput).focus()
        self.query_one("#pg-prompt", LateInput).shown()

    def on_screen_resume(self) -> None:
        self.query_one("#pg-prompt", LateInput).shown()  # keys typed on the way here are not for the prompt
        self.action_rescan()

    def on_unmount(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()  # don't keep generating for a screen that is gone

    # -- public ---------------------------------------------------------------------------------
    def open_run(self, path: str | Path, checkpoint: str | None = None) -> None:
        """Select run ``path`` (and ``checkpoint``, else its final adapter or last checkpoint) and load it."""
        path = str(path)
        self._want = (path, checkpoint)
        known = self._summary(path)
        ckpt = checkpoint if checkpoint is not None else (default_checkpoint(known) if known else ADAPTER)
        self._choose(path, ckpt)
        self.action_rescan()  # a run outside the runs folder, or one that just finished, joins the list

    # -- the run list ---------------------------------------------------------------------------
    def action_rescan(self, retry: bool = False) -> None:
        self._retry = self._retry or retry
        want = self._want[0] if self._want else (self.selected[0] if self.selected else None)
        self._scan(str(self.app.state.config.output.runs_dir), want)

    @work(thread=True, exclusive=True, group="pg-scan", exit_on_error=False)
    def _scan(self, runs_dir: str, extra: str | None) -> None:
        try:
            found = list_summaries(runs_dir)
            if extra and Path(extra).is_dir() and not any(same_path(s.path, extra) for s in found):
                found.insert(0, summarize_run(extra))
        except (TuneDeckError, OSError) as e:
            self.post_message(PlaygroundRunsListed([], error=one_line(str(e))))
            return
        self.post_message(PlaygroundRunsListed(found))

    def on_playground_runs_listed(self, msg: PlaygroundRunsListed) -> None:
        self.scanned = True
        self.scan_error = msg.error
        self.all_runs = len(msg.summaries)
        self.runs = [s for s in msg.summaries if s.has_adapter or s.checkpoints]
        self.query_one(RunPicker).set_runs(self.runs)
        if self._want is not None:
            path, ckpt = self._want
            self._want = None
            known = self._summary(path)
            target = (path, ckpt if ckpt is not None else (default_checkpoint(known) if known else ADAPTER))
        elif self.selected is not None:
            target = self.selected
        else:  # first show: the newest run with an adapter, else the newest with a checkpoint
            first = next((s for s in self.runs if s.has_adapter), self.runs[0] if self.runs else None)
            target = (str(first.path), default_checkpoint(first)) if first else None
        if target is not None:
            # Coming back to the screen does not retry a run that failed to load; Ctrl+R or picking it does.
            self._choose(*target, load=target != self.failed_key or self._retry)
        self._retry = False
        self._update_status()
        self._update_controls()

    def _summary(self, path: str) -> RunSummary | None:
        return next((s for s in self.runs if same_path(s.path, path)), None)

    def _choose(self, path: str, checkpoint: str, load: bool = True) -> None:
        """Show (path, checkpoint) in the two Selects and load it unless it is loaded or loading already."""
        known = self._summary(path)
        self.query_one(RunPicker).show(known, checkpoint)
        key = (str(known.path) if known else path, checkpoint)
        self.selected = key
        if load and key != self.loaded_key and key != self.loading_key:
            self._start_load(key)

    @on(Select.Changed, "#pg-run")
    def _run_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        known = self._summary(str(event.value))
        self._choose(str(event.value), default_checkpoint(known) if known else ADAPTER)

    @on(Select.Changed, "#pg-ckpt")
    def _checkpoint_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or self.selected is None:
            return
        self._choose(self.selected[0], str(event.value))

    # -- loading --------------------------------------------------------------------------------
    def _start_load(self, key: tuple[str, str]) -> None:
        self.action_cancel()
        self.gen, self.loaded_key = None, None  # let the previous model go before the next one loads
        self.loading_key, self.load_error, self.load_note = key, "", "starting"
        self._load(key)
        self._update_sees()
        self._update_status()
        self._update_controls()

    @work(thread=True, exclusive=True, group="pg-load", exit_on_error=False)
    def _load(self, key: tuple[str, str]) -> None:
        path, checkpoint = key
        try:
            from engine.infer import load_for_generation  # torch, transformers, peft load here, in the worker

            gen = load_for_generation(path, checkpoint=checkpoint or None,
                                      on_message=lambda text: self.post_message(PlaygroundLoadProgress(key, text)))
            gen.format("")  # learns the run's data format (may read its data file) here, not on the UI thread
        except Exception as e:  # a broken model folder, out of memory...: one line, the app stays up
            self.post_message(PlaygroundLoaded(key, error=error_line(e)))
        else:
            self.post_message(PlaygroundLoaded(key, generator=gen))

    def on_playground_load_progress(self, msg: PlaygroundLoadProgress) -> None:
        if msg.key == self.loading_key:
            self.load_note = msg.text
            self._update_status()

    def on_playground_loaded(self, msg: PlaygroundLoaded) -> None:
        if msg.key != self.loading_key:
            return  # another run was picked meanwhile
        self.loading_key = None
        if msg.error:
            self.failed_key = msg.key
            folder = str(Path(msg.key[0]).parent)
            self.load_error = msg.error.replace(folder + "/", "") if folder not in ("", ".") else msg.error
            self.app.notify(self.load_error, title="Cannot load this run", severity="error", timeout=10)
            if self.pending is not None:
                self.pending = None
                for r in self.replies.values():
                    r.state = "idle"
                self._dirty.update(PANES)
        else:
            self.gen, self.loaded_key, self.failed_key = msg.generator, msg.key, None
        self._update_sees()
        self._update_status()
        self._update_controls()
        if self.gen is not None and self.pending is not None:
            text, raw, params = self.pending
            self.pending = None
            self._start_generation(text, raw, params)

    # -- sending --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        busy = any(r.active for r in self.replies.values())
        if action == "send":
            return None if busy else True
        if action == "cancel":
            return True if busy else None
        return True

    @on(Input.Submitted, "#pg-prompt, #pg-max, #pg-temp, #pg-top-p")
    @on(Button.Pressed, "#pg-send")
    def action_send(self) -> None:
        if any(r.active for r in self.replies.values()):
            return
        params, errors = self._check_sampling()
        if errors:
            self.query_one("#" + next(iter(errors)), Input).focus()
            return
        text = self.query_one("#pg-prompt", Input).value
        if not text.strip():
            self.app.notify("Type a prompt first.", severity="warning", timeout=4)
            return
        raw = self.query_one("#pg-raw", Checkbox).value
        if self.gen is None:
            if self.loading_key is None:
                why = self.load_error or "pick a run first"
                self.app.notify(f"No model loaded: {why}", severity="error", timeout=6)
                return
            self.pending = (text, raw, params)  # starts as soon as the model is loaded
            self.replies = {p: Reply(state="queued") for p in PANES}
            self._dirty.update(PANES)
            self._update_controls()
            return
        self._start_generation(text, raw, params)

    def _start_generation(self, text: str, raw: bool, params: dict) -> None:
        gen = self.gen
        try:
            prompt = gen.format(text, raw=raw)
        except TuneDeckError as e:
            self.app.notify(one_line(str(e)), title="Cannot format the prompt", severity="error", timeout=8)
            self.replies = {p: Reply() for p in PANES}
            self._dirty.update(PANES)
            self._update_controls()
            return
        self.request += 1
        self.stop_event = threading.Event()
        self.sent_prompt, self.sent_params = prompt, dict(params)
        self.replies = {p: Reply(state="streaming") for p in PANES}
        self._dirty.update(PANES)
        for pane in PANES:
            self.run_worker(partial(self._generate, pane, self.request, gen, prompt, params, self.stop_event),
                            thread=True, group="pg-gen", name=f"generate-{pane}", exit_on_error=False)
        self._update_controls()

    def _generate(self, pane: str, request: int, gen, prompt: str, params: dict, stop: threading.Event) -> None:
        """Worker thread: stream one pane's reply as ReplyChunk messages, then one ReplyEnded."""
        stats: dict = {}
        start = time.monotonic()
        reason, error = "error", ""
        try:
            from engine.infer import generate_stream

            for piece in generate_stream(gen, prompt, adapter=pane == "tuned", stop=stop, stats=stats, **params):
                self.post_message(ReplyChunk(pane, request, piece, stats.get("tokens", 0)))
            reason = stats.get("reason", "max_tokens")
        except Exception as e:  # e.g. out of memory: one line in the pane, the app stays up
            error = error_line(e)
        self.post_message(ReplyEnded(pane, request, reason, tokens=stats.get("tokens", 0),
                                     seconds=time.monotonic() - start, error=error))

    def on_reply_chunk(self, msg: ReplyChunk) -> None:
        if msg.request != self.request:
            return
        reply = self.replies[msg.pane]
        reply.text += msg.text
        reply.tokens = max(reply.tokens, msg.tokens)
        self._dirty.add(msg.pane)

    def on_reply_ended(self, msg: ReplyEnded) -> None:
        if msg.request != self.request:
            return
        reply = self.replies[msg.pane]
        reply.reason, reply.error, reply.seconds = msg.reason, msg.error, msg.seconds
        reply.tokens = max(reply.tokens, msg.tokens)
        reply.state = {"cancelled": "cancelled", "error": "error"}.get(msg.reason, "done")
        self._dirty.add(msg.pane)
        if not any(r.active for r in self.replies.values()):
            self.stop_event = None
            self._redraw()
            self._update_controls()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The workers catch their errors; should one still die, end its pane instead of hanging."""
        if event.state != WorkerState.ERROR:
            return
        error = error_line(event.worker.error)
        if event.worker.group == "pg-gen":
            pane = event.worker.name.removeprefix("generate-")
            self.post_message(ReplyEnded(pane, self.request, "error", error=error))
        elif event.worker.group == "pg-load" and self.loading_key is not None:
            self.post_message(PlaygroundLoaded(self.loading_key, error=error))

    @on(Button.Pressed, "#pg-cancel")
    def action_cancel(self) -> None:
        if self.pending is not None:
            self.pending = None
            self.replies = {p: Reply() for p in PANES}
            self._dirty.update(PANES)
        if self.stop_event is not None and not self.stop_event.is_set():
            self.stop_event.set()
            for r in self.replies.values():
                if r.state == "streaming":
                    r.state = "cancelling"
            self._dirty.update(PANES)
        self._update_controls()

    # -- settings -------------------------------------------------------------------------------
    def _check_sampling(self) -> tuple[dict, dict[str, str]]:
        return self.query_one(SamplingForm).check(self.query_one("#pg-sampling-error", Static))

    @on(Input.Changed, "#pg-max, #pg-temp, #pg-top-p")
    def _sampling_changed(self) -> None:
        self._check_sampling()

    @on(Checkbox.Changed, "#pg-greedy")
    def _greedy_changed(self) -> None:
        self._check_sampling()
        self._update_controls()

    @on(Checkbox.Changed, "#pg-raw")
    @on(Input.Changed, "#pg-prompt")
    def _prompt_changed(self) -> None:
        self._update_sees()

    def action_toggle_raw(self) -> None:
        box = self.query_one("#pg-raw", Checkbox)
        box.value = not box.value

    def action_toggle_greedy(self) -> None:
        box = self.query_one("#pg-greedy", Checkbox)
        box.value = not box.value

    def action_toggle_full_prompt(self) -> None:
        self.full_prompt = not self.full_prompt
        self.query_one("#pg-sees").set_class(self.full_prompt, "-full")
        self._update_sees()

    # -- drawing --------------------------------------------------------------------------------
    def formatted_prompt(self) -> str | None:
        """What the model will receive for the prompt as typed now (None until the run's template is known)."""
        text = self.query_one("#pg-prompt", Input).value
        if self.query_one("#pg-raw", Checkbox).value:
            return text
        if self.gen is None:
            return None
        try:
            return self.gen.format(text)
        except TuneDeckError:
            return None

    def _update_sees(self) -> None:
        raw = self.query_one("#pg-raw", Checkbox).value
        self.query_one("#pg-sees", Static).update(sees_line(self.formatted_prompt(), raw, self.full_prompt))

    def _update_status(self) -> None:
        status = self.query_one("#pg-status", Static)
        runs_dir = str(self.app.state.config.output.runs_dir)
        empty = self.query_one("#pg-empty", Static)
        no_runs = self.scanned and not self.runs and self.selected is None
        if not self.scanned:
            line = Text(f"Looking for runs in {runs_dir}…", style="dim")
        elif self.loading_key is not None:
            name = Path(self.loading_key[0]).name
            line = Text.assemble(("⟳ Loading ", "bold yellow"), (f"{name} ({self.loading_key[1] or 'adapter'})", "bold"),
                                 f": {self.load_note}")
        elif self.load_error:
            line = Text(f"✗ {self.load_error}", style="bold red")
        elif self.gen is not None and self.loaded_key is not None:
            gen = self.gen
            model = Path(gen.cfg.model.name).name if "/" in gen.cfg.model.name else gen.cfg.model.name
            template = gen.template or gen.cfg.data.template
            if "{" in template:
                template = "custom"
            quant = "" if gen.cfg.model.quantization == "none" else f" {gen.cfg.model.quantization}"
            line = Text.assemble(("● ", "bold green"), (Path(self.loaded_key[0]).name, "bold"),
                                 f" · {self.loaded_key[1] or 'adapter'} · {model}{quant} on {gen.device}"
                                 f" · template {template}")
        elif self.scan_error:
            line = Text(f"✗ {self.scan_error}", style="bold red")
        elif no_runs:
            line = Text(f"No runs to load in {runs_dir}/ yet.", style="bold yellow")
        else:
            line = Text("Pick a run to load.", style="dim")
        line.no_wrap, line.overflow = True, "ellipsis"
        status.update(line)
        status.tooltip = line.plain
        if no_runs:
            some = (f"{self.all_runs} run(s) in {runs_dir}/, but none has saved an adapter or a checkpoint yet."
                    if self.all_runs else f"No runs in {runs_dir}/ yet.")
            empty.update(Text.assemble((some, "bold"), "\n\nTo make one: set up the config (3 or F4), then train it on "
                                       "the Train screen (4 or F5, or Ctrl+T). A run shows up here once it has saved a "
                                       "checkpoint or its final adapter; come back with 6 or F7."))
        empty.display = no_runs
        self.query_one("#pg-replies").display = not no_runs
        self.query_one(RunPicker).disable(no_runs)

    def _update_controls(self) -> None:
        busy = any(r.active for r in self.replies.values())
        self.query_one("#pg-send", Button).disabled = busy
        self.query_one("#pg-cancel", Button).disabled = not busy
        self.query_one(SamplingForm).grey_out()
        base_title = "Base model"
        if self.gen is not None:
            name = self.gen.cfg.model.name
            base_title = f"Base · {Path(name).name if '/' in name else name}"
        self.query_one("#pane-base", ReplyPane).border_title = base_title
        key = self.loaded_key or self.loading_key or self.selected
        self.query_one("#pane-tuned", ReplyPane).border_title = f"Tuned · {(key[1] if key else '') or 'adapter'}"
        self.refresh_bindings()

    def _redraw(self) -> None:
        for pane in sorted(self._dirty):
            self._draw_pane(pane)
        self._dirty.clear()

    def _draw_pane(self, pane: str) -> None:
        self.query_one(f"#pane-{pane}", ReplyPane).show_reply(self.replies[pane])
