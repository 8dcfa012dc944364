"""MathVista testmini: the official scoring rules on labelled cases, the three shipping shapes (Hub
parquet, testmini.json with images/, VLMEvalKit TSV) read end to end, and the leaderboard breakdowns."""

from __future__ import annotations

import json

import pytest

from _math_shapes import image, parquet, png, tsv
from mmpo.benchmarks import get_benchmark
from mmpo.errors import InputError

BENCH = get_benchmark("mathvista")

MC_QUERY = ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
            "Question: What fraction of the shape is blue?\nChoices:\n(A) 3/11\n(B) 8/11\n(C) 6/11\n(D) 3/5")
INT_QUERY = ("Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, "
             "at the end.\nQuestion: Which number is missing?")
FLOAT_QUERY = ("Hint: Please answer the question requiring a floating-point number with one decimal place and provide "
               "the final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: How long is the bar? (Unit: cm)")
LIST_QUERY = ("Hint: Please answer the question requiring a Python list as an answer and provide the final list, "
              "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.\nQuestion: Between which two years is the peak?")


def _rows():
    return [
        {"pid": "1", "question": "What fraction of the shape is blue?", "image": "images/1.jpg",
         "choices": ["3/11", "8/11", "6/11", "3/5"], "unit": None, "precision": None, "answer": "8/11",
         "question_type": "multi_choice", "answer_type": "text", "query": MC_QUERY,
         "metadata": {"task": "figure question answering", "skills": ["arithmetic reasoning", "statistical reasoning"],
                      "category": "math-targeted-vqa", "source": "IconQA", "split": "testmini"}},
        {"pid": "2", "question": "Which number is missing?", "image": "images/2.jpg", "choices": None, "unit": None,
         "precision": None, "answer": "14", "question_type": "free_form", "answer_type": "integer", "query": INT_QUERY,
         "metadata": {"task": "math word problem", "skills": ["arithmetic reasoning"], "split": "testmini"}},
        {"pid": "3", "question": "How long is the bar?", "image": "images/3.jpg", "choices": None, "unit": "cm",
         "precision": 1.0, "answer": "1.2", "question_type": "free_form", "answer_type": "float", "query": FLOAT_QUERY,
         "metadata": {"task": "figure question answering", "skills": ["statistical reasoning"], "split": "testmini"}},
        {"pid": "4", "question": "Between which two years is the peak?", "image": "images/4.jpg", "choices": None,
         "unit": None, "precision": None, "answer": "[2007, 2008]", "question_type": "free_form", "answer_type": "list",
         "query": LIST_QUERY, "metadata": {"task": "figure question answering", "skills": ["statistical reasoning"],
                                           "split": "testmini"}},
    ]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    path = tmp_path_factory.mktemp("mathvista") / "testmini-00000-of-00001.parquet"
    rows = [dict(r, decoded_image=image(path=f"{r['pid']}.jpg")) for r in _rows()]
    return {r["pid"]: r for r in BENCH.read(parquet(path, rows))}


# (response, pid, verdict): the official rules (lupantech/MathVista evaluation/calculate_score.py).
CASES = [
    # multiple choice: the letter or the text; anything else goes to the nearest choice by edit distance
    ("The correct answer is (B) 8/11.", "1", "correct"),
    ("B", "1", "correct"),
    ("b", "1", "correct"),
    ("8/11", "1", "correct"),
    ("(C)", "1", "incorrect"),
    ("Final answer: 8/12", "1", "correct"),    # nearest choice: 8/11 (one edit)
    ("Final answer: 9/11", "1", "incorrect"),  # one edit from 3/11, 8/11 and 6/11: the first, 3/11
    ("", "1", "format_failure"),
    (None, "1", "format_failure"),
    # integers: int(float(x)), so a decimal is truncated
    ("Final answer: 14", "2", "correct"),
    ("14.7", "2", "correct"),
    ("The answer is 14 apples.", "2", "correct"),
    ("15", "2", "incorrect"),
    ("-14", "2", "incorrect"),
    # floats: Python's round(x, precision) compared as text
    ("1.2", "3", "correct"),
    ("1.20", "3", "correct"),
    ("1.25", "3", "correct"),       # round(1.25, 1) == 1.2
    ("Final answer: 1.15", "3", "incorrect"),  # round(1.15, 1) == 1.1 (binary value below 1.15)
    ("1.26", "3", "incorrect"),
    # lists: compared as "[a, b]" text, in order
    ("[2007, 2008]", "4", "correct"),
    ("[2007,2008]", "4", "correct"),  # the extractor's stand-in writes "[2007, 2008]"
    ("[2008, 2007]", "4", "incorrect"),
]


@pytest.mark.parametrize("response,pid,verdict", CASES)
def test_official_rules(records, response, pid, verdict):
    out = BENCH.check(response, records[pid], "cot")
    assert out["verdict"] == verdict
    assert out["score"] == (1.0 if verdict == "correct" else 0.0)
    assert (out["extracted"] is None) == (verdict == "format_failure")


def test_hub_parquet_record(records):
    rec = records["1"]
    assert rec["choices"] == ["3/11", "8/11", "6/11", "3/5"] and rec["answer"] == "8/11"
    assert rec["image_ref"]["bytes"] == png() and rec["query"] == MC_QUERY
    assert rec["metadata"]["task"] == "figure question answering"
    assert records["3"]["precision"] == 1.0 and records["3"]["unit"] == "cm"


def test_prompts_use_the_official_query(records):
    cot = BENCH.prompt(records["3"], "cot")
    assert cot.startswith("Your task is to answer the question below.") and FLOAT_QUERY in cot
    direct = BENCH.prompt(records["1"], "direct")
    assert direct.startswith(MC_QUERY) and direct.endswith("Answer with the option's letter from the given choices directly.")
    with pytest.raises(ValueError):
        BENCH.prompt(records["1"], "boxed")


def test_testmini_json_with_images(tmp_path):
    (tmp_path / "images").mkdir()
    rows = _rows()
    for r in rows:
        (tmp_path / r["image"]).write_bytes(png())
    path = tmp_path / "testmini.json"
    path.write_text(json.dumps({r["pid"]: {k: v for k, v in r.items() if k != "pid"} for r in rows}))
    recs = BENCH.read(path)
    assert [r["pid"] for r in recs] == ["1", "2", "3", "4"]
    assert recs[1]["image_path"] == str((tmp_path / "images" / "2.jpg").resolve())
    assert BENCH.check("Final answer: 14", recs[1], "cot")["verdict"] == "correct"


TSV_HEADER = ["index", "image", "question", "answer", "answer_option", "choices", "question_type", "answer_type",
              "precision", "unit", "task", "skills", "category", "source", "split"]


def test_vlmevalkit_tsv(tmp_path):
    rows = [
        {"index": 1, "image": png(), "question": MC_QUERY, "answer": "8/11", "answer_option": "B",
         "choices": "['3/11', '8/11', '6/11', '3/5']", "question_type": "multi_choice", "answer_type": "text",
         "task": "figure question answering", "skills": "['arithmetic reasoning', 'statistical reasoning']",
         "category": "math-targeted-vqa", "source": "IconQA", "split": "testmini"},
        {"index": 3, "image": png((0, 0, 255)), "question": FLOAT_QUERY, "answer": "1.2", "question_type": "free_form",
         "answer_type": "float", "precision": "1.0", "unit": "cm", "task": "figure question answering",
         "skills": "['statistical reasoning']", "split": "testmini"},
    ]
    mc, fl = BENCH.read(tsv(tmp_path / "MathVista_MINI.tsv", TSV_HEADER, rows))
    assert mc["pid"] == "1" and mc["choices"] == ["3/11", "8/11", "6/11", "3/5"] and mc["answer"] == "8/11"
    assert mc["question"] == "What fraction of the shape is blue?" and mc["query"] == MC_QUERY
    assert mc["metadata"]["skills"] == ["arithmetic reasoning", "statistical reasoning"]
    assert mc["image_ref"]["bytes"] == png()
    assert fl["precision"] == 1 and fl["unit"] == "cm" and fl["query"] == FLOAT_QUERY
    assert BENCH.prompt(fl, "cot").endswith(FLOAT_QUERY)
    assert BENCH.check("1.25", fl, "direct")["verdict"] == "correct"
    assert BENCH.check("(B)", mc, "direct")["verdict"] == "correct"


def test_tsv_bad_choices_names_line_and_field(tmp_path):
    rows = [{"index": 1, "image": png(), "question": MC_QUERY, "answer": "8/11", "choices": "['3/11', '8/11'",
             "question_type": "multi_choice", "answer_type": "text"}]
    with pytest.raises(InputError) as exc:
        BENCH.read(tsv(tmp_path / "MathVista_MINI.tsv", TSV_HEADER, rows))
    assert exc.value.line == 2 and exc.value.field == "choices"


def test_test_split_without_answers_is_refused(tmp_path):
    rows = [dict(_rows()[1], answer=None, decoded_image=image())]
    with pytest.raises(InputError) as exc:
        BENCH.read(parquet(tmp_path / "test.parquet", rows))
    assert exc.value.field == "answer" and exc.value.record == 0


def test_summary_by_task_and_skill(records):
    responses = {"1": "(B)", "2": "Final answer: 15", "3": "1.25", "4": "no idea"}
    preds = [{"pid": pid, "mode": "direct", "response": r, **BENCH.check(r, records[pid], "direct")}
             for pid, r in responses.items()]
    s = BENCH.summarize(preds)
    assert s["primary"] == 0.5 and s["n"] == 4 and s["metrics"]["accuracy"] == 0.5
    assert s["by"]["task"] == {"figure question answering": {"n": 3, "accuracy": 2 / 3},
                               "math word problem": {"n": 1, "accuracy": 0.0}}
    assert s["by"]["skill"] == {"arithmetic reasoning": {"n": 2, "accuracy": 0.5},
                                "statistical reasoning": {"n": 3, "accuracy": 2 / 3}}
    assert s["by"]["question_type"]["multi_choice"] == {"n": 1, "accuracy": 1.0}


def test_datasets_folder(tmp_path):
    from _math_shapes import dataset_folder

    rows = [dict(r, decoded_image=image(path=f"{r['pid']}.jpg")) for r in _rows()[:2]]
    recs = BENCH.read(dataset_folder(tmp_path / "testmini", rows, image_columns=("decoded_image",)))
    assert [r["pid"] for r in recs] == ["1", "2"] and recs[0]["image_ref"]["bytes"] == png()
    assert recs[0]["metadata"]["skills"] == ["arithmetic reasoning", "statistical reasoning"]
