"""The repetition metric on hand-made responses, and its place in the scores and the report."""

from __future__ import annotations

import pytest

from mmpo.eval.repetition import is_repetitive
from mmpo.eval.run import score_predictions

LOOP = "The sum is 4 . " * 8


@pytest.mark.parametrize("text,expected", [
    (LOOP, True),                                                              # one 4-gram fills the response
    ("Step 1 : read 3 , 7 , 2 . " + "so so so so so so so so " + "done", True),  # one word 8 times running
    ("The numbers are 3 , 7 , 2 . 3 + 7 = 10 . 10 + 2 = 12 . Final answer: 12", False),  # a normal chain
    ("yes " * 6, False),                                                       # short: an answer, not a loop
    ("", False),
    (None, False),
    ("a b c d " * 3 + " ".join(f"w{i}" for i in range(40)), False),            # a repeat, but a small share
])
def test_is_repetitive(text, expected):
    assert is_repetitive(text) is expected


def test_scores_count_repetitive_and_cut_off_responses():
    records = [{"pid": str(i), "question_type": "free_form", "answer_type": "integer", "metadata": {}}
               for i in range(4)]
    preds = [{"pid": "0", "mode": "cot", "response": LOOP, "verdict": "format_failure", "truncated": True},
             {"pid": "1", "mode": "cot", "response": "Final answer: 3", "verdict": "correct", "truncated": False},
             {"pid": "2", "mode": "cot", "response": "I think that", "verdict": "format_failure", "truncated": True},
             {"pid": "3", "mode": "cot", "response": LOOP + "Final answer: 4", "verdict": "incorrect",
              "truncated": False}]
    m = score_predictions(records, preds, ["cot"])["cot"]
    assert (m["repetitive"], m["repetition_rate"]) == (2, 0.5)
    assert m["truncated_without_answer_rate"] == 0.5
