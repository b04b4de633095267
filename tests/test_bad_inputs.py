"""A hostile user's pass: a table of bad inputs to train, resume, export, data, init.

Each asserts exit code 2, exactly one ``error:`` line that names the place and the fix, no traceback, and
every file that existed before byte-for-byte unchanged (nothing of the user's is ever overwritten).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from engine import rundir
from engine.config import Config, load_config, save_config
from tests.test_train import QA, write_jsonl
from tui.cli import main

RESUME_FILES = ("adapter_model.safetensors", "adapter_config.json", "optimizer.pt", "scheduler.pt", "rng_state.pth")


def base_config(model_dir: Path, data: Path, root: Path, **over) -> Config:
    sets = {"model.name": str(model_dir), "model.quantization": "none", "data.path": str(data), "data.template": "qa",
            "data.max_length": 64, "training.max_steps": 2, "training.batch_size": 4, "training.save_steps": 1,
            "lora.r": 4, "output.runs_dir": str(root / "runs")}
    sets.update(over)
    return load_config(None, sets)


def fake_run(root: Path, name: str, status: str, cfg: Config, *, complete: bool = True, step: int = 2) -> Path:
    """A run folder as TuneDeck leaves it (without training): config, status, metrics, one checkpoint, adapter."""
    rd = root / "runs" / name
    ckpt = rd / "checkpoints" / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    save_config(cfg, rd / rundir.CONFIG_FILE)
    (rd / rundir.METRICS_FILE).write_text(json.dumps({"event": "started", "time": 1.0, "run_dir": str(rd)}) + "\n")
    for n in RESUME_FILES if complete else RESUME_FILES[:2]:
        (ckpt / n).write_bytes(b"x")
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (rd / "adapter").mkdir()
    (rd / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    (rd / "adapter" / "adapter_config.json").write_text("{}")
    rundir.write_status(rd, status, step=step)
    return rd


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def world(tmp_path, tiny_model_dir, monkeypatch):
    """A project folder with data, a config, runs of every state; cwd is it."""
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(tmp_path / "qa.jsonl", QA * 2)
    cfg = base_config(tiny_model_dir, data, tmp_path)
    save_config(cfg, tmp_path / "good.yaml")
    fake_run(tmp_path, "done", "finished", cfg)
    fake_run(tmp_path, "halted", "stopped", cfg)
    fake_run(tmp_path, "torn", "stopped", cfg, complete=False)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "config.yaml").write_text("my: precious\n")
    (tmp_path / "out.jsonl").write_text('{"mine": 1}\n')
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "keep.txt").write_text("keep")
    return tmp_path


def w(root: Path, name: str, text: str | bytes) -> str:
    p = root / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


def train_cfg(root, *extra):
    return ["train", "--config", "good.yaml", *extra]


# (id, build(root) -> argv, words every message must contain)
CASES = [
    # configs
    ("config-missing", lambda r: ["train", "--config", "nope.yaml"], ["nope.yaml", "tunedeck init"]),
    ("config-is-folder", lambda r: ["train", "--config", "precious"], ["precious", "folder"]),
    ("config-not-utf8", lambda r: ["train", "--config", w(r, "bin.yaml", b"model:\n  name: \xff\xfe\n")], ["bin.yaml", "UTF-8"]),
    ("config-yaml-syntax", lambda r: ["train", "--config", w(r, "bad.yaml", "model:\n  name: [x\n")], ["bad.yaml:", "fix the line"]),
    ("config-top-level-list", lambda r: ["train", "--config", w(r, "list.yaml", "- a\n- b\n")], ["list.yaml", "mapping"]),
    ("config-unknown-section", lambda r: ["train", "--config", w(r, "sec.yaml", "modle:\n  name: x\n")], ["sec.yaml", "modle"]),
    ("config-typo-key", lambda r: ["train", "--config", w(r, "typo.yaml", "lora:\n  rank: 8\n")], ["lora.rank", "lora.r"]),
    ("config-negative-lr", lambda r: ["train", "--config", w(r, "lr.yaml", "training:\n  learning_rate: -1\n")], ["lr.yaml", "training.learning_rate", "> 0"]),
    ("config-rank-text", lambda r: ["train", "--config", w(r, "r.yaml", "lora:\n  r: sixteen\n")], ["r.yaml", "lora.r", "whole number"]),
    ("config-bad-choice", lambda r: ["train", "--config", w(r, "q.yaml", "model:\n  quantization: 3bit\n")], ["model.quantization", "4bit"]),
    ("config-val-split-1.5", lambda r: ["train", "--config", w(r, "vs.yaml", "data:\n  val_split: 1.5\n")], ["data.val_split", "< 1"]),
    ("config-token-budget", lambda r: ["train", "--config", w(r, "tb.yaml", "training:\n  max_tokens_per_batch: 10\n")], ["training.max_tokens_per_batch", "data.max_length"]),
    ("config-delimiter-two-chars", lambda r: ["train", "--config", w(r, "dl.yaml", "data:\n  delimiter: ';;'\n")], ["data.delimiter", "one character"]),
    ("train-without-config", lambda r: ["train"], ["--config", "tunedeck init"]),
    # overrides
    ("set-rank-text", lambda r: train_cfg(r, "--set", "lora.r=sixteen"), ["--set lora.r", "whole number"]),
    ("set-no-equals", lambda r: train_cfg(r, "--set", "lora.r"), ["--set lora.r", "SECTION.KEY=VALUE"]),
    ("set-unknown-key", lambda r: train_cfg(r, "--set", "lora.rank=8"), ["--set lora.rank", "lora.r"]),
    ("set-zero-batch", lambda r: train_cfg(r, "--set", "training.batch_size=0"), ["--set training.batch_size", "> 0"]),
    ("max-steps-negative", lambda r: train_cfg(r, "--max-steps", "-3"), ["training.max_steps", ">= 0"]),
    ("set-no-section", lambda r: train_cfg(r, "--set", "rank=8"), ["--set rank", "sections are"]),
    # data files
    ("data-missing", lambda r: train_cfg(r, "--data", "missing.jsonl"), ["missing.jsonl", "data.path"]),
    ("data-empty", lambda r: train_cfg(r, "--data", w(r, "empty.jsonl", "")), ["empty.jsonl", "empty"]),
    ("data-whitespace", lambda r: train_cfg(r, "--data", w(r, "ws.jsonl", "\n  \n")), ["ws.jsonl", "empty"]),
    ("data-bad-json-line", lambda r: train_cfg(r, "--data", w(r, "bad.jsonl", '{"question": "a", "answer": "b"}\n{"question": \n')), ["bad.jsonl:2", "fix or remove"]),
    ("data-not-utf8", lambda r: train_cfg(r, "--data", w(r, "latin.jsonl", b'{"question": "caf\xe9", "answer": "x"}\n')), ["latin.jsonl", "UTF-8"]),
    ("data-unknown-extension", lambda r: train_cfg(r, "--data", w(r, "data.xyz", "hello")), ["data.xyz", ".jsonl"]),
    ("data-json-number", lambda r: train_cfg(r, "--data", w(r, "num.json", "42")), ["num.json"]),
    ("data-csv-ragged", lambda r: train_cfg(r, "--data", w(r, "rag.csv", "question;answer\na;b;c;d\ne;f\n")), ["rag.csv", "data.delimiter"]),
    ("data-unknown-columns", lambda r: train_cfg(r, "--data", write_jsonl(r / "cols.jsonl", [{"foo": "a", "bar": "b"}] * 3)), ["cols.jsonl", "data.columns"]),
    ("data-all-empty-answers", lambda r: train_cfg(r, "--data", write_jsonl(r / "blank.jsonl", [{"question": "q", "answer": ""}] * 3)), ["blank.jsonl", "nothing to train"]),
    ("data-val-split-too-big", lambda r: train_cfg(r, "--data", write_jsonl(r / "two.jsonl", QA[:2]), "--set", "data.val_split=0.9"), ["data.val_split", "lower it"]),
    ("data-columns-missing", lambda r: train_cfg(r, "--set", "data.columns={instruction: nope, output: answer}"), ["nope", "data.columns"]),
    ("data-val-path-columns", lambda r: train_cfg(r, "--set", f"data.val_path={write_jsonl(r / 'v.jsonl', [{'x': 1}])}"), ["data.val_path", "same columns"]),
    ("data-chat-turn-not-object", lambda r: train_cfg(r, "--data", write_jsonl(r / "chat.jsonl", [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}] * 3 + [{"messages": [1, 2]}]), "--set", "data.template=chatml"), ["chat.jsonl", "row 4"]),
    ("data-folder-not-dataset", lambda r: train_cfg(r, "--data", "precious"), ["precious"]),
    # run folders
    ("run-dir-foreign", lambda r: train_cfg(r, "--run-dir", "precious"), ["precious", "not a TuneDeck run", "nothing was written"]),
    ("run-dir-is-file", lambda r: train_cfg(r, "--run-dir", "out.jsonl"), ["out.jsonl", "not a folder"]),
    ("run-dir-finished", lambda r: train_cfg(r, "--run-dir", "runs/done"), ["runs/done", "finished", "--resume", "new --run-dir"]),
    ("run-dir-stopped", lambda r: train_cfg(r, "--run-dir", "runs/halted"), ["runs/halted", "stopped", "--resume"]),
    ("run-dir-bad-data-foreign", lambda r: train_cfg(r, "--run-dir", "precious", "--data", "missing.jsonl"), ["precious", "not a TuneDeck run"]),
    # resume
    ("resume-missing", lambda r: ["train", "--resume", "nope-run"], ["nope-run", "no such run"]),
    ("resume-finished", lambda r: ["train", "--resume", "runs/done"], ["finished at step 2", "--max-steps"]),
    ("resume-finished-lower-steps", lambda r: ["train", "--resume", "runs/done", "--max-steps", "1"], ["finished", "--max-steps 4"]),
    ("resume-incomplete-checkpoint", lambda r: ["train", "--resume", "runs/torn"], ["no complete checkpoint"]),
    ("resume-foreign", lambda r: ["train", "--resume", "precious"], ["precious"]),
    # export
    ("export-data-exists", lambda r: ["export", "runs/done", "--data", "out.jsonl"], ["out.jsonl", "--overwrite"]),
    ("export-data-own-input", lambda r: ["export", "runs/done", "--data", "qa.jsonl", "--overwrite"], ["qa.jsonl", "data.path", "never overwritten"]),
    ("export-data-folder", lambda r: ["export", "runs/done", "--data", "merged"], ["merged", "folder"]),
    ("export-merged-nonempty", lambda r: ["export", "runs/done", "--merged", "merged"], ["merged", "not empty"]),
    ("export-missing-run", lambda r: ["export", "nope-run", "--data", "x.jsonl"], ["nope-run", "no such run"]),
    # other commands
    ("init-existing", lambda r: ["init", "good.yaml"], ["good.yaml", "already exists"]),
    ("data-cmd-missing", lambda r: ["data", "gone.csv"], ["gone.csv", "no such file"]),
    ("data-cmd-csv-ragged", lambda r: ["data", w(r, "rag2.csv", "a,b\n1,2,3,4\n")], ["rag2.csv", "data.delimiter"]),
    ("model-missing-folder", lambda r: train_cfg(r, "--model", "./no-such-model"), ["model.name", "not found"]),
    ("model-hub-offline", lambda r: train_cfg(r, "--model", "no-org/no-such-model-xyz"), ["model.name", "no-org/no-such-model-xyz", "local folder"]),
    ("generate-missing-run", lambda r: ["generate", "nope-run", "--prompt", "hi"], ["nope-run", "no such run"]),
]


def test_the_table_has_at_least_40_hostile_inputs():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("build,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_place_and_fix(world, build, words, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = build(world)
    before = snapshot(world)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2, (code, err)
    assert len(errors) == 1, err
    assert "Traceback" not in err + out
    for word in words:
        assert word in errors[0], (word, errors[0])
    after = snapshot(world)
    changed = [k for k, v in before.items() if after.get(k) != v]
    assert not changed, f"pre-existing files changed: {changed}"
    assert not (world / "precious" / rundir.STATUS_FILE).exists()


def test_a_locked_run_folder_is_refused_naming_the_holder(world, capsys):
    """The lock alone (another process's flock on train.lock) refuses a second trainer, new or resumed."""
    rd = world / "runs" / "halted"
    fd = os.open(rd / "train.lock", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)  # another open file description: conflicts as another process's would
    empty = world / "empty-run"
    empty.mkdir()
    fd2 = os.open(empty / "train.lock", os.O_RDWR | os.O_CREAT)
    os.write(fd2, b"4343\n")
    fcntl.flock(fd2, fcntl.LOCK_EX)
    try:
        before = snapshot(world)
        assert main(["train", "--resume", str(rd)]) == 2
        err = capsys.readouterr().err
        assert "pid 4242" in err and "another process" in err
        assert main(["train", "--config", "good.yaml", "--run-dir", str(empty)]) == 2
        err = capsys.readouterr().err
        assert "pid 4343" in err and "another process" in err
        assert snapshot(world) == before
    finally:
        os.close(fd)
        os.close(fd2)


def test_values_far_outside_sane_ranges_warn_but_do_not_fail(tiny_model_dir, tmp_path):
    from engine.model import load_tokenizer
    from engine.sanity import config_warnings

    data = write_jsonl(tmp_path / "qa.jsonl", QA)
    cfg = base_config(tiny_model_dir, data, tmp_path, **{"training.learning_rate": 1e6, "training.max_steps": 0,
                                                          "training.epochs": 500, "data.max_length": 10**6})
    tok = load_tokenizer(cfg.model)
    lines = config_warnings(cfg, tok)
    assert any(ln.startswith("training.learning_rate: 1e+06") and "2e-4" in ln for ln in lines), lines
    assert any(ln.startswith("training.epochs: 500") for ln in lines), lines
    assert any(ln.startswith("data.max_length: 1000000") and "context" in ln for ln in lines), lines
    assert config_warnings(base_config(tiny_model_dir, data, tmp_path), tok) == []
