import pytest

from mmpo.demo.reading import loose_stated_numbers, reading_accuracy, stated_numbers


def _rec(pid, digits):
    glyphs = [{"cell": [0, i], "char": d} for i, d in enumerate(digits)]
    return {"pid": pid, "scene": {"glyphs": glyphs[::-1]}}  # order restored from cells


def test_stated_numbers():
    assert stated_numbers("The numbers are 3 , 7 , 12 . 3 + 7 = 10 .") == ["3", "7", "12"]
    assert stated_numbers("Final answer: 3") is None


def test_reading_accuracy_counts_positions_missing_and_extra():
    recs = [_rec("a", "372"), _rec("b", "45"), _rec("c", "9")]
    preds = [
        {"pid": "a", "mode": "cot", "response": "The numbers are 3 , 1 , 2 . Final answer: 6"},  # 2 of 3
        {"pid": "b", "mode": "cot", "response": "The numbers are 4 , 5 , 6 ."},  # 2 right, 3 counted
        {"pid": "c", "mode": "cot", "response": "Final answer: 9"},  # never reads: 0 of 1
        {"pid": "a", "mode": "direct", "response": "The numbers are 3 , 7 , 2 ."},  # other mode: ignored
    ]
    out = reading_accuracy(recs, preds)
    assert (out["right"], out["numbers"], out["records"]) == (4, 7, 3)
    assert abs(out["accuracy"] - 4 / 7) < 1e-12 and abs(out["stated_share"] - 2 / 3) < 1e-12


@pytest.mark.parametrize("text,count,expected", [
    ("The numbers in the image are 7, 6, 5, 6, 5, 7,", 4, ["7", "6", "5", "6"]),
    ("The numbers are 3 , 7 , 2 .", 3, ["3", "7", "2"]),
    ("The numbers in this image are: 1, 2, and 3.", 3, ["1", "2", "3"]),
    ("The numbers in the image are 34, 7, 2", 5, ["34", "7", "2"]),
    ("I cannot see any numbers.", 3, None),
])
def test_loose_reading_parser(text, count, expected):
    assert loose_stated_numbers(text, count) == expected
