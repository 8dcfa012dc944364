"""OlympiadBench (English multimodal open-ended maths): the authors' judge on labelled cases, the Hub
shape (parquet with image_1..image_5, a `datasets` folder, the JSON rows) read end to end with rows
outside the subset and multi-image questions left out and reported, prompts, and the summary."""

from __future__ import annotations

import json
import logging

import pytest

from _math_shapes import dataset_folder, image, parquet, png
from mmpo.benchmarks import get_benchmark
from mmpo.benchmarks.olympiad import answer_kind_text, boxed_contents, split_top_level
from mmpo.errors import InputError

BENCH = get_benchmark("olympiadbench")
IMAGES = [f"image_{i}" for i in range(1, 6)]


def _row(pid, final_answer, answer_type="Numerical", multiple=False, error=None, unit=None, images=1,
         subfield="Geometry", difficulty="Competition", **kw):
    row = {"id": pid, "question": f"<image_1>\nProblem {pid}.", "solution": [f"Solution {pid}."],
           "final_answer": final_answer, "context": None, "modality": "Multimodal", "difficulty": difficulty,
           "is_multiple_answer": multiple, "unit": unit, "answer_type": answer_type, "error": error,
           "question_type": "Open-ended", "subfield": subfield, "subject": "Math", "language": "English"}
    for i, name in enumerate(IMAGES):
        row[name] = image((10 * i, 0, 0)) if i < images else None
    row.update(kw)
    return row


def _rows():
    return [
        _row(1, ["$\\frac{1}{2}$"]),
        _row(2, ["$12.5$"], error="1e-1", unit="m", subfield="Algebra"),
        _row(3, ["$3,5$"], multiple=True, subfield="Number Theory"),
        _row(4, ["$x^2+2x$"], answer_type="Expression", subfield="Algebra"),
        _row(5, ["$y=2x+1$"], answer_type="Equation"),
        _row(6, ["$(-\\infty, 2]$"], answer_type="Interval", subfield="Algebra"),
        _row(7, ["$(2,3)$"], answer_type="Tuple", error="1", subfield="Combinatorics"),
        _row(8, ["$\\pm 2$"]),
        _row(9, ["$50$"], subfield="Combinatorics"),
        _row(10, ["$\\sqrt{2}$"]),
        _row(11, ["$2$", "$3$"], multiple=True, subfield="Number Theory"),
    ]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    path = tmp_path_factory.mktemp("olympiad") / "OE_MM_maths_en_COMP.parquet"
    return {r["pid"]: r for r in BENCH.read(parquet(path, _rows()))}


# (response, id, verdict): OpenBMB/OlympiadBench inference/judge.py and inference/code/math_judger.py.
CASES = [
    ("So the final answer is $\\boxed{\\frac{1}{2}}$.", "1", "correct"),
    ("So the final answer is \\boxed{0.5}.", "1", "correct"),
    ("\\boxed{0.50000001}", "1", "correct"),       # within the default 1e-8
    ("\\boxed{0.51}", "1", "incorrect"),
    ("We get $x = \\frac{1}{2}$", "1", "correct"),  # no box: the $...$ of the last line, value after "="
    ("First \\boxed{3} then finally \\boxed{\\frac12}", "1", "incorrect"),  # every box counts: two answers
    ("So the final answer is \\boxed{12.45}(m).", "2", "correct"),  # error 1e-1
    ("\\boxed{12.6}", "2", "correct"),
    ("\\boxed{12.65}", "2", "incorrect"),
    ("\\boxed{12.5 m}", "2", "incorrect"),         # the unit belongs outside the box: a symbol inside fails
    ("So the final answer is \\boxed{5, 3}.", "3", "correct"),    # multiple answers in any order
    ("So the final answer is \\boxed{3}, \\boxed{5}.", "3", "correct"),
    ("\\boxed{3}", "3", "incorrect"),
    ("\\boxed{3,5,7}", "3", "incorrect"),
    ("\\boxed{x(x+2)}", "4", "correct"),            # symbolic equivalence
    ("\\boxed{f(x)=x^2+2x}", "4", "correct"),       # the right-hand side
    ("\\boxed{x^2+2}", "4", "incorrect"),
    ("\\boxed{2x+1=y}", "5", "correct"),
    ("\\boxed{2y=4x+2}", "5", "correct"),           # an equivalent equation
    ("\\boxed{y=2x-1}", "5", "incorrect"),
    ("\\boxed{x \\in (-\\infty, 2]}", "6", "correct"),
    ("\\boxed{(-\\infty, 2)}", "6", "incorrect"),    # intervals: the brackets matter
    ("\\boxed{(2, 3)}", "7", "correct"),
    ("\\boxed{(3,2)}", "7", "incorrect"),
    ("\\boxed{(2.5,3)}", "7", "incorrect"),         # tuples ignore `error` (1 here)
    ("\\boxed{2, -2}", "8", "correct"),             # \pm is both signs
    ("\\boxed{2}", "8", "incorrect"),
    ("\\boxed{0.5}", "9", "correct"),               # the gold read as a percentage
    ("\\boxed{50\\%}", "9", "correct"),
    ("\\boxed{5}", "9", "incorrect"),
    ("\\boxed{1.41421356}", "10", "correct"),       # a closed form within 1e-8
    ("\\boxed{1.4142}", "10", "incorrect"),
    ("\\boxed{\\frac{2}{\\sqrt{2}}}", "10", "correct"),
    ("So the final answer is \\boxed{3,2}", "11", "correct"),  # final_answer with two elements
    ("no answer here at all, sorry about that, it is very hard to say.", "1", "format_failure"),
    ("", "1", "format_failure"),
]


@pytest.mark.parametrize("response,pid,verdict", CASES)
def test_authors_judge(records, response, pid, verdict):
    out = BENCH.check(response, records[pid], "cot")
    assert out["verdict"] == verdict and out["score"] == (1.0 if verdict == "correct" else 0.0)


def test_helpers():
    assert boxed_contents("a \\boxed{\\frac{1}{2}} b \\boxed{x^{2}} \\boxed{open") == ["\\frac{1}{2}", "x^{2}"]
    assert split_top_level("(1,2), [3,4], 5") == ["(1,2)", "[3,4]", "5"]
    assert answer_kind_text("Numerical", False) == "The answer of The problem should be a numerical value. "
    assert answer_kind_text("Numerical,Expression", True) == (
        "The problem has multiple answers, with the answers in order being a numerical value, an expression. ")
    assert answer_kind_text("Tuple", False) == ""


def test_hub_records(records):
    one, two = records["1"], records["2"]
    assert one["answer"] == "$\\frac{1}{2}$" and one["image_ref"]["bytes"] == png((0, 0, 0))
    assert one["metadata"]["tolerance"] == [1e-8] and two["metadata"]["tolerance"] == [0.1] and two["unit"] == "m"
    assert records["11"]["metadata"]["final_answer"] == ["$2$", "$3$"] and records["11"]["answer"] == "$2$, $3$"
    assert one["solution"] == "Solution 1." and one["question"] == "<image_1>\nProblem 1."


def test_prompts(records):
    cot = BENCH.prompt(records["2"], "cot")
    assert cot == ("The following is an open-ended problem from an International Math competition. The answer of The "
                   "problem should be a numerical value. Please calculate the answer according to the given "
                   "requirements and the information provided. Please use LaTeX format to represent the variables "
                   "and formulas used in the solution process and results. Please end your solution with \"So the "
                   "final answer is \\boxed{answer}(unit).\" and give the result explicitly, note that the unit of "
                   "the answer should not be included in \\boxed{}.\n<image_1>\nProblem 2.")
    multi = BENCH.prompt(records["3"], "cot")
    assert "each of them should be a numerical value" in multi and "\\boxed{multiple answers connected with commas}" in multi
    direct = BENCH.prompt(records["1"], "direct")
    assert direct.endswith("within \\boxed{}, with no explanation.\n<image_1>\nProblem 1.")


def test_left_out_rows_are_counted_and_logged(tmp_path, caplog):
    rows = _rows()[:2] + [
        _row(20, ["$1$"], images=3),                       # three figures: mmpo records carry one
        _row(21, ["$1$"], subject="Physics"),
        _row(22, ["$1$"], images=0, modality="Text-only"),
        _row(23, [], question_type="Theorem proof"),
    ]
    with caplog.at_level(logging.WARNING, logger="mmpo.benchmarks"):
        recs = BENCH.read(parquet(tmp_path / "all.parquet", rows))
    assert [r["pid"] for r in recs] == ["1", "2"]
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "read 2" in msg and "1 with more than one image" in msg
    assert "1 modality Text-only" in msg and "1 question_type Theorem proof" in msg and "1 subject Physics" in msg


def test_a_file_with_nothing_of_the_subset_is_refused(tmp_path):
    rows = [_row(30, ["$1$"], subject="Physics"), _row(31, ["$1$"], images=2)]
    with pytest.raises(InputError) as exc:
        BENCH.read(parquet(tmp_path / "physics.parquet", rows))
    assert "1 with more than one image" in str(exc.value) and "1 subject Physics" in str(exc.value)


def test_bad_tolerance_names_the_field(tmp_path):
    with pytest.raises(InputError) as exc:
        BENCH.read(parquet(tmp_path / "bad.parquet", [_row(1, ["$1$"], error="about 1")]))
    assert exc.value.field == "error" and exc.value.record == 0


def test_datasets_folder_and_json_rows(tmp_path):
    folder = dataset_folder(tmp_path / "OE_MM_maths_en_COMP", _rows()[:3] + [_row(40, ["$1$"], images=2)],
                            image_columns=IMAGES)
    recs = BENCH.read(folder)
    assert [r["pid"] for r in recs] == ["1", "2", "3"] and recs[0]["image_ref"]["bytes"] == png((0, 0, 0))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.png").write_bytes(png())
    row = {k: v for k, v in _row(1, ["$\\frac{1}{2}$"]).items() if k not in IMAGES}
    row["image_1"] = "images/1.png"
    path = tmp_path / "OE_MM_maths_en_COMP.json"
    path.write_text(json.dumps([row]))
    (rec,) = BENCH.read(path)
    assert rec["image_path"] == str((tmp_path / "images" / "1.png").resolve())
    assert BENCH.check("So the final answer is \\boxed{1/2}.", rec, "cot")["verdict"] == "correct"


def test_summary(records):
    responses = {"1": "\\boxed{0.5}", "2": "\\boxed{12.65}", "3": "\\boxed{3,5}", "4": "\\boxed{x(x+2)}",
                 "5": "", "6": "\\boxed{(-\\infty,2]}", "7": "\\boxed{(2,3)}", "8": "\\boxed{2}", "9": "\\boxed{50}",
                 "10": "\\boxed{\\sqrt{2}}", "11": "\\boxed{2,3}"}
    preds = [{"pid": p, "mode": "cot", "response": r, **BENCH.check(r, records[p], "cot")} for p, r in responses.items()]
    s = BENCH.summarize(preds)
    assert s["primary"] == 8 / 11 and s["n"] == 11 and s["metrics"]["format_failure_rate"] == 1 / 11
    assert s["by"]["subfield"] == {"Algebra": {"n": 3, "accuracy": 2 / 3}, "Combinatorics": {"n": 2, "accuracy": 1.0},
                                   "Geometry": {"n": 4, "accuracy": 0.5}, "Number Theory": {"n": 2, "accuracy": 1.0}}
    assert s["by"]["difficulty"] == {"Competition": {"n": 11, "accuracy": 8 / 11}}


def test_vlmevalkit_tsv(tmp_path, caplog):
    from _math_shapes import tsv

    header = ["index", "image", "question", "final_answer", "source", "answer_type", "is_multiple_answer", "unit",
              "error"]
    rows = [{"index": 1, "image": png(), "question": "<image_1>\nFind x.", "final_answer": "['$\\\\frac{1}{2}$']",
             "source": "OE_MM_maths_en_COMP", "answer_type": "Numerical", "is_multiple_answer": "False"},
            {"index": 2, "image": png(), "question": "Find v.", "final_answer": "['$3$']", "source": "OE_MM_physics_en_COMP",
             "answer_type": "Numerical", "is_multiple_answer": "False", "unit": "m/s", "error": "1e-1"}]
    with caplog.at_level(logging.WARNING, logger="mmpo.benchmarks"):
        (rec,) = BENCH.read(tsv(tmp_path / "OlympiadBench_EN.tsv", header, rows))
    assert "1 subject Physics" in caplog.records[0].getMessage()
    assert rec["pid"] == "1" and rec["image_ref"]["bytes"] == png() and rec["metadata"]["final_answer"] == ["$\\frac{1}{2}$"]
    assert rec["metadata"]["is_multiple_answer"] is False
    assert BENCH.check("So the final answer is \\boxed{0.5}.", rec, "cot")["verdict"] == "correct"
