"""Symbolic comparison through math-verify, fenced so that no input can hang or crash a check.

math-verify parses LaTeX with latex2sympy (no eval) and compares with sympy. Its own timeout uses
`signal.alarm`, which raises outside the main thread, so here it runs with its timeouts disabled
(`parsing_timeout=None`, `timeout_seconds=None`) and mmpo bounds the cost itself:

1. Only short LaTeX-looking strings are sent (`looks_symbolic`): at most MAX_SYMBOLIC_CHARS, no control
   characters, LaTeX commands from an allow-list, braces nested at most MAX_NESTING deep, numbers of at
   most 15 digits, at most 3 powers, no power towers (`9^9^9`, `2^{2^{30}}`), no exponent over 999, no
   factorial of anything but a small number, no `**`. This matters most: sympy computes `9^{9^{9}}`
   inside one C call that holds the GIL, which no timeout can interrupt.
2. Plain words are never symbolic: a run of two or more letters outside a LaTeX command makes a string
   text ("Yes" would otherwise parse as E*s*y and equal "sey").
3. math-verify is imported and exercised once, outside any budget (sympy's first comparison takes a
   second or more). Then the work runs in a daemon worker thread that the caller joins with a timeout
   (the per-check budget), so a slow but interruptible comparison gives "undecided" in any thread. math-verify calls are
   serialised by a lock (latex2sympy's ANTLR parser is not documented as thread-safe); while an
   abandoned worker still runs, new symbolic work is refused at once rather than queued.

Gold answers are wrapped in `$...$` before parsing, as math-verify expects; so are predictions.
Results are cached (gold answers and most predictions repeat across the samples of a prompt).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from functools import lru_cache

_log = logging.getLogger("mmpo.answers")

MAX_SYMBOLIC_CHARS = 200
MAX_NESTING = 8
MAX_ABANDONED = 1

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


# ------------------------------------------------------------------ bounded execution

class Undecided(Exception):
    """The symbolic check gave no answer in its budget (or was refused)."""


_MV_LOCK = threading.Lock()
_STATE_LOCK = threading.Lock()
_abandoned = 0
_results: dict[tuple[str, str, str], object] = {}
_MAX_RESULTS = 8192
_READY_LOCK = threading.Lock()
_ready = False


def _ensure_ready() -> None:
    """Import math-verify and run one comparison, in the caller's thread and outside any budget.

    sympy imports and initialises lazily: the first comparison in a process takes a second or more,
    which must not count against a check's budget (it would turn a correct answer into "undecided").
    """
    global _ready
    if _ready:
        return
    with _READY_LOCK:
        if _ready:
            return
        import math_verify.grader
        import math_verify.parser

        # mmpo supplies its own timeout; the library's "timeout disabled" warning would print on first use.
        math_verify.parser.TIMEOUT_WARNING_SHOWN = True
        math_verify.grader.TIMEOUT_WARNING_SHOWN = True
        with _MV_LOCK:
            _equal(r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2")
            _value(r"\sqrt{2}+\pi", "")
        _ready = True


def _run_bounded(fn, args: tuple, deadline: float):
    global _abandoned
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Undecided("time budget spent")
    with _STATE_LOCK:
        if _abandoned >= MAX_ABANDONED:
            raise Undecided("symbolic worker still busy with an earlier check")
    box: list = []
    abandoned = threading.Event()

    def work():
        global _abandoned
        try:
            if _MV_LOCK.acquire(timeout=remaining):
                try:
                    box.append((True, fn(*args)))
                finally:
                    _MV_LOCK.release()
        except Exception as exc:  # sympy and latex2sympy raise many kinds; all mean "no verdict"
            box.append((False, exc))
        finally:
            with _STATE_LOCK:
                if abandoned.is_set():
                    _abandoned -= 1

    worker = threading.Thread(target=work, name="mmpo-symbolic", daemon=True)
    worker.start()
    worker.join(remaining)
    with _STATE_LOCK:
        if worker.is_alive():
            abandoned.set()
            _abandoned += 1
            _log.warning("symbolic check %s%r timed out; symbolic checks give no verdict until it ends",
                         fn.__name__, args)
            raise Undecided("symbolic check timed out")
    if not box:
        raise Undecided("symbolic worker busy")
    ok, value = box[0]
    if not ok:
        raise Undecided(f"symbolic check failed ({type(value).__name__})")
    return value


def _cached(kind: str, a: str, b: str, fn, deadline: float):
    key = (kind, a, b)
    if key in _results:
        return _results[key]
    _ensure_ready()
    value = _run_bounded(fn, (a, b), deadline)
    if len(_results) >= _MAX_RESULTS:
        _results.clear()
    _results[key] = value
    return value


@lru_cache(maxsize=4096)
def _parse(latex: str) -> tuple:
    from math_verify import LatexExtractionConfig, parse

    return tuple(parse(f"${latex}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None))


def _equal(gold: str, pred: str) -> bool | None:
    from math_verify import verify

    g, p = _parse(gold), _parse(pred)
    if not g or not p:
        return None
    return bool(verify(list(g), list(p), timeout_seconds=None))


def _value(latex: str, _unused: str) -> float | None:
    import sympy

    parsed = [x for x in _parse(latex) if isinstance(x, sympy.Expr)]
    if not parsed or not parsed[0].is_number:
        return None
    value = parsed[0].evalf(30)
    if not value.is_real:
        return None
    return float(value)


def symbolic_equal(gold: str, pred: str, deadline: float) -> bool | None:
    """math-verify's verdict on two short LaTeX strings; None when it cannot tell in time."""
    if not (looks_symbolic(gold) and looks_symbolic(pred)):
        return None
    try:
        return _cached("eq", gold, pred, _equal, deadline)
    except Undecided:
        return None


def symbolic_value(latex: str, deadline: float) -> float | None:
    """The real number a closed-form LaTeX expression denotes ("\\sqrt{2}" -> 1.414...), or None."""
    # A closed form has no free letters: "(B) 8/11" or "2x" cannot be a number, so sympy is not asked.
    if not looks_symbolic(latex) or _BARE_LETTER.search(_COMMAND.sub(" ", latex)):
        return None
    try:
        return _cached("value", latex, "", _value, deadline)
    except (Undecided, OverflowError):
        return None
