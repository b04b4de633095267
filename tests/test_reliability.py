"""Issue 12's defects, each reproduced against the real engine: nothing of the user's is ever overwritten,
run folders are owned and locked, finished runs stay finished, a full disk is named, bad data explained."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import rundir
from engine.config import save_config
from engine.events import MessageLogged, RunFailed, read_events
from engine.train import train
from tests.test_bad_inputs import base_config, snapshot
from tests.test_train import QA, write_jsonl
from tui.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(tmp_path / "qa.jsonl", QA * 2)
    cfg = base_config(tiny_model_dir, data, tmp_path)
    save_config(cfg, tmp_path / "good.yaml")
    return tmp_path, cfg


@pytest.fixture
def finished_run(project):
    root, cfg = project
    result = train(cfg)
    assert result.status == "finished", result.last_event
    return result.run_dir


def _cli(*argv) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# 1 -------------------------------------------------------------------------------------------------------
def test_run_dir_pointed_at_a_users_folder_writes_nothing_even_with_bad_data(project, capsys):
    root, _ = project
    d = root / "d"
    d.mkdir()
    (d / "config.yaml").write_text("my: precious\n")
    (root / "bad.jsonl").write_text("{not json\n")
    for extra in (["--data", "bad.jsonl"], []):  # bad data, then good data: refused either way
        code = main(["train", "--config", "good.yaml", "--run-dir", "d", *extra])
        assert code == 2
        assert sorted(os.listdir(d)) == ["config.yaml"]
        assert (d / "config.yaml").read_text() == "my: precious\n"
    assert "not a TuneDeck run" in capsys.readouterr().err


def test_run_dir_pointed_at_a_finished_run_leaves_it_whole(finished_run, capsys):
    before = snapshot(finished_run)
    assert main(["train", "--config", "good.yaml", "--run-dir", str(finished_run)]) == 2
    assert "finished TuneDeck run" in capsys.readouterr().err
    assert snapshot(finished_run) == before
    assert rundir.read_status(finished_run)["status"] == "finished"


def test_bad_data_with_a_new_run_dir_creates_no_folder(project):
    root, _ = project
    (root / "bad.jsonl").write_text("{not json\n")
    assert main(["train", "--config", "good.yaml", "--data", "bad.jsonl", "--run-dir", "fresh"]) == 2
    assert not (root / "fresh").exists()


def test_a_new_run_goes_into_an_empty_folder(project):
    root, _ = project
    (root / "empty").mkdir()
    assert main(["train", "--config", "good.yaml", "--run-dir", "empty", "-q"]) == 0
    assert rundir.read_status(root / "empty")["status"] == "finished"


# 2 -------------------------------------------------------------------------------------------------------
def test_a_second_trainer_is_refused_while_the_first_holds_the_lock_and_kill_9_frees_it(project, tiny_model_dir, capsys):
    root, cfg = project
    cfg.training.max_steps = 100000
    cfg.training.save_steps = 1
    save_config(cfg, root / "long.yaml")
    rd = root / "runs" / "busy"
    proc = _cli("train", "--config", root / "long.yaml", "--run-dir", rd, "-q")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not rundir.last_checkpoint(rd):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert rundir.last_checkpoint(rd), "the first trainer never saved a checkpoint"
        before_cfg = (rd / "config.yaml").read_bytes()
        assert main(["train", "--resume", str(rd)]) == 2
        err = capsys.readouterr().err
        assert f"pid {proc.pid}" in err and "another process" in err
        assert main(["train", "--config", "good.yaml", "--run-dir", str(rd)]) == 2
        assert f"pid {proc.pid}" in capsys.readouterr().err
        assert (rd / "config.yaml").read_bytes() == before_cfg
        pids = {e.to_dict().get("pid") for e in read_events(rd / "metrics.jsonl")} - {None}
        assert pids <= {proc.pid}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from engine.runlock import try_lock

    lock = try_lock(rd, attempts=1)  # the kernel let go of the dead process's lock
    assert lock is not None
    lock.release()


# 3 -------------------------------------------------------------------------------------------------------
def test_resume_of_a_finished_run_is_refused_and_its_adapter_kept(finished_run, capsys):
    before = snapshot(finished_run)
    assert main(["train", "--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err
    assert "finished at step 2" in err and "--max-steps" in err
    assert snapshot(finished_run) == before


def test_resume_of_a_finished_run_with_more_steps_continues_with_a_note(finished_run):
    events = []
    from engine.config import load_config

    result = train(load_config(None, ["training.max_steps=4"]), resume=finished_run, on_event=events.append)
    assert result.status == "finished", result.last_event
    notes = [e.text for e in events if isinstance(e, MessageLogged) and "had finished at step 2" in e.text]
    assert notes and "step 4" in notes[0]
    assert rundir.read_status(finished_run)["step"] == 4


# 4 -------------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_really_full_disk_is_named_status_ends_failed_and_the_last_checkpoint_is_whole(project, small_disk, capsys):
    root, cfg = project
    cfg.output.runs_dir = str(small_disk / "runs")
    cfg.training.max_steps = 30
    cfg.training.save_steps = 1
    cfg.training.save_total_limit = 30
    save_config(cfg, root / "disk.yaml")
    free = shutil.disk_usage(small_disk).free
    with open(small_disk / "ballast", "wb") as f:  # leave room for about two checkpoints (~270 KB each)
        f.write(b"\0" * (free - 700 * 1024))
    code = main(["train", "--config", "disk.yaml", "--run-dir", str(small_disk / "runs" / "r"), "-q"])
    err = capsys.readouterr().err
    rd = small_disk / "runs" / "r"
    assert code == 1, err
    assert "disk full" in err and "Unexpected error" not in err
    status = rundir.read_status(rd)
    assert status["status"] == "failed" and "disk full" in status["error"] and "free space" in status["hint"]
    assert rundir.checkpoint_folders(rd) == rundir.checkpoints(rd)  # the half-written one was removed
    last = rundir.last_checkpoint(rd)
    assert last is not None and not rundir.missing_for_resume(last)


def test_torch_zip_writer_errors_count_as_disk_full_when_the_disk_is_nearly_full(small_disk):
    from engine.failures import is_disk_full

    torn = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4160 vs 4056")
    with open(small_disk / "ballast", "wb") as f:
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 4096))
    assert is_disk_full(torn, small_disk)


# 5 -------------------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_the_first_viewer_to_see_a_dead_pid_records_killed(tmp_path):
    from engine.runs import summarize_run

    rd = tmp_path / "r"
    rd.mkdir()
    (rd / "config.yaml").write_text("{}\n")
    (rd / "status.json").write_text(json.dumps({"status": "running", "pid": _dead_pid(), "step": 3}))
    assert summarize_run(rd).status == "killed"
    status = rundir.read_status(rd)
    assert status["status"] == "killed" and status["step"] == 3


def test_killed_is_not_written_while_a_trainer_holds_the_lock(tmp_path):
    from engine.follow import run_state
    from engine.runlock import try_lock

    rd = tmp_path / "r"
    rd.mkdir()
    (rd / "config.yaml").write_text("{}\n")
    (rd / "status.json").write_text(json.dumps({"status": "running", "pid": _dead_pid()}))
    lock = try_lock(rd)  # a resuming trainer between taking the lock and writing its own status
    try:
        assert run_state(rd) == "killed"
        assert rundir.read_status(rd)["status"] == "running"
    finally:
        lock.release()
    assert run_state(rd) == "killed" and rundir.read_status(rd)["status"] == "killed"


# 6 -------------------------------------------------------------------------------------------------------
def test_export_data_never_overwrites_without_overwrite_and_never_the_runs_own_data(finished_run, project, capsys):
    root, _ = project
    mine = root / "mine.jsonl"
    mine.write_text("keep me\n")
    own = (root / "qa.jsonl").read_bytes()
    assert main(["export", str(finished_run), "--data", str(mine)]) == 2
    assert "--overwrite" in capsys.readouterr().err and mine.read_text() == "keep me\n"
    assert main(["export", str(finished_run), "--data", str(root / "qa.jsonl"), "--overwrite"]) == 2
    assert "never overwritten" in capsys.readouterr().err and (root / "qa.jsonl").read_bytes() == own
    assert main(["export", str(finished_run), "--data", str(mine), "--overwrite"]) == 0
    assert json.loads(mine.read_text().splitlines()[0])["prompt"]


# 7 -------------------------------------------------------------------------------------------------------
def test_a_checkpoint_without_optimizer_scheduler_or_rng_is_not_complete(finished_run):
    last = rundir.last_checkpoint(finished_run)
    assert last.name == "checkpoint-2"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        saved = (last / name).read_bytes()
        (last / name).unlink()
        assert not rundir.checkpoint_is_complete(last)
        assert name in rundir.missing_for_resume(last)
        assert rundir.last_checkpoint(finished_run).name == "checkpoint-1"
        (last / name).write_bytes(saved)
    assert rundir.checkpoint_is_complete(last)


# 8 -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "0"},
                                 {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://10.255.255.1:9"}],
                         ids=["offline-flag", "no-network", "unreachable-endpoint"])
def test_an_uncached_hub_id_offline_fails_within_seconds(project, env):
    """The fast refusal (engine.hubcheck: cache, HF_HUB_OFFLINE, one TCP probe of a few seconds) answers, not
    transformers' minute of HTTP retries: its reason is in the line. No wall-clock bound here (a loaded CI
    machine is slow); bench/ is where speed is measured."""
    root, _ = project
    done = subprocess.run([sys.executable, "-m", "tui.cli", "train", "--config", "good.yaml", "--model",
                           "no-org/not-cached-model", "-q"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert done.returncode == 2, done.stderr
    assert "error: model.name: cannot load 'no-org/not-cached-model'" in done.stderr
    if "HF_ENDPOINT" not in env:  # hubcheck's reason (a sandbox may accept TCP to any address: then transformers says it)
        assert "not in the local cache" in done.stderr  # it used to spend a minute in HTTP retries here
    assert "Traceback" not in done.stderr
    assert not (root / "runs").exists()


# 9 -------------------------------------------------------------------------------------------------------
def test_a_semicolon_csv_is_sniffed_and_a_broken_one_names_the_delimiter(tmp_path, capsys):
    semi = tmp_path / "semi.csv"
    semi.write_text("instruction;output\nSay hi;hello\nAdd 1, 2;3\nName a colour;red\n")
    assert main(["data", str(semi)]) == 0
    out = capsys.readouterr().out
    assert "3 rows" in out and "instruction <- instruction, output <- output" in out
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("instruction;output\nSay hi;hello\nAdd 1;2;3\n")
    assert main(["data", str(ragged)]) == 2
    err = capsys.readouterr().err
    assert f"{ragged}:3: has 3 fields, the header has 2" in err and "data.delimiter" in err
    assert main(["data", str(ragged), "--delimiter", ","]) == 2  # forced comma: one field, rows of two
    assert "looks semicolon-separated (';')" in capsys.readouterr().err


def test_wrong_typed_values_and_mixed_schema_rows_are_counted_with_the_first_row(tmp_path, capsys):
    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(6)]
    rows += [{"question": "q", "answer": "a"}] * 4
    rows[1]["output"] = 7
    rows[2]["output"] = 8
    rows[3]["output"] = None
    rows[4]["output"] = ["a", "list"]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert main(["data", str(path)]) == 0
    err = capsys.readouterr().err
    assert "4 of 10 rows do not match the alpaca format (first: row 7, which has question, answer" in err
    assert "2 rows have a number in output (output), first row 2; it is used as text" in err
    assert "row 4: output (output) is null" in err
    assert "row 5: output (output) is a list or object" in err


def test_a_bad_rows_number_is_right_with_val_split(tiny_model_dir, tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    rows = [good] * 20
    rows[13] = {"messages": [{"role": "user", "content": "hi"}, "not a turn"]}  # line 14
    data = write_jsonl(tmp_path / "chat.jsonl", rows)
    for split in (0.0, 0.2, 0.5):
        cfg = base_config(tiny_model_dir, data, tmp_path, **{"data.template": "chatml", "data.val_split": split})
        result = train(cfg)
        assert isinstance(result.last_event, RunFailed)
        assert "chat.jsonl: row 14:" in result.last_event.error, (split, result.last_event.error)


def test_sigusr1_during_start_up_is_not_fatal(project):
    root, _ = project
    (root / "bad.jsonl").write_text("{not json\n")
    proc = _cli("train", "--config", "good.yaml", "--data", "bad.jsonl", "-q")
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < 60:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (proc.returncode, err)
    assert "bad.jsonl:1" in err


def test_a_learning_rate_of_1e6_is_accepted_with_a_warning(project):
    root, cfg = project
    cfg.training.learning_rate = 1e6
    cfg.training.max_steps = 1
    events = []
    train(cfg, on_event=events.append)
    warnings = [e.text for e in events if isinstance(e, MessageLogged) and e.level == "warning"]
    assert any(w.startswith("training.learning_rate: 1e+06 is far above") for w in warnings), warnings
