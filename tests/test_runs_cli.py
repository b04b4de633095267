"""Run summaries, config diffs, deletion, and the after-training CLI commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import rundir
from engine.config import Config
from engine.errors import RunError
from engine.events import StepLogged, read_events
from tests.test_infer import PAIRS, shared_run


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory) -> Path:
    return shared_run(tiny_model_dir, tmp_path_factory.getbasetemp())


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_summary_of_a_finished_run(trained_run):
    from engine.runs import summarize_run

    s = summarize_run(trained_run)
    assert s.name == "overfit" and s.status == "finished"
    assert (s.steps, s.max_steps) == (50, 50)
    first = next(e.loss for e in read_events(trained_run / "metrics.jsonl") if isinstance(e, StepLogged))
    assert s.final_loss is not None and s.final_loss < first - 0.5
    assert s.best_eval_loss is not None and s.best_eval_loss >= 0
    assert s.duration_s > 0 and s.started is not None
    assert s.has_adapter and s.checkpoints
    assert s.dataset.endswith("pairs.jsonl") and s.dataset_short == "pairs.jsonl"


def test_running_status_with_a_dead_pid_is_killed_and_can_be_deleted(tmp_path):
    from engine.runs import delete_run, list_summaries, summarize_run

    rd = tmp_path / "runs" / "20260101-120000-x"
    rd.mkdir(parents=True)
    (rd / "config.yaml").write_text(Config().to_yaml(), encoding="utf-8")
    rundir.atomic_write_text(rd / "status.json", json.dumps({"status": "running", "pid": _dead_pid(), "step": 7}))
    s = summarize_run(rd)
    assert s.status == "killed" and s.steps == 7
    assert s.started.year == 2026  # from the folder name when no event was logged
    assert [x.name for x in list_summaries(tmp_path / "runs")] == [rd.name]
    delete_run(rd)
    assert not rd.exists()


def test_a_live_run_is_not_deleted(tmp_path):
    from engine.runs import delete_run, summarize_run

    rd = tmp_path / "live"
    rd.mkdir()
    (rd / "config.yaml").write_text(Config().to_yaml(), encoding="utf-8")
    rundir.write_status(rd, "running", step=1)  # this very process
    assert summarize_run(rd).status == "running"
    with pytest.raises(RunError, match="still training"):
        delete_run(rd)
    assert rd.exists()
    with pytest.raises(RunError):
        delete_run(tmp_path)  # not a run folder


def test_config_diff_lists_changed_keys_in_order():
    from engine.runs import config_diff

    a, b = Config(), Config()
    b.training.learning_rate = 1e-3
    b.lora.r = 8
    b.data.columns = {"instruction": "q"}
    assert config_diff(a, b) == [("lora.r", 16, 8), ("data.columns", {}, {"instruction": "q"}),
                                 ("training.learning_rate", 2e-4, 1e-3)]
    assert config_diff(a, a) == []


def test_cli_runs_lists_a_finished_run(trained_run, capsys):
    from tui.cli import main

    assert main(["runs", "--runs-dir", str(trained_run.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["NAME", "STATUS", "MODEL"]
    row = next(line for line in out if line.startswith("overfit"))
    assert "finished" in row and "50/50" in row and "pairs.jsonl" in row


def test_cli_runs_on_an_empty_folder(tmp_path, capsys):
    from tui.cli import main

    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    assert "no runs" in capsys.readouterr().out


def test_cli_generate_streams_the_tuned_answer(trained_run, capsys):
    from tui.cli import main

    code = main(["generate", "overfit", "--runs-dir", str(trained_run.parent), "--prompt", PAIRS[1]["question"],
                 "--greedy", "--max-new-tokens", "24"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert cap.out.strip() == PAIRS[1]["answer"]


def test_cli_generate_on_a_missing_run_exits_2_with_one_line(tmp_path, capsys):
    from tui.cli import main

    code = main(["generate", "nope", "--runs-dir", str(tmp_path), "--prompt", "hi"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "nope" in err and "Traceback" not in err


def test_cli_export_of_a_run_without_adapter_exits_2_naming_resume(tmp_path, capsys):
    from tui.cli import main

    rd = tmp_path / "runs" / "stopped-run"
    ckpt = rd / "checkpoints" / "checkpoint-4"
    ckpt.mkdir(parents=True)
    (rd / "config.yaml").write_text(Config().to_yaml(), encoding="utf-8")
    (ckpt / "adapter_model.safetensors").write_text("")  # killed while writing it: no trainer_state.json
    rundir.write_status(rd, "stopped", step=4)
    code = main(["export", "stopped-run", "--runs-dir", str(tmp_path / "runs"), "--merged", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "stopped-run" in err and "tunedeck train --resume" in err
    assert not (tmp_path / "m").exists()


def test_cli_eval_prints_loss_and_saves_report(trained_run, capsys):
    from tui.cli import main

    code = main(["eval", str(trained_run), "--max-samples", "2", "--generate-samples", "1", "--max-new-tokens", "12"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "validation loss" in cap.out and "perplexity" in cap.out and "generated:" in cap.out
    assert json.loads((trained_run / "eval.json").read_text())["num_samples"] == 2


def test_cli_killed_run_evaluates_generates_and_exports_from_its_newest_complete_checkpoint(trained_run, tmp_path,
                                                                                            capsys):
    """No adapter/ (the process died): eval, generate and export take the newest complete checkpoint and say so."""
    import shutil

    from tui.cli import main

    rd = tmp_path / "runs" / "killed-run"
    shutil.copytree(trained_run, rd)
    shutil.rmtree(rd / rundir.ADAPTER_DIR)
    (rd / "eval.json").unlink(missing_ok=True)
    rundir.write_status(rd, "running", pid=_dead_pid(), step=50)
    torn = rd / "checkpoints" / "checkpoint-60"  # being written when it died: passed over
    shutil.copytree(rd / "checkpoints" / "checkpoint-50", torn)
    (torn / "trainer_state.json").unlink()

    code = main(["eval", str(rd), "--max-samples", "2", "--generate-samples", "1", "--max-new-tokens", "12"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "note: killed-run: no final adapter (run killed); using its newest complete checkpoint, checkpoint-50" \
        in cap.err
    assert "perplexity" in cap.out and (rd / "eval.json").exists()

    code = main(["generate", str(rd), "--prompt", PAIRS[1]["question"], "--greedy", "--max-new-tokens", "24"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "checkpoint-50" in cap.err and cap.out.strip() == PAIRS[1]["answer"]

    out = tmp_path / "merged"
    code = main(["export", str(rd), "--merged", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "newest complete checkpoint, checkpoint-50" in cap.err
    assert (out / "config.json").exists() and any(out.glob("*.safetensors"))
