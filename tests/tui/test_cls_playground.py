"""The Playground of a classification run (tui/widgets/cls_play.py): a text in, a probability bar per label
out for the tuned model next to the base model with an untrained head, classified in a worker on a real tiny
run; a run trained on text pairs asks for the pair too."""

from __future__ import annotations

import json
import shutil
from functools import partial

import tui_helpers
from cls_fixtures import cls_bert, cls_run, make_cls_run  # noqa: F401

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=120.0)


async def test_cls_playground_shows_tuned_and_base_probabilities(cls_run, tmp_path):
    from engine.tasks.cls_infer import classify_text

    run = tmp_path / cls_run.name
    shutil.copytree(cls_run, run)
    cfg = load_config(None, {"task": "classification", "output.runs_dir": str(tmp_path)})
    app = TuneDeckApp(AppState(config=cfg), start_screen="playground")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert type(screen).__name__ == "ClsPlayScreen"  # the playground mode of a classification config
        await until(pilot, lambda: screen.runs, what="the classification runs")
        assert screen.run_dir == str(run) and not screen.query_one("#clsp-pair").display  # single texts
        area = screen.query_one("#clsp-text")
        area.text = "the app crashes when I save"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not screen.asking and "base" in screen.answers, what="both answers")
        tuned, base = screen.answers["tuned"], screen.answers["base"]
        assert set(tuned) == {"bug", "praise", "question"} and abs(sum(tuned.values()) - 1) < 1e-5
        want = dict(classify_text(run, "the app crashes when I save"))
        want_base = dict(classify_text(run, "the app crashes when I save", base=True))
        assert all(abs(tuned[k] - want[k]) < 1e-4 for k in want)  # what `tunedeck generate` says
        assert all(abs(base[k] - want_base[k]) < 1e-4 for k in want_base)
        top = max(tuned, key=tuned.get)
        shown = str(screen.query_one("#qap-tuned").render())
        assert shown.splitlines()[0].startswith(top) and f"{tuned[top]:.3f} █" in shown
        assert "█" in str(screen.query_one("#qap-base").render())
        # An empty text is refused in one line.
        area.text = "  "
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "give a text" in str(screen.query_one("#qap-state").render()), what="the refusal")


async def test_a_run_trained_on_text_pairs_asks_for_the_pair(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"premise": p, "hypothesis": h, "label": lab}) + "\n"
                                                  for p, h, lab in [("a cat sits", "an animal sits", "entailment"),
                                                                    ("a cat sits", "a dog runs", "contradiction")]))
    make_cls_run("runs", "20261201-140000-pairs", data="pairs.jsonl")
    cfg = load_config(None, {"task": "classification", "output.runs_dir": "runs"})
    app = TuneDeckApp(AppState(config=cfg), start_screen="playground")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.runs and screen.pair_column == "hypothesis", what="the pair column")
        pair = screen.query_one("#clsp-pair")
        assert pair.display and pair.placeholder.startswith("hypothesis")
        await pilot.press("ctrl+s")  # a text but no pair: said, nothing classified
        await until(pilot, lambda: "give a text and its hypothesis" in str(screen.query_one("#qap-state").render()),
                    what="the pair asked for")
        assert not screen.asking


async def test_p_on_a_classification_run_opens_its_playground_from_a_causal_lm_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rd = make_cls_run("runs", "20261201-130000-cls")
    app = TuneDeckApp(AppState(config=load_config(None, {"output.runs_dir": "runs"})), start_screen="config")
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_playground(rd)
        await until(pilot, lambda: type(app.screen).__name__ == "ClsPlayScreen", what="the classification playground")
        screen = app.screen
        await until(pilot, lambda: screen.runs, what="the run listed")
        assert screen.run_dir == str(rd) and app.state.config.task == "causal_lm"
