"""`mmpo check`: the extraction and the verdict for one response, as text or JSON."""

import io
import json

import pytest

from mmpo.cli import main


def _json(capsys, argv):
    assert main(["check", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_float_fraction_is_correct(capsys):
    assert main(["check", "--answer", "0.5", "--type", "float", "--precision", "1", "... Final answer: 1/2"]) == 0
    out = capsys.readouterr().out
    assert "extracted:  1/2" in out
    assert "verdict:    correct" in out


def test_json_prints_exactly_the_two_fields(capsys):
    out = _json(capsys, ["--answer", "0.5", "--type", "float", "--precision", "1", "Final answer: 0.7"])
    assert out == {"extracted": "0.7", "verdict": "incorrect"}


def test_format_failure_exits_zero(capsys):
    out = _json(capsys, ["--answer", "12", "There are twelve."])
    assert out == {"extracted": None, "verdict": "format_failure"}


def test_lenient_flag(capsys):
    assert _json(capsys, ["--answer", "12", "--lenient", "12"]) == {"extracted": "12", "verdict": "correct"}


def test_choices_comma_separated_and_json(capsys):
    out = _json(capsys, ["--answer", "8/11", "--choices", "5/11,8/11,3/11", "The answer is (B) 8/11"])
    assert out == {"extracted": "(B) 8/11", "verdict": "correct"}
    out = _json(capsys, ["--answer", "1,000", "--choices", '["1,000", "2,000"]', "Final answer: B"])
    assert out == {"extracted": "B", "verdict": "incorrect"}


def test_mathvista_scoring(capsys):
    argv = ["--answer", "12", "--type", "integer", "Final answer: 12.7"]
    assert _json(capsys, argv)["verdict"] == "incorrect"
    assert _json(capsys, [*argv, "--scoring", "mathvista"])["verdict"] == "correct"


def test_unit_and_rel_tol(capsys):
    assert _json(capsys, ["--answer", "5", "--unit", "cm", "Final answer: 5 m"])["verdict"] == "incorrect"
    argv = ["--answer", "100.0", "--type", "float", "--precision", "1", "Final answer: 101"]
    assert _json(capsys, argv)["verdict"] == "incorrect"
    assert _json(capsys, [*argv, "--rel-tol", "0.02"])["verdict"] == "correct"


def test_response_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Reasoning...\nFinal answer: 12\n"))
    assert _json(capsys, ["--answer", "12", "-"]) == {"extracted": "12", "verdict": "correct"}


@pytest.mark.parametrize("argv, message", [
    (["--answer", "abc", "--type", "float", "x"], "is not a number"),
    (["--answer", "1", "--question-type", "multi_choice", "x"], "needs choices"),
    (["--answer", "1", "--precision", "-1", "x"], "--precision"),
    (["--answer", "1", "--rel-tol", "-0.5", "x"], "--rel-tol"),
    (["--answer", "1", "--choices", "A,,B", "x"], "empty option"),
    (["--answer", "1", "--choices", "[1, 2", "x"], "not a JSON list"),
    (["x"], "--answer is required"),
    (["--record", "{}", "--answer", "1", "x"], "--record is for --benchmark"),
])
def test_bad_arguments_exit_2_with_a_message(capsys, argv, message):
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmpo check: error:") and message in err


@pytest.mark.parametrize("argv", [
    ["--answer", "1", "--type", "bogus", "x"],  # not a choice
    ["--answer", "1"],  # no response
])
def test_argparse_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["check", *argv])
    assert exc.value.code == 2
    assert "usage: mmpo check" in capsys.readouterr().err
