"""ScienceQA (image questions of the test split): the option-letter rule on labelled responses, the
shapes it ships in (Hub parquet, shard folder, `datasets` folder, VLMEvalKit TSV) with text-only
questions counted out, and accuracy by subject and grade band on fake answers."""

from __future__ import annotations

import pytest

from _qa_shapes import image_cell, png, write_dataset, write_parquet, write_shards, write_tsv
from mmpo.benchmarks import get_benchmark
from mmpo.benchmarks.scienceqa import grade_band, subject_code
from mmpo.errors import InputError

SQA = get_benchmark("scienceqa")
REC = {"pid": "7", "question": "Which continent is highlighted?", "choices": ["Africa", "Asia", "Europe"],
       "answer": "Asia", "answer_index": 1, "metadata": {"subject_code": "SOC", "grade_band": "G1-6"}}

# (response, mode, verdict): the gold is B ("Asia")
CASES = [
    ("B", "direct", "correct"),
    ("B.", "direct", "correct"),
    ("B. Asia", "direct", "correct"),
    ("(B) Asia", "direct", "correct"),
    ("The answer is B.", "direct", "correct"),  # the ScienceQA authors' answer format
    ("A", "direct", "incorrect"),
    ("D", "direct", "incorrect"),  # a letter past the options
    ("Asia", "direct", "format_failure"),  # by letter only
    ("b", "direct", "format_failure"),
    ("A continent in the east", "direct", "format_failure"),  # 'A' as an article is no letter
    ("I think it is B", "direct", "format_failure"),
    ("", "direct", "format_failure"),
    (None, "direct", "format_failure"),
    ("Asia lies east of Europe.\nFinal answer: B", "cot", "correct"),
    ("The map shows Africa.\nFinal answer: (A) Africa", "cot", "incorrect"),
    ("It is east of Europe, so the answer is B.", "cot", "correct"),
    ("So it must be Asia.", "cot", "format_failure"),
    ("Final answer: Asia", "cot", "format_failure"),
]


@pytest.mark.parametrize("response,mode,verdict", CASES)
def test_letter_rule(response, mode, verdict):
    out = SQA.check(response, REC, mode)
    assert out["verdict"] == verdict and out["score"] == (1.0 if verdict == "correct" else 0.0)
    assert (out["subject"], out["grade_band"]) == ("SOC", "G1-6")


def test_subject_and_grade_codes():
    assert subject_code({"subject": "natural science"}) == "NAT"
    assert subject_code({"subject": "Language science"}) == "LAN"
    assert subject_code({"category": "social science"}) == "SOC" and subject_code({"subject": "art"}) is None
    assert [grade_band(g) for g in ("grade1", "grade6", "grade7", "grade12", "", "grade13")] == [
        "G1-6", "G1-6", "G7-12", "G7-12", None, None]


def _hub(i, image=True, split=None, subject="natural science", grade="grade3", answer=1, **kw):
    row = {"image": image_cell() if image else None, "question": f"Question {i}?",
           "choices": ["Africa", "Asia", "Europe"], "answer": answer, "hint": "Look at the map." if i % 2 else "",
           "task": "closed choice", "grade": grade, "subject": subject, "topic": "geography",
           "category": "Geography", "skill": "Identify continents", "lecture": "Continents...", "solution": "Asia."}
    if split is not None:
        row["split"] = split
    row.update(kw)
    return row


def test_hub_parquet_keeps_image_questions_and_counts_the_rest(tmp_path):
    path = write_parquet(tmp_path / "test.parquet", [_hub(0), _hub(1, image=False), _hub(2), _hub(3, image=False)])
    recs = SQA.read(path)
    assert [r["pid"] for r in recs] == ["0", "2"]
    assert SQA.last_read["rows"] == 4 and SQA.last_read["records"] == 2
    assert SQA.last_read["left_out"] == {"text_only": 2}
    r = recs[0]
    assert r["answer"] == "Asia" and r["answer_index"] == 1 and r["question"] == "Question 0?"
    assert r["metadata"]["subject_code"] == "NAT" and r["metadata"]["grade_band"] == "G1-6"
    assert r["metadata"]["skill"] == "Identify continents" and r["solution"] == "Asia."
    hinted = SQA.read(write_parquet(tmp_path / "h.parquet", [_hub(1)]))[0]
    assert hinted["question"] == "Context: Look at the map.\nQuestion 1?"
    assert SQA.prompt(hinted, "direct") == ("Context: Look at the map.\nQuestion 1?\nChoices:\n(A) Africa\n(B) Asia\n"
                                            "(C) Europe\nAnswer with the option's letter from the given choices "
                                            "directly.")
    assert '"Final answer: .."' in SQA.prompt(hinted, "cot")


def test_shards_and_datasets_folder_read_the_test_split(tmp_path):
    folder = write_shards(tmp_path / "ScienceQA", {"train": [[_hub(0)]], "validation": [[_hub(1)]],
                                                   "test": [[_hub(2), _hub(3, image=False)]]})
    recs = SQA.read(folder)
    assert [r["pid"] for r in recs] == ["0"] and recs[0]["_source"].endswith("test-00000-of-00001.parquet")
    assert SQA.last_read["left_out"] == {"text_only": 1}
    ds = write_dataset(tmp_path / "ds", {"train": [_hub(0)], "test": [_hub(1), _hub(2, image=False), _hub(3)]})
    assert [r["pid"] for r in SQA.read(ds)] == ["0", "2"]
    assert SQA.last_read["left_out"] == {"text_only": 1}


def test_vlmevalkit_tsv(tmp_path):
    header = ["index", "image", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split"]
    rows = [{"index": 100, "image": png(), "question": "Which is a mammal?", "hint": None, "A": "frog", "B": "whale",
             "C": "trout", "answer": "B", "category": "classification", "l2-category": "natural science",
             "split": "test"},
            {"index": 101, "image": None, "question": "Which word rhymes?", "A": "cat", "B": "dog", "answer": "A",
             "category": "phonology", "l2-category": "language science", "split": "test"},
            {"index": 102, "image": png((0, 0, 255)), "question": "Which is a state?", "hint": "A map.", "A": "Ohio",
             "B": "Paris", "C": "Rome", "D": "Oslo", "answer": "A", "category": "geography",
             "l2-category": "social science", "split": "test"}]
    recs = SQA.read(write_tsv(tmp_path / "ScienceQA_TEST.tsv", header, rows))
    assert [r["pid"] for r in recs] == ["100", "102"] and SQA.last_read["left_out"] == {"text_only": 1}
    assert recs[0]["choices"] == ["frog", "whale", "trout"] and recs[0]["answer"] == "whale"
    assert recs[1]["choices"] == ["Ohio", "Paris", "Rome", "Oslo"] and recs[1]["question"] == "Context: A map.\nWhich is a state?"
    assert [r["metadata"]["subject_code"] for r in recs] == ["NAT", "SOC"]
    assert recs[0]["metadata"]["grade_band"] is None and recs[0]["_where"] == {"line": 2}
    bad = [{**rows[0], "answer": "Z"}]
    with pytest.raises(InputError, match=r"bad.tsv:2, field 'answer': 'Z' is neither an option index nor one of"):
        SQA.read(write_tsv(tmp_path / "bad.tsv", header, bad))


def test_answer_index_out_of_range_names_the_record(tmp_path):
    with pytest.raises(InputError, match=r"bad.parquet, record 1, field 'answer': index 5 is out of range"):
        SQA.read(write_parquet(tmp_path / "bad.parquet", [_hub(0), _hub(1, answer=5)]))


def test_other_split_rows_are_counted_out(tmp_path):
    recs = SQA.read(write_parquet(tmp_path / "all.parquet", [_hub(0, split="test"), _hub(1, split="val")]))
    assert [r["pid"] for r in recs] == ["0"] and SQA.last_read["left_out"] == {"not_test_split": 1}


def test_accuracy_by_subject_and_grade_end_to_end(tmp_path):
    rows = [_hub(0, subject="natural science", grade="grade2"), _hub(1, subject="natural science", grade="grade8"),
            _hub(2, subject="social science", grade="grade4"), _hub(3, subject="language science", grade="grade10"),
            _hub(4, subject="language science", grade="grade11", answer=2)]
    recs = SQA.read(write_parquet(tmp_path / "test.parquet", rows))
    responses = {"0": "B", "1": "A", "2": "The answer is B.", "3": "Asia", "4": "C. Europe"}
    preds = [{"pid": r["pid"], "mode": "direct", **SQA.check(responses[r["pid"]], r, "direct")} for r in recs]
    s = SQA.summarize(preds)
    assert s["primary"] == pytest.approx(3 / 5) == s["metrics"]["accuracy"] and s["n"] == 5
    assert s["metrics"]["format_failures"] == 1
    assert s["by"]["subject"] == {"LAN": {"n": 2, "accuracy": 0.5}, "NAT": {"n": 2, "accuracy": 0.5},
                                  "SOC": {"n": 1, "accuracy": 1.0}}
    assert s["by"]["grade"] == {"G1-6": {"n": 2, "accuracy": 1.0}, "G7-12": {"n": 3, "accuracy": pytest.approx(1 / 3)}}


def test_summary_of_nothing_is_zero():
    s = SQA.summarize([])
    assert s["primary"] == 0.0 and s["n"] == 0 and s["metrics"]["format_failure_rate"] == 0.0
