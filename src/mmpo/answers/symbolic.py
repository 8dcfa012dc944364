"""Symbolic comparison through math-verify, fenced so that no input can hang or crash a check.

math-verify parses LaTeX with latex2sympy (no eval) and compares with sympy. Its own timeout uses
`signal.alarm`, which raises outside the main thread, so it runs with its timeouts disabled
(`parsing_timeout=None`, `timeout_seconds=None`) and mmpo bounds the cost itself:

1. Only short LaTeX-looking strings are sent (`looks_symbolic`): at most MAX_SYMBOLIC_CHARS, no control
   characters, LaTeX commands from an allow-list, braces nested at most MAX_NESTING deep, numbers of at
   most 15 digits, at most 3 powers, no power towers (`9^9^9`, `2^{2^{30}}`), no exponent over 999, no
   factorial of anything but a small number, no `**`. sympy computes `9^{9^{9}}` inside one C call
   that holds the GIL; the kill below would end it, but only after a whole budget, so such work is
   never started.
2. Plain words are never symbolic: a run of two or more letters outside a LaTeX command makes a string
   text ("Yes" would otherwise parse as E*s*y and equal "sey").
3. math-verify runs in a worker process (`mmpo.answers.symbolic_pool`), killed at the check's
   deadline and replaced, so a slow comparison that passes the filter (`(x+y+z)^{999}` against
   `(x+y+z)^{998}`) costs its own check SYMBOLIC_BUDGET_S and nothing after it: none of its work is
   left running, and the next check gets a fresh worker whose start does not count against its budget.

Gold answers are wrapped in `$...$` before parsing, as math-verify expects; so are predictions.
Results are cached (gold answers and most predictions repeat across the samples of a prompt);
timeouts and failures are not, so a verdict never depends on what ran before.
"""

from __future__ import annotations

import re

from mmpo.answers import symbolic_pool
from mmpo.answers.symbolic_pool import Undecided

MAX_SYMBOLIC_CHARS = 200
MAX_NESTING = 8

_ALLOWED_COMMANDS = frozenset(
    "frac dfrac tfrac sqrt pi cdot times div pm mp le ge leq geq lt gt neq ne approx circ degree left right "
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh ln log exp infty cup cap emptyset varnothing "
    "alpha beta gamma delta theta lambda mu sigma phi varphi omega tau rho epsilon varepsilon dots ldots cdots "
    "angle quad qquad text mathrm mathbf operatorname".split())
_COMMAND = re.compile(r"\\([a-zA-Z]+|.)", re.S)
_BARE_LETTER = re.compile(r"[^\W\d_]")
_LETTER_RUN = re.compile(r"[^\W\d_]{2,}")
_TEXT_GROUP = re.compile(r"\\(?:text|mathrm|mathbf|operatorname)\s*\{[^{}]*\}")
_LONG_DIGITS = re.compile(r"\d{16,}")
_MATH_SIGNAL = re.compile(r"[\d\\+\-*/^=<>]")
_EXPONENT_TOKEN = re.compile(r"\s*(\{|\d+(?:\.\d+)?|\\[a-zA-Z]+|[a-zA-Z]|-?\d+)")
_FACTORIAL_OK = re.compile(r"(?:(?<!\d)\d{1,2}|(?<![a-zA-Z\\])[a-zA-Z])\s*!")


def _matching_brace(s: str, i: int) -> int:
    depth = 0
    for j in range(i, len(s)):
        c = s[j]
        if c == "\\":
            continue
        if c == "{" and (j == 0 or s[j - 1] != "\\"):
            depth += 1
        elif c == "}" and (j == 0 or s[j - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return j
    return -1


def unsafe_reason(s: str) -> str | None:
    """Why `s` must not reach sympy, or None when it is safe to parse."""
    if len(s) > MAX_SYMBOLIC_CHARS:
        return "too long for symbolic parsing"
    if any(ord(c) < 32 and c not in "\t\n" for c in s):
        return "control characters"
    if "**" in s or "\\\\" in s:
        return "unsupported syntax"
    for m in _COMMAND.finditer(s):
        name = m.group(1)
        if len(name) > 1 and name not in _ALLOWED_COMMANDS:
            return f"unsupported command \\{name}"
    depth = max_depth = 0
    for c in s:
        if c in "{([":
            depth += 1
            max_depth = max(max_depth, depth)
        elif c in "})]":
            depth -= 1
    if max_depth > MAX_NESTING:
        return "nested too deeply"
    if _LONG_DIGITS.search(s):
        return "number too long"
    if s.count("^") > 3:
        return "too many powers"
    for i, c in enumerate(s):
        if c == "^" and (reason := _power_reason(s, i)):
            return reason
    bangs = s.replace("\\!", "").count("!")
    if bangs and bangs != len(_FACTORIAL_OK.findall(s.replace("\\!", ""))):
        return "factorial of a large or compound value"
    return None


def _power_reason(s: str, i: int) -> str | None:
    # The base: a group ending just before '^' must not hold a power ((x^a)^b).
    j = i - 1
    while j >= 0 and s[j] == " ":
        j -= 1
    if j >= 0 and s[j] in ")}]":
        opener = {")": "(", "}": "{", "]": "["}[s[j]]
        k = s.rfind(opener, 0, j)
        if "^" in s[max(k, 0):j]:
            return "power tower"
    m = _EXPONENT_TOKEN.match(s, i + 1)
    if m is None:
        return None
    if m.group(1) == "{":
        start = m.end() - 1
        end = _matching_brace(s, start)
        if end < 0:
            return "unbalanced braces"
        exponent, after = s[start + 1:end], end + 1
    else:
        exponent, after = m.group(1), m.end()
    if "^" in exponent:
        return "power tower"
    digits = re.fullmatch(r"\s*[+-]?(\d+)(?:\.\d+)?\s*", exponent)
    if digits and len(digits.group(1)) > 3:
        return "exponent too large"
    if s[after:].lstrip().startswith("^"):
        return "power tower"
    return None


def looks_symbolic(s: str) -> bool:
    """A short LaTeX-like math expression that is safe to hand to math-verify (see module docstring)."""
    if not s or len(s) > MAX_SYMBOLIC_CHARS or not _MATH_SIGNAL.search(s):
        return False
    bare = _COMMAND.sub(" ", _TEXT_GROUP.sub(" text ", s))
    if _LETTER_RUN.search(bare):
        return False
    return unsafe_reason(s) is None


# ------------------------------------------------------------------ cached, bounded checks

_results: dict[tuple[str, str, str], object] = {}
_MAX_RESULTS = 8192


def _cached(kind: str, a: str, b: str, deadline: float):
    key = (kind, a, b)
    if key in _results:
        return _results[key]
    value = symbolic_pool.ask(kind, a, b, deadline)
    if len(_results) >= _MAX_RESULTS:
        _results.clear()
    _results[key] = value
    return value


def symbolic_equal(gold: str, pred: str, deadline: float) -> bool | None:
    """math-verify's verdict on two short LaTeX strings; None when it cannot tell in time."""
    if not (looks_symbolic(gold) and looks_symbolic(pred)):
        return None
    try:
        return _cached("eq", gold, pred, deadline)
    except Undecided:
        return None


def symbolic_value(latex: str, deadline: float) -> float | int | None:
    """The real number a closed-form LaTeX expression denotes ("\\sqrt{2}" -> 1.414..., "2^{60}" -> an
    exact int), or None."""
    # A closed form has no free letters: "(B) 8/11" or "2x" cannot be a number, so sympy is not asked.
    if not looks_symbolic(latex) or _BARE_LETTER.search(_COMMAND.sub(" ", latex)):
        return None
    try:
        value = _cached("value", latex, "", deadline)
    except Undecided:
        return None
    return value if isinstance(value, float | int) and not isinstance(value, bool) else None
