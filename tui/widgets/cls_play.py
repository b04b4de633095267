"""The Playground of a classification run: a text in (a text pair when the run trained on pairs), a bar per
label out for the tuned model next to the base model's (the same base with an untrained head).

The app shows this screen in the "playground" mode when ``task: classification`` (tui/qa_modes.py), and
pushes it for a classification run opened from the Runs screen (``p``). It is the extractive-QA Playground
(tui/widgets/qa_play.py: run picker, rescan, states) with its own inputs and answers. Both models load
once per run in a thread worker (engine.tasks.cls_model.load_trained; torch and transformers load there)
and classify with the run's own settings (cls.max_length, threshold): the same probabilities as
``tunedeck generate RUN --text T`` (and ``--base``).

Keys: Ctrl+S (or Enter in the pair field) classifies, Ctrl+R looks for new runs, Esc back when pushed.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Label, Select, Static, TextArea

from .cls_view import prob_bars
from .nav import NavTabs
from .qa_play import QaPlayScreen

EXAMPLE_TEXT = "the app freezes when I press start on the train screen"
TITLES = {"tuned": "tuned", "base": "base (untrained head)"}
STYLE = {"tuned": "green", "base": "yellow"}


class ClsPairs(Message):
    """Whether a run trained on text pairs (and the pair column's name)."""

    def __init__(self, run: str, pair_column: str | None) -> None:
        super().__init__()
        self.run, self.pair_column = run, pair_column


class ClsPlayScreen(QaPlayScreen):
    BINDINGS = [Binding("ctrl+s", "ask", "Classify", priority=True)]
    READY = "Ctrl+S: classify with both models"
    NO_RUNS = "no classification run to classify with yet: train one (4 Train)"
    NO_RUNS_PROMPT = "no classification runs yet"

    def __init__(self, run_dir: str | Path | None = None) -> None:
        super().__init__(run_dir)
        self.task_kind = "classification"  # tui/qa_modes.py rebuilds the mode when the task changes
        self.pair_column: str | None = None  # the run's second text column, when it trained on pairs

    @staticmethod
    def is_run(path) -> bool:
        from engine.tasks.cls_infer import is_cls_run

        return is_cls_run(path)

    def compose(self) -> ComposeResult:
        yield NavTabs("playground")
        with Horizontal(id="qap-bar"):
            yield Label("Run", classes="qap-label")
            yield Select([], id="qap-run", prompt=self.NO_RUNS_PROMPT, compact=True)
            yield Label("", id="qap-state")
        yield TextArea(EXAMPLE_TEXT, id="clsp-text", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        yield Input("", id="clsp-pair", placeholder="the second text of the pair", compact=True)
        with Horizontal(id="qap-answers"):
            for kind in ("tuned", "base"):
                with Vertical(classes="qap-pane", id=f"qap-pane-{kind}"):
                    yield Label(TITLES[kind], classes="qap-title")
                    with VerticalScroll():
                        yield Static("", id=f"qap-{kind}")
        yield Footer()

    def mount_inputs(self) -> None:
        self.query_one("#clsp-text", TextArea).border_title = "text (Ctrl+S classifies)"
        self.query_one("#clsp-pair").display = False
        self.query_one("#clsp-text", TextArea).focus()

    # -- the run's inputs: a text, or a text pair ---------------------------------------------------
    # Textual calls a handler of every class in the MRO: each override below stops the QA screen's own.
    def on_qa_runs_listed(self, msg) -> None:
        msg.prevent_default()
        super().on_qa_runs_listed(msg)
        if self.run_dir and msg.runs:
            self._pairs(self.run_dir)

    @on(Select.Changed, "#qap-run")
    def _cls_run_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._pairs(event.value)

    @work(thread=True, exclusive=True, group="clsp-pairs", exit_on_error=False)
    def _pairs(self, run: str) -> None:
        from engine.tasks.cls_data import read_rows
        from engine.tasks.cls_infer import run_config

        try:
            d = run_config(run).data
            _, (_, pair, _), _, _ = read_rows(d.path, split=d.split, limit=1, columns_map=d.columns, delimiter=d.delimiter)
        except Exception:
            pair = None  # the data moved: classify single texts
        self.post_message(ClsPairs(run, pair))

    def on_cls_pairs(self, msg: ClsPairs) -> None:
        if msg.run != self.run_dir:
            return
        self.pair_column = msg.pair_column
        pair = self.query_one("#clsp-pair", Input)
        pair.display = msg.pair_column is not None
        pair.placeholder = f"{msg.pair_column}: the second text of the pair" if msg.pair_column else ""

    # -- classifying: the QA Playground's asking with a text (pair) in and label probabilities out ---------
    NO_RUN = "no classification run: train one first (4 Train)"
    BUSY = "classifying"
    AGAIN = "Ctrl+S: classify again"

    def inputs(self) -> tuple[tuple, str | None]:
        text = self.query_one("#clsp-text", TextArea).text.strip()
        pair = self.query_one("#clsp-pair", Input).value.strip() if self.pair_column else None
        if not text or (self.pair_column and not pair):
            return (text, pair), "give a text" + (f" and its {self.pair_column}" if self.pair_column else "")
        return (text, pair), None

    @on(Input.Submitted, "#clsp-pair")
    def _pair_submitted(self) -> None:
        self.action_ask()

    def load(self, run: Path, kind: str, on_message) -> tuple:
        from engine.tasks.cls_infer import run_config
        from engine.tasks.cls_model import load_trained

        cfg = run_config(run)
        model, tok, labels = load_trained(run, cfg, base=kind == "base", on_message=on_message)
        return model, tok, cfg, labels

    def predict(self, loaded: tuple, key):
        from engine.tasks.cls_infer import predict_probs

        model, tok, cfg, labels = loaded
        _, text, pair = key
        probs = predict_probs(model, tok, [{"text": text, "text_pair": pair}], cfg, labels.multi)[0]
        return dict(zip(labels.names, (float(p) for p in probs), strict=True))

    def shown(self, out: Static, msg):
        width = max(8, (out.size.width or 30) - max(len(n) for n in msg.prediction) - 9)
        return prob_bars(msg.prediction, width, style=STYLE[msg.kind])

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1 and self.app.screen_stack[0] is not self:
            self.app.pop_screen()
        else:
            self.query_one("#clsp-text", TextArea).focus()
