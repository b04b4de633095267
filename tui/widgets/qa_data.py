"""What the Data screen adds for extractive-QA data (tui/screens/data.py places it).

When the file reads as QA data (SQuAD nested JSON, or question/context/answers columns), a worker reads
it the way an extractive-QA run does (engine.tasks.qa_data: every ``answer_start`` checked) and the info
line names the task: ``task extractive_qa · 247 questions: 189 answerable, 58 unanswerable`` (or, on a
causal-LM config, that extractive_qa fits and where to pick it). With ``task: extractive_qa`` the row
detail shows the question, its gold answers and the context with the answer highlighted. Data that is not
QA data is probed as classification data (tui/widgets/cls_data.py: its task line and row detail).
"""

from __future__ import annotations

from rich.text import Text

from . import cls_data
from .qa_preview import GOLD, context_text


def start_probe(screen) -> None:
    """Read the screen's data file as QA data in a thread; set ``screen.qa_probe`` and redraw the info line."""
    path = str(screen.app.state.config.data.path)
    screen.qa_probe = screen.cls_probe = None
    screen.qa_probed = False  # set when the probe is done (QA data or not)

    def probe() -> None:
        from engine.tasks.qa_data import load_examples, sniff

        cls_info = None
        try:
            info = sniff(path)
            result = (load_examples(path)[0], info, None) if info is not None else None
        except Exception as e:  # QA-shaped data with a bad offset: the one line names the question
            from ..notify import error_line

            result = ([], None, error_line(e))
        if result is None:  # not QA data: classification data? (tui/widgets/cls_data.py)
            try:
                cls_info = cls_data.probe(path, screen.app.state.config.data.delimiter)
            except Exception:
                cls_info = None  # the Data screen's own reading says what is wrong with the file
        screen.app.call_from_thread(_done, screen, path, result, cls_info)

    screen.run_worker(probe, thread=True, exclusive=True, group="qa-probe", exit_on_error=False)


def _done(screen, path: str, result, cls_info=None) -> None:
    if str(screen.app.state.config.data.path) != path or not screen.is_mounted:
        return
    screen.qa_probe, screen.cls_probe = result, cls_info
    screen.qa_probed = True
    if result is not None:
        screen.qa_rows = {r["id"]: r for r in result[0]}
    screen._update_info()
    if getattr(screen, "page_rows", None):
        screen._show_detail(max(0, screen._current_index() - screen.row_offset))


def info_text(screen) -> tuple[Text, bool]:
    """The info line's task part, and whether it stands for the format part (the config's task is
    extractive QA and the data reads as such). Empty for data that is not QA data."""
    probe = getattr(screen, "qa_probe", None)
    if probe is None:
        return cls_data.info_text(screen) or (Text(), False)
    rows, info, error = probe
    qa = screen.app.state.config.task == "extractive_qa"
    t = Text()
    if error:
        t.append("task extractive_qa: ", style="bold")
        t.append(f"⚠ {error}", style="bold red")
        t.append("\n")
        return t, False
    if qa:
        t.append("task extractive_qa", style="bold green")
        t.append(f" · {info.answerable:,} answerable, {info.unanswerable:,} unanswerable · ", style="")
        return t, True
    t.append("extractive_qa fits this data (Config: task)", style="bold yellow")
    t.append(f" · {info.questions:,} questions: {info.answerable:,} answerable, {info.unanswerable:,} unanswerable\n",
             style="dim")
    return t, False


def row_detail(screen, row: dict, index: int) -> Text | None:
    """A question in full (QA task only): question, gold answers, the context with the answer marked."""
    if screen.app.state.config.task != "extractive_qa" or getattr(screen, "qa_probe", None) is None:
        return cls_data.row_detail(screen, row, index)
    example = getattr(screen, "qa_rows", {}).get(str(row.get("id")))
    if example is None:
        return None
    t = Text()
    t.append(f"Question {index + 1:,} · id {example['id']}\n", style="bold reverse")
    t.append("question\n", style="bold cyan")
    t.append(example["question"] + "\n\n")
    t.append("answer\n", style="bold green")
    answers = example["answers"]
    if answers["text"]:
        for a, s in zip(answers["text"], answers["answer_start"], strict=False):
            t.append(a, style=GOLD)
            t.append(f"  (at character {s})\n", style="dim")
    else:
        t.append("(unanswerable: trained to point at CLS)\n", style="italic yellow")
    t.append("\ncontext\n", style="bold cyan")
    t.append_text(context_text(example["context"], list(zip(answers["answer_start"], answers["text"], strict=False))))
    return t
