"""The Template screen of a classification run: each row exactly as the trainer sees it.

It calls the classification task's ``preview`` (engine.tasks.cls_train.preview, the same tokenizer call
with truncation at ``cls.max_length`` as the trainer's :func:`encode_rows`) and only draws it: the row's
label with its name and id, the text (or text pair) as the model sees it after truncation, how many tokens
were cut, and with ``v`` the tokens themselves. Below, a bar per class over the whole data set, the rows cut
at ``cls.max_length`` (a worker encodes the set as training does) and the engine's warnings (strong
imbalance, a class too small for validation).

It is the extractive-QA Template screen (tui/widgets/qa_preview.py: loading, keys, workers) with its own
drawing. Keys: n/→ next row, p/← previous, r random, v token view. The app shows this screen in the
"template" mode when ``task: classification`` (tui/qa_modes.py).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.widgets import Static

from .cls_view import class_bars
from .qa_preview import QaStatsReady, QaTemplateScreen, QaWindows, worker_error

LABEL = "bold black on green"


def cls_settings_key(cfg) -> tuple:
    return (str(cfg.data.path), cfg.data.split, cfg.data.limit, tuple(sorted(cfg.data.columns.items())),
            cfg.data.val_split, cfg.model.name, cfg.cls.max_length)


def label_words(label, labels) -> Text:
    """``bug (id 0)``, or for multi-label ``bug (0), ui (3)``."""
    t = Text()
    if labels.multi:
        hot = labels.encode(label, "preview", 0)
        t.append(", ".join(f"{n} ({i})" for i, (n, v) in enumerate(zip(labels.names, hot, strict=True)) if v) or "(none)",
                 style=LABEL)
        return t
    i = labels.encode(label, "preview", 0)
    t.append(f" {labels.names[i]} ", style=LABEL)
    t.append(f" id {i}", style="bold")
    return t


def token_line(tokens: list[str], special: set[str]) -> Text:
    t = Text()
    for i, tok in enumerate(tokens):
        t.append(" " if i else "")
        t.append(tok, style="bold cyan" if tok in special else "")
    return t


class ClsTemplateScreen(QaTemplateScreen):
    """The preview of a classification run's rows: text as tokenised and truncated, label name and id."""

    def __init__(self) -> None:
        super().__init__()
        self.task_kind = "classification"  # tui/qa_modes.py rebuilds the mode when the task changes

    def settings_key(self, cfg) -> tuple:
        return cls_settings_key(cfg)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return False if action == "window" else True  # one view per row: no windows

    TASK = "classification"

    def load_tokenizer(self, model_cfg):
        from engine.tasks.cls_model import load_cls_tokenizer

        return load_cls_tokenizer(model_cfg)

    @work(thread=True, exclusive=True, group="qat-encode", exit_on_error=False)
    def _encode(self, key, index: int) -> None:
        from engine.tasks import get_task

        try:  # the task's preview: the trainer's own tokenizer call, truncation included
            view = get_task("classification").preview(self.rows[index], self.tokenizer, self.app.state.config)
        except BaseException as e:
            if worker_error(e) is None:
                raise
            self.post_message(QaWindows(key, index, None, worker_error(e)))
            return
        self.post_message(QaWindows(key, index, [view]))

    @work(thread=True, exclusive=True, group="qat-stats", exit_on_error=False)
    def _count(self, key) -> None:
        from engine.tasks.cls_model import load_cls_tokenizer
        from engine.tasks.cls_train import encode_rows

        cfg = self.app.state.config
        try:
            # Its own tokenizer: a fast tokenizer used from two threads at once panics ("Already borrowed").
            tokenizer = load_cls_tokenizer(cfg.model)
            truncated = encode_rows(self.rows, tokenizer, cfg, self.info.labels)[1]
            warnings = self.info.warnings(cfg.data.val_split if not cfg.data.val_path else 0.0)
        except BaseException as e:
            if worker_error(e) is None:
                raise
            self.post_message(QaStatsReady(key, None, worker_error(e)))
            return
        self.post_message(QaStatsReady(key, (truncated, warnings)))

    # Textual calls a handler of every class in the MRO: each override below stops the QA screen's own.
    def on_qa_stats_ready(self, msg: QaStatsReady) -> None:
        msg.prevent_default()
        if msg.key != self._loaded_for:
            return
        out = self.query_one("#qat-stats", Static)
        if msg.error:
            out.update(Text(f"⚠ {msg.error}", style="bold red"))
            return
        self.stats = (truncated, warnings) = msg.stats
        info, cfg = self.info, self.app.state.config
        t = Text(no_wrap=True, overflow="ellipsis")
        kind = "multi-label" if info.labels.multi else f"{len(info.labels.names)} classes"
        t.append(f"{info.rows:,} rows · {kind} · label <- {info.label_column} · ")
        t.append(f"{truncated:,} cut at cls.max_length {cfg.cls.max_length}", style="bold red" if truncated else "green")
        for w in warnings:
            t.append(f"\n⚠ {w}", style="yellow")
        width = max(10, (self.size.width or 80) - max(len(n) for n in info.counts) - 25)
        t.append("\n")
        t.append_text(class_bars(info.counts, width, None if info.labels.multi else info.labels.label2id))
        out.update(t)

    def on_qa_windows(self, msg: QaWindows) -> None:
        msg.prevent_default()
        if msg.key != self._loaded_for or msg.index != self.index or self.rows is None:
            return
        if msg.error:
            self.windows = None
            self.query_one("#qat-head", Static).update(
                Text(f"Row {msg.index + 1:,}/{len(self.rows):,}  ⚠ {msg.error}", style="bold red"))
            return
        self.windows, self.window = msg.windows, 0
        self._draw()

    def _draw(self) -> None:
        if not self.windows or self.rows is None:
            return
        row, view = self.rows[self.index], self.windows[0]
        cfg = self.app.state.config
        head = Text()
        head.append(f"Row {self.index + 1:,}/{len(self.rows):,}", style="bold")
        head.append(" · label ", style="dim")
        head.append_text(label_words(view["label"], self.info.labels))
        head.append(f" · {view['num_tokens']} tokens", style="dim")
        if view["truncated"]:
            head.append(f" · cut at cls.max_length {cfg.cls.max_length}: {view['lost_tokens']} tokens lost",
                        style="bold red")
        else:
            head.append(f" (cls.max_length {cfg.cls.max_length})", style="dim")
        self.query_one("#qat-head", Static).update(head)
        body = Text()
        if self.show_tokens:
            body.append("tokens, as the model sees them:\n", style="dim")
            body.append_text(token_line(view["tokens"], set(getattr(self.tokenizer, "all_special_tokens", []))))
        else:
            body.append("text" + (" pair" if row.get("text_pair") is not None else "") + " as the model sees it:\n",
                        style="dim")
            body.append(view["text"])
            if view["truncated"]:
                body.append(" ✂", style="bold red")
        self.query_one("#qat-body", Static).update(body)
        cap = Text(no_wrap=True, overflow="ellipsis")
        cap.append("v: " + ("text" if self.show_tokens else "tokens") + " · n/p: next/previous row", style="dim")
        self.query_one("#qat-window", Static).update(cap)
