"""Degenerate repetition in a response: the failure mode that follows an over-trained preference stage.

    is_repetitive("the answer is 4 the answer is 4 the answer is 4 the answer is 4 ...")   # True

A response is repetitive when at least half of its word n-grams (n = 4) are n-grams it repeats at
least 4 times (a loop of any period), or one word repeats 8 times in a row. Responses shorter than 16 words are
never repetitive (a short answer is not a loop). Pure text, no model.
"""

from __future__ import annotations

from collections import Counter

NGRAM = 4
MIN_REPEATS = 4
MIN_SHARE = 0.5
RUN = 8
MIN_WORDS = 16


def is_repetitive(text: str | None) -> bool:
    words = (text or "").split()
    if len(words) < MIN_WORDS:
        return False
    run = 1
    for a, b in zip(words, words[1:]):
        run = run + 1 if a == b else 1
        if run >= RUN:
            return True
    grams = Counter(tuple(words[i:i + NGRAM]) for i in range(len(words) - NGRAM + 1))
    looped = sum(c for c in grams.values() if c >= MIN_REPEATS)
    return looped / sum(grams.values()) >= MIN_SHARE
