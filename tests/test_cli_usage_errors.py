"""Command-line mistakes argparse catches keep TuneDeck's one-line style (issue 13): one line naming the
command and what is wrong, exit code 2, no usage block."""

from __future__ import annotations

import pytest

from tui.cli import main


@pytest.mark.parametrize("argv, says", [
    (["ui", "--screen", "foo"], "tunedeck ui: argument --screen: invalid choice: 'foo'"),
    (["eval"], "tunedeck eval: the following arguments are required: RUN"),
    (["frob"], "tunedeck: argument command: invalid choice: 'frob'"),
    (["train", "--max-steps", "abc"], "tunedeck train: argument --max-steps: invalid int value: 'abc'"),
])
def test_usage_mistakes_are_one_line_with_exit_2(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    cap = capsys.readouterr()
    assert e.value.code == 2 and cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], cap.err
    assert "--help" in lines[0] and "usage:" not in cap.err


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_nproc_is_one_line_with_exit_2(value, capsys):
    code = main(["train", "--config", "sample_data/quickstart.yaml", "--nproc", value])
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    assert cap.err.strip() == f"error: --nproc: expected a number of processes (1, 2, ...) or auto, got {value!r}"
