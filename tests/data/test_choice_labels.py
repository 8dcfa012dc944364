"""Option labels past Z (AA, AB, ...), the same in prompts, record readers and answer checks; integer
answers of multiple-choice records as indexes."""

import json

import pytest

from mmpo.answers import check_answer
from mmpo.data.prompts import build_prompt, question_text
from mmpo.data.records import MAX_CHOICES, label_index, load_records, option_label
from mmpo.errors import InputError


def test_labels_round_trip():
    labels = [option_label(i) for i in range(MAX_CHOICES)]
    assert labels[:3] == ["A", "B", "C"] and labels[25:29] == ["Z", "AA", "AB", "AC"] and labels[-1] == "ZZ"
    assert len(set(labels)) == MAX_CHOICES
    assert all(label_index(lab, MAX_CHOICES) == i for i, lab in enumerate(labels))
    assert label_index("AB", 26) is None  # up to 26 choices two letters are text, never a label
    assert label_index("ab", 30) is None and label_index("b", 30) == 1
    assert label_index("AE", 30) is None  # past the last choice
    with pytest.raises(ValueError):
        option_label(MAX_CHOICES)


def test_prompt_and_check_agree_past_26_choices():
    rec = {"pid": "1", "question": "Which one?", "choices": [f"item {i}" for i in range(30)], "answer": "item 27"}
    text = question_text(rec)
    assert "(Z) item 25\n(AA) item 26\n(AB) item 27\n(AC) item 28\n(AD) item 29" in text
    assert "[" not in text and "\\" not in text  # what chr(65 + i) gave: "([) item 26", "(\\) item 27"
    assert "(AB) item 27" in build_prompt(rec, "direct", "mmpo")
    for response in ("Final answer: AB", "Final answer: (AB) item 27", "Final answer: item 27"):
        assert check_answer(response, rec).verdict == "correct", response
        assert check_answer(response, rec, scoring="mathvista").verdict == "correct", response
    assert check_answer("Final answer: (AA)", rec).verdict == "incorrect"


def _records(tmp_path, rows):
    p = tmp_path / "bench.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_reader_maps_two_letter_answers_and_refuses_too_many_choices(tmp_path):
    many = [f"c{i}" for i in range(30)]
    p = _records(tmp_path, [{"pid": 1, "question": "q", "choices": many, "answer": "AB"},
                            {"pid": 2, "question": "q", "choices": many, "answer": "(AD)"}])
    one, two = load_records(p)
    assert (one["answer"], one["answer_index"]) == ("c27", 27)
    assert (two["answer"], two["answer_index"]) == ("c29", 29)
    p = _records(tmp_path, [{"pid": 1, "question": "q", "choices": [str(i) for i in range(703)], "answer": "1"}])
    with pytest.raises(InputError, match=r"bench.jsonl:1, field 'choices': 703 choices; at most 702"):
        load_records(p)


def test_reader_and_check_read_an_index_answer_alike(tmp_path):
    row = {"question": "Which is a fish?", "choices": ["whale", "shark", "dolphin"], "answer": 1}
    (rec,) = load_records(_records(tmp_path, [row]))
    for record in (rec, {**row, "question_type": "multi_choice"}, row):  # read, and as a plain dict
        assert check_answer("Final answer: B", record).verdict == "correct"
        assert check_answer("Final answer: A", record).verdict == "incorrect"
    bad = {**row, "choices": ["1", "2", "3"]}
    with pytest.raises(InputError, match="both a choice's text and the index"):
        load_records(_records(tmp_path, [bad]))
    with pytest.raises(InputError, match="both a choice's text and the index"):
        check_answer("Final answer: B", bad)
