"""Data loading and format detection, on real public datasets, on broken files, and on the sample data."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import data as data_mod
from engine.config import DataConfig
from engine.data import DatasetInfo, detect_format, load_dataset, load_raw, load_validation, to_record
from engine.data import read as data_read
from engine.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SAMPLES = ROOT / "sample_data"


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real datasets folder {SHARED} is absent (it sits beside the repo)")
    return SHARED


def load(path, **kw):
    return load_dataset(DataConfig(path=str(path), **kw))


def records(ds, info, n=None):
    rows = ds if n is None else ds.select(range(min(n, len(ds))))
    return [to_record(r, info.format, info.mapping) for r in rows]


def error_of(path, **kw) -> str:
    with pytest.raises(DataError) as e:
        load(path, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


ROWS = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- real datasets


@pytest.mark.parametrize(
    "name, fmt, rows, columns",
    [
        ("alpaca_en_demo.json", "alpaca", 999, ["instruction", "input", "output"]),
        ("lamini_docs_raw.jsonl", "qa", 1400, ["question", "answer"]),
        ("dummy_conversation.json", "sharegpt", 500, ["id", "conversations"]),
        ("glaive_toolcall_en_demo.json", "sharegpt", 300, ["conversations", "tools"]),
        ("squad_v2_small.json", "qa", 626, ["id", "question", "context", "answer"]),
    ],
)
def test_detects_every_shared_dataset(shared, name, fmt, rows, columns):
    ds, info = load(shared / name)
    assert (info.format, info.num_rows, len(ds), info.columns) == (fmt, rows, rows, columns)
    assert info.detected and info.file_format == Path(name).suffix[1:]
    assert info.describe() == f"{fmt} (detected) · {rows} rows · columns: {', '.join(columns)}"
    kinds = {r["kind"] for r in records(ds, info)}  # every row converts
    assert kinds == ({"chat"} if fmt == "sharegpt" else {"instruction"})


def test_alpaca_rows_and_noinput(shared):
    ds, info = load(shared / "alpaca_en_demo.json")
    assert info.mapping == {"instruction": "instruction", "output": "output", "input": "input"}
    noinput = [r for r in ds if r["input"].strip().lower() in ("noinput", "<noinput>")]
    assert noinput, "the shared file has literal noinput values"
    rec = to_record(noinput[0], info.format, info.mapping)
    assert rec["input"] == "" and rec["instruction"] == noinput[0]["instruction"] and rec["output"] == noinput[0]["output"]
    with_input = next(r for r in ds if r["input"].strip() and r["input"].strip().lower() != "noinput")
    assert to_record(with_input, info.format, info.mapping)["input"] == with_input["input"]


def test_lamini_qa_with_empty_questions_and_no_final_newline(shared):
    raw = (shared / "lamini_docs_raw.jsonl").read_bytes()
    assert not raw.endswith(b"\n")
    ds, info = load(shared / "lamini_docs_raw.jsonl")
    assert info.mapping == {"instruction": "question", "output": "answer"}
    recs = records(ds, info)
    assert sum(1 for r in recs if not r["instruction"].strip()) >= 1
    assert recs[-1]["output"] == json.loads(raw.splitlines()[-1])["answer"]


def test_sharegpt_roles(shared):
    ds, info = load(shared / "dummy_conversation.json")
    rec = to_record(ds[0], info.format, info.mapping)
    raw = ds[0]["conversations"]
    assert [m["content"] for m in rec["messages"]] == [t["value"] for t in raw]
    assert [m["role"] for m in rec["messages"]] == [{"human": "user", "gpt": "assistant"}[t["from"]] for t in raw]


def test_sharegpt_tools_and_extra_roles(shared):
    ds, info = load(shared / "glaive_toolcall_en_demo.json")
    roles, raw_roles = set(), set()
    for row, rec in zip(ds, records(ds, info), strict=False):
        raw_roles.update(t["from"] for t in row["conversations"])
        roles.update(m["role"] for m in rec["messages"])
        if row["tools"].strip() not in ("", "[]"):
            tool_msgs = [m for m in rec["messages"] if m["content"].startswith("Tools available:\n")]
            assert len(tool_msgs) == 1 and tool_msgs[0]["role"] == "system"
            assert tool_msgs[0]["content"] == "Tools available:\n" + row["tools"].strip()
    assert raw_roles == {"human", "gpt", "function_call", "observation"}
    assert roles == {"system", "user", "assistant", "tool"}
    row = next(r for r in ds if any(t["from"] == "function_call" for t in r["conversations"]))
    rec = to_record(row, info.format, info.mapping)
    i = next(i for i, t in enumerate(row["conversations"]) if t["from"] == "function_call")
    assert rec["messages"][i + 1] == {"role": "assistant", "content": row["conversations"][i]["value"]}  # +1: tools turn
    assert rec["messages"][0]["role"] == "system"


def test_squad_is_flattened_with_context_as_input(shared):
    ds, info = load(shared / "squad_v2_small.json")
    assert info.mapping == {"instruction": "question", "output": "answer", "input": "context"}
    recs = records(ds, info)
    answered = [r for r in recs if r["output"]]
    assert len(recs) - len(answered) == 333  # unanswerable questions keep an empty answer
    assert all(r["output"] in r["input"] for r in answered)
    src = json.loads((shared / "squad_v2_small.json").read_text())
    qa = src["data"][0]["paragraphs"][0]["qas"][0]
    assert ds[0]["id"] == qa["id"] and recs[0]["instruction"] == qa["question"]


def test_squad_offset_mismatch_names_the_question(tmp_path):
    bad = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}], "is_impossible": False},
        {"id": "q42", "question": "Where?", "answers": [{"text": "France", "answer_start": 3}], "is_impossible": False},
    ]}]}]}
    p = tmp_path / "squad.json"
    p.write_text(json.dumps(bad))
    assert "question q42: answer_start 3" in error_of(p)
    bad["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 12
    p.write_text(json.dumps(bad))
    ds, info = load(p)
    assert info.num_rows == 2 and ds[1]["answer"] == "France"


# --------------------------------------------------------------------------- file types and encodings


def test_every_file_format_loads(tmp_path):
    from datasets import Dataset, DatasetDict

    write_jsonl(tmp_path / "d.jsonl", ROWS)
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress((tmp_path / "d.jsonl").read_bytes()))
    Dataset.from_list(ROWS).to_csv(tmp_path / "d.csv")
    (tmp_path / "d.tsv").write_text("question\tanswer\n" + "".join(f"q{i}\ta{i}\n" for i in range(6)))
    Dataset.from_list(ROWS).to_parquet(tmp_path / "d.parquet")
    Dataset.from_list(ROWS).save_to_disk(tmp_path / "saved")
    DatasetDict({"train": Dataset.from_list(ROWS), "test": Dataset.from_list(ROWS[:2])}).save_to_disk(tmp_path / "dd")
    kinds = {"d.jsonl": "jsonl", "d.json": "json", "d.jsonl.gz": "jsonl", "d.csv": "csv", "d.tsv": "csv",
             "d.parquet": "parquet", "saved": "arrow", "dd": "arrow"}
    for name, kind in kinds.items():
        ds, info = load(tmp_path / name)
        assert (info.format, info.num_rows, info.file_format, info.columns) == ("qa", 6, kind, ["question", "answer"]), name
        assert to_record(ds[5], info.format, info.mapping)["output"] == "a5", name
    assert load(tmp_path / "dd", split="test")[1].num_rows == 2
    assert "no split 'dev'; splits are train, test; set data.split" in error_of(tmp_path / "dd", split="dev")


def test_limit(tmp_path):
    p = write_jsonl(tmp_path / "t.jsonl", [{"text": f"row {i}"} for i in range(50)])
    with p.open("a") as f:
        f.write("{broken\n")  # past the limit: not read
    assert len(load_raw(str(p), limit=7)) == 7
    ds, info = load(p, limit=3)
    assert info.num_rows == 3 and ds[2]["text"] == "row 2"
    assert ":51: not valid JSON" in error_of(p)


def test_bom_and_crlf_simply_work(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(r).encode() + b"\r\n" for r in ROWS))
    ds, info = load(p)
    assert info.num_rows == 6 and info.columns == ["question", "answer"] and ds[0]["question"] == "q0"
    j = tmp_path / "bom.json"
    j.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS, indent=1).replace("\n", "\r\n").encode())
    assert load(j)[1].columns == ["question", "answer"]
    c = tmp_path / "bom.csv"
    c.write_bytes(b"\xef\xbb\xbfquestion,answer\r\nq0,a0\r\n")
    ds, info = load(c)
    assert info.columns == ["question", "answer"] and ds[0] == {"question": "q0", "answer": "a0"}


def test_line_separators_inside_json_strings(tmp_path):
    rows = [{"text": "a\u2028b\u0085c\x0cd"}, {"text": "plain"}]
    p = tmp_path / "seps.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ds, _ = load(p)
    assert ds["text"] == ["a\u2028b\u0085c\x0cd", "plain"]


def test_columns_are_the_union_of_all_rows(tmp_path):
    rows = [{"instruction": "i0", "output": "o0"}, {"instruction": "i1", "input": "x", "output": "o1"}]
    for p in (write_jsonl(tmp_path / "u.jsonl", rows), tmp_path / "u.json"):
        p.write_text(json.dumps(rows)) if p.suffix == ".json" else None
        ds, info = load(p)
        assert info.columns == ["instruction", "output", "input"] and info.mapping["input"] == "input"
        assert [r["input"] for r in records(ds, info)] == ["", "x"]


def test_mixed_column_types_are_kept_as_text(tmp_path):
    rows = [{"question": "q", "answer": "x"}, {"question": "q", "answer": 5}, {"question": {"a": 1}, "answer": None}]
    ds, info = load(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert [(r["instruction"], r["output"]) for r in records(ds, info)] == [("q", "x"), ("q", "5"), ('{"a": 1}', "")]


def test_large_jsonl_goes_through_datasets_and_keeps_its_errors(tmp_path, monkeypatch, shared):
    monkeypatch.setattr(data_read, "LARGE_FILE_BYTES", 0)
    ds, info = load(shared / "lamini_docs_raw.jsonl")
    assert (info.format, info.num_rows, info.columns) == ("qa", 1400, ["question", "answer"])
    small = tmp_path / "big.jsonl"
    lines = [json.dumps(r) for r in ROWS * 2]
    lines[8] = '{"question": "q", "answer": '
    small.write_text("\n".join(lines))
    assert error_of(small).startswith(f"{small}:9: not valid JSON")
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{"text": "a"}, {"text": 3}, {"text": [1]}])
    assert [r["text"] for r in records(*load(mixed))] == ["a", "3", "[1]"]


# --------------------------------------------------------------------------- broken files: one line, where, what to do


def test_broken_jsonl_line_7_is_reported(tmp_path):
    lines = [json.dumps(r) for r in ROWS * 2]
    lines[6] = '{"question": "q6" "answer": "a6"}'
    p = tmp_path / "broken.jsonl"
    p.write_text("\n".join(lines))
    msg = error_of(p)
    assert msg.startswith(f"{p}:7: not valid JSON (Expecting ',' delimiter") and msg.endswith("fix or remove the line")


def test_broken_json_array_reports_line_and_column(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('[\n {"question": "a", "answer": "b"},\n {"question": "c" "answer": "d"}\n]\n')
    assert error_of(p).startswith(f"{p}:3:19: not valid JSON (Expecting ',' delimiter)")


def test_jsonl_rows_that_are_not_objects(tmp_path):
    p = tmp_path / "lists.jsonl"
    p.write_text('{"text": "a"}\n\n[1, 2]\n')
    assert error_of(p).startswith(f"{p}:3: each line must be a JSON object")
    j = tmp_path / "arr.json"
    j.write_text('[{"text": "a"}, "b"]')
    assert "row 2: expected an object" in error_of(j)


def test_non_utf8_bytes_are_reported_with_line(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(b'{"question": "a", "answer": "b"}\n{"question": "caf\xe9", "answer": "x"}\n')
    assert error_of(p) == f"{p}:2: not UTF-8 text (byte 0xe9 at offset 50); re-save the file as UTF-8"
    for suffix, body in ((".json", b'[{"text": "ok"},\n {"text": "caf\xe9"}]'), (".csv", b"text\nok\ncaf\xe9\n")):
        f = tmp_path / f"latin1{suffix}"
        f.write_bytes(body)
        assert f"latin1{suffix}:" in error_of(f) and ": not UTF-8 text (byte 0xe9" in error_of(f)


@pytest.mark.parametrize("name, content", [("e.json", b""), ("w.json", b"  \n\n"), ("a.json", b"[]"),
                                           ("e.jsonl", b""), ("w.jsonl", b"\r\n \n"), ("w.csv", b"\n\n"),
                                           ("h.csv", b"question,answer\n")])
def test_empty_files(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    assert "empty" in error_of(p) or "no rows" in error_of(p)


def test_directory_and_missing_path(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "a"}\n')
    msg = error_of(tmp_path)
    assert "is a folder" in msg and "train.jsonl" in msg
    assert "no such file" in error_of(tmp_path / "missing.jsonl")
    assert "no such file" in error_of("data/missing.jsonl")  # one slash, but a file name: not a hub id
    assert "no data file given" in error_of("  ")


def test_hub_ids_fail_in_one_line_offline(monkeypatch):
    if os.environ.get("HF_DATASETS_OFFLINE") != "1" and os.environ.get("HF_HUB_OFFLINE") != "1":
        pytest.skip("needs HF offline mode (tests/conftest.py sets it)")
    assert error_of("tunedeck-test/no-such-dataset") == (
        "cannot reach the Hugging Face hub for 'tunedeck-test/no-such-dataset'; use a local file")


def test_unreadable_csv_parquet_and_folder(tmp_path):
    (tmp_path / "bad.csv").write_text('a,b\n1,2\n"x\n')
    assert "cannot read as csv (Error tokenizing data" in error_of(tmp_path / "bad.csv")
    (tmp_path / "bad.parquet").write_bytes(b"nope")
    assert "cannot read as parquet" in error_of(tmp_path / "bad.parquet")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "state.json").write_text("{}")
    assert "cannot read the datasets folder" in error_of(tmp_path / "fake")
    (tmp_path / "x.txt").write_text("hello\n")
    assert "unknown file type .txt" in error_of(tmp_path / "x.txt")
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip")
    assert "not a readable gzip file" in error_of(tmp_path / "bad.jsonl.gz")


# --------------------------------------------------------------------------- detection and mapping


def test_undetectable_columns_say_how_to_map(tmp_path):
    p = write_jsonl(tmp_path / "odd.jsonl", [{"frage": "x", "antwort": "y"}])
    msg = error_of(p)
    assert msg == (f"{p}: cannot detect the format from columns [frage, antwort]; map them in the config, "
                   "e.g. data.columns: {instruction: frage, output: antwort}, or set data.format")
    ds, info = load(p, columns={"instruction": "frage", "output": "antwort"})
    assert (info.format, info.detected) == ("qa", False)
    assert to_record(ds[0], info.format, info.mapping) == {"kind": "instruction", "system": "", "instruction": "x",
                                                           "input": "", "output": "y"}


def test_mapping_a_missing_column_lists_the_columns(tmp_path):
    p = write_jsonl(tmp_path / "qa.jsonl", [{"question": "x", "answer": "y"}])
    assert error_of(p, columns={"output": "answr"}) == (
        f"data.columns.output: column 'answr' not in {p}; columns are: question, answer")
    assert "unknown role" in error_of(p, columns={"answer": "answer"})


def test_mapping_overrides_and_extends_detection(tmp_path):
    rows = [{"question": "q", "answer": "a", "long_answer": "A long one.", "ctx": "c", "sys": "be brief"}]
    p = write_jsonl(tmp_path / "qa.jsonl", rows)
    ds, info = load(p, columns={"output": "long_answer"})
    assert info.mapping == {"instruction": "question", "output": "long_answer"}
    assert to_record(ds[0], info.format, info.mapping)["output"] == "A long one."
    ds, info = load(p, columns={"input": "ctx", "system": "sys"})
    rec = to_record(ds[0], info.format, info.mapping)
    assert (info.format, rec["instruction"], rec["input"], rec["system"], rec["output"]) == ("qa", "q", "c", "be brief", "a")


@pytest.mark.parametrize("columns, fmt, mapping", [
    (["Instruction", "Input", "Output"], "alpaca", {"instruction": "Instruction", "output": "Output", "input": "Input"}),
    (["instruction", "output", "system"], "alpaca", {"instruction": "instruction", "output": "output", "system": "system"}),
    (["question", "answer"], "qa", {"instruction": "question", "output": "answer"}),
    (["instruction", "response"], "qa", {"instruction": "instruction", "output": "response"}),
    (["prompt", "completion"], "qa", {"instruction": "prompt", "output": "completion"}),
    (["query", "response"], "qa", {"instruction": "query", "output": "response"}),
    (["input", "output"], "qa", {"instruction": "input", "output": "output"}),
    (["text", "meta"], "text", {"text": "text"}),
    (["messages"], "messages", {"messages": "messages"}),
    (["conversations"], "sharegpt", {"conversations": "conversations"}),
])
def test_detection_table(columns, fmt, mapping):
    assert detect_format(columns, []) == (fmt, mapping)


def test_chat_columns_are_told_apart_by_their_turns():
    openai = [{"conversations": [{"role": "user", "content": "hi"}]}]
    assert detect_format(["conversations"], openai) == ("messages", {"messages": "conversations"})
    sharegpt = [{"messages": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]
    fmt, m = detect_format(["messages"], sharegpt)
    assert (fmt, m) == ("sharegpt", {"conversations": "messages"})
    assert [t["role"] for t in to_record(sharegpt[0], fmt, m)["messages"]] == ["user", "assistant"]


def test_forced_format(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    p = tmp_path / "m.json"
    p.write_text(json.dumps(rows))
    ds, info = load(p)
    assert info.format == "messages"
    assert to_record(ds[0], "messages", info.mapping)["messages"][1] == {"role": "assistant", "content": "hello"}
    assert "format alpaca needs the role(s) instruction, output" in error_of(p, format="alpaca")
    ds, info = load(p, format="sharegpt")
    assert (info.format, info.mapping, info.detected) == ("sharegpt", {"conversations": "messages"}, False)
    assert to_record(ds[0], info.format, info.mapping)["messages"][0] == {"role": "user", "content": "hi"}
    qa = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    assert load(qa, format="alpaca")[1].mapping == {"instruction": "question", "output": "answer"}
    assert "format text needs the role(s) text" in error_of(qa, format="text")


# --------------------------------------------------------------------------- records


def test_messages_records_openai_style():
    row = {"messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "2+2?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "calc", "arguments": "{\"expr\": \"2+2\"}"}}]},
        {"role": "tool", "content": 4},
        {"role": "assistant", "content": "4"},
    ], "tools": [{"name": "calc"}]}
    msgs = to_record(row, "messages", {"messages": "messages"})["messages"]
    assert msgs == [
        {"role": "system", "content": "sys"},
        {"role": "system", "content": 'Tools available:\n[{"name": "calc"}]'},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": '{"name": "calc", "arguments": {"expr": "2+2"}}'},
        {"role": "tool", "content": "4"},
        {"role": "assistant", "content": "4"},
    ]
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    with pytest.raises(DataError, match=r"messages\[0\]\.content\[0\]: a image_url part; only text"):
        to_record(image, "messages", {"messages": "messages"})


def test_chat_rows_stored_as_json_text():
    row = {"conversations": json.dumps([{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]), "tools": ""}
    rec = to_record(row, "sharegpt", {"conversations": "conversations"})
    assert rec == {"kind": "chat", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


@pytest.mark.parametrize("row, fmt, match", [
    ({"conversations": [{"from": "wizard", "value": "x"}]}, "sharegpt", r"conversations\[0\]: unknown role 'wizard'"),
    ({"conversations": ["hi"]}, "sharegpt", r"conversations\[0\]: expected \{from, value\}, got a string"),
    ({"messages": [{"content": "x"}]}, "messages", r"messages\[0\]: has no role"),
    ({"messages": "not json"}, "messages", "messages: expected a list of turns, got text"),
    ({"messages": 5}, "messages", "messages: expected a list of turns, got a number"),
])
def test_row_problems_are_clear_data_errors(row, fmt, match):
    col = "messages" if fmt == "messages" else "conversations"
    with pytest.raises(DataError, match=match):
        to_record(row, fmt, {col: col})


def test_none_and_numbers_become_text():
    rec = to_record({"question": None, "answer": 42, "ctx": 1.5}, "qa", {"instruction": "question", "output": "answer", "input": "ctx"})
    assert rec == {"kind": "instruction", "system": "", "instruction": "", "input": "1.5", "output": "42"}
    assert to_record({"text": None}, "text", {"text": "text"}) == {"kind": "text", "text": ""}
    assert to_record({"messages": None}, "messages", {"messages": "messages"}) == {"kind": "chat", "messages": []}
    with pytest.raises(DataError, match="needs the role"):
        to_record({"a": 1}, "qa", {})


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=8)
TURN = st.fixed_dictionaries({}, optional={"role": JSONISH | st.sampled_from(["user", "assistant", "gpt", "human"]),
                                           "from": JSONISH | st.sampled_from(["human", "gpt", "observation"]),
                                           "content": JSONISH, "value": JSONISH, "tool_calls": JSONISH})
FIELD = JSONISH | st.lists(TURN, max_size=3) | st.lists(TURN, max_size=3).map(json.dumps)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.dictionaries(st.sampled_from(["a", "b", "tools"]), FIELD, max_size=3),
       fmt=st.sampled_from(data_mod.FORMATS))
def test_to_record_never_crashes(row, fmt):
    mapping = {"alpaca": {"instruction": "a", "input": "b", "output": "b"}, "qa": {"instruction": "a", "output": "b"},
               "text": {"text": "a"}, "messages": {"messages": "a"}, "sharegpt": {"conversations": "a"}}[fmt]
    try:
        rec = to_record(row, fmt, mapping)
    except DataError as e:
        assert "\n" not in str(e)
        return
    if rec["kind"] == "chat":
        assert all(set(m) == {"role", "content"} and m["role"] in ("system", "user", "assistant", "tool")
                   and isinstance(m["content"], str) for m in rec["messages"])
    else:
        assert all(isinstance(v, str) for v in rec.values())


# --------------------------------------------------------------------------- validation file, import cost, info


def test_validation_file_uses_the_training_mapping(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"frage": "x", "antwort": "y"}])
    val = write_jsonl(tmp_path / "val.jsonl", [{"frage": "v", "antwort": "w", "extra": 1}])
    cfg = DataConfig(path=str(train), val_path=str(val), columns={"instruction": "frage", "output": "antwort"})
    assert load_validation(DataConfig(path=str(train))) is None
    _, info = load_dataset(cfg)
    vds, vinfo = load_validation(cfg, info)
    assert (vinfo.format, vinfo.mapping, vinfo.num_rows) == (info.format, info.mapping, 1)
    assert to_record(vds[0], vinfo.format, vinfo.mapping)["output"] == "w"
    assert load_validation(cfg)[1].mapping == info.mapping
    write_jsonl(val, [{"frage": "v", "answer": "w"}])
    with pytest.raises(DataError, match=r"lacks the column\(s\) the training data uses \(output <- antwort\)"):
        load_validation(cfg, info)


def test_importing_engine_data_does_not_import_datasets():
    code = "import sys, engine.data; sys.exit(1 if 'datasets' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_dataset_info_describe():
    info = DatasetInfo("x.json", "json", "alpaca", ["instruction", "input", "output"], 999,
                       {"instruction": "instruction", "output": "output"}, detected=False)
    assert info.describe() == "alpaca (set) · 999 rows · columns: instruction, input, output"


# --------------------------------------------------------------------------- the project's own sample data


def test_sample_datasets():
    ds, info = load(SAMPLES / "tunedeck_alpaca.json")
    assert (info.format, info.num_rows) == ("alpaca", 300)
    alpaca = records(ds, info)
    assert 60 <= sum(1 for r in alpaca if r["input"]) <= 150
    ds, info = load(SAMPLES / "tunedeck_qa.jsonl")
    assert (info.format, info.num_rows) == ("qa", 300)
    qa = records(ds, info)
    for recs in (alpaca, qa):
        assert len({(r["instruction"], r["input"]) for r in recs}) >= 295  # prompts hardly repeat
        assert len({r["output"] for r in recs}) >= 150  # answers vary
        assert all(r["instruction"].strip() and 10 <= len(r["output"]) <= 400 for r in recs)
    for name in ("tunedeck_alpaca.json", "tunedeck_qa.jsonl"):
        assert (SAMPLES / name).stat().st_size < 150_000


def test_sample_generator_is_deterministic(tmp_path):
    for out in ("a", "b"):
        subprocess.run([sys.executable, str(SAMPLES / "make_samples.py"), "--out", str(tmp_path / out)],
                       check=True, capture_output=True)
    for name in ("tunedeck_alpaca.json", "tunedeck_qa.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
