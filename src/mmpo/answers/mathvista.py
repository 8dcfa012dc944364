"""The official MathVista scoring rules (`evaluation/calculate_score.py` of lupantech/MathVista).

Official pipeline: GPT-4 extracts a short answer from the response, then `normalize_extracted_answer`
and an exact `==` against the record's `answer` string. Here the extraction is mmpo's (lenient rules,
then the value a GPT extractor would return: the option letter, the bare number, the list as "[a, b]"),
and the normalisation below reproduces the official one rule for rule:

- multiple choice: the first "(X)" in the extraction gives a letter; a letter in range maps to its
  choice; anything else maps to the choice nearest by Levenshtein distance (first one on ties);
  (mmpo: past 26 choices the labels go on AA, AB, ..., as in prompts; the official code has no labels
  there);
- integer: `str(int(float(x)))` (so "12.7" becomes "12"), None when that fails (mmpo: a plain integer
  string is `str(int(x))`, the same for every integer below 2**53, and exact above it, where the
  official float loses digits and no answer could match);
- float: `str(round(float(x), precision))` (Python's binary round; compared as a string, so a gold
  "1.20" never matches), None when that fails;
- list: `str(x)`; text (free form): the extraction as it is;
- then `prediction == answer`.
"""

from __future__ import annotations

import re

from mmpo.answers.compare import Gold, choice_index
from mmpo.answers.extract import MAX_ANSWER_CHARS, clean
from mmpo.answers.normalize import format_parsed, parse_number, split_list, strip_delimiters
from mmpo.data.records import label_index, option_label

_PAREN_LETTER = re.compile(r"\(([a-zA-Z])\)")
_PAREN_LABEL = re.compile(r"\(([A-Z]{2}|[a-zA-Z])\)")  # past 26 choices (AA, AB, ...)
_INTEGER = re.compile(r"[+-]?\d+")


def mathvista_compare(extracted: str, gold: Gold) -> tuple[bool, str | None]:
    """(correct?, the official normalised prediction)."""
    value = _as_extractor_would(extracted, gold)
    choices = list(gold.choices)
    answer = gold.answer
    if gold.question_type == "multi_choice" and answer not in choices:
        # mmpo extension: a letter answer (non-MathVista data) stands for its choice.
        label = answer.strip()
        idx = label_index(label if len(label) == 2 else label.upper(), len(choices))
        if idx is not None:
            answer = choices[idx]
    prediction = normalize_extracted_answer(value, choices, gold.question_type, gold.answer_type, gold.precision)
    return prediction == answer, prediction


def _as_extractor_would(extracted: str, gold: Gold) -> str:
    """The short answer MathVista's GPT-4 extractor returns for this extraction (our stand-in for it)."""
    text = strip_delimiters(clean(extracted) or extracted)
    if gold.question_type == "multi_choice":
        idx, _ = choice_index(text, gold.choices, None)
        return option_label(idx) if idx is not None else text
    if gold.answer_type in ("integer", "float"):
        p = parse_number(text)
        return format_parsed(p) if p is not None else text
    if gold.answer_type == "list":
        items = split_list(text)
        if items:
            return "[" + ", ".join(format_parsed(p) if (p := parse_number(i)) else i for i in items) + "]"
    return text


def normalize_extracted_answer(extraction, choices, question_type, answer_type, precision):
    """The official normalisation (same rules, same order, same failure values)."""
    if question_type == "multi_choice":
        extraction = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letters = (_PAREN_LABEL if len(choices) > 26 else _PAREN_LETTER).findall(extraction)
        if letters:
            extraction = letters[0].upper()
        options = [option_label(i) for i in range(len(choices))]
        if extraction in options:
            return choices[options.index(extraction)]
        return nearest_choice(extraction, choices)
    if answer_type == "integer":
        try:
            if isinstance(extraction, str) and _INTEGER.fullmatch(extraction.strip()):
                return str(int(extraction))  # exact (the official float loses digits past 2**53)
            return str(int(float(extraction)))
        except (ValueError, TypeError, OverflowError):
            return None
    if answer_type == "float":
        try:
            return str(round(float(extraction), precision))
        except (ValueError, TypeError, OverflowError):
            return None
    if answer_type == "list":
        return str(extraction)
    return extraction


def nearest_choice(prediction: str, choices: list[str]) -> str:
    distances = [levenshtein(prediction[:MAX_ANSWER_CHARS], c) for c in choices]
    return choices[distances.index(min(distances))]


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
