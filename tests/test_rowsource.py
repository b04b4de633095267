"""engine.data.rowsource: lazy JSONL offsets, rows, search and count; small-file backends through engine.data."""

from __future__ import annotations

import json
import threading

import pytest

from engine.data import rowsource
from engine.data.rowsource import ERROR_KEY, JsonlRows, TableRows, open_rows
from engine.errors import DataError


def write_rows(path, n, *, newline="\n", bom=False, trailing_newline=True):
    lines = [json.dumps({"question": f"Question {i}?", "answer": f"Answer {i}."}) for i in range(n)]
    data = newline.join(lines) + (newline if trailing_newline else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("trailing", [True, False])
def test_rows_and_count(tmp_path, newline, bom, trailing):
    src = open_rows(write_rows(tmp_path / "d.jsonl", 25, newline=newline, bom=bom, trailing_newline=trailing))
    assert isinstance(src, JsonlRows)
    assert src.rows(0, 2) == [{"question": "Question 0?", "answer": "Answer 0."},
                              {"question": "Question 1?", "answer": "Answer 1."}]
    assert src.columns() == ["question", "answer"]
    assert src.count() == 25 and src.num_rows == 25
    assert [r["answer"] for r in src.rows(23, 10)] == ["Answer 23.", "Answer 24."]  # the last line, with or without \n
    assert src.rows(25, 5) == []


def test_offsets_point_at_line_starts(tmp_path):
    p = write_rows(tmp_path / "d.jsonl", 10, newline="\r\n", bom=True)
    src = open_rows(p)
    src.count()
    data = p.read_bytes()
    assert src._offsets[0] == 3  # after the BOM
    for i, off in enumerate(src._offsets):
        assert data[off:].startswith(f'{{"question": "Question {i}?"'.encode())


def test_first_page_before_count_small_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(rowsource, "CHUNK", 256)  # many chunks: lines split across reads
    src = open_rows(write_rows(tmp_path / "d.jsonl", 500))
    assert [r["answer"] for r in src.rows(0, 3)] == ["Answer 0.", "Answer 1.", "Answer 2."]
    assert src.num_rows is None and src.known_rows < 500  # only the start was scanned
    seen = []
    assert src.count(progress=lambda n, frac: seen.append((n, frac))) == 500
    assert seen[-1] == (500, 1.0) and len(seen) > 3
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert [r["answer"] for r in src.rows(250, 2)] == ["Answer 250.", "Answer 251."]


def test_readers_during_count_see_each_row_once(tmp_path, monkeypatch):
    monkeypatch.setattr(rowsource, "CHUNK", 4096)
    src = open_rows(write_rows(tmp_path / "d.jsonl", 20000))
    t = threading.Thread(target=src.count)
    t.start()
    pages = [src.rows(k * 1000, 3) for k in range(20)]
    t.join()
    assert [p[0]["answer"] for p in pages] == [f"Answer {k * 1000}." for k in range(20)]
    assert src.count() == 20000 and len(src._offsets) == 20000


def test_malformed_line_becomes_error_row_with_line_number(tmp_path):
    p = tmp_path / "broken.jsonl"
    p.write_text('{"text": "a"}\n\n{"text": "b"}\n{"text": oops}\n[1, 2]\n{"text": "c"}\n', encoding="utf-8")
    src = open_rows(p)
    rows = src.rows(0, 10)
    assert src.count() == 5  # the blank line is not a row
    assert rows[0] == {"text": "a"} and rows[1] == {"text": "b"} and rows[4] == {"text": "c"}
    assert rows[2][ERROR_KEY].startswith("broken.jsonl:4: not valid JSON")
    assert rows[3][ERROR_KEY] == "broken.jsonl:5: each line must be a JSON object, got list"
    assert "\n" not in rows[2][ERROR_KEY]
    assert src.columns() == ["text"]


def test_search_case_insensitive_and_from_start(tmp_path, monkeypatch):
    monkeypatch.setattr(rowsource, "CHUNK", 1000)  # matches across chunk borders
    src = open_rows(write_rows(tmp_path / "d.jsonl", 3000))
    assert src.search("ANSWER 1234.") == 1234
    assert src.search("question 7?", start=8) is None
    assert src.search("question 7", start=8) == 70  # next match after the start
    assert src.search("Question 2999?") == 2999
    assert src.search("no such text") is None
    assert src.search("answer", start=3000) is None


def test_search_escaped_text(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(json.dumps({"text": 'say "hi"'}) + "\n" + json.dumps({"text": "tab\there"}) + "\n", encoding="utf-8")
    src = open_rows(p)
    assert src.search('"hi"') == 0
    assert src.search("tab\there") == 1


def test_cancel_stops_count(tmp_path, monkeypatch):
    monkeypatch.setattr(rowsource, "CHUNK", 512)
    src = open_rows(write_rows(tmp_path / "d.jsonl", 2000))
    stop = threading.Event()
    stop.set()
    src.count(cancel=stop)
    assert src.num_rows is None
    assert src.count() == 2000  # resumes


def test_empty_and_missing(tmp_path):
    (tmp_path / "e.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b"\n \n\r\n")
    with pytest.raises(DataError, match="empty"):
        open_rows(tmp_path / "e.jsonl")
    with pytest.raises(DataError, match="empty"):
        open_rows(tmp_path / "b.jsonl")
    with pytest.raises(DataError, match="no such file"):
        open_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="no data file"):
        open_rows("  ")


def test_json_array_and_csv_through_engine_data(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": f"i{k}", "output": f"o{k}"} for k in range(7)]))
    src = open_rows(tmp_path / "a.json")
    assert isinstance(src, TableRows)
    assert src.count() == 7 and src.columns() == ["instruction", "output"]
    assert src.rows(5, 10) == [{"instruction": "i5", "output": "o5"}, {"instruction": "i6", "output": "o6"}]
    assert src.search("O3") == 3 and src.search("o3", start=4) is None
    (tmp_path / "c.csv").write_text("prompt,completion\nhello,world\nfoo,bar\n")
    src = open_rows(tmp_path / "c.csv")
    assert src.count() == 2 and src.rows(1, 1) == [{"prompt": "foo", "completion": "bar"}]


def test_broken_json_array_is_one_line_error(tmp_path):
    (tmp_path / "x.json").write_text('[{"a": 1},\n{"a": }]')
    with pytest.raises(DataError) as e:
        open_rows(tmp_path / "x.json")
    assert "x.json:2" in str(e.value) and "\n" not in str(e.value)


def test_real_datasets(shared_datasets):
    squad = open_rows(shared_datasets / "squad_v2_small.json")  # nested SQuAD JSON, flattened by engine.data
    assert {"question", "context", "answer"} <= set(squad.columns()) and squad.count() > 0
    lamini = open_rows(shared_datasets / "lamini_docs_raw.jsonl")
    n = lamini.count()
    assert n > 0 and len(lamini.rows(n - 1, 5)) == 1
    assert lamini.search(json.dumps(lamini.rows(n - 1, 1)[0], ensure_ascii=False)[2:30]) is not None
