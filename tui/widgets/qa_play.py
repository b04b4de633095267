"""The Playground of an extractive-QA run: a context and a question in, the tuned model's answer highlighted
in the context next to the base model's (the untrained head), each with its score.

The app shows this screen in the "playground" mode when ``task: extractive_qa`` (tui/qa_modes.py), and
pushes it for a QA run opened from the Runs screen (``p``)::

    screen.open_run("runs/20261201-120000-qa")

Both models load once per run in a thread worker (engine.tasks.qa_model.load_trained; torch and
transformers load there) and answer with the run's own QA settings (windows, n_best, null threshold):
the same decoding as ``tunedeck generate RUN --question Q --context C`` (and ``--base``).

Keys: Enter in the question (or Ctrl+S) asks, Ctrl+R looks for new runs, Esc back when pushed.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Select, Static, TextArea

from ..notify import error_line, one_line
from .nav import NavTabs

EXAMPLE_CONTEXT = ("On the Train screen, press s to start training. Press x to stop training and save a checkpoint. "
                   "The Runs screen lists every run; press Enter on one to see its charts.")
EXAMPLE_QUESTION = "Which key starts training on the Train screen?"
ANSWER = {"tuned": "bold black on green", "base": "bold black on yellow"}
TITLES = {"tuned": "tuned", "base": "base (untrained head)"}


class QaRunsListed(Message):
    def __init__(self, runs: list[str], error: str = "") -> None:
        super().__init__()
        self.runs, self.error = runs, error


class QaAnswered(Message):
    def __init__(self, key, kind: str, prediction=None, error: str | None = None) -> None:
        super().__init__()
        self.key, self.kind, self.prediction, self.error = key, kind, prediction, error


class QaPlayProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def answer_text(kind: str, context: str, prediction) -> Text:
    """``answer · score`` and the context with the answer highlighted (no answer: said so)."""
    t = Text()
    if prediction is None:
        return t
    if prediction.text:
        t.append(prediction.text, style=ANSWER[kind])
    else:
        t.append("(no answer: the null score wins)", style="italic")
    t.append(f"  score {prediction.score:.2f}\n", style="dim")
    body = Text(context)
    if prediction.text and prediction.start_char is not None and prediction.start_char >= 0:
        body.stylize(ANSWER[kind], prediction.start_char, prediction.start_char + len(prediction.text))
    t.append_text(body)
    return t


class QaPlayScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "ask", "Ask", priority=True),
        Binding("ctrl+r", "rescan", "Runs", tooltip="Look for new runs"),
        Binding("escape", "back", "Back"),
    ]

    NO_RUNS_PROMPT = "no QA runs yet"

    def __init__(self, run_dir: str | Path | None = None) -> None:
        super().__init__()
        self.task_kind = "extractive_qa"  # tui/qa_modes.py rebuilds the mode when the task changes
        self.run_dir: str | None = str(run_dir) if run_dir else None
        self.runs: list[str] = []
        self.answers: dict[str, object] = {}  # kind -> qa_postprocess.Prediction of the last question
        self.asking = False
        self._models: dict[tuple[str, str], tuple] = {}  # (run, kind) -> what load() gave; worker thread only
        self._key = None

    def compose(self) -> ComposeResult:
        yield NavTabs("playground")
        with Horizontal(id="qap-bar"):
            yield Label("Run", classes="qap-label")
            yield Select([], id="qap-run", prompt=self.NO_RUNS_PROMPT, compact=True)
            yield Label("", id="qap-state")
        yield Input(EXAMPLE_QUESTION, id="qap-question", placeholder="a question about the context, Enter to ask",
                    compact=True)
        yield TextArea(EXAMPLE_CONTEXT, id="qap-context", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        with Horizontal(id="qap-answers"):
            for kind in ("tuned", "base"):
                with Vertical(classes="qap-pane", id=f"qap-pane-{kind}"):
                    yield Label(TITLES[kind], classes="qap-title")
                    with VerticalScroll():
                        yield Static("", id=f"qap-{kind}")
        yield Footer()

    def on_mount(self) -> None:
        self.action_rescan()
        self.mount_inputs()

    def mount_inputs(self) -> None:
        """Title the inputs and focus the first (a subclass has its own inputs)."""
        self.query_one("#qap-context", TextArea).border_title = "context"
        self.query_one("#qap-question", Input).focus()

    def open_run(self, run_dir: str | Path, checkpoint: str | None = None) -> None:
        self.run_dir = str(run_dir)
        self.action_rescan()

    # -- runs -------------------------------------------------------------------------------------
    def action_rescan(self) -> None:
        self._scan(str(self.app.state.config.output.runs_dir), self.run_dir)

    READY = "Enter or Ctrl+S: ask both models"
    NO_RUNS = "no extractive-QA run to answer with yet: train one (4 Train)"

    @staticmethod
    def is_run(path) -> bool:
        """Whether a run folder is one this playground answers with (a subclass picks its task's runs)."""
        from engine.tasks.qa_infer import is_qa_run

        return is_qa_run(path)

    @work(thread=True, exclusive=True, group="qap-scan", exit_on_error=False)
    def _scan(self, runs_dir: str, extra: str | None) -> None:
        from engine import rundir
        from engine.runs import list_summaries

        is_qa_run = self.is_run
        try:
            found = [str(s.path) for s in list_summaries(runs_dir) if is_qa_run(s.path)
                     and s.status != "running" and ((Path(s.path) / "model").is_dir() or s.has_adapter or s.checkpoints)]
        except Exception as e:
            self.post_message(QaRunsListed([], one_line(str(e))))
            return
        if extra and Path(extra).is_dir() and not any(Path(p).resolve() == Path(extra).resolve() for p in found):
            if is_qa_run(extra) and (rundir.last_checkpoint(extra) is not None or (Path(extra) / "model").is_dir()):
                found.insert(0, extra)
        self.post_message(QaRunsListed(found))

    def on_qa_runs_listed(self, msg: QaRunsListed) -> None:
        self.runs = msg.runs
        sel = self.query_one("#qap-run", Select)
        with self.prevent(Select.Changed):
            sel.set_options([(Path(p).name, p) for p in msg.runs])
            want = next((p for p in msg.runs if self.run_dir and Path(p).resolve() == Path(self.run_dir).resolve()),
                        msg.runs[0] if msg.runs else None)
            if want is not None:
                sel.value = want
        self.run_dir = want if msg.runs else self.run_dir
        if msg.error:
            self._state(Text(msg.error, style="bold red"))
        elif not msg.runs:
            self._state(Text(self.NO_RUNS, style="dim"))
        else:
            self._state(Text(self.READY, style="dim"))

    @on(Select.Changed, "#qap-run")
    def _run_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.run_dir = event.value

    def _state(self, text: Text | str) -> None:
        self.query_one("#qap-state", Label).update(text)

    # -- asking -----------------------------------------------------------------------------------
    # A subclass (tui/widgets/cls_play.py) keeps this skeleton and gives its own inputs, model and drawing.
    NO_RUN = "no QA run to answer with: train one first (4 Train)"
    BUSY = "answering"
    AGAIN = "Enter or Ctrl+S: ask again"

    def inputs(self) -> tuple[tuple, str | None]:
        """What the models are asked (the key after the run), or why nothing can be asked yet."""
        question = self.query_one("#qap-question", Input).value.strip()
        context = self.query_one("#qap-context", TextArea).text.strip()
        return (question, context), (None if question and context else "give both a question and a context")

    @on(Input.Submitted, "#qap-question")
    def action_ask(self) -> None:
        if self.asking:
            return
        if not self.run_dir:
            self._state(Text(self.NO_RUN, style="bold red"))
            return
        asked, problem = self.inputs()
        if problem:
            self._state(Text(problem, style="bold red"))
            return
        self.asking = True
        self.answers = {}
        self._key = (self.run_dir, *asked)
        for kind in ("tuned", "base"):
            self.query_one(f"#qap-{kind}", Static).update(Text(f"{self.BUSY} …", style="italic dim"))
        self._state(Text(f"{self.BUSY} with {Path(self.run_dir).name} …", style="bold yellow"))
        self._answer(self._key)

    def load(self, run: Path, kind: str, on_message) -> tuple:
        """The run's tuned model (or its base, ``kind == "base"``) with what ``predict`` needs; worker thread."""
        from engine.tasks.qa_infer import run_config
        from engine.tasks.qa_model import load_trained

        cfg = run_config(run)
        model, tok = load_trained(run, cfg, base=kind == "base", on_message=on_message)
        return model, tok, cfg

    def predict(self, loaded: tuple, key):
        """The answer of one loaded model to ``key``; worker thread."""
        from engine.tasks.qa_features import encode_examples
        from engine.tasks.qa_infer import _decode

        model, tok, cfg = loaded
        _, question, context = key
        example = {"id": "q", "question": question, "context": context, "answers": {"text": [], "answer_start": []}}
        feats = encode_examples([example], tok, cfg.qa)
        return _decode(cfg, [example], feats, model, tok, with_null=True)[0]

    def shown(self, out: Static, msg: "QaAnswered"):
        """How an answer is drawn in its pane."""
        return answer_text(msg.kind, msg.key[2], msg.prediction)

    @work(thread=True, exclusive=True, group="qap-answer", exit_on_error=False)
    def _answer(self, key) -> None:
        run = key[0]
        for kind in ("tuned", "base"):
            try:
                if (run, kind) not in self._models:
                    self._models[(run, kind)] = self.load(Path(run), kind,
                                                          lambda t: self.post_message(QaPlayProgress(t)))
                pred = self.predict(self._models[(run, kind)], key)
            except Exception as e:
                self.post_message(QaAnswered(key, kind, None, error_line(e)))
                continue
            self.post_message(QaAnswered(key, kind, pred))

    def on_qa_play_progress(self, msg: QaPlayProgress) -> None:
        if self.asking:
            self._state(Text(one_line(msg.text), style="yellow"))

    def on_qa_answered(self, msg: QaAnswered) -> None:
        if msg.key != self._key:
            return
        out = self.query_one(f"#qap-{msg.kind}", Static)
        if msg.error:
            out.update(Text(f"⚠ {msg.error}", style="bold red"))
        else:
            self.answers[msg.kind] = msg.prediction
            out.update(self.shown(out, msg))
        if msg.kind == "base":
            self.asking = False
            self._state(Text(self.AGAIN, style="dim"))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1 and self.app.screen_stack[0] is not self:  # pushed over a screen
            self.app.pop_screen()
        else:
            self.query_one("#qap-question", Input).focus()
