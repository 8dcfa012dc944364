"""M3CoT: the M3CoT scorer's letter rule on labelled responses, the shapes the Hub ships (parquet,
shard folder, `datasets` folder) with the test split chosen and other splits counted out, and accuracy
by domain and topic on fake answers."""

from __future__ import annotations

import pytest

from _qa_shapes import image_cell, write_dataset, write_jsonl, write_parquet, write_shards
from mmpo.benchmarks import get_benchmark
from mmpo.benchmarks.m3cot import m3cot_letter
from mmpo.errors import InputError

M3 = get_benchmark("m3cot")
REC = {"pid": "q1", "question": "What colour is the sky?", "choices": ["red", "blue", "green"], "answer": "blue",
       "answer_index": 1, "metadata": {"domain": "science", "topic": "physics"}}

# (response, mode, verdict, letter): the gold is B ("blue")
CASES = [
    ("(B)", "direct", "correct", "B"),
    ("(b)", "direct", "correct", "B"),  # a letter in parentheses, any case
    ("The answer is (C) green", "direct", "incorrect", "C"),
    ("(A) red? No: (B) blue", "direct", "correct", "B"),  # the last one in parentheses
    ("(Z)", "direct", "incorrect", "Z"),
    ("blue", "direct", "correct", "B"),  # an option's text
    ("It is blue or green", "direct", "incorrect", "C"),  # of the texts found, the option listed last
    ("Reddish", "direct", "incorrect", "A"),  # 'red' is in 'reddish', ignoring case
    ("B", "direct", "correct", "B"),
    ("B.", "direct", "correct", "B"),
    ("I pick C!", "direct", "incorrect", "C"),
    ("Either A or B", "direct", "correct", "B"),  # the letter latest in the alphabet
    ("b", "direct", "correct", "B"),  # lower-case letters after capitals
    ("A bird flies by", "direct", "incorrect", "A"),  # 'A' as an article reads as option A, as in the scorer
    ("[Answer] (B) [Rationale] not (C)", "direct", "correct", "B"),
    ("xyz", "direct", "format_failure", None),
    ("", "direct", "format_failure", None),
    (None, "direct", "format_failure", None),
    ("The sky scatters short wavelengths.\nFinal answer: (B)", "cot", "correct", "B"),
    ("I considered (C) first.\nFinal answer: B", "cot", "correct", "B"),  # only the final answer is read
    ("Final answer: green", "cot", "incorrect", "C"),
    ("The sky is blue.", "cot", "format_failure", None),  # no final answer
]


@pytest.mark.parametrize("response,mode,verdict,letter", CASES)
def test_m3cot_rule(response, mode, verdict, letter):
    out = M3.check(response, REC, mode)
    assert (out["verdict"], out["letter"]) == (verdict, letter)
    assert out["score"] == (1.0 if verdict == "correct" else 0.0)
    assert (out["domain"], out["topic"]) == ("science", "physics")


def test_rule_function_directly():
    assert m3cot_letter("[Answer] blue [Context] red", ["red", "blue"]) == "B"
    assert m3cot_letter("   ", ["red", "blue"]) is None


def _row(i, split="test", domain="science", topic="physics", answer="B", **kw):
    row = {"id": f"m{i}", "category": "cat", "image_id": f"img{i}", "question": f"Question {i}?",
           "choices": ["red", "blue", "green"], "context": "The sky at noon." if i % 2 == 0 else "",
           "answer": answer, "rationale": "Because.", "split": split, "image": image_cell(),
           "domain": domain, "topic": topic}
    row.update(kw)
    return row


def test_hub_parquet_record(tmp_path):
    (rec,) = M3.read(write_parquet(tmp_path / "test.parquet", [_row(0)]))
    assert rec["pid"] == "m0" and rec["question"] == "Context: The sky at noon.\nQuestion 0?"
    assert rec["choices"] == ["red", "blue", "green"] and rec["answer"] == "blue" and rec["answer_index"] == 1
    assert rec["metadata"] == {"category": "cat", "domain": "science", "topic": "physics", "split": "test",
                               "image_id": "img0"}
    assert rec["solution"] == "Because." and rec["image_ref"]["bytes"][:4] == b"\x89PNG"
    assert M3.prompt(rec, "direct").endswith("(C) green\nAnswer with the option's letter from the given choices "
                                             "directly.")
    assert M3.prompt(rec, "cot").endswith("Question:\n\nContext: The sky at noon.\nQuestion 0?\nChoices:\n(A) red\n"
                                          "(B) blue\n(C) green")


def test_test_split_of_shards_and_datasets_folders(tmp_path):
    folder = write_shards(tmp_path / "M3CoT", {"train": [[_row(0, "train")]], "validation": [[_row(1, "validation")]],
                                               "test": [[_row(2)], [_row(3)]]})
    assert [r["pid"] for r in M3.read(folder)] == ["m2", "m3"]
    assert [r["pid"] for r in M3.read(folder, split="validation")] == ["m1"]
    ds = write_dataset(tmp_path / "ds", {"train": [_row(0, "train")], "test": [_row(4), _row(5)]})
    assert [r["pid"] for r in M3.read(ds)] == ["m4", "m5"]


def test_other_splits_in_one_file_are_counted_out(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", [{**_row(i, split=s), "image": None}
                                                for i, s in enumerate(["test", "dev", "train", "test"])])
    assert [r["pid"] for r in M3.read(path)] == ["m0", "m3"]
    assert M3.last_read["rows"] == 4 and M3.last_read["records"] == 2
    assert M3.last_read["left_out"] == {"not_test_split": 2}


def test_bad_answer_names_the_record(tmp_path):
    with pytest.raises(InputError, match=r"bad.parquet, record 1, field 'answer'"):
        M3.read(write_parquet(tmp_path / "bad.parquet", [_row(0), _row(1, answer="F")]))


def test_accuracy_by_domain_and_topic_end_to_end(tmp_path):
    rows = [_row(0, domain="science", topic="physics"), _row(1, domain="science", topic="physics"),
            _row(2, domain="science", topic="biology"), _row(3, domain="commonsense", topic="social"),
            _row(4, domain="mathematics", topic="algebra", answer="C")]
    recs = M3.read(write_parquet(tmp_path / "test.parquet", rows))
    responses = {"m0": "(B)", "m1": "green", "m2": "B", "m3": "nothing", "m4": "(C) green"}
    preds = [{"pid": r["pid"], "mode": "direct", **M3.check(responses[r["pid"]], r, "direct")} for r in recs]
    s = M3.summarize(preds)
    assert s["primary"] == pytest.approx(3 / 5) and s["n"] == 5
    assert s["metrics"]["format_failures"] == 1 and s["metrics"]["format_failure_rate"] == pytest.approx(0.2)
    assert s["by"]["domain"] == {"commonsense": {"n": 1, "accuracy": 0.0},
                                 "mathematics": {"n": 1, "accuracy": 1.0},
                                 "science": {"n": 3, "accuracy": pytest.approx(2 / 3)}}
    assert s["by"]["topic"]["physics"] == {"n": 2, "accuracy": 0.5} and s["by"]["topic"]["biology"]["accuracy"] == 1.0


def test_summary_of_nothing_is_zero():
    s = M3.summarize([])
    assert s["primary"] == 0.0 and s["n"] == 0 and s["by"] == {}
