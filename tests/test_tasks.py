"""The task seam: causal LM is a Task like extractive QA, and the engine asks the task instead of branching on its name."""

from __future__ import annotations

import pytest

from engine import rundir
from engine.config import load_config, save_config
from engine.errors import RunError, causes, innermost
from engine.tasks import FitResult, Task, get_task

from .test_train import QA, tiny_config, write_jsonl


def test_every_task_name_gives_a_task_with_a_recipe():
    for name in ("causal_lm", "extractive_qa"):
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name
        assert type(task).fit is not Task.fit and type(task).prepare is not Task.prepare  # a recipe of its own
    assert get_task("causal_lm").generates and not get_task("extractive_qa").generates


def test_causal_lm_features_preview_and_collator_are_the_trainings_own(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    from engine.prepare import prepare_data
    from engine.tokenize import encode_row

    cfg = tiny_config(tiny_model_dir, write_jsonl(tmp_path / "qa.jsonl", QA * 2), tmp_path)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    task = get_task("causal_lm")
    rows, info = task.load_examples(cfg)
    columns, stats = task.features(rows, tok, cfg, info=info)
    assert stats.kept == len(rows) == 8
    assert columns["input_ids"] == prepare_data(cfg, tok).train["input_ids"]  # the very tokens training uses
    preview = task.preview(rows[0], tok, cfg)  # the data's format detected from the row when info is not given
    assert preview.labels == encode_row(rows[0], info, cfg.data, tok).labels
    batch = task.collator(tok, "padding_free", row_tokens=64)([{"input_ids": columns["input_ids"][0],
                                                                 "labels": columns["labels"][0]}])
    assert set(batch) == {"input_ids", "labels", "position_ids"}


def test_causal_lm_metrics_weigh_each_token_once():
    scores = get_task("causal_lm").metrics([(2.0, 1), (6.0, 3)], rows=[{}, {}])
    assert scores["loss"] == pytest.approx(2.0)  # (2 + 6) / 4 tokens, not the mean of 2.0 and 2.0 by sample
    assert scores["perplexity"] == pytest.approx(7.389056, rel=1e-6)
    assert get_task("causal_lm").metrics([(0.0, 0)], rows=[{}]) == {"loss": None, "perplexity": None}


def test_a_task_that_does_not_generate_is_refused_before_any_model_loads(tmp_path):
    from engine.infer import load_for_generation

    rd = tmp_path / "runs" / "20260101-000000-qa"
    rd.mkdir(parents=True)
    save_config(load_config(None, {"task": "extractive_qa", "data.path": "squad.json"}), rd / rundir.CONFIG_FILE)
    with pytest.raises(RunError, match=r"task extractive_qa does not generate text \(only causal_lm runs do\)"):
        load_for_generation(rd, base_model_cfg=None)


def test_fit_result_says_how_a_fit_ended():
    assert FitResult(12, stopped=True, nan_step=None, last_loss=1.5).output_path is None


def test_the_exception_chain_walker_visits_each_cause_once_even_in_a_loop():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        chain = list(causes(outer))
    assert [type(e) for e in chain] == [RuntimeError, OSError]
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a  # a chain that loops back
    assert list(causes(a)) == [a, b]
    assert innermost(a) is b and innermost(b) is a
