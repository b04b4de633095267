"""Evaluate and Export screens driven with Pilot, on a real run of the tiny model (trained once per module).

Hosted in a minimal app that pushes the screen, as the Runs screen does.
"""

from __future__ import annotations

import json
import math
import threading
from functools import partial
from pathlib import Path

import pytest
import tui_helpers
from textual.widgets import DataTable, Input, ProgressBar
from tui_helpers import Host, text

from engine.config import Config, load_config
from tui.screens.evaluate import EvalScreen, prompt_gist
from tui.screens.export import ExportScreen, default_output

until = partial(tui_helpers.until, timeout=120.0)

ROOT = Path(__file__).resolve().parents[2]
QA = ROOT / "sample_data" / "tunedeck_qa.jsonl"
ROWS = 24  # data.limit; val_split 0.25 keeps 6 of them for validation
RUN_NAME = "20250101-000000-evalrun"


@pytest.fixture(scope="module")
def real_run(tiny_model_dir, tmp_path_factory) -> Path:
    """A finished run (3 steps) of the tiny Llama on 24 Q/A rows, 6 held out for validation."""
    from engine.train import train

    runs = tmp_path_factory.mktemp("eval-export") / "runs"
    cfg = load_config(None, {
        "model.name": str(tiny_model_dir), "model.quantization": "none", "data.path": str(QA), "data.limit": ROWS,
        "data.template": "qa", "data.val_split": 0.25, "data.max_length": 64, "training.max_steps": 3,
        "training.batch_size": 4, "training.save_steps": 50, "training.eval_steps": 50, "lora.r": 4,
        "output.runs_dir": str(runs),
    })
    result = train(cfg, run_dir=runs / RUN_NAME)
    assert result.status == "finished", result.last_event
    return result.run_dir


def fake_run(root: Path, name: str = RUN_NAME, *, adapter: bool = True, report: dict | None = None) -> Path:
    """A run folder with no model behind it: config, optionally an adapter marker and an eval.json."""
    from engine import rundir

    rd = root / name
    rd.mkdir(parents=True)
    (rd / "config.yaml").write_text(Config().to_yaml(), encoding="utf-8")
    rundir.write_status(rd, "finished" if adapter else "stopped", step=4)
    if adapter:
        (rd / "adapter").mkdir()
        (rd / "adapter" / "adapter_config.json").write_text("{}", encoding="utf-8")
    if report is not None:
        (rd / "eval.json").write_text(json.dumps(report), encoding="utf-8")
    return rd


def handwritten_report(split: str = "train", note: str = "the run had no validation split") -> dict:
    losses = [1.5, 3.25, 0.75, None, 2.0]
    return {
        "loss": 1.875, "perplexity": math.exp(1.875), "split": split, "num_samples": 5, "num_tokens": 60,
        "note": note, "run_dir": "x", "adapter": "x/adapter", "created": 0.0,
        "samples": [{"index": i, "prompt": f"### Question:\nQuestion number {i}?\n\n### Answer:\n",
                     "reference": f"Answer {i}.", "generated": f"Generated {i}." if i < 3 else None,
                     "loss": loss, "tokens": 12 if loss is not None else 0} for i, loss in enumerate(losses)],
    }


def table_losses(screen: EvalScreen) -> list[str]:
    table = screen.query_one("#ev-table", DataTable)
    return [str(table.get_row_at(r)[1]) for r in range(table.row_count)]


# -- Evaluate ---------------------------------------------------------------------------------------


def test_prompt_gist_keeps_the_question_not_the_template():
    assert prompt_gist("### Question:\nWhat is LoRA?\n\n### Answer:\n") == "What is LoRA?"
    chat = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    assert prompt_gist(chat) == "Hi there"


async def test_saved_report_shows_at_once_and_sorts_by_loss(tmp_path):
    rd = fake_run(tmp_path, report=handwritten_report())
    app = Host(lambda: EvalScreen(rd))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EvalScreen) and screen.report is not None and screen.from_disk
        summary = text(app, "#ev-summary")
        assert "train split" in summary
        assert "loss 1.8750" in summary and f"perplexity {math.exp(1.875):.3f}" in summary
        assert "5 samples, 60 scored tokens, 3 generated" in summary
        assert "the run had no validation split" in text(app, "#ev-note")
        assert not screen.query_one("#ev-error").display  # it has an adapter
        assert screen.rows_in_order() == [0, 1, 2, 3, 4]
        assert "Question number 0?" in str(screen.query_one("#ev-table", DataTable).get_row_at(0)[3])

        await pilot.press("w")  # worst first; the sample without a loss last
        assert screen.rows_in_order() == [1, 4, 0, 2, 3]
        assert table_losses(screen) == ["3.2500", "2.0000", "1.5000", "0.7500", "–"]
        assert screen.query_one("#ev-table", DataTable).cursor_row == 0
        await pilot.press("w")  # back to the evaluation order
        assert screen.rows_in_order() == [0, 1, 2, 3, 4]

        await pilot.click("#ev-table", offset=(7, 0))  # the loss header: worst first, then best first
        assert screen.rows_in_order() == [1, 4, 0, 2, 3]
        assert "loss ▼" in str(screen.query_one("#ev-table", DataTable).ordered_columns[1].label)
        await pilot.click("#ev-table", offset=(7, 0))
        assert screen.rows_in_order() == [2, 0, 4, 1, 3]

        await pilot.click("#ev-table", offset=(1, 0))  # "#": evaluation order
        await pilot.press("down", "enter")  # the detail of sample 1
        assert screen.detail_index == 1 and screen.query_one("#ev-detail").display
        detail = text(app, "#ev-detail-text")
        assert "Question number 1?" in detail and "Answer 1." in detail and "Generated 1." in detail
        await pilot.press("down")  # the open detail follows the cursor
        assert screen.detail_index == 2 and "Question number 2?" in text(app, "#ev-detail-text")
        await pilot.press("down")
        assert "not generated" in text(app, "#ev-detail-text")
        await pilot.press("escape")  # Esc closes the detail first ...
        assert screen.detail_index is None and not screen.query_one("#ev-detail").display
        assert app.screen is screen
        await pilot.press("d")  # d opens (and closes) the detail of the row under the cursor
        assert screen.detail_index == 3 and screen.query_one("#ev-detail").display
        await pilot.press("d")
        assert screen.detail_index is None
        await pilot.press("escape")  # ... then the screen
        await pilot.pause()
        assert not isinstance(app.screen, EvalScreen) and app.is_running


async def test_no_report_yet_says_how_to_make_one(tmp_path):
    rd = fake_run(tmp_path)
    app = Host(lambda: EvalScreen(rd))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "No evaluation yet" in text(app, "#ev-summary") and "press e" in text(app, "#ev-summary").lower()
        assert app.screen.query_one("#ev-table", DataTable).row_count == 0
        await pilot.press("w", "enter")  # nothing to sort or show: no error
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, EvalScreen)


async def test_run_without_adapter_is_one_line_error_and_app_stays_up(tmp_path):
    rd = fake_run(tmp_path, "stopped-run", adapter=False)
    app = Host(lambda: EvalScreen(rd))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#ev-error").display  # said at once, before any loading
        assert "stopped-run: no adapter" in text(app, "#ev-error")
        await pilot.press("e")
        await until(pilot, lambda: not screen.running and screen.notifications, what="the error")
        err = text(app, "#ev-error")
        assert err.startswith("error: stopped-run: no adapter and no checkpoint") and "\n" not in err.strip()
        assert "Traceback" not in err
        assert [sev for sev, _ in screen.notifications] == ["error"]
        assert any(n.severity == "error" for n in app._notifications)
        assert "failed" in text(app, "#ev-state") and not (rd / "eval.json").exists()
        assert app.is_running and not screen.query_one("#ev-run").disabled


def test_evaluate_run_stop_cancels_before_loading_and_saves_nothing(real_run):
    from engine.evaluate import EvalCancelled, evaluate_run

    before = (real_run / "eval.json").read_bytes() if (real_run / "eval.json").exists() else None
    stop = threading.Event()
    stop.set()
    with pytest.raises(EvalCancelled, match="cancelled"):
        evaluate_run(real_run, stop=stop)
    after = (real_run / "eval.json").read_bytes() if (real_run / "eval.json").exists() else None
    assert after == before


@pytest.mark.slow
async def test_evaluate_a_real_run_progress_summary_sort_and_detail(real_run, monkeypatch):
    import engine.evaluate

    app = Host(lambda: EvalScreen(real_run, generate_samples=2, max_new_tokens=8))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one("#ev-error").display
        await pilot.press("e")
        await until(pilot, lambda: not screen.running, timeout=240, what="the evaluation")
        assert screen.error is None, screen.error

        seen = screen.progress_seen
        loss_steps = [d for stage, d, t in seen if stage == "loss"]
        gen_steps = [d for stage, d, t in seen if stage == "generate"]
        assert loss_steps == [1, 2, 3, 4, 5, 6] and gen_steps == [1, 2]  # in order, loss first
        assert seen.index(("generate", 1, 2)) > seen.index(("loss", 6, 6))
        assert screen.query_one("#ev-progress", ProgressBar).percentage == 1

        disk = json.loads((real_run / "eval.json").read_text())
        assert disk["split"] == "validation" and disk["num_samples"] == 6
        assert math.isfinite(disk["loss"]) and math.isfinite(disk["perplexity"])
        summary = text(app, "#ev-summary")
        assert "validation split" in summary and f"loss {disk['loss']:.4f}" in summary
        assert f"perplexity {disk['perplexity']:.3f}" in summary
        assert f"6 samples, {disk['num_tokens']} scored tokens, 2 generated" in summary
        assert "done" in text(app, "#ev-state")

        table = screen.query_one("#ev-table", DataTable)
        assert table.row_count == 6
        await pilot.press("w")
        by_loss = sorted(disk["samples"], key=lambda s: -s["loss"])
        assert screen.rows_in_order() == [s["index"] for s in by_loss]
        assert table_losses(screen)[0] == f"{by_loss[0]['loss']:.4f}"

        await pilot.press("enter")  # the worst sample in full
        worst = by_loss[0]
        assert screen.detail_index == worst["index"]
        detail = text(app, "#ev-detail-text")
        assert worst["prompt"].strip().splitlines()[1] in detail and worst["reference"] in detail

        real_loss = engine.evaluate.sample_loss
        gate = threading.Event()

        def held_loss(*args, **kwargs):  # the real computation, held until the test has pressed x
            gate.wait(30)
            return real_loss(*args, **kwargs)

        monkeypatch.setattr(engine.evaluate, "sample_loss", held_loss)
        before = (real_run / "eval.json").read_bytes()
        await pilot.press("e")  # re-run, then cancel: eval.json stays as it was
        assert screen.running and screen.query_one("#ev-progress", ProgressBar).display
        assert screen.query_one("#ev-run").disabled and screen.check_action("evaluate", ()) is None
        await pilot.press("x")
        assert "cancelling" in text(app, "#ev-state")
        gate.set()
        await until(pilot, lambda: not screen.running, timeout=240, what="the cancel")
        assert "cancelled" in text(app, "#ev-state")
        assert (real_run / "eval.json").read_bytes() == before
        assert screen.report is not None and screen.query_one("#ev-table", DataTable).row_count == 6


# -- Export -----------------------------------------------------------------------------------------


async def start_export(pilot, screen: ExportScreen, kind: str, out: Path) -> None:
    if kind == "data":
        await pilot.click("#ex-data")
        assert screen.kind == "data"
    screen.query_one("#ex-path", Input).value = str(out)
    await pilot.press("ctrl+s")


def test_default_outputs():
    assert default_output("runs/20250101-000000-x", "merged") == "exports/20250101-000000-x-merged"
    assert default_output(Path("runs/20250101-000000-x"), "data") == "exports/20250101-000000-x.jsonl"


@pytest.mark.slow
async def test_merged_export_from_the_screen_loads_in_transformers(real_run, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    import engine.model

    real_load = engine.model.load_base_model
    gate = threading.Event()

    def held_load(*args, **kwargs):  # the real loading, held until the test has pressed Esc
        gate.wait(30)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(engine.model, "load_base_model", held_load)

    out = tmp_path / "out" / "merged"
    app = Host(lambda: ExportScreen(real_run))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#ex-path", Input).value == f"exports/{RUN_NAME}-merged"
        await start_export(pilot, screen, "merged", out)
        assert screen.running
        await pilot.press("escape")  # refused while the merge writes
        assert app.screen is screen and any(sev == "warning" for sev, _ in screen.notifications)
        assert screen.query_one("#ex-start").disabled and screen.query_one("#ex-path", Input).disabled
        gate.set()
        await until(pilot, lambda: not screen.running, timeout=240, what="the merge")
        assert screen.error is None, screen.error
        result = text(app, "#ex-result")
        assert "Merged model (float32) written to" in result and str(out.resolve()) in result.replace("\n", "")
        assert f'AutoModelForCausalLM.from_pretrained("{out.resolve()}")' in result.replace("\n", "")
        assert screen.progress_lines and any("Merging" in line for line in screen.progress_lines)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["merged"]  # no temporary folder left behind
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.num_hidden_layers == 2


@pytest.mark.slow
async def test_data_export_from_the_screen_writes_every_sample(real_run, tmp_path):
    out = tmp_path / "samples.jsonl"
    app = Host(lambda: ExportScreen(real_run))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.click("#ex-data")
        assert screen.query_one("#ex-path", Input).value == f"exports/{RUN_NAME}.jsonl"  # the default follows
        await start_export(pilot, screen, "data", out)
        await until(pilot, lambda: not screen.running, timeout=240, what="the data export")
        assert screen.error is None, screen.error
        assert f"Wrote {ROWS} samples to" in text(app, "#ex-result")
        assert 'load_dataset("json"' in text(app, "#ex-result")
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == ROWS  # train and validation rows, none dropped
    questions = [json.loads(line)["question"] for line in QA.read_text(encoding="utf-8").splitlines()[:ROWS]]
    assert all(q in line["prompt"] for q, line in zip(questions, lines, strict=False))


async def test_non_empty_targets_are_refused_and_left_untouched(tmp_path):
    rd = fake_run(tmp_path / "runs")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    data = tmp_path / "old.jsonl"
    data.write_text('{"a": 1}\n')
    app = Host(lambda: ExportScreen(rd))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        await start_export(pilot, screen, "merged", busy)
        assert not screen.running  # refused before any worker started
        err = text(app, "#ex-error")
        assert "already exists and is not empty" in err and "nothing was overwritten" in err
        assert screen.notifications[-1][0] == "error"

        await start_export(pilot, screen, "data", data)
        assert not screen.running and "already exists and is not empty" in text(app, "#ex-error")

        await start_export(pilot, screen, "data", busy)  # a folder is not a data file
        assert not screen.running and "is a folder" in text(app, "#ex-error")
        assert app.is_running
    assert [p.name for p in busy.iterdir()] == ["keep.txt"] and (busy / "keep.txt").read_text() == "mine"
    assert data.read_text() == '{"a": 1}\n'


async def test_merged_export_of_a_run_without_adapter_says_so(tmp_path):
    rd = fake_run(tmp_path / "runs", "stopped-run", adapter=False)
    app = Host(lambda: ExportScreen(rd))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        await start_export(pilot, screen, "merged", tmp_path / "m")
        assert not screen.running and "stopped-run: no adapter" in text(app, "#ex-error")
    assert not (tmp_path / "m").exists()
