"""Experiment trackers (training.report_to): TensorBoard's event file in the run folder holds the loss a tiny run
logged; a tracker that is not installed is one line with the pip command, before anything is written."""

from __future__ import annotations

import importlib.util

import pytest

from engine.config import load_config
from engine.errors import ConfigError
from engine.events import RunStarted, StepLogged
from engine.train import train
from tests.test_train import tiny_config, write_jsonl
from tui.cli import main

ROWS = [{"question": f"What does key {i} do?", "answer": f"Key {i} starts step {i}."} for i in range(12)]


def test_tensorboard_event_file_in_the_run_folder_holds_the_logged_losses(tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    cfg = tiny_config(tiny_model_dir, data, tmp_path, **{"training.max_steps": 4, "training.report_to": "[tensorboard]"})
    events = []
    result = train(cfg, on_event=events.append)
    assert result.status == "finished", result.last_event
    logdir = result.run_dir / "tensorboard"
    assert list(logdir.glob("events.out.tfevents.*")), list(result.run_dir.iterdir())
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    assert "train/loss" in acc.Tags()["scalars"], acc.Tags()
    logged = {e.step: e.loss for e in events if isinstance(e, StepLogged)}
    scalars = {s.step: s.value for s in acc.Scalars("train/loss")}
    assert sorted(scalars) == [1, 2, 3, 4] and scalars == pytest.approx(logged, rel=1e-5)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.config["training"]["report_to"] == ["tensorboard"]


def test_a_tracker_that_is_not_installed_is_one_line_with_the_pip_command_and_nothing_written(tiny_model_dir, tmp_path,
                                                                                             capsys):
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here; this checks the message for a missing tracker")
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    config = tmp_path / "c.yaml"
    config.write_text(tiny_config(tiny_model_dir, data, tmp_path).to_yaml(), encoding="utf-8")
    code = main(["train", "--config", str(config), "--set", "training.report_to=[tensorboard, wandb]", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == ("error: training.report_to: wandb is not installed; install it with: "
                       "pip install 'tunedeck[wandb]' (or remove it from the list)"), err
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made


@pytest.mark.parametrize("given, says", [
    ("wanb", "unknown tracker 'wanb' (did you mean wandb?)"),
    ("[tensorboard, 3]", "must be a list of tracker names like [tensorboard, wandb], or [] for none"),
])
def test_report_to_names_trackers_the_trainer_knows(given, says):
    with pytest.raises(ConfigError) as e:
        load_config(None, {"training.report_to": given})
    assert "training.report_to" in str(e.value) and says in str(e.value)
    assert load_config(None, {"training.report_to": "tensorboard, wandb"}).training.report_to == ["tensorboard", "wandb"]
    assert load_config(None, {"training.report_to": "none"}).training.report_to == []


def test_wandb_runs_offline_into_the_run_folder(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed (pip install 'tunedeck[wandb]')")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    cfg = tiny_config(tiny_model_dir, data, tmp_path, **{"training.max_steps": 2, "training.report_to": "[wandb]"})
    result = train(cfg)
    assert result.status == "finished", result.last_event
    assert list((result.run_dir / "wandb").glob("offline-run-*")), "W&B wrote no offline run in the run folder"


async def test_the_config_screen_edits_report_to_as_a_list(tmp_path):
    from textual.widgets import Input

    from tui.app import TuneDeckApp
    from tui.screens.config import cli_command, widget_id
    from tui.state import AppState

    cfg = load_config(None, {"data.path": "sample_data/tunedeck_qa.jsonl", "output.runs_dir": str(tmp_path / "runs")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="config")
    async with app.run_test(size=(100, 30)) as pilot:
        box = app.screen.query_one("#" + widget_id("training.report_to"), Input)
        assert box.value == "[]"
        box.focus()
        box.value = ""
        await pilot.press(*"tensorboard, wanb")
        error = app.screen.query_one("#" + widget_id("training.report_to") + "-err")
        for _ in range(50):
            if "did you mean wandb" in str(error.render()):
                break
            await pilot.pause(0.1)
        assert "unknown tracker 'wanb' (did you mean wandb?)" in str(error.render())
        # The config keeps the last valid value (typed on the way: tensorboard); the form shows the mistake.
        assert app.state.config.training.report_to == ["tensorboard"] and "training.report_to" in app.state.invalid
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"wandb")
        for _ in range(50):
            if app.state.config.training.report_to == ["tensorboard", "wandb"]:
                break
            await pilot.pause(0.1)
        assert app.state.config.training.report_to == ["tensorboard", "wandb"] and not app.state.invalid
        assert "--set training.report_to='[tensorboard, wandb]'" in cli_command(app.state.config, None)
