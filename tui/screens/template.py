"""Template screen: each sample exactly as the trainer will see it.

It calls :func:`engine.tokenize.encode_row`, the very function the trainer
uses, and only draws its result (tui/widgets/sample_view.py): prompt dim,
trained completion bold green, the cut at ``data.max_length`` marked with the
text past it struck through, token counts, and a per-token view of the loss
mask. A worker checks the whole dataset (or its first STATS_ROWS rows, "≈")
for truncated samples and samples with nothing to train.

Keys: n/→ next, p/← previous, r random, g go to row, v token view,
t train on prompt, e edit the template, Esc back to the sample.
"""

from __future__ import annotations

import random

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Label, Select, Static, TextArea

from engine.config import BUILTIN_TEMPLATES
from engine.errors import TuneDeckError

from .. import custom_template
from ..messages import Prepared, SampleReady, StatsReady
from ..text import error_line
from ..widgets.length_hist import LengthPanel
from ..widgets.nav import NavTabs
from ..widgets.sample_view import sample_text, token_counts, token_text
from ..widgets.template_why import why_text

_MOVE = Binding.Group("Next/prev")
STATS_ROWS = 5000  # rows checked for the dataset-wide warnings (more: "≈", first N)
CUSTOM = "custom"
CUSTOM_EXAMPLE = custom_template.FALLBACK


class SampleScroll(VerticalScroll, inherit_bindings=False):
    """The sample pane: scrolls up/down only, so ←/→ step through samples."""

    BINDINGS = [
        Binding("up", "scroll_up", "Scroll up", show=False),
        Binding("down", "scroll_down", "Scroll down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]


class TemplateScreen(Screen):
    CSS_PATH = "template.tcss"
    AUTO_FOCUS = "#tpl-view"
    BINDINGS = [
        Binding("n,right", "step(1)", "Next", group=_MOVE),
        Binding("p,left", "step(-1)", "Prev", group=_MOVE),
        Binding("r", "random", "Random"),
        Binding("g", "goto", "Row", tooltip="Go to row"),
        Binding("v", "toggle_tokens", "Tokens"),
        Binding("t", "toggle_train_on_prompt", "Prompt loss", tooltip="Train on prompt: also compute loss on the prompt"),
        Binding("e", "edit", "Edit", tooltip="Edit a custom template (Esc in the editor cancels)"),
        Binding("l", "lengths", "Lengths", show=False, tooltip="Token lengths of the whole dataset; m/M: max_length to p95/p99"),
        Binding("escape", "leave_field", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ds = None
        self.info = None
        self.tokenizer = None
        self.index = 0
        self.sample = None
        self.sample_index: int | None = None
        self.show_tokens = False
        self._prepared_for = None
        self._stats_timer = None
        self._editing_from: str | None = None  # the template before the custom editor opened (Esc restores it)
        self._starter = CUSTOM_EXAMPLE  # the editor's text when the user has not typed in it

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        cfg = self.app.state.config.data
        custom = cfg.template not in BUILTIN_TEMPLATES
        yield NavTabs("template")
        with Horizontal(id="tpl-bar"):
            yield Label("Template", classes="tpl-label")
            yield Select([(Text(t), t) for t in BUILTIN_TEMPLATES] + [(Text("custom…"), CUSTOM)], id="tpl",
                         value=CUSTOM if custom else cfg.template, allow_blank=False, compact=True)
            yield Label("max_length", classes="tpl-label")
            yield Input(str(cfg.max_length), id="tpl-maxlen", type="integer", compact=True)
            yield Checkbox("train on prompt", cfg.train_on_prompt, id="tpl-top", compact=True)
        yield TextArea(cfg.template if custom else CUSTOM_EXAMPLE, id="tpl-custom", classes="" if custom else "hidden",
                       soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        yield Static("", id="tpl-valid", classes="hidden")
        yield Static("", id="tpl-head")
        with SampleScroll(id="tpl-view"):
            yield Static("", id="tpl-sample")
        yield LengthPanel(id="tpl-lengths")
        yield Static("", id="tpl-stats")
        with Horizontal(id="tpl-goto-bar", classes="hidden"):
            yield Label("Go to row", classes="tpl-label")
            yield Input(id="tpl-goto", type="integer", placeholder="row number, Enter (Esc: cancel)", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self._prepare()

    def _data_key(self):
        cfg = self.app.state.config
        return (str(cfg.data.path), cfg.data.format, tuple(sorted(cfg.data.columns.items())), cfg.data.limit,
                cfg.data.split, cfg.model.name)

    def _preview_key(self):
        cfg = self.app.state.config.data
        return (self._data_key(), cfg.template, cfg.max_length, cfg.train_on_prompt, cfg.system_prompt)

    def on_screen_resume(self) -> None:
        self._sync_controls()
        if self._data_key() != self._prepared_for:
            self._prepare()
        else:
            self._changed(stats_delay=0)

    def _sync_controls(self) -> None:
        """Show the shared config's values (another screen may have changed them)."""
        cfg = self.app.state.config.data
        custom = cfg.template not in BUILTIN_TEMPLATES
        sel = self.query_one("#tpl", Select)
        with self.prevent(Select.Changed, Input.Changed, Checkbox.Changed, TextArea.Changed):
            sel.value = CUSTOM if custom else cfg.template
            if custom and self.query_one("#tpl-custom", TextArea).text != cfg.template:
                self.query_one("#tpl-custom", TextArea).text = cfg.template
            self.query_one("#tpl-custom").set_class(not custom, "hidden")
            if self.query_one("#tpl-maxlen", Input).value != str(cfg.max_length):
                self.query_one("#tpl-maxlen", Input).value = str(cfg.max_length)
            self.query_one("#tpl-top", Checkbox).value = cfg.train_on_prompt

    # -- data and tokenizer -----------------------------------------------------------------------
    def _prepare(self) -> None:
        cfg = self.app.state.config
        self._prepared_for = self._data_key()
        self.ds = self.info = None
        self.sample = None
        self.query_one("#tpl-head", Static).update(
            Text(f"Loading {cfg.data.path} and the {cfg.model.name} tokenizer …", style="italic"))
        self.query_one("#tpl-sample", Static).update("")
        self.query_one("#tpl-stats", Static).update("")
        self._load(self._prepared_for)

    @work(thread=True, exclusive=True, group="tpl-load", exit_on_error=False)
    def _load(self, key) -> None:
        from engine.data import load_dataset

        try:
            ds, info = load_dataset(self.app.state.config.data)
            tokenizer_of = getattr(self.app, "tokenizer", None)
            if callable(tokenizer_of):
                tokenizer = tokenizer_of()
            else:
                from engine.model import load_tokenizer

                tokenizer = load_tokenizer(self.app.state.config.model)
        except Exception as e:  # a one-line message; the app stays up
            self.post_message(Prepared(key, None, None, None, error_line(e)))
            return
        self.post_message(Prepared(key, ds, info, tokenizer))

    def on_prepared(self, msg: Prepared) -> None:
        if msg.key != self._prepared_for:
            return
        if msg.error:
            self.query_one("#tpl-head", Static).update(Text(f"⚠ {msg.error}", style="bold red"))
            self.query_one("#tpl-sample", Static).update("")
            return
        self.ds, self.info, self.tokenizer = msg.ds, msg.info, msg.tokenizer
        area = self.query_one("#tpl-custom", TextArea)
        if self._editing_from in BUILTIN_TEMPLATES and area.text == self._starter:  # opened before the data was in
            area.text = self._starter = custom_template.starter(self.info)
        self.index = max(0, min(self.index, len(self.ds) - 1))
        self._changed(stats_delay=0)

    # -- the sample -------------------------------------------------------------------------------
    def _refresh_sample(self) -> None:
        if self.ds is None or not self._validate():
            return
        self._encode(self._preview_key(), self.index)

    @work(thread=True, exclusive=True, group="tpl-encode", exit_on_error=False)
    def _encode(self, key, index: int) -> None:
        from engine.tokenize import encode_row

        try:
            sample = encode_row(self.ds[index], self.info, self.app.state.config.data, self.tokenizer)
        except Exception as e:
            self.post_message(SampleReady(key, index, None, error_line(e)))
            return
        self.post_message(SampleReady(key, index, sample, None))

    def on_sample_ready(self, msg: SampleReady) -> None:
        if msg.key != self._preview_key() or msg.index != self.index or self.ds is None:
            return
        head = self.query_one("#tpl-head", Static)
        if msg.error:
            self.sample = None
            head.update(Text(f"Row {msg.index + 1:,}/{len(self.ds):,}  ⚠ {msg.error}", style="bold red"))
            self.query_one("#tpl-sample", Static).update("")
            return
        self.sample, self.sample_index = msg.sample, msg.index
        head.update(self._head_text(msg.sample, msg.index))
        self._draw_sample()

    def _head_text(self, s, index: int) -> Text:
        from engine.templates import resolve_template

        cfg = self.app.state.config.data
        prompt, trained, total = token_counts(s)
        t = Text()
        t.append(f"Row {index + 1:,}/{len(self.ds):,}", style="bold")
        name = "custom"
        if cfg.template in BUILTIN_TEMPLATES:
            name = resolve_template(cfg.template, self.info.format, self.tokenizer)
        name = s.source or f"{name}{' (auto)' if cfg.template == 'auto' else ''}"  # data.datasets: its dataset, template
        t.append(f" · {name} · ", style="dim")
        t.append(f"prompt {prompt}", style="dim")
        t.append(" + ")
        t.append(f"trained {trained}", style="bold green")
        t.append(f" = {total}/{cfg.max_length} tokens")
        if s.truncated:
            t.append(f"\n✂ truncated: {s.full_length} tokens, {s.full_length - total} cut", style="bold red")
        if s.empty_completion:
            t.append("\n⚠ empty answer: the trainer drops this sample", style="bold yellow")
        elif s.num_trained == 0:
            t.append("\n⚠ no trained tokens: the answer is past max_length, so the trainer drops it",
                     style="bold yellow")
        return t + why_text(cfg, self.info, self.tokenizer)

    def _draw_sample(self) -> None:
        if self.sample is None or self.tokenizer is None:
            return
        s = self.sample
        cfg = self.app.state.config.data
        body = token_text(s, self.tokenizer) if self.show_tokens else sample_text(
            s, self.tokenizer, train_on_prompt=cfg.train_on_prompt)
        self.query_one("#tpl-sample", Static).update(body)

    # -- dataset-wide warnings --------------------------------------------------------------------
    def _schedule_stats(self, delay: float) -> None:
        if self._stats_timer is not None:
            self._stats_timer.stop()
            self._stats_timer = None
        if self.ds is None or not self._validate(quiet=True):
            self.workers.cancel_group(self, "tpl-stats")
            self.query_one("#tpl-stats", Static).update("")
            return
        if delay <= 0:
            self._start_stats()
        else:
            self._stats_timer = self.set_timer(delay, self._start_stats)

    def _start_stats(self) -> None:
        self._stats_timer = None
        if self.ds is None:
            return
        self.query_one("#tpl-stats", Static).update(Text("checking the samples …", style="italic dim"))
        self._stats(self._preview_key())

    @work(thread=True, exclusive=True, group="tpl-stats", exit_on_error=False)
    def _stats(self, key) -> None:
        import time

        from textual.worker import get_current_worker

        from engine.tokenize import encode_row

        cfg = self.app.state.config.data
        worker = get_current_worker()
        ds, info, tok = self.ds, self.info, self.tokenizer
        n = min(len(ds), STATS_ROWS)
        truncated = untrained = errors = 0
        first_error = None
        last = time.monotonic()
        for i in range(n):
            if worker.is_cancelled:
                return
            try:
                s = encode_row(ds[i], info, cfg, tok)
            except Exception as e:
                errors += 1
                first_error = first_error or f"row {i + 1}: {error_line(e)}"
                continue
            truncated += s.truncated
            untrained += not s.trainable
            if time.monotonic() - last > 0.5:
                last = time.monotonic()
                self.post_message(StatsReady(key, i + 1, len(ds), truncated, untrained, errors, first_error, False))
        self.post_message(StatsReady(key, n, len(ds), truncated, untrained, errors, first_error, True))

    def on_stats_ready(self, msg: StatsReady) -> None:
        if msg.key != self._preview_key():
            return
        approx = "" if msg.checked == msg.total and msg.done else "≈ "
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(approx)
        t.append(f"{msg.truncated:,} of {msg.checked:,} samples truncated",
                 style="bold red" if msg.truncated else "green")
        t.append(", ")
        t.append(f"{msg.untrained:,} with no trained tokens", style="bold yellow" if msg.untrained else "green")
        if msg.errors:
            t.append(f", {msg.errors:,} cannot be formatted ({msg.first_error})", style="bold red")
        if msg.checked < msg.total:
            t.append(f" (first {msg.checked:,} of {msg.total:,} rows{'' if msg.done else ' so far'})", style="dim")
        t.append(" · l: token lengths", style="dim")
        self.query_one("#tpl-stats", Static).update(t)

    # -- controls ---------------------------------------------------------------------------------
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
            label.remove_class("hidden")
            self.app.state.judge("data.template", str(e))
            if not quiet:
                self.sample = None
                self.query_one("#tpl-head", Static).update(Text("No preview: fix the template", style="bold red"))
                self.query_one("#tpl-sample", Static).update("")
            return False
        if self.query_one("#tpl", Select).value == CUSTOM:
            from engine.templates import template_fields

            fields = template_fields(cfg.template)
            label.update(Text("✓ fields: " + (", ".join(f"{{{f}}}" for f in fields) or "none")
                              + " · the answer (output) is appended and trained", style="green"))
            label.remove_class("hidden")
        else:
            label.update("")
            label.add_class("hidden")
        self.app.state.judge("data.template", None)
        return True

    @on(Select.Changed, "#tpl")
    def _template_changed(self, event: Select.Changed) -> None:
        area = self.query_one("#tpl-custom", TextArea)
        cfg = self.app.state.config.data
        if event.value == CUSTOM:
            why = custom_template.unfit(self.info)
            if why:  # nothing to edit: say so and keep the template as it was
                self.notify(why, title="No custom template for this data", severity="warning")
                with self.prevent(Select.Changed):
                    event.select.value = cfg.template if cfg.template in BUILTIN_TEMPLATES else CUSTOM
                return
            self._editing_from = cfg.template  # Esc in the editor goes back to it
            if cfg.template in BUILTIN_TEMPLATES and area.text in (CUSTOM_EXAMPLE, self._starter):
                self._starter = custom_template.starter(self.info)  # the data's own column names
                with self.prevent(TextArea.Changed):
                    area.text = self._starter
            area.border_title = f"custom template · Tab: keep · Esc: cancel (back to {custom_template.name_of(self._editing_from)})"
            area.remove_class("hidden")
            self.app.state.set_field("data.template", area.text)
            area.focus()
        else:
            self._editing_from = None
            area.add_class("hidden")
            self.app.state.set_field("data.template", str(event.value))
        self._changed()

    @on(TextArea.Changed, "#tpl-custom")
    def _custom_changed(self) -> None:
        if self.query_one("#tpl", Select).value == CUSTOM:
            self.app.state.set_field("data.template", self.query_one("#tpl-custom", TextArea).text)
            self._changed(stats_delay=0.8)

    @on(Input.Changed, "#tpl-maxlen")
    def _maxlen_changed(self, event: Input.Changed) -> None:
        """Through the one writer: the field's own rule, then the rules between fields (max_tokens_per_batch)."""
        label = self.query_one("#tpl-valid", Static)
        state = self.app.state
        problem = state.set_field("data.max_length", event.value)
        if "data.max_length" in state.field_errors:  # not stored: the config keeps its last good value
            label.update(Text(f"⚠ data.max_length: {state.invalid['data.max_length']}", style="bold red"))
            label.remove_class("hidden")
            return
        self._changed(stats_delay=0.8)
        if problem:  # stored, but it breaks a rule between fields: say which
            label.update(Text(f"⚠ {problem}", style="bold red"))
            label.remove_class("hidden")

    @on(Checkbox.Changed, "#tpl-top")
    def _top_changed(self, event: Checkbox.Changed) -> None:
        self.app.state.set_field("data.train_on_prompt", event.value)
        self._changed()

    def _changed(self, stats_delay: float = 0.3) -> None:
        self._refresh_sample()
        self.query_one(LengthPanel).changed(self.ds, self.info, self.tokenizer)
        self._schedule_stats(stats_delay)

    def action_step(self, delta: int) -> None:
        if self.ds is not None:
            self.index = (self.index + delta) % len(self.ds)
            self._refresh_sample()

    def action_random(self) -> None:
        if self.ds is not None and len(self.ds) > 1:
            self.index = random.choice([i for i in random.sample(range(len(self.ds)), 2) if i != self.index])
            self._refresh_sample()

    def action_goto(self) -> None:
        self.query_one("#tpl-goto-bar").remove_class("hidden")
        self.query_one("#tpl-goto", Input).focus()

    @on(Input.Submitted, "#tpl-goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#tpl-goto-bar").add_class("hidden")
        event.input.value = ""
        if self.ds is not None and event.value.strip():
            self.index = max(0, min(int(event.value) - 1, len(self.ds) - 1))
            self._refresh_sample()
        self.query_one("#tpl-view").focus()

    def action_lengths(self) -> None:
        self.query_one(LengthPanel).toggle(self.ds, self.info, self.tokenizer)

    def action_toggle_tokens(self) -> None:
        self.show_tokens = not self.show_tokens
        self._draw_sample()

    def action_toggle_train_on_prompt(self) -> None:
        box = self.query_one("#tpl-top", Checkbox)
        box.value = not box.value

    def action_edit(self) -> None:
        sel = self.query_one("#tpl", Select)
        if sel.value != CUSTOM:
            sel.value = CUSTOM
        else:
            self.query_one("#tpl-custom", TextArea).focus()

    def action_leave_field(self) -> None:
        area = self.query_one("#tpl-custom", TextArea)
        if area.has_focus and self._editing_from is not None:
            self.cancel_edit()
        self.query_one("#tpl-goto-bar").add_class("hidden")
        self.query_one("#tpl-view").focus()

    def cancel_edit(self) -> None:
        """Put back the template that was in use before the editor opened (a built-in or the earlier text)."""
        before, self._editing_from = self._editing_from, None
        area = self.query_one("#tpl-custom", TextArea)
        with self.prevent(Select.Changed, TextArea.Changed):
            if before in BUILTIN_TEMPLATES:
                self.query_one("#tpl", Select).value = before
                area.text = self._starter  # the cancelled text is gone
                area.add_class("hidden")
            else:
                area.text = before
        self.app.state.set_field("data.template", before)
        self.app.state.judge("data.template", None)
        self.notify(f"Back to {custom_template.name_of(before)}", title="Template edit cancelled")
        self._changed()

    def on_descendant_blur(self, event) -> None:
        if getattr(event.widget, "id", None) == "tpl-custom":
            self._editing_from = None  # Tab or a click away keeps the edit
