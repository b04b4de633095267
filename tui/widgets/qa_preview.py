"""The Template screen of an extractive-QA run: each question exactly as the trainer sees it.

It calls :func:`engine.tasks.qa_features.preview_windows`, the windows and labels the trainer makes
(:func:`encode_examples`), and only draws them: the question, the context with the gold answer
highlighted and the current window's part of it bright (the rest dim), one caption per window
("window 2 of 3: answer here" or "no answer in this window: trained to point at CLS"), and with ``v``
the window's tokens with the labelled start and end tokens marked. A worker counts windows and answers
lost to truncation over the whole set.

Keys: n/→ next question, p/← previous, r random, w next window (W previous), v token view, l token lengths.
The app shows this screen in the "template" mode when ``task: extractive_qa`` (tui/qa_modes.py).
"""

from __future__ import annotations

import random

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..notify import error_line
from .nav import NavTabs
from .task_length_hist import TaskLengthPanel

GOLD = "bold black on green"
START = "bold black on green"
END = "bold black on magenta"
CLS = "bold black on yellow"
_MOVE = Binding.Group("Next/prev")


def worker_error(e: BaseException) -> str | None:
    """The one line to show for what a worker caught, or None to let it through (Ctrl+C, exit).

    The tokenizers library raises pyo3's PanicException (a BaseException) for settings it cannot
    honour, e.g. a question so long that ``qa.doc_stride`` no longer fits in the window."""
    if isinstance(e, Exception):
        return error_line(e)
    if type(e).__name__ == "PanicException":
        first = str(e).splitlines()[0][:160] if str(e) else "tokenizer panic"
        if "stride" in first:
            return f"qa.doc_stride: {first}; raise qa.max_length or lower qa.doc_stride"
        return f"tokenizer: {first}"
    return None


def qa_settings_key(cfg) -> tuple:
    qa = cfg.qa
    return (str(cfg.data.path), cfg.data.split, cfg.data.limit, tuple(sorted(cfg.data.columns.items())),
            cfg.model.name, qa.max_length, qa.doc_stride)


def context_text(context: str, golds: list[tuple[int, str]], window: tuple[int, int] | None = None,
                 predicted: tuple[int, str] | None = None) -> Text:
    """The context with gold answers (green) and a predicted span (reverse magenta; both: underlined green)
    marked; characters outside ``window`` dim."""
    t = Text(context)
    if window is not None and window != (0, 0):
        if window[0] > 0:
            t.stylize("dim", 0, window[0])
        if window[1] < len(context):
            t.stylize("dim", window[1], len(context))
    for start, text in golds:
        if text:
            t.stylize(GOLD, start, start + len(text))
    if predicted is not None and predicted[1] and predicted[0] is not None and predicted[0] >= 0:
        t.stylize("underline bold magenta", predicted[0], predicted[0] + len(predicted[1]))
    return t


def token_text(view, special: set[str]) -> Text:
    """A window's tokens, separated by spaces: specials dim, the start and end tokens marked."""
    t = Text()
    for i, tok in enumerate(view.tokens):
        if i:
            t.append(" ")
        if not view.has_answer and i == view.start:
            t.append(f"{tok}◂start,end", style=CLS)
        elif view.has_answer and i == view.start and i == view.end:
            t.append(f"▸{tok}◂", style=START)
        elif view.has_answer and i == view.start:
            t.append(f"▸{tok}", style=START)
        elif view.has_answer and i == view.end:
            t.append(f"{tok}◂", style=END)
        elif view.has_answer and view.start < i < view.end:
            t.append(tok, style="bold green")
        else:
            t.append(tok, style="dim" if tok in special else "")
    return t


class _Scroll(VerticalScroll, inherit_bindings=False):
    """The body pane: scrolls up/down only, so ←/→ step through questions."""

    BINDINGS = [
        Binding("up", "scroll_up", "Scroll up", show=False),
        Binding("down", "scroll_down", "Scroll down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]


class QaLoaded(Message):
    def __init__(self, key, rows, info, tokenizer, error: str | None = None):
        super().__init__()
        self.key, self.rows, self.info, self.tokenizer, self.error = key, rows, info, tokenizer, error


class QaWindows(Message):
    def __init__(self, key, index: int, windows, error: str | None = None):
        super().__init__()
        self.key, self.index, self.windows, self.error = key, index, windows, error


class QaStatsReady(Message):
    def __init__(self, key, stats, error: str | None = None):
        super().__init__()
        self.key, self.stats, self.error = key, stats, error


class QaTemplateScreen(Screen):
    """The preview of an extractive-QA run's questions, windows and start/end labels."""

    BINDINGS = [
        Binding("n,right", "step(1)", "Next", group=_MOVE),
        Binding("p,left", "step(-1)", "Prev", group=_MOVE),
        Binding("r", "random", "Random"),
        Binding("w", "window(1)", "Window", tooltip="Next window of this question (W: previous)"),
        Binding("W", "window(-1)", "Prev window", show=False),
        Binding("v", "toggle_tokens", "Tokens"),
        Binding("l", "lengths", "Lengths", show=False, tooltip="Token lengths of the whole dataset; m/M: max_length to p95/p99"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.task_kind = "extractive_qa"  # tui/qa_modes.py rebuilds the mode when the task changes
        self.rows: list[dict] | None = None
        self.info = None
        self.tokenizer = None
        self.index = 0
        self.window = 0
        self.windows = None  # the current question's WindowViews
        self.show_tokens = False
        self.stats = None
        self._loaded_for = None

    def compose(self) -> ComposeResult:
        yield NavTabs("template")
        yield Static("", id="qat-head")
        with _Scroll(id="qat-view"):
            yield Static("", id="qat-body")
        yield Static("", id="qat-window")
        yield TaskLengthPanel(id="qat-lengths")
        yield Static("", id="qat-stats")
        yield Footer()

    def on_mount(self) -> None:
        self._prepare()

    def settings_key(self, cfg) -> tuple:
        """What the preview depends on: a change reloads it (a subclass names its task's settings)."""
        return qa_settings_key(cfg)

    def on_screen_resume(self) -> None:
        if self.settings_key(self.app.state.config) != self._loaded_for:
            self._prepare()

    # -- loading ----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        cfg = self.app.state.config
        self._loaded_for = self.settings_key(cfg)
        self.rows = self.windows = self.stats = None
        self.query_one("#qat-head", Static).update(
            Text(f"Loading {cfg.data.path} and the {cfg.model.name} tokenizer …", style="italic"))
        self.query_one("#qat-body", Static).update("")
        self.query_one("#qat-window", Static).update("")
        self.query_one("#qat-stats", Static).update("")
        self._load(self._loaded_for)

    TASK = "extractive_qa"  # whose load_examples reads the rows (a subclass previews another task)

    def load_tokenizer(self, model_cfg):
        """The task's tokenizer, checked as its trainer checks it; worker thread."""
        from engine.tasks.qa_model import load_qa_tokenizer

        return load_qa_tokenizer(model_cfg)

    @work(thread=True, exclusive=True, group="qat-load", exit_on_error=False)
    def _load(self, key) -> None:
        from engine.tasks import get_task

        cfg = self.app.state.config
        try:
            rows, info = get_task(self.TASK).load_examples(cfg)
            tokenizer = self.load_tokenizer(cfg.model)
        except BaseException as e:  # one line on the screen; the app stays up
            if worker_error(e) is None:
                raise
            self.post_message(QaLoaded(key, None, None, None, worker_error(e)))
            return
        self.post_message(QaLoaded(key, rows, info, tokenizer))

    def on_qa_loaded(self, msg: QaLoaded) -> None:
        if msg.key != self._loaded_for:
            return
        if msg.error:
            self.query_one("#qat-head", Static).update(Text(f"⚠ {msg.error}", style="bold red"))
            return
        self.rows, self.info, self.tokenizer = msg.rows, msg.info, msg.tokenizer
        self.index = max(0, min(self.index, len(self.rows) - 1))
        self._refresh()
        self.query_one("#qat-stats", Static).update(Text("counting windows …", style="italic dim"))
        self._count(msg.key)
        self.query_one(TaskLengthPanel).changed(self.rows, self.info, self.tokenizer)

    def _refresh(self) -> None:
        if self.rows is not None:
            self._encode(self._loaded_for, self.index)

    @work(thread=True, exclusive=True, group="qat-encode", exit_on_error=False)
    def _encode(self, key, index: int) -> None:
        from engine.tasks.qa_features import preview_windows

        try:
            windows = preview_windows(self.rows[index], self.tokenizer, self.app.state.config.qa)
        except BaseException as e:
            if worker_error(e) is None:
                raise
            self.post_message(QaWindows(key, index, None, worker_error(e)))
            return
        self.post_message(QaWindows(key, index, windows))

    @work(thread=True, exclusive=True, group="qat-stats", exit_on_error=False)
    def _count(self, key) -> None:
        from engine.tasks.qa_features import encode_examples
        from engine.tasks.qa_model import load_qa_tokenizer

        try:
            # Its own tokenizer: a fast tokenizer used from two threads at once panics ("Already borrowed").
            tokenizer = load_qa_tokenizer(self.app.state.config.model)
            stats = encode_examples(self.rows, tokenizer, self.app.state.config.qa).stats
        except BaseException as e:
            if worker_error(e) is None:
                raise
            self.post_message(QaStatsReady(key, None, worker_error(e)))
            return
        self.post_message(QaStatsReady(key, stats))

    def on_qa_stats_ready(self, msg: QaStatsReady) -> None:
        if msg.key != self._loaded_for:
            return
        out = self.query_one("#qat-stats", Static)
        if msg.error:
            out.update(Text(f"⚠ {msg.error}", style="bold red"))
            return
        self.stats = s = msg.stats
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{s.questions:,} questions ({s.answerable:,} answerable) in {s.windows:,} windows · ")
        t.append(f"{s.lost_to_truncation:,} answers lost to truncation",
                 style="bold red" if s.lost_to_truncation else "green")
        if s.lost_ids:
            t.append(f" ({', '.join(s.lost_ids[:3])}{' …' if len(s.lost_ids) > 3 else ''})", style="red")
        out.update(t)

    def on_qa_windows(self, msg: QaWindows) -> None:
        if msg.key != self._loaded_for or msg.index != self.index or self.rows is None:
            return
        if msg.error:
            self.windows = None
            self.query_one("#qat-head", Static).update(
                Text(f"Question {msg.index + 1:,}/{len(self.rows):,}  ⚠ {msg.error}", style="bold red"))
            return
        self.windows = msg.windows
        # Open on the window holding the answer (the first, for an unanswerable question).
        self.window = next((i for i, w in enumerate(self.windows) if w.has_answer), 0)
        self._draw()

    # -- drawing ----------------------------------------------------------------------------------
    def _draw(self) -> None:
        if not self.windows or self.rows is None:
            return
        row = self.rows[self.index]
        view = self.windows[self.window]
        answers = row["answers"]
        head = Text()
        head.append(f"Question {self.index + 1:,}/{len(self.rows):,}", style="bold")
        head.append(f" · id {row['id']} · ", style="dim")
        if answers["text"]:
            head.append("answer: ")
            head.append(answers["text"][0], style=GOLD)
        else:
            head.append("unanswerable", style="bold yellow")
        head.append(f" · {len(self.windows)} window{'s' if len(self.windows) != 1 else ''}", style="dim")
        head.append("\nQ: ", style="bold")
        head.append(row["question"])
        self.query_one("#qat-head", Static).update(head)
        if self.show_tokens:
            special = set(getattr(self.tokenizer, "all_special_tokens", []))
            body = token_text(view, special)
        else:
            body = context_text(row["context"], list(zip(answers["answer_start"], answers["text"], strict=False)), view.context_span)
        self.query_one("#qat-body", Static).update(body)
        cap = Text(no_wrap=True, overflow="ellipsis")
        cap.append(view.caption(), style="bold green" if view.has_answer else "yellow")
        lo, hi = view.context_span
        cap.append(f" · context chars {lo}..{hi}" + ("" if self.show_tokens else " (the rest dim)"), style="dim")
        if len(self.windows) > 1:
            cap.append(" · w: next window", style="dim")
        self.query_one("#qat-window", Static).update(cap)

    # -- keys -------------------------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        if self.rows:
            self.index = (self.index + delta) % len(self.rows)
            self._refresh()

    def action_random(self) -> None:
        if self.rows and len(self.rows) > 1:
            self.index = random.choice([i for i in random.sample(range(len(self.rows)), 2) if i != self.index])
            self._refresh()

    def action_window(self, delta: int) -> None:
        if self.windows:
            self.window = (self.window + delta) % len(self.windows)
            self._draw()

    def action_lengths(self) -> None:
        self.query_one(TaskLengthPanel).toggle(self.rows, self.info, self.tokenizer)

    def action_toggle_tokens(self) -> None:
        self.show_tokens = not self.show_tokens
        self._draw()

