"""Every JSONL reader parses lines in one place (`mmpo.data.files.parse_json`): a line nested 100,000
deep, or holding an integer Python will not convert, is an InputError naming file and line (so
`--on-error skip` counts it), never a bare RecursionError."""

from __future__ import annotations

import json

import pytest

from mmpo.data.files import MAX_JSON_DEPTH, iter_jsonl, parse_json, read_jsonl
from mmpo.data.pairs import load_pairs
from mmpo.data.records import load_records, read_records
from mmpo.errors import InputError
from mmpo.pairs.samples import iter_samples

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a": ' * 100_000 + "1" + "}" * 100_000
HUGE_INT = '{"pid": 1, "question": "q", "answer": ' + "9" * 5000 + "}"


def _nested(depth: int, kind: str = "list") -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def _file(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad, message", [
    (DEEP, "JSON nested too deeply"),
    (DEEP_OBJECT, "JSON nested too deeply"),
    ('{"x": ' + _nested(MAX_JSON_DEPTH) + "}", "JSON nested too deeply"),  # 101 levels: under the recursion limit
    (HUGE_INT, "unparsable JSON"),
    ('{"pid": 1', "malformed JSON"),
])
def test_a_bad_line_names_its_file_and_line_and_can_be_skipped(tmp_path, bad, message):
    path = _file(tmp_path, "x.jsonl", ['{"a": 1}', bad, '{"a": 3}'])
    with pytest.raises(InputError, match=rf"x.jsonl:2: {message}") as err:
        read_jsonl(path)
    assert err.value.line == 2
    skipped = []
    assert [obj["a"] for _, obj in iter_jsonl(path, on_malformed=skipped.append)] == [1, 3]
    assert [e.line for e in skipped] == [2]


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_the_depth_limit(kind):
    assert parse_json(_nested(MAX_JSON_DEPTH, kind)) is not None
    with pytest.raises(InputError, match="nested too deeply"):
        parse_json(_nested(MAX_JSON_DEPTH + 1, kind), path="f.jsonl", line=7)
    # Many brackets inside strings (LaTeX) or side by side are no depth.
    assert parse_json(json.dumps({"t": "\\frac{1}{2}" * 500, "l": [[1]] * 500}))["l"][0] == [1]


def test_records_reader(tmp_path):
    good = json.dumps({"pid": 1, "question": "q", "answer": "1"})
    path = _file(tmp_path, "bench.jsonl", [good, DEEP, json.dumps({"pid": 2, "question": "q"}), HUGE_INT])
    with pytest.raises(InputError, match=r"bench.jsonl:2: JSON nested too deeply"):
        load_records(path)
    skipped = []
    recs = read_records(path, on_error="skip", skip=skipped.append)
    assert [r["pid"] for r in recs] == ["1", "2"] and [e.line for e in skipped] == [2, 4]


def test_samples_reader(tmp_path):
    sample = {"pid": "a", "prompt": "p", "image": None, "question": "q", "answer": "1",
              "responses": [{"text": "Final answer: 1", "extracted": "1", "verdict": "correct"}]}
    path = _file(tmp_path, "s.jsonl", [DEEP, json.dumps(sample)])
    with pytest.raises(InputError, match=r"s.jsonl:1: JSON nested too deeply"):
        list(iter_samples([path]))
    skips = []
    assert [s["pid"] for _, _, s in iter_samples([path], on_error="skip", skips=skips)] == ["a"]
    assert skips[0]["line"] == 1 and "nested too deeply" in skips[0]["reason"]


def test_pairs_reader(tmp_path):
    pair = json.dumps({"question": "q", "chosen": "a", "rejected": "b"})
    path = _file(tmp_path, "p.jsonl", [pair, DEEP_OBJECT, pair.replace('"a"', '"c"')])
    with pytest.raises(InputError, match=r"p.jsonl:2: JSON nested too deeply"):
        load_pairs(path)
    got = load_pairs(path, on_error="skip")
    assert [p.chosen for p in got.pairs] == ["a", "c"] and got.stats["skipped_bad_record"] == 1
