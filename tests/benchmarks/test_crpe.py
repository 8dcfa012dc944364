"""CRPE relation: the letter rule on labelled responses, the CircularEval grouping of the shipped
rotations (and the rotations made here for one line per question), the shapes it ships in, and
circular accuracy on fake answers."""

from __future__ import annotations

import json

import pytest

from _qa_shapes import png, write_jsonl, write_tsv
from mmpo.benchmarks import get_benchmark
from mmpo.benchmarks.crpe import parse_text
from mmpo.errors import InputError

CRPE = get_benchmark("crpe")
OPTS = ["dog", "cat", "man", "tree"]
INSTRUCTION = "Answer with the option's letter from the given choices directly."


def _text(stem, options):
    return stem + "\n" + "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options)) + "\n" + INSTRUCTION


def _shipped(qid, stem, options, gold, category, image="", start=0):
    """The authors' lines: one per rotation, the options circularly shifted, the letter moving along."""
    out = []
    for k in range(len(options)):
        o = options[k:] + options[:k]
        out.append({"question_id": qid + k, "image": image, "text": _text(stem, o),
                    "correct_option": chr(65 + o.index(gold)), "category": category})
    return out


REC = {"pid": "1@r0", "question": "What is riding the horse?", "choices": OPTS, "answer": "man", "answer_index": 2,
       "metadata": {"circular_of": "1", "rotation": 0, "rotations": 4, "category": "subject"}}

# (response, mode, verdict): the gold is C ("man")
CASES = [
    ("C", "direct", "correct"),
    ("(C)", "direct", "correct"),
    ("C.", "direct", "correct"),
    ("C. man", "direct", "correct"),
    ("(C) man", "direct", "correct"),
    ("**C**", "direct", "correct"),
    ("Option C", "direct", "correct"),
    ("The answer is C.", "direct", "correct"),
    ("B", "direct", "incorrect"),
    ("E", "direct", "incorrect"),  # a letter past the options
    ("c", "direct", "format_failure"),  # the options are capitals
    ("man", "direct", "format_failure"),  # the authors' scorer takes a letter only
    ("A man is riding the horse.", "direct", "format_failure"),  # 'A' as an article is no letter
    ("", "direct", "format_failure"),
    (None, "direct", "format_failure"),
    ("The rider is a man.\nFinal answer: C", "cot", "correct"),
    ("It looks like a cat.\nFinal answer: (B) cat", "cot", "incorrect"),
    ("The rider is a man, so C", "cot", "format_failure"),  # no final answer
    ("Final answer: man", "cot", "format_failure"),
    ("Hence \\boxed{C}", "cot", "correct"),
]


@pytest.mark.parametrize("response,mode,verdict", CASES)
def test_letter_rule(response, mode, verdict):
    out = CRPE.check(response, REC, mode)
    assert out["verdict"] == verdict and out["score"] == (1.0 if verdict == "correct" else 0.0)
    assert (out["circular_of"], out["rotation"], out["rotations"], out["category"]) == ("1", 0, 4, "subject")


def test_parse_text_keeps_the_stem_and_drops_the_instruction():
    assert parse_text(_text("Who rides?\nLook closely.", OPTS)) == ("Who rides?\nLook closely.", OPTS)
    assert parse_text("No options here") == ("No options here", [])
    assert parse_text("Who?\n(A) a man\n(B) a dog\nAnswer.") == ("Who?", ["a man", "a dog"])
    assert parse_text("A man and a dog.\nWhich rides?\nA) man\nB) dog\nC dog") == (
        "A man and a dog.\nWhich rides?", ["man", "dog"])


def test_shipped_rotations_are_grouped_per_category_as_the_authors_do(tmp_path):
    a = _shipped(100, "What is riding the horse?", OPTS, "man", "subject")
    b = _shipped(200, "What is the man doing?", ["riding", "eating", "sleeping", "running"], "riding", "predicate")
    rows = [x for pair in zip(a, b) for x in pair]  # categories interleaved line by line
    recs = CRPE.read(write_jsonl(tmp_path / "crpe_relation.jsonl", rows))
    assert [r["pid"] for r in recs] == ["100@r0", "100@r1", "100@r2", "100@r3", "200@r0", "200@r1", "200@r2", "200@r3"]
    r = recs[1]
    assert r["choices"] == ["cat", "man", "tree", "dog"] and r["answer"] == "man" and r["answer_index"] == 1
    assert r["question"] == "What is riding the horse?" and r["_where"] == {"line": 3}
    assert r["metadata"] == {"circular_of": "100", "rotation": 1, "rotations": 4, "category": "subject",
                             "question_id": "101"}
    assert CRPE.last_read["questions"] == 2 and CRPE.last_read["records"] == 8 and CRPE.last_read["rows"] == 8


def test_one_line_per_question_is_rotated_here(tmp_path):
    path = write_jsonl(tmp_path / "meta.jsonl", [
        {"question_id": 7, "question": "What is under the table?", "choices": OPTS, "correct_option": "tree",
         "category": "object"},
        {"question_id": 8, "question": "What is on the table?", "options": {"A": "cup", "B": "cat"},
         "answer": "B", "category": "object"}])
    recs = CRPE.read(path)
    assert [r["pid"] for r in recs] == ["7@r0", "7@r1", "7@r2", "7@r3", "8@r0", "8@r1"]
    assert [r["choices"] for r in recs[:4]] == [OPTS, OPTS[1:] + OPTS[:1], OPTS[2:] + OPTS[:2], OPTS[3:] + OPTS[:3]]
    assert [r["answer_index"] for r in recs[:4]] == [3, 2, 1, 0] and {r["answer"] for r in recs[:4]} == {"tree"}
    assert [r["answer"] for r in recs[4:]] == ["cat", "cat"] and recs[5]["choices"] == ["cat", "cup"]
    # an answer written as the lettered option, as some exports write it
    (r,) = CRPE.read(write_jsonl(tmp_path / "lettered.jsonl", [{"question": "Q?", "choices": ["x", "y"],
                                                                 "answer": "(B) y"}]))[:1]
    assert r["answer"] == "y" and r["answer_index"] == 1
    assert all(r["_where"] == {"line": 1} for r in recs[:4])


def test_vlmevalkit_tsv_with_option_columns(tmp_path):
    rows = []
    for k in range(2):
        o = ["left", "right"][k:] + ["left", "right"][:k]
        rows.append({"index": 5 + k, "image": png(), "question": "Where is the cup?", "A": o[0], "B": o[1],
                     "answer": chr(65 + o.index("left")), "category": "object"})
    recs = CRPE.read(write_tsv(tmp_path / "CRPE_RELATION.tsv", ["index", "image", "question", "A", "B", "answer",
                                                                "category"], rows))
    assert [r["pid"] for r in recs] == ["5@r0", "5@r1"] and recs[1]["choices"] == ["right", "left"]
    assert recs[0]["image_ref"]["bytes"][:4] == b"\x89PNG" and recs[1]["answer_index"] == 1


def test_images_are_found_in_a_folder_above_the_file(tmp_path):
    (tmp_path / "data" / "abnormal_images").mkdir(parents=True)
    (tmp_path / "data" / "abnormal_images" / "1.jpg").write_bytes(png())
    (tmp_path / "data" / "eval" / "crpe").mkdir(parents=True)
    path = write_jsonl(tmp_path / "data" / "eval" / "crpe" / "crpe_relation.jsonl",
                       _shipped(1, "Who?", ["a", "b"], "a", "subject", image="abnormal_images/1.jpg"))
    recs = CRPE.read(path)
    assert recs[0]["image_path"] == str((tmp_path / "data" / "abnormal_images" / "1.jpg").resolve())
    missing = write_jsonl(tmp_path / "m.jsonl", _shipped(1, "Who?", ["a", "b"], "a", "subject", image="nope/2.jpg"))
    with pytest.raises(InputError, match=r"m.jsonl:1, field 'image': image .*nope/2.jpg does not exist"):
        CRPE.read(missing)


def test_bad_groups_and_rows_are_errors_naming_the_line(tmp_path):
    rows = _shipped(1, "Who?", OPTS, "man", "subject")
    with pytest.raises(InputError, match=r"three.jsonl:2: this line repeats the question before it"):
        CRPE.read(write_jsonl(tmp_path / "three.jsonl", rows[:3]))
    bad = [dict(r) for r in rows]
    bad[2]["correct_option"] = "B"  # rotation 2 is man, tree, dog, cat: the answer is A
    with pytest.raises(InputError, match=r"disagree.jsonl:3, field 'correct_option': the rotations of question 1 "
                                         "disagree on the answer"):
        CRPE.read(write_jsonl(tmp_path / "disagree.jsonl", bad))
    twice = [rows[0], rows[0], rows[2], rows[3]]
    with pytest.raises(InputError, match=r"twice.jsonl:2: the same option order twice"):
        CRPE.read(write_jsonl(tmp_path / "twice.jsonl", twice))
    with pytest.raises(InputError, match=r"range.jsonl:1, field 'correct_option': 'E' is none of the 4 options"):
        CRPE.read(write_jsonl(tmp_path / "range.jsonl", [{**rows[0], "correct_option": "E"}]))
    with pytest.raises(InputError, match=r"noopt.jsonl:1, field 'text': a CRPE question needs at least 2 options"):
        CRPE.read(write_jsonl(tmp_path / "noopt.jsonl", [{"question_id": 1, "text": "Who?", "correct_option": "A"}]))
    (tmp_path / "junk.jsonl").write_text(json.dumps([1, 2]) + "\n")
    with pytest.raises(InputError, match=r"junk.jsonl:1: expected a JSON object"):
        CRPE.read(tmp_path / "junk.jsonl")


def test_summaries_of_nothing_are_zero():
    s = CRPE.summarize([])
    assert s["primary"] == 0.0 and s["n"] == 0 and s["by"] == {"category": {}}


def test_prompts_use_the_rotation_options():
    rec = {**REC, "choices": ["cat", "man", "tree", "dog"]}
    assert CRPE.prompt(rec, "direct") == ("What is riding the horse?\nChoices:\n(A) cat\n(B) man\n(C) tree\n(D) dog\n"
                                          "Answer with the option's letter from the given choices directly.")
    cot = CRPE.prompt(rec, "cot")
    assert '"Final answer: .."' in cot and cot.endswith("(D) dog") and "directly" not in cot


def test_circular_accuracy_end_to_end(tmp_path):
    rows = (_shipped(100, "What is riding the horse?", OPTS, "man", "subject")
            + _shipped(200, "What is the man doing?", ["riding", "eating", "sleeping", "running"], "riding",
                       "predicate"))
    recs = CRPE.read(write_jsonl(tmp_path / "crpe_relation.jsonl", rows))

    def right(r):
        return "ABCD"[r["answer_index"]]

    responses = {r["pid"]: right(r) for r in recs}
    responses["200@r2"] = "Final answer: A"  # one rotation of question 200 answered wrong
    preds = [{"pid": r["pid"], "mode": "direct", **CRPE.check(responses[r["pid"]], r, "direct")} for r in recs]
    assert sum(p["verdict"] == "correct" for p in preds) == 7
    s = CRPE.summarize(preds)
    assert s["primary"] == 0.5 == s["metrics"]["accuracy"] and s["n"] == 2
    assert s["metrics"]["single_accuracy"] == 7 / 8 and s["metrics"]["askings"] == 8
    assert s["by"]["category"] == {"predicate": {"n": 1, "accuracy": 0.0}, "subject": {"n": 1, "accuracy": 1.0}}
    # a question whose rotations were not all answered counts wrong, and is reported
    part = CRPE.summarize([p for p in preds if p["pid"] != "100@r3"])
    assert part["primary"] == 0.0 and part["metrics"]["incomplete_questions"] == 1
