"""Template screen: each sample exactly as the trainer will see it.

It calls engine.tokenize.encode_row, the very function the trainer uses, and
draws its result: prompt segments dim, trained completion green, the cut at
data.max_length marked, token counts, and a per-token view of the loss mask.
"""

from __future__ import annotations

import random

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Select, Static, Switch, TextArea

from engine.config import BUILTIN_TEMPLATES
from engine.errors import TuneDeckError

from ..widgets.nav import NavTabs

STATS_ROWS = 2000


class Prepared(Message):
    def __init__(self, ds, info, tokenizer, error: str | None = None):
        super().__init__()
        self.ds, self.info, self.tokenizer, self.error = ds, info, tokenizer, error


class SampleReady(Message):
    def __init__(self, index: int, sample, error: str | None):
        super().__init__()
        self.index, self.sample, self.error = index, sample, error


class StatsReady(Message):
    def __init__(self, key, checked: int, total: int, truncated: int, untrained: int, errors: int):
        super().__init__()
        self.key, self.checked, self.total = key, checked, total
        self.truncated, self.untrained, self.errors = truncated, untrained, errors


def sample_text(sample, tokenizer) -> Text:
    """The rendered sample: prompt dim, completion bold green, text past max_length struck through."""
    rendered = sample.rendered
    view = sample.token_view(tokenizer)
    joined = "".join(t for t, _, _ in view)
    lead = len(joined) - len(rendered.text)  # a BOS token shows text that is not in the rendered sample
    kept_chars = sum(len(t) for t, _, beyond in view if not beyond) - max(0, lead)
    out = Text()
    pos = 0
    for seg in rendered.segments:
        style = "bold green" if seg.trained else "dim"
        for part_start, part_end in ((pos, min(pos + len(seg.text), kept_chars)), (max(pos, kept_chars), pos + len(seg.text))):
            if part_end <= part_start:
                continue
            chunk = rendered.text[part_start:part_end]
            if part_start >= kept_chars:
                if part_start == kept_chars:
                    out.append(f" ✂ truncated at {len(sample.input_ids)} tokens ✂ ", style="bold white on red")
                out.append(chunk, style=f"{style} strike dim")
            else:
                out.append(chunk, style=style)
        pos += len(seg.text)
    return out


def token_text(sample, tokenizer) -> Text:
    """Every token in a box: green carries loss, dim does not, red past max_length."""
    out = Text()
    for i, (tok, trained, beyond) in enumerate(sample.token_view(tokenizer)):
        shown = tok.replace(" ", "·").replace("\n", "⏎") or "∅"
        style = "red strike" if beyond else ("black on green" if trained else "dim reverse")
        out.append(shown, style=style)
        out.append(" ")
        if "\n" in tok:
            out.append("\n")
    return out


class TemplateScreen(Screen):
    CSS_PATH = "template.tcss"
    AUTO_FOCUS = "#tpl-view"
    BINDINGS = [
        Binding("n,right", "step(1)", "Next"),
        Binding("p,left", "step(-1)", "Prev"),
        Binding("r", "random", "Random"),
        Binding("g", "goto", "Go to row"),
        Binding("v", "toggle_tokens", "Token view"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.ds = None
        self.info = None
        self.tokenizer = None
        self.index = 0
        self.sample = None
        self.show_tokens = False
        self._prepared_for = None

    def compose(self) -> ComposeResult:
        cfg = self.app.state.config.data
        custom = cfg.template not in BUILTIN_TEMPLATES
        yield NavTabs("template")
        with Horizontal(id="tpl-bar"):
            yield Label("Template", classes="bar-label")
            yield Select([(t, t) for t in BUILTIN_TEMPLATES] + [("custom", "custom")], id="tpl",
                         value="custom" if custom else cfg.template, allow_blank=False)
            yield Label("max_length", classes="bar-label")
            yield Input(str(cfg.max_length), id="tpl-maxlen", type="integer")
            yield Label("train on prompt", classes="bar-label")
            yield Switch(cfg.train_on_prompt, id="tpl-top")
        yield TextArea(cfg.template if custom else "### Question:\n{question}\n\n### Answer:\n", id="tpl-custom",
                       classes="" if custom else "hidden")
        yield Static("", id="tpl-valid")
        yield Static("", id="tpl-head")
        with VerticalScroll(id="tpl-view"):
            yield Static("", id="tpl-sample")
        yield Static("", id="tpl-stats")
        with Horizontal(id="tpl-goto-bar", classes="hidden"):
            yield Label("Row", classes="bar-label")
            yield Input(id="tpl-goto", type="integer", placeholder="row number, Enter")
        yield Footer()

    def on_mount(self) -> None:
        self._prepare()

    def on_screen_resume(self) -> None:
        cfg = self.app.state.config
        key = (cfg.data.path, cfg.data.format, tuple(sorted(cfg.data.columns.items())), cfg.data.limit, cfg.model.name)
        if key != self._prepared_for:
            self._prepare()
        else:
            self._refresh_sample()

    # -- data and tokenizer ---------------------------------------------------------------------
    def _prepare(self) -> None:
        cfg = self.app.state.config
        self._prepared_for = (cfg.data.path, cfg.data.format, tuple(sorted(cfg.data.columns.items())), cfg.data.limit, cfg.model.name)
        self.query_one("#tpl-head", Static).update(Text(f"Loading {cfg.data.path} and the {cfg.model.name} tokenizer …", style="italic"))
        self._load()

    @work(thread=True, exclusive=True, group="tpl-load", exit_on_error=False)
    def _load(self) -> None:
        from engine.data import load_dataset

        try:
            ds, info = load_dataset(self.app.state.config.data)
            tokenizer = self.app.tokenizer()
        except TuneDeckError as e:
            self.post_message(Prepared(None, None, None, str(e)))
            return
        except Exception as e:
            self.post_message(Prepared(None, None, None, f"{type(e).__name__}: {e}"))
            return
        self.post_message(Prepared(ds, info, tokenizer))

    def on_prepared(self, msg: Prepared) -> None:
        if msg.error:
            self.query_one("#tpl-head", Static).update(Text(f"⚠ {msg.error}", style="bold red"))
            self.query_one("#tpl-sample", Static).update("")
            return
        self.ds, self.info, self.tokenizer = msg.ds, msg.info, msg.tokenizer
        self.index = min(self.index, len(self.ds) - 1)
        self._refresh_sample()
        self._refresh_stats()

    # -- the sample -----------------------------------------------------------------------------
    def _refresh_sample(self) -> None:
        if self.ds is None:
            return
        if not self._validate():
            return
        self._encode(self.index)

    @work(thread=True, exclusive=True, group="tpl-encode", exit_on_error=False)
    def _encode(self, index: int) -> None:
        from engine.tokenize import encode_row

        try:
            sample = encode_row(self.ds[index], self.info, self.app.state.config.data, self.tokenizer)
            self.post_message(SampleReady(index, sample, None))
        except TuneDeckError as e:
            self.post_message(SampleReady(index, None, str(e)))

    def on_sample_ready(self, msg: SampleReady) -> None:
        head = self.query_one("#tpl-head", Static)
        body = self.query_one("#tpl-sample", Static)
        cfg = self.app.state.config.data
        if msg.error:
            head.update(Text(f"Row {msg.index + 1}/{len(self.ds)}  ⚠ {msg.error}", style="bold red"))
            body.update("")
            return
        s = self.sample = msg.sample
        from engine.templates import resolve_template

        prompt_tokens = sum(1 for lab in s.labels if lab == -100)
        t = Text()
        t.append(f"Row {msg.index + 1}/{len(self.ds)}", style="bold")
        t.append(f"  {resolve_template(cfg.template, self.info.format)} · {self.info.format}  ")
        t.append(f"prompt {prompt_tokens}", style="dim")
        t.append(" · ")
        t.append(f"trained {s.num_trained}", style="bold green")
        t.append(f" · total {len(s.input_ids)}/{cfg.max_length}")
        if s.truncated:
            t.append(f"  ✂ truncated ({s.full_length} tokens)", style="bold red")
        if s.empty_completion:
            t.append("  ⚠ empty answer: dropped", style="bold yellow")
        elif s.num_trained == 0:
            t.append("  ⚠ no trained tokens: dropped", style="bold yellow")
        head.update(t)
        body.update(token_text(s, self.tokenizer) if self.show_tokens else sample_text(s, self.tokenizer))

    def _refresh_stats(self) -> None:
        if self.ds is not None and self._validate(quiet=True):
            self.query_one("#tpl-stats", Static).update(Text("checking all samples …", style="italic dim"))
            self._stats()

    @work(thread=True, exclusive=True, group="tpl-stats", exit_on_error=False)
    def _stats(self) -> None:
        from textual.worker import get_current_worker

        from engine.tokenize import encode_row

        cfg = self.app.state.config.data
        key = (cfg.template, cfg.max_length, cfg.train_on_prompt)
        worker = get_current_worker()
        n = min(len(self.ds), STATS_ROWS)
        truncated = untrained = errors = 0
        for i in range(n):
            if worker.is_cancelled:
                return
            try:
                s = encode_row(self.ds[i], self.info, cfg, self.tokenizer)
            except TuneDeckError:
                errors += 1
                continue
            truncated += s.truncated
            untrained += not s.trainable
        self.post_message(StatsReady(key, n, len(self.ds), truncated, untrained, errors))

    def on_stats_ready(self, msg: StatsReady) -> None:
        approx = "" if msg.checked == msg.total else f" (first {msg.checked:,} of {msg.total:,})"
        t = Text(f"Dataset{approx}: ")
        t.append(f"{msg.truncated} of {msg.checked} truncated", style="red" if msg.truncated else "green")
        t.append(", ")
        t.append(f"{msg.untrained} with nothing to train", style="yellow" if msg.untrained else "green")
        if msg.errors:
            t.append(f", {msg.errors} cannot be formatted", style="bold red")
        self.query_one("#tpl-stats", Static).update(t)

    # -- controls -------------------------------------------------------------------------------
    def _validate(self, quiet: bool = False) -> bool:
        from engine.templates import resolve_template, validate_template

        label = self.query_one("#tpl-valid", Static)
        cfg = self.app.state.config.data
        if self.info is None:
            return False
        try:
            validate_template(resolve_template(cfg.template, self.info.format), self.info.columns, self.info.format)
        except TuneDeckError as e:
            label.update(Text(f"⚠ {e}", style="bold red"))
            self.app.state.invalid["data.template"] = str(e)
            return False
        label.update("")
        self.app.state.invalid.pop("data.template", None)
        return True

    @on(Select.Changed, "#tpl")
    def _template_changed(self, event: Select.Changed) -> None:
        area = self.query_one("#tpl-custom", TextArea)
        if event.value == "custom":
            area.remove_class("hidden")
            self.app.state.config.data.template = area.text
        else:
            area.add_class("hidden")
            self.app.state.config.data.template = str(event.value)
        self.app.state.dirty = True
        self._changed()

    @on(TextArea.Changed, "#tpl-custom")
    def _custom_changed(self) -> None:
        if self.query_one("#tpl", Select).value == "custom":
            self.app.state.config.data.template = self.query_one("#tpl-custom", TextArea).text
            self._changed()

    @on(Input.Changed, "#tpl-maxlen")
    def _maxlen_changed(self, event: Input.Changed) -> None:
        try:
            value = int(event.value)
            assert value > 0
        except (ValueError, AssertionError):
            self.query_one("#tpl-valid", Static).update(Text("⚠ data.max_length: must be a whole number > 0", style="bold red"))
            return
        self.app.state.config.data.max_length = value
        self._changed()

    @on(Switch.Changed, "#tpl-top")
    def _top_changed(self, event: Switch.Changed) -> None:
        self.app.state.config.data.train_on_prompt = event.value
        self._changed()

    def _changed(self) -> None:
        self._refresh_sample()
        self._refresh_stats()

    def action_step(self, delta: int) -> None:
        if self.ds is not None:
            self.index = (self.index + delta) % len(self.ds)
            self._refresh_sample()

    def action_random(self) -> None:
        if self.ds is not None:
            self.index = random.randrange(len(self.ds))
            self._refresh_sample()

    def action_goto(self) -> None:
        self.query_one("#tpl-goto-bar").remove_class("hidden")
        self.query_one("#tpl-goto", Input).focus()

    @on(Input.Submitted, "#tpl-goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#tpl-goto-bar").add_class("hidden")
        if self.ds is not None and event.value.strip():
            self.index = max(0, min(int(event.value) - 1, len(self.ds) - 1))
            self._refresh_sample()
        self.query_one("#tpl-view").focus()

    def action_leave_field(self) -> None:
        self.query_one("#tpl-goto-bar").add_class("hidden")
        self.query_one("#tpl-view").focus()

    def action_toggle_tokens(self) -> None:
        self.show_tokens = not self.show_tokens
        if self.sample is not None and self.tokenizer is not None:
            body = self.query_one("#tpl-sample", Static)
            body.update(token_text(self.sample, self.tokenizer) if self.show_tokens else sample_text(self.sample, self.tokenizer))
