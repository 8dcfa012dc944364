"""MATH-Vision: the authors' scoring rule on labelled cases, the shipping shapes (Hub parquet and a saved
`datasets` folder with testmini and test, the repository's jsonl with images/ one folder up, VLMEvalKit
TSV) read end to end, prompts, and the per-subject and per-level summary."""

from __future__ import annotations

import pytest

from _math_shapes import dataset_folder, image, jsonl, parquet, png, tsv
from mmpo.benchmarks import get_benchmark
from mmpo.errors import InputError

BENCH = get_benchmark("mathvision")


def _rows():
    def row(pid, answer, options, subject, level, question="How many?"):
        return {"id": pid, "question": f"<image1>\n{question}", "options": options, "image": f"images/{pid}.jpg",
                "answer": answer, "solution": None, "level": level, "subject": subject}
    return [
        row("1", "C", ["2", "4", "6", "8", "10"], "arithmetic", 2, "How many dots are hidden?"),
        row("2", "D", list("ABCDE"), "metric geometry - angle", 3, "Which angle is right?"),
        row("3", "14", [], "counting", 1),
        row("4", "2\\sqrt{3}", [], "metric geometry - length", 4, "How long is AB?"),
        row("5", "(1,2)", [], "analytic geometry", 5, "Where do the lines meet?"),
        row("6", "\\frac{3}{4}", [], "arithmetic", 2, "What fraction is shaded?"),
        row("7", "2x+1", [], "algebra", 3, "Which function is drawn?"),
        row("8", "1.5", [], "counting", 1, "What is the mean?"),
    ]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    path = tmp_path_factory.mktemp("mathvision") / "testmini-00000-of-00001.parquet"
    rows = [dict(r, decoded_image=image(path=f"{r['id']}.jpg")) for r in _rows()]
    return {r["pid"]: r for r in BENCH.read(parquet(path, rows))}


# (response, id, verdict): mathllm/MATH-V evaluation/evaluate.py + utils.py (is_equal, find_math_answer).
CASES = [
    # multiple choice: the letter (any case, boxed or "the answer is"), or the option's value
    ("\\boxed{C}", "1", "correct"),
    ("The answer is (C).", "1", "correct"),
    ("c", "1", "correct"),
    ("\\boxed{6}", "1", "correct"),
    ("6.001", "1", "correct"),          # the option's value at 2 decimals
    ("\\boxed{B}", "1", "incorrect"),
    ("\\boxed{8}", "1", "incorrect"),
    # options drawn in the figure: only the letter
    ("\\boxed{D}", "2", "correct"),
    ("(d)", "2", "correct"),
    ("\\boxed{E}", "2", "incorrect"),
    # free form: equal text, else numbers equal after rounding to 2 decimals
    ("\\boxed{14}", "3", "correct"),
    ("The answer is 14.", "3", "correct"),
    ("x = 14", "3", "correct"),         # the value after "="
    ("14 cm", "3", "correct"),          # units are cleaned off
    ("14.004", "3", "correct"),
    ("14.01", "3", "incorrect"),
    ("\\boxed{15}", "3", "incorrect"),
    ("\\boxed{2\\sqrt{3}}", "4", "correct"),
    ("\\boxed{\\sqrt{12}}", "4", "correct"),  # a closed form, evaluated
    ("3.46", "4", "correct"),           # 2*sqrt(3) = 3.4641 -> 3.46
    ("3.47", "4", "incorrect"),
    ("\\boxed{(1, 2)}", "5", "correct"),
    ("(1.004, 2)", "5", "correct"),     # tuples element by element at 2 decimals
    ("(2, 1)", "5", "incorrect"),
    ("[1,2]", "5", "incorrect"),
    ("3/4", "6", "correct"),            # a/b is written as \frac{a}{b}
    ("\\boxed{\\dfrac{3}{4}}", "6", "correct"),
    ("\\boxed{0.75}", "6", "correct"),
    ("0.7", "6", "incorrect"),
    ("\\boxed{2x + 1}", "7", "correct"),  # spaces are cleaned off
    ("\\boxed{1+2x}", "7", "incorrect"),  # expressions with variables: only the same text
    ("1.50", "8", "correct"),
    ("\\frac{3}{2}", "8", "correct"),
    ("1.506", "8", "incorrect"),        # 1.51 at 2 decimals
    ("", "3", "format_failure"),
    (None, "1", "format_failure"),
]


@pytest.mark.parametrize("response,pid,verdict", CASES)
def test_authors_rule(records, response, pid, verdict):
    out = BENCH.check(response, records[pid], "cot")
    assert out["verdict"] == verdict and out["score"] == (1.0 if verdict == "correct" else 0.0)


def test_hub_record_fields(records):
    mc, inimage, free = records["1"], records["2"], records["3"]
    assert mc["choices"] == ["2", "4", "6", "8", "10"] and mc["answer"] == "6" and mc["answer_index"] == 2
    assert inimage["metadata"]["choices_in_image"] is True and inimage["answer"] == "D"
    assert free["question_type"] == "free_form" and free["choices"] is None and free["answer_type"] == "integer"
    assert mc["metadata"] == {"subject": "arithmetic", "level": 2} and mc["image_ref"]["bytes"] == png()


def test_prompts(records):
    cot = BENCH.prompt(records["1"], "cot")
    assert cot == ('Please solve the problem and put your answer in one "\\boxed{}". If it is a multiple choice '
                   'question, only one letter is allowed in the "\\boxed{}".\n<image1>\nHow many dots are hidden?\n'
                   "(A) 2\n(B) 4\n(C) 6\n(D) 8\n(E) 10")
    assert BENCH.prompt(records["2"], "cot").endswith("Which angle is right?")  # letters only: no options
    assert BENCH.prompt(records["3"], "direct") == "<image1>\nHow many?\n\nAnswer the question using a single word or phrase."


def test_dataset_folder_with_both_splits(tmp_path):
    import datasets

    rows = [dict(r, decoded_image=image()) for r in _rows()]
    mini = dataset_folder(tmp_path / "mini", rows[:2], image_columns=("decoded_image",))
    full = dataset_folder(tmp_path / "full", rows, image_columns=("decoded_image",))
    dd = datasets.DatasetDict({"testmini": datasets.load_from_disk(str(mini)),
                               "test": datasets.load_from_disk(str(full))})
    dd.save_to_disk(str(tmp_path / "MathVision"))
    assert len(BENCH.read(tmp_path / "MathVision", split="testmini")) == 2
    test = BENCH.read(tmp_path / "MathVision", split="test")
    assert len(test) == 8 and test[3]["answer"] == "2\\sqrt{3}" and test[3]["image_ref"]["bytes"] == png()
    with pytest.raises(InputError):
        BENCH.read(tmp_path / "MathVision")  # two splits: choose one


def test_repository_jsonl_finds_images_one_folder_up(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "images").mkdir()
    rows = _rows()[:3]
    for r in rows:
        (tmp_path / r["image"]).write_bytes(png())
    recs = BENCH.read(jsonl(tmp_path / "data" / "testmini.jsonl", rows))
    assert recs[0]["image_path"] == str((tmp_path / "images" / "1.jpg").resolve())
    assert BENCH.check("\\boxed{C}", recs[0], "cot")["verdict"] == "correct"


def test_vlmevalkit_tsv(tmp_path):
    header = ["index", "image", "question", "answer", "choices", "category", "level"]
    rows = [{"index": 1, "image": png(), "question": "Hint: Please answer the question and provide the correct "
             "option letter, e.g., A, B, C, D, at the end.\nQuestion: <image1>\nHow many dots are hidden?\n"
             "Choices: (A) 2 (B) 4 (C) 6 (D) 8 (E) 10", "answer": "C", "choices": "['2', '4', '6', '8', '10']",
             "category": "arithmetic", "level": "2"},
            {"index": 2, "image": png(), "question": "<image1>\nHow many?", "answer": "14", "choices": "[]",
             "category": "counting", "level": "1"}]
    mc, free = BENCH.read(tsv(tmp_path / "MathVision_MINI.tsv", header, rows))
    assert mc["question"] == "<image1>\nHow many dots are hidden?" and mc["answer"] == "6"
    assert mc["metadata"] == {"subject": "arithmetic", "level": 2} and free["choices"] is None
    assert BENCH.check("\\boxed{C}", mc, "cot")["verdict"] == "correct"
    assert BENCH.check("\\boxed{14}", free, "cot")["verdict"] == "correct"


def test_bad_answer_letter_names_the_record(tmp_path):
    rows = [dict(_rows()[0], answer="F", decoded_image=image())]
    with pytest.raises(InputError) as exc:
        BENCH.read(parquet(tmp_path / "test.parquet", rows))
    assert exc.value.record == 0 and exc.value.field == "answer"


def test_summary_by_subject_and_level(records):
    responses = {"1": "\\boxed{C}", "2": "\\boxed{A}", "3": "14", "4": "3.46", "5": "", "6": "3/4",
                 "7": "\\boxed{1+2x}", "8": "1.5"}
    preds = [{"pid": p, "mode": "cot", "response": r, **BENCH.check(r, records[p], "cot")} for p, r in responses.items()]
    s = BENCH.summarize(preds)
    assert s["primary"] == 5 / 8 and s["n"] == 8 and s["metrics"]["format_failure_rate"] == 1 / 8
    assert s["by"]["subject"]["arithmetic"] == {"n": 2, "accuracy": 1.0}
    assert s["by"]["subject"]["counting"] == {"n": 2, "accuracy": 1.0}
    assert s["by"]["subject"]["algebra"] == {"n": 1, "accuracy": 0.0}
    assert s["by"]["level"] == {"level 1": {"n": 2, "accuracy": 1.0}, "level 2": {"n": 2, "accuracy": 1.0},
                                "level 3": {"n": 2, "accuracy": 0.0}, "level 4": {"n": 1, "accuracy": 1.0},
                                "level 5": {"n": 1, "accuracy": 0.0}}
