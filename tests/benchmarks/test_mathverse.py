"""MathVerse testmini: mmpo's rule-based stand-in for the GPT judge on labelled cases, the Hub release
(parquet, the text-only split, a `datasets` folder) and VLMEvalKit's TSV read end to end, the release's
own prompts, and the per-version summary."""

from __future__ import annotations

import pytest

from _math_shapes import dataset_folder, image, parquet, png, tsv
from mmpo.benchmarks import get_benchmark
from mmpo.errors import InputError

BENCH = get_benchmark("mathverse")

WO_MC = "Please directly answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\nQuestion: "
COT_MC = ("Please first conduct reasoning, and then answer the question and provide the correct option letter, e.g., "
          "A, B, C, D, at the end.\nQuestion: ")
WO_FREE = "Please directly answer the question and provide the final value, e.g., 1, 2.5, 300.\nQuestion: "
COT_FREE = "Please first conduct reasoning, and then answer the question and provide the final value, e.g., 1, 2.5, 300.\nQuestion: "
MC_Q = "Circle O has radius 1 and angle BAC = 60. How long is BC?\nChoices:\nA:2\nB:2√{3}\nC:√{3}\nD:2√{2}"


def _row(pid, version, question, answer, qtype, subject="Plane Geometry", subfield="Length", img=True):
    mc = qtype == "multi-choice"
    wo, cot = (WO_MC, COT_MC) if mc else (WO_FREE, COT_FREE)
    return {"sample_index": pid, "problem_index": pid, "problem_version": version, "question": question,
            "image": image() if img else None, "answer": answer, "question_type": qtype,
            "metadata": {"split": "testmini", "source": "GeoQA", "subject": subject, "subfield": subfield},
            "query_wo": wo + question, "query_cot": cot + question, "question_for_eval": question}


def _rows():
    return [
        _row("1", "Text Dominant", MC_Q, "C", "multi-choice"),
        _row("2", "Vision Only", "", "B", "multi-choice"),
        _row("3", "Text Lite", "Find d to one decimal place.", "22.3", "free-form", "Plane Geometry", "Length"),
        _row("4", "Vision Intensive", "Find the equation of f.", "y=-x^2-2x+1", "free-form", "Functions", "Quadratic"),
        _row("5", "Vision Dominant", "Write the set in interval notation.", "(-2,1]", "free-form", "Functions",
             "Domain"),
        _row("6", "Text Lite", "Find the area.", "8\\sqrt{3}", "free-form", "Plane Geometry", "Area"),
    ]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    path = tmp_path_factory.mktemp("mathverse") / "testmini-00000-of-00001.parquet"
    return {r["pid"]: r for r in BENCH.read(parquet(path, _rows()))}


# (response, sample_index, verdict). The official judge is GPT-4; these are mmpo's rules in its place:
# option letter, text or value; numbers by value; expressions, equations, intervals by equivalence.
CASES = [
    ("C", "1", "correct"),
    ("The answer is C.", "1", "correct"),
    ("Answer: C:√{3}", "1", "correct"),
    ("√{3}", "1", "correct"),           # the option's text
    ("B", "1", "incorrect"),
    ("D. 2√{2}", "1", "incorrect"),
    ("(B)", "2", "correct"),            # Vision Only: the options are in the figure, the letter decides
    ("The correct option is B.", "2", "correct"),
    ("A", "2", "incorrect"),
    ("22.3", "3", "correct"),
    ("Therefore the distance is approximately 22.3 meters.", "3", "correct"),
    ("22.30", "3", "correct"),
    ("22.4", "3", "incorrect"),
    ("f(x) = -x^2 - 2x + 1", "4", "correct"),   # f(x) = ... answers y = ...
    ("So the equation is y = -x^2 - 2x + 1.", "4", "correct"),
    ("y=-(x+1)^2+2", "4", "correct"),   # the same function
    ("y=-x^2+2x+1", "4", "incorrect"),
    ("(-2, 1]", "5", "correct"),
    ("\\((-2, 1]\\)", "5", "correct"),
    ("(-2,1)", "5", "incorrect"),       # the bracket matters
    ("[-2, 1]", "5", "incorrect"),
    ("x \\in \\left(-2, 1\\right]", "5", "correct"),
    ("Therefore, the answer is (-2, 1].", "5", "correct"),
    ("-2, 1", "5", "incorrect"),      # no brackets
    ("\\boxed{8\\sqrt{3}}", "6", "correct"),
    ("\\sqrt{192}", "6", "correct"),
    ("4\\sqrt{3}", "6", "incorrect"),
    ("", "3", "format_failure"),
    (None, "1", "format_failure"),
]


@pytest.mark.parametrize("response,pid,verdict", CASES)
def test_rules(records, response, pid, verdict):
    out = BENCH.check(response, records[pid], "direct")
    assert out["verdict"] == verdict and out["score"] == (1.0 if verdict == "correct" else 0.0)


def test_hub_records(records):
    mc, vision = records["1"], records["2"]
    assert mc["choices"] == ["2", "2√{3}", "√{3}", "2√{2}"] and mc["answer"] == "√{3}"
    assert vision["choices"] == ["A", "B", "C", "D"] and vision["metadata"]["choices_in_image"] is True
    assert mc["metadata"]["problem_version"] == "Text Dominant" and mc["image_ref"]["bytes"] == png()
    assert records["3"]["question_type"] == "free_form" and records["3"]["answer_type"] == "float"


def test_prompts_are_the_release_queries(records):
    assert BENCH.prompt(records["1"], "direct") == WO_MC + MC_Q
    assert BENCH.prompt(records["3"], "cot") == COT_FREE + "Find d to one decimal place."
    bare = {k: v for k, v in records["3"].items() if k not in ("query_wo", "query_cot")}
    assert BENCH.prompt(bare, "cot").startswith("Your task is to answer the question below.")


def test_text_only_split_and_datasets_folder(tmp_path):
    row = _row("7", "Text Only", "A square has side 3. What is its area?", "9", "free-form", img=False)
    row["image"] = ""
    (rec,) = BENCH.read(parquet(tmp_path / "text_only.parquet", [row]))
    assert rec["image_ref"] is None and rec["metadata"]["problem_version"] == "Text Only"
    folder = dataset_folder(tmp_path / "testmini", _rows()[:2])
    recs = BENCH.read(folder)
    assert [r["pid"] for r in recs] == ["1", "2"] and recs[1]["image_ref"]["bytes"] == png()


def test_vlmevalkit_tsv(tmp_path):
    header = ["index", "image", "question", "answer", "question_for_eval", "query_cot", "metadata"]
    rows = [{"index": 1, "image": png(), "question": WO_MC + MC_Q, "answer": "C", "question_for_eval": MC_Q,
             "query_cot": COT_MC + MC_Q,
             "metadata": "{'split': 'testmini', 'source': 'GeoQA', 'subject': 'Plane Geometry', 'subfield': 'Length', "
                         "'problem_version': 'Text Dominant'}"},
            {"index": 2, "image": png(), "question": "According to the question shown in the image, please directly "
             "answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
             "answer": "B", "question_for_eval": "", "metadata": "{'subject': 'Plane Geometry', "
                                                                  "'problem_version': 'Vision Only'}"},
            {"index": 3, "image": png(), "question": WO_FREE + "Find d.", "answer": "22.3", "question_for_eval": "Find d.",
             "metadata": "{'subfield': 'Length', 'problem_version': 'Text Lite'}"}]
    mc, vision, free = BENCH.read(tsv(tmp_path / "MathVerse_MINI.tsv", header, rows))
    assert mc["choices"] == ["2", "2√{3}", "√{3}", "2√{2}"] and mc["answer"] == "√{3}"
    assert mc["question"].startswith("Circle O") and BENCH.prompt(mc, "direct") == WO_MC + MC_Q
    assert BENCH.prompt(mc, "cot") == COT_MC + MC_Q
    assert vision["choices"] == ["A", "B", "C", "D"] and vision["metadata"]["problem_version"] == "Vision Only"
    assert free["question_type"] == "free_form" and free["metadata"]["subfield"] == "Length"
    assert BENCH.check("22.3", free, "direct")["verdict"] == "correct"
    assert BENCH.check("C", mc, "direct")["verdict"] == "correct"


def test_tsv_without_a_version_is_refused(tmp_path):
    rows = [{"index": 1, "image": png(), "question": "Find d.", "answer": "2", "metadata": "{'subject': 'x'}"}]
    with pytest.raises(InputError) as exc:
        BENCH.read(tsv(tmp_path / "MathVerse_MINI.tsv", ["index", "image", "question", "answer", "metadata"], rows))
    assert exc.value.field == "problem_version" and exc.value.line == 2


def test_summary_by_version_text_only_kept_out_of_the_primary(records, tmp_path):
    row = _row("7", "Text Only", "A square has side 3. What is its area?", "9", "free-form", img=False)
    (text_only,) = BENCH.read(parquet(tmp_path / "t.parquet", [row]))
    recs = dict(records, **{"7": text_only})
    responses = {"1": "C", "2": "A", "3": "22.3", "4": "y=-x^2+2x+1", "5": "(-2, 1]", "6": "", "7": "9"}
    preds = [{"pid": p, "mode": "direct", "response": r, **BENCH.check(r, recs[p], "direct")}
             for p, r in responses.items()]
    s = BENCH.summarize(preds)
    assert s["primary"] == 0.5 and s["n"] == 6
    assert s["metrics"]["accuracy_with_text_only"] == 4 / 7
    assert list(s["by"]["version"]) == ["Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant",
                                        "Vision Only", "Text Only"]
    assert s["by"]["version"]["Text Lite"] == {"n": 2, "accuracy": 0.5}
    assert s["by"]["version"]["Text Only"] == {"n": 1, "accuracy": 1.0}
    assert s["by"]["subject"]["Functions"] == {"n": 2, "accuracy": 0.5}
    only = BENCH.summarize([p for p in preds if p["pid"] == "7"])
    assert only["primary"] == 1.0 and only["n"] == 1
