"""`tunedeck train --nproc 2`: one run on two processes through torchrun (gloo on CPU), tiny model, few steps.

Each test starts the real launcher and real ranks; they are kept to a handful of steps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from engine import rundir
from engine.config import save_config
from engine.events import CheckpointSaved, RunFailed, RunStarted, RunStopped, StepLogged, read_events
from tests.test_resume import ROOT, _cli, _env
from tests.test_train import tiny_config, write_jsonl

ROWS = [{"question": f"What is item {i} of the TuneDeck manual?", "answer": f"Item {i} says: press {chr(97 + i)}."}
        for i in range(4)]


def _config(tiny_model_dir, tmp_path, **over):
    data = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    return tiny_config(tiny_model_dir, data, tmp_path, **{"training.max_steps": 3, **over})


def _file(cfg, tmp_path, name="run.yaml"):
    path = tmp_path / name
    save_config(cfg, path)
    return path


def _launch(*args: str) -> subprocess.Popen:
    return subprocess.Popen(_cli("train", *args, "--quiet"), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float = 480) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"--nproc 2 run did not end within {timeout}s:\n{out[-3000:]}")
    return proc.returncode, out


def _steps(rd):
    return [e for e in read_events(rd / rundir.METRICS_FILE) if isinstance(e, StepLogged)]


def _wait_for(cond, proc, what: str, timeout: float = 360):  # hang guards, not timings
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, f"the run ended before {what}:\n{proc.stdout.read()[-3000:]}"
        assert time.time() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.1)


def _rank_pid(launcher_pid: int, rank: int) -> int | None:
    import psutil

    for child in psutil.Process(launcher_pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "tui.cli" in " ".join(child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


def test_nproc_2_trains_one_run_with_the_losses_of_one_process(tiny_model_dir, tmp_path):
    from engine.train import train

    # Global batch 4 on 4 rows: 4 rows on one process, 2 per rank on two; every step sees all four rows.
    one = train(_config(tiny_model_dir, tmp_path, **{"output.runs_dir": str(tmp_path / "one")}))
    assert one.status == "finished", one.last_event
    runs = tmp_path / "two"
    cfg = _config(tiny_model_dir, tmp_path, **{"training.batch_size": 2, "output.runs_dir": str(runs)})
    code, out = _finish(_launch("--config", str(_file(cfg, tmp_path)), "--nproc", "2"))
    assert code == 0, out[-3000:]

    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders  # one run folder, chosen once
    rd = folders[0]
    assert out.count("step 2/3") == 1 and "Finished at step 3" in out  # one progress display (rank 0's)
    events = list(read_events(rd / rundir.METRICS_FILE))
    started = [e for e in events if isinstance(e, RunStarted)]
    assert len(started) == 1 and started[0].world_size == 2 and len(started[0].devices) == 2
    assert [e.step for e in _steps(rd)] == [1, 2, 3]  # each step logged once
    assert (rd / "adapter" / "adapter_model.safetensors").is_file() and not (rd / "adapter-1").exists()
    assert rundir.read_status(rd)["status"] == "finished"
    ref = {e.step: e.loss for e in _steps(one.run_dir)}
    for e in _steps(rd):  # the loss over the global batch, not one rank's half
        assert e.loss == pytest.approx(ref[e.step], rel=0.02), (e.step, e.loss, ref[e.step])
    for e, s in zip(_steps(rd), _steps(one.run_dir), strict=True):  # tokens summed over the ranks (one alone: half)
        assert e.tokens_seen == pytest.approx(s.tokens_seen, rel=0.05), (e.tokens_seen, s.tokens_seen)


def test_a_stop_request_stops_both_ranks_at_one_step_and_resume_on_2_continues(tiny_model_dir, tmp_path):
    cfg = _config(tiny_model_dir, tmp_path, **{"training.batch_size": 2, "training.max_steps": 400,
                                               "training.save_steps": 1000})
    rd = tmp_path / "run"
    proc = _launch("--config", str(_file(cfg, tmp_path)), "--nproc", "2", "--run-dir", str(rd))
    _wait_for(lambda: len(_steps(rd)) >= 2, proc, "second step")
    rundir.request_stop(rd)
    code, out = _finish(proc)
    assert code == 0, out[-3000:]
    events = list(read_events(rd / rundir.METRICS_FILE))
    stopped = [e for e in events if isinstance(e, RunStopped)]
    assert len(stopped) == 1 and rundir.read_status(rd)["status"] == "stopped"
    at = stopped[0].step
    saves = [e for e in events if isinstance(e, CheckpointSaved)]
    assert [e.step for e in saves] == [at] and [p.name for p in rundir.checkpoint_folders(rd)] == [f"checkpoint-{at}"]
    ckpt = rundir.last_checkpoint(rd)
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file()  # both ranks saved there

    code, out = _finish(_launch("--resume", str(rd), "--nproc", "2", "--max-steps", str(at + 2)))
    assert code == 0, out[-3000:]
    events = list(read_events(rd / rundir.METRICS_FILE))
    starts = [e for e in events if isinstance(e, RunStarted)]
    assert len(starts) == 2 and starts[1].resumed_from_step == at and starts[1].world_size == 2
    assert [e.step for e in _steps(rd)][-2:] == [at + 1, at + 2]
    assert rundir.read_status(rd)["status"] == "finished"


def test_kill_9_of_rank_1_fails_the_run_naming_the_rank_then_it_resumes_on_one_process(tiny_model_dir, tmp_path):
    cfg = _config(tiny_model_dir, tmp_path, **{"training.batch_size": 2, "training.max_steps": 400,
                                               "training.save_steps": 2})
    rd = tmp_path / "run"
    proc = _launch("--config", str(_file(cfg, tmp_path)), "--nproc", "2", "--run-dir", str(rd))
    _wait_for(lambda: rundir.last_checkpoint(rd) is not None and len(_steps(rd)) >= 3, proc, "a checkpoint")
    pid = _rank_pid(proc.pid, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    code, out = _finish(proc, timeout=60)  # torchrun's agent notices within a second; no hang in a collective
    assert code == 1, out[-3000:]
    status = rundir.read_status(rd)
    assert status["status"] == "failed" and status["rank"] == 1, status
    assert "rank 1 of 2" in status["error"] and "SIGKILL" in status["error"]
    failed = [e for e in read_events(rd / rundir.METRICS_FILE) if isinstance(e, RunFailed)]
    assert failed and "rank 1" in failed[-1].error
    assert "error: rank 1 of 2" in out

    at = int(rundir.last_checkpoint(rd).name.split("-")[1])
    code, out = _finish(_launch("--resume", str(rd), "--max-steps", str(at + 1)))
    assert code == 0, out[-3000:]
    starts = [e for e in read_events(rd / rundir.METRICS_FILE) if isinstance(e, RunStarted)]
    assert starts[-1].resumed_from_step == at and starts[-1].world_size == 1
    assert rundir.read_status(rd)["status"] == "finished"


def test_a_bad_data_file_under_nproc_2_is_one_line_exit_2_and_no_folder(tiny_model_dir, tmp_path):
    runs = tmp_path / "runs"
    cfg = _config(tiny_model_dir, tmp_path, **{"output.runs_dir": str(runs), "data.path": str(tmp_path / "missing.jsonl")})
    code, out = _finish(_launch("--config", str(_file(cfg, tmp_path)), "--nproc", "2"))
    assert code == 2, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing.jsonl" in errors[0], out[-3000:]  # rank 0's line; rank 1 is quiet
    assert "Traceback" not in out and "ChildFailedError" not in out
    assert not runs.exists() or not any(runs.iterdir())  # the folder chosen for it is not left behind


_FSDP_PLUGIN = """
import json, socket, sys
import torch.distributed as dist
from pathlib import Path
from engine.config import load_config
from engine.strategy import strategy_arguments
from engine.trainer import training_arguments
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
cfg = load_config(None, {"training.distributed": "fsdp"})
extra = {**strategy_arguments(cfg, "cuda", 8), "ddp_backend": "gloo"}  # as on 8 GPUs, built here on CPU
args = training_arguments(cfg, Path(sys.argv[1]), "cpu", "float32", False, **extra)
print(json.dumps({"fsdp": bool(args.fsdp), "plugin": args.fsdp_plugin_args}))
"""


def test_fsdp_reaches_the_trainer_as_accelerates_fsdp2_plugin(tmp_path):
    import json
    import sys

    out = subprocess.run([sys.executable, "-c", _FSDP_PLUGIN, str(tmp_path)], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["fsdp"] is True
    plugin = got["plugin"]
    assert plugin["fsdp_version"] == 2 and plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin["reshard_after_forward"] is True and plugin["cpu_ram_efficient_loading"] is True
    assert plugin["state_dict_type"] == "FULL_STATE_DICT"


def test_qlora_with_fsdp_stores_the_4bit_weights_in_the_compute_dtype():
    import torch

    from engine.config import load_config
    from engine.model import quantization_config

    cfg = load_config(None, {"model.quantization": "4bit"})
    assert quantization_config(cfg.model, "bfloat16", fsdp=True).bnb_4bit_quant_storage == torch.bfloat16
    assert quantization_config(cfg.model, "bfloat16").bnb_4bit_quant_storage == torch.uint8  # DDP/one GPU: as before


def test_ddp_and_one_process_arguments():
    from engine.config import load_config
    from engine.strategy import strategy_arguments

    cfg = load_config(None, {"training.distributed": "fsdp"})
    assert strategy_arguments(cfg, "cuda", 1) == {}  # one process: nothing to share
    assert strategy_arguments(cfg, "cpu", 2)["ddp_backend"] == "gloo" and "fsdp" not in strategy_arguments(cfg, "cpu", 2)
    ddp = strategy_arguments(load_config(None, {}), "cuda", 4)
    assert ddp["ddp_backend"] == "nccl" and ddp["ddp_find_unused_parameters"] is False


@pytest.mark.parametrize(("kind", "stage"), [("deepspeed", 3), ("deepspeed_zero2", 2)])
def test_deepspeed_config_is_written_by_rank_0_and_handed_to_the_trainer(tmp_path, kind, stage):
    import json

    from engine.config import load_config
    from engine.strategy import DEEPSPEED_FILE, strategy_arguments

    cfg = load_config(None, {"training.distributed": kind})
    other = tmp_path / "other"
    other.mkdir()
    strategy_arguments(cfg, "cuda", 2, other, is_main=False)
    assert not any(other.iterdir())  # other ranks write nothing in the run folder
    args = strategy_arguments(cfg, "cuda", 2, tmp_path, is_main=True)
    written = json.loads((tmp_path / DEEPSPEED_FILE).read_text(encoding="utf-8"))
    assert written == args["deepspeed"] and written["zero_optimization"]["stage"] == stage
    assert written["train_micro_batch_size_per_gpu"] == "auto"  # filled in by the Trainer from the config
    if stage == 3:
        assert written["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_deepspeed_missing_is_one_line_with_the_pip_command(tiny_model_dir, tmp_path):
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("DeepSpeed is installed here")
    cfg = _config(tiny_model_dir, tmp_path, **{"training.distributed": "deepspeed"})
    out = subprocess.run(_cli("train", "--config", str(_file(cfg, tmp_path)), "--nproc", "2"), cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert "training.distributed" in out.stderr and "pip install 'tunedeck[deepspeed]'" in out.stderr
    assert not (tmp_path / "runs").exists()  # refused before any process or folder
