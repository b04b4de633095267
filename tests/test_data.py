"""Data loading and format detection, on real public datasets and on broken files."""

from __future__ import annotations

import json

import pytest

from engine.config import DataConfig
from engine.data import detect_format, load_dataset, load_raw, to_record
from engine.errors import DataError


def load(path, **kw):
    return load_dataset(DataConfig(path=str(path), **kw))


@pytest.mark.parametrize(
    "name, fmt, rows",
    [
        ("alpaca_en_demo.json", "alpaca", 999),
        ("lamini_docs_raw.jsonl", "qa", 1400),
        ("dummy_conversation.json", "sharegpt", 500),
        ("glaive_toolcall_en_demo.json", "sharegpt", 300),
        ("squad_v2_small.json", "qa", 626),
    ],
)
def test_detects_every_shared_dataset(shared_datasets, name, fmt, rows):
    ds, info = load(shared_datasets / name)
    assert (info.format, info.num_rows, len(ds)) == (fmt, rows, rows)
    assert info.detected
    for row in ds.select(range(20)):
        record = to_record(row, info.format, info.mapping)
        assert record["kind"] in ("instruction", "chat")


def test_alpaca_noinput_becomes_empty_input(shared_datasets):
    ds, info = load(shared_datasets / "alpaca_en_demo.json")
    noinput = [r for r in ds if r["input"].strip().lower() == "noinput"]
    assert noinput, "the shared file has literal noinput values"
    assert to_record(noinput[0], info.format, info.mapping)["input"] == ""


def test_sharegpt_roles_and_tools(shared_datasets):
    ds, info = load(shared_datasets / "glaive_toolcall_en_demo.json")
    roles = set()
    for row in ds:
        rec = to_record(row, info.format, info.mapping)
        roles.update(m["role"] for m in rec["messages"])
    assert roles <= {"system", "user", "assistant", "tool"} and "tool" in roles
    first = to_record(ds[0], info.format, info.mapping)["messages"]
    assert any(m["role"] == "system" and m["content"].startswith("Tools available:\n") for m in first)


def test_squad_is_flattened_with_context_as_input(shared_datasets):
    ds, info = load(shared_datasets / "squad_v2_small.json")
    rec = to_record(ds[0], info.format, info.mapping)
    assert rec["instruction"].endswith("?") and rec["input"] and rec["output"] in rec["input"]
    assert sum(1 for r in ds if r["answer"] == "") == 333  # unanswerable questions


def test_squad_offset_mismatch_names_the_question(tmp_path):
    bad = {"version": "v2.0", "data": [{"paragraphs": [{"context": "Paris is in France.",
            "qas": [{"id": "q42", "question": "Where?", "answers": [{"text": "France", "answer_start": 3}]}]}]}]}
    p = tmp_path / "squad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="question q42: answer_start 3"):
        load(p)


ROWS = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)]


def test_every_file_format_loads(tmp_path):
    from datasets import Dataset

    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    Dataset.from_list(ROWS).to_csv(tmp_path / "d.csv")
    Dataset.from_list(ROWS).to_parquet(tmp_path / "d.parquet")
    Dataset.from_list(ROWS).save_to_disk(tmp_path / "saved")
    for name in ("d.jsonl", "d.json", "d.csv", "d.parquet", "saved"):
        ds, info = load(tmp_path / name)
        assert (info.format, info.num_rows) == ("qa", 6), name
        assert to_record(ds[5], info.format, info.mapping)["output"] == "a5"


def test_bom_and_crlf_simply_work(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(r).encode() + b"\r\n" for r in ROWS))
    ds, info = load(p)
    assert info.num_rows == 6 and info.columns == ["question", "answer"]


def test_broken_jsonl_line_7_is_reported(tmp_path):
    lines = [json.dumps(r) for r in ROWS * 2]
    lines[6] = '{"question": "q6" "answer": "a6"}'
    p = tmp_path / "broken.jsonl"
    p.write_text("\n".join(lines))
    with pytest.raises(DataError) as info:
        load(p)
    assert str(info.value).startswith(f"{p}:7: not valid JSON")
    assert "\n" not in str(info.value)


def test_non_utf8_bytes_are_reported_with_line(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(b'{"question": "a", "answer": "b"}\n{"question": "caf\xe9", "answer": "x"}\n')
    with pytest.raises(DataError, match=r"latin1.jsonl:2: not UTF-8 text \(byte 0xe9"):
        load(p)


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"[]"])
def test_empty_files(tmp_path, content):
    p = tmp_path / "empty.json"
    p.write_bytes(content)
    with pytest.raises(DataError, match="empty|no rows"):
        load(p)


def test_directory_and_missing_path(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "missing.jsonl")


def test_undetectable_columns_say_how_to_map(tmp_path):
    p = tmp_path / "odd.jsonl"
    p.write_text(json.dumps({"frage": "x", "antwort": "y"}) + "\n")
    with pytest.raises(DataError) as info:
        load(p)
    msg = str(info.value)
    assert "columns [frage, antwort]" in msg and "data.columns: {instruction: frage, output: antwort}" in msg
    ds, info2 = load(p, columns={"instruction": "frage", "output": "antwort"})
    assert info2.format == "qa" and to_record(ds[0], info2.format, info2.mapping)["output"] == "y"


def test_mapping_a_missing_column_lists_the_columns(tmp_path):
    p = tmp_path / "qa.jsonl"
    p.write_text(json.dumps({"question": "x", "answer": "y"}) + "\n")
    with pytest.raises(DataError, match="data.columns.output: column 'answr' not in .*columns are: question, answer"):
        load(p, columns={"output": "answr"})


def test_forced_format_and_messages(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    p = tmp_path / "m.json"
    p.write_text(json.dumps(rows))
    ds, info = load(p)
    assert info.format == "messages"
    assert to_record(ds[0], "messages", info.mapping)["messages"][1] == {"role": "assistant", "content": "hello"}
    with pytest.raises(DataError, match="format alpaca needs the role"):
        load(p, format="alpaca")


def test_unknown_role_is_a_clear_row_error():
    with pytest.raises(DataError, match="unknown role 'wizard'"):
        to_record({"conversations": [{"from": "wizard", "value": "x"}]}, "sharegpt", {"conversations": "conversations"})


def test_none_and_numbers_become_text():
    rec = to_record({"question": None, "answer": 42}, "qa", {"instruction": "question", "output": "answer"})
    assert rec["instruction"] == "" and rec["output"] == "42"


def test_limit_and_detect_format_directly(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(50)))
    assert len(load_raw(str(p), limit=7)) == 7
    assert detect_format(["Text"], [{"Text": "x"}]) == ("text", {"text": "Text"})
