"""Answer extraction and checking, shared by pair labelling (`mmpo sample`/`pairs`) and evaluation.

Usage:
    from mmpo.answers import extract_answer, check_answer
    extract_answer("... so 3 + 4 = 7.\\nFinal answer: 7")            # '7'
    v = check_answer("... Final answer: (B) 8/11", record)           # record: MathVista fields
    v.extracted, v.verdict                                           # '(B) 8/11', 'correct'
    check_answer("B", record, lenient=True)                          # direct answers: lenient extraction
    check_answer(response, record, scoring="mathvista")              # the official MathVista rules

A verdict is "correct", "incorrect" or "format_failure" (no answer could be extracted; MPO turns those
responses into rejected answers).

Extraction (`mmpo.answers.extract`): strict by default: the last brace-balanced \\boxed{...}; else the
last "Final answer:" / "Answer:" / "答案:" line; else "the answer is X". Lenient mode adds a bare short
response, an option letter, the last number. A '!' right after a digit or a closing bracket is a
factorial and stays ("Final answer: 3!" is 3!, i.e. 6); after a word it is punctuation ("Yes!").

Comparison in the default mode, driven by the record's `question_type`, `answer_type`, `choices`,
`precision`, `unit`:
- multiple choice: the choice text itself (case, articles, punctuation, LaTeX wrappers ignored); an
  option letter ("B", "(B)", "B.", "Option B", "(B) 8/11"; a letter whose text names another choice is
  wrong); a number equal to exactly one choice ("0.5" for "1/2", "145" for "145°"); a response that
  starts with one choice's text and names no other ("Yes, because ..."); a LaTeX expression that
  math-verify finds equal to exactly one choice. Anything else is incorrect, never the nearest choice.
  Past 26 choices the labels go on AA, AB, ..., ZZ (capitals; as `mmpo.data.prompts` writes them;
  more than 702 choices is an InputError). Choices with the same normalised text are one answer:
  with choices ["2", "3", "2"] and answer "2", "A", "C" and "2" are all correct. An integer answer
  (ScienceQA's raw shape) is a 0-based index into the choices, as the record readers read it; an
  integer that is one choice's text and another's index, or out of range and no choice's text, is
  an InputError (`mmpo.data.records.choice_of_index`), never a guess.
- integer / float: one number, read with units, thousands separators ("1,000", not "1,00"), percent,
  Unicode minus, currency, LaTeX (\\frac, \\times 10^{n}, ^\\circ) and number words; "5 apples" is 5, but
  "5 m" is not 5 cm, and "12 or 13" is not a number; n! is a factorial ("3!" is 6, not 3; evaluated
  for n <= 99, a larger one is compared as text, never computed). Integers must be equal, exactly at
  any size (9007199254740993 is not 9007199254740992; "1e3" and "1,000" are 1000); floats are compared
  after rounding half-up to `precision` decimals (the gold's own decimals when absent); `rel_tol`
  optionally accepts a relative error. "50%" also matches 0.5. Closed forms ("\\sqrt{2}", "2\\pi") are
  evaluated through math-verify.
- list: element-wise, in order, numbers as floats (with `precision`), the rest as text.
- interval (a text gold that is one: "(-2, 1]", "[0, \\infty)", "\\left( -\\infty, 3 \\right]", unions
  with \\cup or ∪, "x \\in [a, b)"): correct only with the same bracket at each end and equal ends
  (numbers by value, infinities by sign, other ends through math-verify), a union's pieces in any
  order; an answer without brackets ("-2, 1") is incorrect. A pair in round brackets ("(1, 2)", which
  may be a point) is compared the same way when the answer has brackets ("[1, 2]" is not "(1, 2)"),
  and by the text rules when it has none. Multiple-choice options that are intervals are told apart
  by their brackets (by letter, text or the ends' values; math-verify never picks one); a `list`
  answer type stays element-wise ("(-2, 1)" answers "[-2, 1]"), and so does a gold "[a, b]" given
  without an `answer_type` (inferred as a list; the record readers say "text").
- text: normalised text equal; yes/no answers by their first word; numbers by value; LaTeX and
  symbolic answers through math-verify (gold wrapped in `$...$`), only for strings that look like
  mathematics (plain words such as "Yes" never reach it: it would read them as products of symbols).

The `mathvista` mode (`mmpo.answers.mathvista`) reproduces the official MathVista rules, and differs
from the default mode on purpose:
- an unmatched multiple-choice answer goes to the nearest choice by edit distance (the default calls
  it incorrect: a nearest-choice guess credits answers that name no choice);
- integers are `str(int(float(x)))`, so "12.7" scores as 12 (default: incorrect); a plain integer
  string is `str(int(x))` (the same below 2**53; above it the official float loses digits, so that no
  answer could match);
- floats are Python's `round(x, precision)` compared as strings with the gold, so "1.25" with
  precision 1 is 1.2 (banker's rounding on the binary value) and a gold "1.20" never matches (default:
  half-up rounding of both values);
- lists are compared as strings, so "[1,2]" is not "[1, 2]" (default: element-wise);
- free-form text is compared exactly (default: normalised);
- extraction is lenient (the official one asks GPT-4 for the answer); a response with no answer is a
  format failure, where the official script would map the empty extraction to the shortest choice;
- a `precision` stored as a float (2.0, as in the Hugging Face copy) is used as the integer it is
  (the official code would fail and score the answer wrong), a single-letter gold answer that is
  not itself a choice stands for its choice, and past 26 choices the labels are AA, AB, ... (never
  the case in MathVista's own data).
Use it to report numbers comparable to the MathVista leaderboard; use the default mode for labels.

Safety: no eval/exec/sympify of model text (math-verify is used with LaTeX parsing only); every check
finishes in bounded time in any thread or process (`mmpo.answers.symbolic`): plain numbers and options
never touch sympy, and symbolic work is filtered, then run in a worker process that is killed at the
check's deadline (SYMBOLIC_BUDGET_S seconds) and replaced (`mmpo.answers.symbolic_pool`), so a slow
answer leaves nothing running and does not change the verdicts of the checks after it.
"""

from mmpo.answers.check import (
    SCORINGS,
    SYMBOLIC_BUDGET_S,
    VERDICTS,
    Verdict,
    check_answer,
)
from mmpo.answers.extract import MAX_ANSWER_CHARS, extract_answer
from mmpo.data.records import ANSWER_TYPES, QUESTION_TYPES

__all__ = [
    "ANSWER_TYPES",
    "MAX_ANSWER_CHARS",
    "QUESTION_TYPES",
    "SCORINGS",
    "SYMBOLIC_BUDGET_S",
    "VERDICTS",
    "Verdict",
    "check_answer",
    "extract_answer",
]
