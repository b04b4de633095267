"""Playground screen driven with Pilot on a real run of the tiny Llama: loading, streaming, cancel, raw mode, errors.

One run is trained once for this module (:func:`tuned_run`): 15 steps on two
Q/A pairs, enough for the adapter to answer them word for word while the base
(random weights) babbles, so the two panes show different, real replies.
"""

from __future__ import annotations

import json
import shutil
import time
from functools import partial
from pathlib import Path

import pytest
import tui_helpers
from textual.widgets import Button, Input, Select
from tui_helpers import text

from engine.config import load_config
from tests.test_infer import PAIRS, overfit_config
from tui.app import TuneDeckApp
from tui.screens.playground import PlaygroundScreen, ReplyPane, parse_sampling, printable
from tui.state import AppState

until = partial(tui_helpers.until, timeout=90.0)

ROOT = Path(__file__).resolve().parents[2]
QA = ROOT / "sample_data" / "tunedeck_qa.jsonl"
RUN_NAME = "20250101-000000-tiny"
STEPS = 15


def train_tiny_run(tiny_model_dir: Path, root: Path, name: str = RUN_NAME) -> Path:
    """A finished run of the tiny model that learnt PAIRS (qa template, CPU, checkpoints at 5, 10, 15)."""
    from engine.train import train

    root.mkdir(parents=True, exist_ok=True)
    data = root / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PAIRS * 8), encoding="utf-8")
    cfg = overfit_config(tiny_model_dir, data, root / "runs", **{
        "model.device": "cpu", "training.max_steps": STEPS, "training.learning_rate": 2e-2,
        "training.save_steps": 5, "training.eval_steps": 5})
    run_dir = root / "runs" / name
    result = train(cfg, run_dir=run_dir)
    assert result.status == "finished", result.last_event
    return run_dir


@pytest.fixture(scope="module")
def tuned_run(tiny_model_dir, tmp_path_factory) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("playground"))


@pytest.fixture
def paced(monkeypatch):
    """Real generation, paced to at most ~40 pieces a second per pane.

    The tiny model writes a whole reply faster than one 10 Hz redraw; pacing it
    lets the test see the panes grow. The text is still the model's own. Each
    piece is held until the model has produced the next one (or ended), so the
    last piece and the end of the reply reach the screen back to back: a
    redraw between them (the whole reply shown as still streaming) would
    otherwise depend on the timing of the final forward pass.
    """
    import engine.infer

    real = engine.infer.generate_stream

    def paced_stream(*args, **kwargs):
        held = None
        for piece in real(*args, **kwargs):
            if held is not None:
                yield held
            time.sleep(0.025)
            held = piece
        if held is not None:
            yield held

    monkeypatch.setattr(engine.infer, "generate_stream", paced_stream)


def make_app(runs_dir: Path, start_screen: str = "playground") -> TuneDeckApp:
    cfg = load_config(None, {"data.path": str(QA), "output.runs_dir": str(runs_dir)})
    return TuneDeckApp(AppState(config=cfg), start_screen=start_screen)


def shown(screen: PlaygroundScreen, pane: str) -> str:
    """The reply text a pane shows (without the streaming cursor)."""
    return str(screen.query_one(f"#reply-{pane}").render()).rstrip("▌")


def gen_workers(app) -> list:
    return [w for w in app.workers if w.group == "pg-gen" and not w.is_finished]


async def type_prompt(pilot, screen: PlaygroundScreen, prompt: str) -> None:
    box = screen.query_one("#pg-prompt", Input)
    box.focus()
    box.value = ""
    await pilot.press(*prompt)
    assert box.value == prompt


# -- pure helpers ----------------------------------------------------------------------------------


def test_parse_sampling_accepts_good_values_and_names_bad_ones():
    params, errors = parse_sampling("64", "0.8", "0.95", False)
    assert errors == {} and params == {"greedy": False, "max_new_tokens": 64, "temperature": 0.8, "top_p": 0.95}
    _, errors = parse_sampling("abc", "hot", "1.5", False)
    assert set(errors) == {"pg-max", "pg-temp", "pg-top-p"}
    assert "'abc'" in errors["pg-max"] and "1 to 4096" in errors["pg-max"]
    assert parse_sampling("0", "0.7", "0.9", False)[1].keys() == {"pg-max"}
    assert parse_sampling("10", "nan", "0", False)[1].keys() == {"pg-temp", "pg-top-p"}
    params, errors = parse_sampling("10", "hot", "2", True)  # greedy ignores temperature and top-p
    assert errors == {} and params == {"greedy": True, "max_new_tokens": 10}


def test_control_characters_are_made_visible():
    assert printable("a\x1b[2Jb\tc\nd\x7f") == "a\u241b[2Jb\tc\nd\u2421"


# -- the real model ---------------------------------------------------------------------------------


@pytest.mark.slow
async def test_both_panes_stream_the_real_replies(tuned_run, paced, monkeypatch):
    drawn: dict[str, list[tuple[str, str]]] = {"base": [], "tuned": []}  # every repaint of each pane: (text, subtitle)
    show = ReplyPane.show

    def recording_show(pane, body, subtitle):
        drawn[pane.kind].append((body.plain, subtitle))
        return show(pane, body, subtitle)

    monkeypatch.setattr(ReplyPane, "show", recording_show)
    app = make_app(tuned_run.parent)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, PlaygroundScreen)
        await until(pilot, lambda: screen.gen is not None, what="the newest run to load by itself")
        assert screen.loaded_key == (str(tuned_run), "")
        assert RUN_NAME in text(app, "#pg-status") and "template qa" in text(app, "#pg-status")
        assert screen.query_one("#pg-run", Select).value == str(tuned_run)

        await pilot.press("f9")  # greedy: the tuned pane must give the trained answer word for word
        screen.query_one("#pg-max", Input).value = "40"
        question, answer = PAIRS[0]["question"], PAIRS[0]["answer"]
        await type_prompt(pilot, screen, question)
        assert "### Question:↵" + question + "↵↵### Answer:↵" in text(app, "#pg-sees")
        for states in drawn.values():
            states.clear()
        await pilot.press("enter")
        await until(pilot, lambda: screen.request == 1 and not any(r.active for r in screen.replies.values()),
                    what="generation to end")
        await pilot.pause(0.2)

        for pane, states in drawn.items():
            final = shown(screen, pane)
            growing = [t.rstrip("▌") for t, sub in states if sub.startswith("streaming") and t.rstrip("▌")]
            assert len(set(growing)) >= 2, f"{pane} pane did not grow while streaming: {states}"
            assert all(final.startswith(t) and len(t) < len(final) for t in growing), (final, growing)
            assert states[-1][0] == final and not states[-1][1].startswith("streaming")
        tuned, base = screen.replies["tuned"], screen.replies["base"]
        assert tuned.state == base.state == "done"
        assert tuned.text.strip() == answer and base.text.strip() != answer
        assert tuned.reason in ("eos", "stop_string") and 0 < base.tokens <= 40
        assert answer in shown(screen, "tuned")
        assert screen.sent_prompt == f"### Question:\n{question}\n\n### Answer:\n"
        sub = str(screen.query_one("#pane-tuned").border_subtitle)
        assert "tok" in sub and ("EOS" in sub or "stop" in sub)
        assert not screen.query_one("#pg-send", Button).disabled and screen.query_one("#pg-cancel", Button).disabled


@pytest.mark.slow
async def test_cancel_stops_generation_promptly_and_the_ui_responds(tuned_run, paced):
    app = make_app(tuned_run.parent)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.gen is not None, what="the run to load")
        screen.query_one("#pg-max", Input).value = "4000"
        # Raw and greedy: the tiny base model rambles for 504 tokens on this prompt before its EOS.
        await pilot.press("f8", "f9")
        await type_prompt(pilot, screen, "The quick brown fox")
        await pilot.press("enter")
        await until(pilot, lambda: len(screen.replies["base"].text) > 20, what="the base reply to start")
        assert gen_workers(app) and not screen.query_one("#pg-cancel", Button).disabled
        started = time.monotonic()
        await pilot.press("escape")
        await until(pilot, lambda: not gen_workers(app) and not any(r.active for r in screen.replies.values()),
                    timeout=10, what="generation to stop")
        assert time.monotonic() - started < 3.0
        await pilot.pause(0.2)
        base = screen.replies["base"]
        assert base.state == "cancelled" and base.reason == "cancelled" and 0 < base.tokens < 504
        assert shown(screen, "base").endswith("■ cancelled")
        assert "cancelled" in str(screen.query_one("#pane-base").border_subtitle)
        frozen = base.text
        await pilot.pause(0.3)
        assert screen.replies["base"].text == frozen  # nothing arrives after the cancel

        # The screen still answers: typing, the raw toggle, and a new Send that runs.
        await type_prompt(pilot, screen, "again")
        assert "again" in text(app, "#pg-sees")
        screen.query_one("#pg-max", Input).value = "5"
        await pilot.press("enter")
        await until(pilot, lambda: screen.request == 2 and not any(r.active for r in screen.replies.values()),
                    what="the second send")
        assert screen.replies["base"].state == "done" and screen.replies["base"].tokens <= 5


@pytest.mark.slow
async def test_raw_mode_sends_the_text_as_typed(tuned_run):
    from engine.infer import format_prompt

    app = make_app(tuned_run.parent)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.gen is not None, what="the run to load")
        screen.query_one("#pg-max", Input).value = "3"
        await type_prompt(pilot, screen, "hello there")
        templated = screen.formatted_prompt()
        assert templated == format_prompt(screen.gen.cfg, "hello there", tokenizer=screen.gen.tokenizer)
        assert templated == "### Question:\nhello there\n\n### Answer:\n"
        assert text(app, "#pg-sees") == "model gets ▸ ### Question:↵hello there↵↵### Answer:↵"
        await pilot.press("enter")
        await until(pilot, lambda: screen.request == 1 and not any(r.active for r in screen.replies.values()),
                    what="the templated send")
        assert screen.sent_prompt == templated

        await pilot.press("f8")
        assert text(app, "#pg-sees") == "model gets (raw) ▸ hello there"
        assert screen.formatted_prompt() == "hello there"
        await pilot.press("enter")
        await until(pilot, lambda: screen.request == 2 and not any(r.active for r in screen.replies.values()),
                    what="the raw send")
        assert screen.sent_prompt == "hello there"

        await pilot.press("f10")  # the whole prompt, one line per line
        assert screen.query_one("#pg-sees").has_class("-full")


@pytest.mark.slow
async def test_open_run_picks_a_checkpoint_and_a_run_outside_the_runs_folder(tuned_run, tmp_path):
    app = make_app(tmp_path / "elsewhere", start_screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        await app.switch_mode("playground")
        screen = app.screen
        await until(pilot, lambda: screen.scanned, what="the scan")
        assert "No runs in" in text(app, "#pg-empty")
        screen.open_run(tuned_run, "checkpoint-10")
        await until(pilot, lambda: screen.gen is not None, what="the checkpoint to load")
        assert screen.loaded_key == (str(tuned_run), "checkpoint-10")
        assert str(screen.gen.adapter_path).endswith("checkpoint-10")
        await until(pilot, lambda: screen.query_one("#pg-run", Select).value == str(tuned_run), what="the run listed")
        assert screen.query_one("#pg-ckpt", Select).value == "checkpoint-10"
        assert not screen.query_one("#pg-empty").display and screen.query_one("#pg-replies").display
        assert "checkpoint-10" in str(screen.query_one("#pane-tuned").border_title)
        assert "checkpoint-10" in text(app, "#pg-status")

        screen.query_one("#pg-ckpt", Select).value = ""  # back to the final adapter
        await until(pilot, lambda: screen.loaded_key == (str(tuned_run), ""), what="the adapter to load")
        assert str(screen.gen.adapter_path).endswith("adapter")


@pytest.mark.slow
async def test_a_run_that_cannot_load_is_one_line_and_others_still_load(tuned_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    good = runs / RUN_NAME
    shutil.copytree(tuned_run, good)
    ckpt_only = runs / "20250102-000000-ckpt"
    shutil.copytree(tuned_run, ckpt_only)
    shutil.rmtree(ckpt_only / "adapter")
    broken = runs / "20250101-120000-broken"
    shutil.copytree(tuned_run, broken)
    (broken / "adapter" / "adapter_config.json").write_text("{not json", encoding="utf-8")
    nothing = runs / "20250103-000000-failed"
    nothing.mkdir()
    shutil.copy(tuned_run / "config.yaml", nothing / "config.yaml")

    app = make_app(runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        # The newest run with an adapter is picked (not the checkpoint-only one, not the one with nothing).
        await until(pilot, lambda: screen.load_error != "", what="the broken adapter to fail")
        assert screen.selected == (str(broken), "") and screen.gen is None
        status = text(app, "#pg-status")
        assert status.startswith("✗ 20250101-120000-broken/adapter: cannot load the adapter") and "\n" not in status
        assert any(n.severity == "error" for n in app._notifications)
        values = [v for _, v in screen.query_one("#pg-run", Select)._options]
        assert str(nothing) not in values and str(ckpt_only) in values

        errors = lambda: sum(n.severity == "error" for n in app._notifications)  # noqa: E731
        before = errors()
        await pilot.press("f5", "f7")  # back on the screen: the run list is read again, the failure not retried
        await pilot.pause(0.5)
        assert screen.loading_key is None and errors() == before
        assert screen.query_one("#pg-run", Select).value == str(broken)
        await pilot.press("ctrl+r")  # retried on request
        await until(pilot, lambda: errors() == before + 1, what="the retry to fail again")

        screen.query_one("#pg-prompt", Input).value = "hi"
        await pilot.press("enter")  # nothing loaded: refused with a message, no worker
        assert screen.request == 0 and not gen_workers(app)

        screen.query_one("#pg-run", Select).value = str(ckpt_only)  # no adapter: its last checkpoint
        await until(pilot, lambda: screen.gen is not None, what="the checkpoint-only run to load")
        assert screen.loaded_key == (str(ckpt_only), f"checkpoint-{STEPS}") and screen.load_error == ""
        assert text(app, "#pg-status").startswith("● 20250102-000000-ckpt")
        assert app.is_running


# -- no model needed ----------------------------------------------------------------------------------


async def test_bad_sampling_values_are_shown_beside_the_field_and_nothing_starts(tmp_path):
    app = make_app(tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        max_box = screen.query_one("#pg-max", Input)
        max_box.focus()
        max_box.value = ""
        await pilot.press(*"abc")
        await pilot.pause()
        note = text(app, "#pg-sampling-error")
        assert "max new tokens" in note and "'abc'" in note and max_box.has_class("-invalid")
        assert note.index("↑") == max_box.region.x  # right under the field
        await type_prompt(pilot, screen, "hello")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.request == 0 and not gen_workers(app) and screen.pending is None
        assert app.focused is max_box  # sent back to the field to fix

        max_box.value = "64"
        screen.query_one("#pg-top-p", Input).value = "1.5"
        await pilot.pause()
        assert not max_box.has_class("-invalid") and "top-p" in text(app, "#pg-sampling-error")
        await pilot.press("f9")  # greedy: temperature and top-p no longer count and are greyed out
        await pilot.pause()
        assert text(app, "#pg-sampling-error") == "" and screen.query_one("#pg-top-p", Input).disabled
        assert app.is_running


async def test_no_runs_says_so_and_how_to_make_one(tmp_path):
    app = make_app(tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.scanned, what="the scan")
        await pilot.pause()
        empty = text(app, "#pg-empty")
        assert f"No runs in {tmp_path / 'runs'}/ yet." in empty and "Train screen (4 or F5" in empty
        assert screen.query_one("#pg-empty").display and not screen.query_one("#pg-replies").display
        assert "No runs to load" in text(app, "#pg-status")
        await pilot.press("f5")  # the way to the Train screen it names
        assert app.current_mode == "train"


async def test_runs_without_anything_to_load_are_explained(tmp_path):
    runs = tmp_path / "runs"
    (runs / "20250101-000000-failed").mkdir(parents=True)
    (runs / "20250101-000000-failed" / "config.yaml").write_text("model:\n  quantization: none\n", encoding="utf-8")
    app = make_app(runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.scanned, what="the scan")
        await pilot.pause()
        assert "1 run(s)" in text(app, "#pg-empty") and "none has saved an adapter or a checkpoint" in text(app, "#pg-empty")
