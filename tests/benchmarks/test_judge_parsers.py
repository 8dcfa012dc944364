"""Each judge benchmark's reading of its judge's reply, on a table of replies (readable and not)."""

from __future__ import annotations

import pytest

from mmpo.benchmarks.llavabench import parse_judgement as llava_parse
from mmpo.benchmarks.llavabench import parse_ratings
from mmpo.benchmarks.mmhal import parse_judgement as mmhal_parse
from mmpo.benchmarks.mmvet import parse_judgement as mmvet_parse


@pytest.mark.parametrize("reply, score", [
    ("0.8", 0.8), ("1.0", 1.0), ("0", 0.0), ("1", 1.0), (".5", 0.5), ("0.3 because the colour is wrong", 0.3),
    ("Score: 0.7", 0.7), ("  0.0\n", 0.0),
    ("1.5", None), ("10", None), ("-0.2", None), ("7 out of 10", None), ("", None), (None, None),
    ("correct", None), ("the answer is fine", None),
])
def test_mmvet_reads_the_first_number_when_it_is_a_score_in_0_1(reply, score):
    assert mmvet_parse(reply) == score


@pytest.mark.parametrize("reply, pair", [
    ("8 9\nAssistant 1 is ...", (8.0, 9.0)), ("8, 7", (8.0, 7.0)), ("10 6.5", (10.0, 6.5)), ("  9  9  ", (9.0, 9.0)),
    ("8 9 10", None), ("8", None), ("Assistant 1: 8 Assistant 2: 9", None), ("eight nine", None), ("", None),
    (None, None), ("\n8 9", (8.0, 9.0)), ("11 3", None), ("-1 5", None), ("The scores are\n8 9", None),
])
def test_llava_bench_reads_two_ratings_on_the_first_line(reply, pair):
    assert parse_ratings(reply) == pair
    assert llava_parse(reply) == (None if pair is None else pair[1])


@pytest.mark.parametrize("reply, score", [
    ("The answer is informative.\nRating: 5", 5.0), ("rating: 0", 0.0), ("RATING:6", 6.0), ("Rating: 3.", 3.0),
    ("Rating: **4**", 4.0), ("Rating: 2\n...\nRating: 2", 2.0),
    ("Rating: 7", None), ("Rating: 10", None), ("Rating: 4.5", None), ("Rating: 2 ... Rating: 5", None),
    ("I would rate it 5", None), ("", None), (None, None), ("Rating: high", None),
])
def test_mmhal_reads_exactly_one_rating_in_0_6(reply, score):
    assert mmhal_parse(reply) == score
