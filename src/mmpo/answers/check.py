"""check_answer: one response against one MathVista-schema record, in the default (careful) mode
(`mmpo.answers.compare`) or the official MathVista one (`mmpo.answers.mathvista`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmpo.answers.compare import compare, gold_from_record
from mmpo.answers.extract import extract_answer
from mmpo.answers.mathvista import mathvista_compare
from mmpo.data.layout import VERDICTS  # noqa: F401  (re-exported: the verdicts of samples and predictions)

SCORINGS = ("default", "mathvista")
SYMBOLIC_BUDGET_S = 2.0  # wall-clock budget for all symbolic work of one check (waits for a worker not counted)


@dataclass(frozen=True, slots=True)
class Verdict:
    """`extracted`: the answer found in the response (None: format failure); `verdict`: one of VERDICTS.

    `normalized`: the prediction in the form it was compared (e.g. "(B) 8/11", "0.5"); `reason`: a few
    words on which rule decided, for debugging data.
    """

    extracted: str | None
    verdict: str
    normalized: str | None = None
    reason: str = ""

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"

    def to_dict(self) -> dict[str, Any]:
        return {"extracted": self.extracted, "verdict": self.verdict}


def check_answer(response: str | None, record: Mapping[str, Any], *, scoring: str = "default",
                 lenient: bool | None = None, rel_tol: float | None = None) -> Verdict:
    """Extract the answer from `response` and judge it against `record` (MathVista fields).

    `record` may be a plain dict: an integer `answer` of a multiple-choice record (question_type
    multi_choice, the default with choices; ScienceQA's raw shape) is read as a 0-based index into
    the choices, as `mmpo.data.records` reads files; an integer that is one choice's text and
    another's index, or an index out of range that is no choice's text, raises InputError (field
    'answer'), as do more than 702 choices (field 'choices').

    `scoring`: "default" (mmpo's careful rules) or "mathvista" (the official MathVista rules).
    `lenient`: use the lenient extraction rules; default False for "default", True for "mathvista".
    `rel_tol`: also accept numbers within this relative tolerance of the answer.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    gold = gold_from_record(record)
    if lenient is None:
        lenient = scoring == "mathvista"
    extracted = extract_answer(response, lenient=lenient)
    if extracted is None:
        return Verdict(None, "format_failure", None, "no answer found")
    if scoring == "mathvista":
        ok, normalized = mathvista_compare(extracted, gold)
        return Verdict(extracted, "correct" if ok else "incorrect", normalized, "mathvista rules")
    deadline = time.monotonic() + SYMBOLIC_BUDGET_S
    ok, normalized, reason = compare(extracted, gold, deadline, rel_tol)
    return Verdict(extracted, "correct" if ok else "incorrect", normalized, reason)


