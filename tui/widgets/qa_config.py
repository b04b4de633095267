"""The Config screen's task picker and the encoder tasks' settings (tui/screens/config.py places them).

``TaskPicker`` (the form's first line) sets ``task`` through the app's one config writer,
``AppState.set_field``; ``QaFields`` holds the ``qa.*`` settings, shown only for ``task: extractive_qa``,
and ``ClsFields`` the ``cls.*`` ones, shown only for ``task: classification``. :func:`apply_task` hides the
causal-LM-only fields (engine.config.LM_ONLY) of an encoder-task config, or greys them with their error
when they hold a value (such a run refuses them: "applies to causal_lm runs only"), and greys the LoRA
section for a full fine-tune (``qa.method: full``; ``cls.method: full``, or auto on an unquantized base).
The Template and Playground screens follow the task (tui/qa_modes.py).
"""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from engine.config import LM_ONLY, ClsConfig, QaConfig, spec

TASKS = ("causal_lm", "extractive_qa", "classification")
TASK_HELP = {"causal_lm": "fine-tune a causal LM (chat, instructions)",
             "extractive_qa": "fine-tune an encoder to pick answers out of a context (SQuAD)",
             "classification": "sort texts into classes (sentiment, intent, topic): accuracy, F1"}
QA_PATHS = tuple(f"qa.{f.name}" for f in dataclasses.fields(QaConfig))
CLS_PATHS = tuple(f"cls.{f.name}" for f in dataclasses.fields(ClsConfig))


def _wid(path: str) -> str:
    return "qa-f-" + path.replace(".", "--")


def _text(value) -> str:
    return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def task_sets(cfg, base, quote) -> list[str]:
    """The command line's ``--set task=...`` and ``--set qa.KEY=...`` where the form differs from ``base``."""
    out = []
    for path in ("task", *QA_PATHS, *CLS_PATHS):
        new = cfg.get(path)
        if new != base.get(path):
            out.append(f"--set {path}={quote(_text(new))}")
    return out


def _revalidate(widget) -> None:
    """The form's cross-field messages, command line and :func:`apply_task` (once the form is all there)."""
    screen = widget.screen
    revalidate = getattr(screen, "_revalidate", None)
    if callable(revalidate) and screen.query("#cfg-command"):
        revalidate()


class TaskPicker(Horizontal):
    """``task`` as a Select: the config's kind of run."""

    def __init__(self) -> None:
        super().__init__(id="cfg-task", classes="field")
        self.shown_task: str | None = None  # the config's task the picker last showed or set

    def compose(self) -> ComposeResult:
        task = self.app.state.config.task
        self.shown_task = task
        label = Label("task", classes="field-label")
        label.tooltip = spec("task").help
        yield label
        yield Select([(t, t) for t in TASKS], value=task if task in TASKS else "causal_lm", allow_blank=False,
                     compact=True, id="cfg-task-select")
        yield Static(Text(TASK_HELP.get(task, ""), style="dim"), id="cfg-task-help")

    @on(Select.Changed, "#cfg-task-select")
    def _changed(self, event: Select.Changed) -> None:
        event.stop()
        state = self.app.state
        if event.value == state.config.task:
            return
        self.shown_task = str(event.value)
        state.set_field("task", event.value)
        self.query_one("#cfg-task-help", Static).update(Text(TASK_HELP.get(str(event.value), ""), style="dim"))
        _revalidate(self)


class QaFields(Vertical):
    """The ``qa.*`` settings, one line each, checked and stored through AppState.set_field."""

    TASK, PATHS, TITLE = "extractive_qa", QA_PATHS, "Extractive QA (task: extractive_qa)"

    def __init__(self) -> None:
        super().__init__(id="cfg-" + self.PATHS[0].split(".")[0])

    def compose(self) -> ComposeResult:
        cfg = self.app.state.config
        self.display = cfg.task == self.TASK
        yield Static(self.TITLE, classes="section")
        for path in self.PATHS:
            s = spec(path)
            with Horizontal(classes="field"):
                label = Label(path.split(".", 1)[1], classes="field-label")
                label.tooltip = s.help
                yield label
                if s.choices:
                    yield Select([(c, c) for c in s.choices], value=cfg.get(path), allow_blank=False, compact=True,
                                 id=_wid(path), classes="qa-input")
                else:
                    yield Input(_text(cfg.get(path)), id=_wid(path), compact=True, select_on_focus=False,
                                classes="qa-input")
                yield Static("", id=_wid(path) + "-err", classes="field-error")

    @on(Input.Changed, ".qa-input")
    @on(Select.Changed, ".qa-input")
    def _changed(self, event) -> None:
        event.stop()
        path = next(p for p in self.PATHS if _wid(p) == event.control.id)
        state = self.app.state
        current = state.config.get(path)
        if path not in state.invalid and (event.value == current or event.value == _text(current)):
            return  # the form showing the config's value (sync), not an edit
        self.app.state.set_field(path, event.value)
        _revalidate(self)

    def sync(self) -> None:
        """Show the config's values (a load, a preset or another screen may have changed them)."""
        cfg = self.app.state.config
        invalid = self.app.state.invalid
        for path in self.PATHS:
            w = self.query_one("#" + _wid(path))
            if path in invalid or w.has_focus:
                continue  # keep what the user is typing, with its message
            value = cfg.get(path)
            if isinstance(w, Select):
                if w.value != value:
                    w.value = value
            elif w.value != _text(value):
                w.value = _text(value)
        self.show_errors()

    def show_errors(self) -> None:
        invalid = self.app.state.invalid
        for path in self.PATHS:
            msg = invalid.get(path)
            self.query_one("#" + _wid(path) + "-err", Static).update(Text(f"✗ {msg}", style="bold red") if msg else "")


class ClsFields(QaFields):
    """The ``cls.*`` settings (task: classification)."""

    TASK, PATHS, TITLE = "classification", CLS_PATHS, "Text classification (task: classification)"


def full_fine_tune(cfg) -> bool:
    """Whether the config's encoder task trains every weight (so the LoRA section does not apply)."""
    if cfg.task == "extractive_qa":
        return cfg.qa.method == "full"
    if cfg.task == "classification":  # engine.tasks.cls_model.method: auto is LoRA on a quantized base only
        return cfg.cls.method == "full" or (cfg.cls.method == "auto" and cfg.model.quantization == "none")
    return False


def apply_task(screen) -> None:
    """Show the form for the config's task: its settings for an encoder task, the LM-only fields hidden or greyed."""
    cfg = screen.app.state.config
    qa = cfg.task != "causal_lm"  # an encoder task (extractive QA, classification): the LM-only fields do not apply
    sections = list(screen.query(QaFields))
    if not sections:
        return
    for fields_ in sections:
        fields_.display = cfg.task == fields_.TASK
    picker = screen.query_one("#cfg-task-select", Select)
    holder = screen.query_one(TaskPicker)
    # Only a task change from elsewhere (a config loaded) moves the picker: a pick whose Changed message
    # is still queued must not be put back to the config's old task.
    if cfg.task in TASKS and cfg.task != holder.shown_task:
        holder.shown_task = cfg.task
        picker.value = cfg.task
        screen.query_one("#cfg-task-help", Static).update(Text(TASK_HELP.get(cfg.task, ""), style="dim"))
    for fields_ in sections:
        if fields_.display:
            fields_.sync()
    for path in LM_ONLY:
        try:
            row = screen.query_one("#f-" + path.replace(".", "--")).parent
        except Exception:
            continue
        at_default = cfg.get(path) == spec(path).default and path not in screen.app.state.invalid
        row.display = not (qa and at_default)
        row.set_class(qa and not at_default, "-not-for-task")
    lora_greyed = full_fine_tune(cfg)
    for row in screen.query(".field"):
        inner = [c for c in row.children if c.id and c.id.startswith("f-lora--")]
        if inner:
            row.set_class(lora_greyed, "-not-for-task")
    for title in screen.query(".section"):
        if str(title.render()).startswith("LoRA"):
            why = ("qa.method: full fine-tunes" if cfg.task == "extractive_qa" else "cls.method: full fine-tunes"
                   if cfg.cls.method == "full" else "cls.method: auto fully fine-tunes an unquantized base")
            title.update(f"LoRA adapter ({why}: these do not apply)" if lora_greyed else "LoRA adapter")
