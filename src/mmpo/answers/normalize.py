"""Plain-Python normalisation of answers: numbers, units, text, lists. No sympy here (the fast path).

`parse_number` reads one number out of an answer as people and models write it ("1,000", "−3",
"50%", "$\\frac{1}{2}$", "1.5 \\times 10^{3}", "12 apples", "twelve", "3!") and refuses anything else
("12 or 13", "3,5", "5 and 6"). Its float is exact for what most answers are (at most 15 significant
digits, below 2**53); past that, and for factorials, it also carries the exact value (`exact`, a
Fraction), so that 9007199254740993 is not 9007199254740992. `norm_text` is the canonical text form
used for text answers and choice texts. Both are cached: gold answers and choice texts repeat across
the N samples of a prompt.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

MAX_NUMBER_CHARS = 200  # longer strings are not "a number"
# n! is evaluated for n up to this (two digits, as the symbolic filter allows); a larger factorial is
# not a number here: it is compared as text ("150!" equals "150!" only), never computed.
MAX_FACTORIAL = 99
EXACT_BELOW = 2 ** 53  # integers of smaller magnitude (and decimals of <= 15 digits) are exact as floats

# ------------------------------------------------------------------ LaTeX and markdown wrappers

_FOLD = {0xFF01 + i: 0x21 + i for i in range(94)}  # full-width ASCII block
_FOLD.update({0x2212: "-", 0x2013: "-", 0x2012: "-", 0xFE63: "-", 0xFF0D: "-", 0x00A0: " ", 0x202F: "\u2009",
              0x3002: ".", 0x3000: " "})
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_OUTER = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("`", "`"),
          ('"', '"'), ("\u201c", "\u201d"), ("'", "'"))
_OPENERS = frozenset(left[0] for left, _ in _OUTER) | {"\\"}
_BOXED_WRAP = re.compile(r"^\\(?:boxed|fbox)\s*\{(.*)\}$", re.S)
_SIMPLE_SUBS = [
    (re.compile(r"\\[dt]frac"), r"\\frac"),
    (re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree"), "°"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"(?<=\d)\\[,;:!]\s*(?=\d)"), "\u2009"),  # 1\,000 (LaTeX thin space as thousands separator)
    (re.compile(r"\\[,;:!]|\\quad|\\qquad|\\ |~"), " "),
    (re.compile(r"\\left|\\right"), ""),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"\\times|\\cdot"), "×"),
    (re.compile(r"\\approx"), "≈"),
]


def unwrap(s: str) -> str:
    """Strip the wrappers around an answer: $..$, \\(..\\), \\boxed{..}, \\text{..}, markdown bold, quotes."""
    if "\\" in s or "{" in s:
        for pattern, repl in _SIMPLE_SUBS:
            s = pattern.sub(repl, s)
        for _ in range(4):  # nested \text{\textbf{..}}
            new = _TEXT_CMD.sub(r"\1", s)
            if new == s:
                break
            s = new
    return strip_delimiters(s)


def strip_delimiters(s: str) -> str:
    """Only the outer wrappers ($..$, \\[..\\], \\boxed{..}, **..**, quotes); the LaTeX inside is kept."""
    s = s.strip()
    for _ in range(6):
        if not s or s[0] not in _OPENERS:
            return s
        before = s
        m = _BOXED_WRAP.match(s)
        if m and _balanced(m.group(1)):
            s = m.group(1).strip()
        for left, right in _OUTER:
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                inner = s[len(left):-len(right)]
                if left != right or left not in inner:
                    s = inner.strip()
        if s == before:
            break
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c == "{") - (c == "}")
        if depth < 0:
            return False
    return depth == 0


def fold(s: str) -> str:
    """Unicode minus signs and dashes to '-', NBSP to space, full-width forms (１２，：) to ASCII."""
    return s if s.isascii() else s.translate(_FOLD)


# ------------------------------------------------------------------ number words

_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
WORD_NUMBERS = {**_SMALL, **_TENS}


def words_to_number(s: str) -> int | None:
    """'twenty-one' -> 21, 'one hundred and five' -> 105; None unless every word is a number word."""
    words = [w for w in re.split(r"[\s\-]+", s.lower().strip()) if w and w != "and"]
    if not words or len(words) > 8:
        return None
    total = current = 0
    for w in words:
        if w in _SMALL:
            current += _SMALL[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in _SCALES:
            total += max(current, 1) * _SCALES[w]
            current = 0
        else:
            return None
    return total + current


# ------------------------------------------------------------------ numbers

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\u2009\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_NUMBER_HEAD = re.compile(
    rf"""(?P<sign>[+-])?\s*
    (?:
        \\frac\s*\{{\s*(?P<fn>[+-]?(?:{_NUM}))\s*\}}\s*\{{\s*(?P<fd>[+-]?(?:{_NUM}))\s*\}}
      | (?P<n>{_NUM})
        (?:\s*/\s*(?P<d>{_NUM}))?
        (?:[eE](?P<e>[+-]?\d{{1,3}})(?![\d.])
          | \s*[×x*]\s*10\s*\^\s*\{{?\s*(?P<e2>[+-]?\d{{1,3}})\s*\}}?)?
    )""",
    re.X,
)
_LAST_EQ = re.compile(r"=|≈")
_SEVERAL = re.compile(r"\b(?:or|and)\b|[,;]", re.I)
_PREFIX = re.compile(r"^(?:(?:(?:approximately|approx|about|around|roughly|nearly|almost|is)\b\.?|[≈~=])\s*)+", re.I)
_CURRENCY = re.compile(r"^(?:\$|€|£|¥|₹|usd\s|rs\.?\s?)", re.I)
_PERCENT = re.compile(r"^(?:%|percent|per\s?cent)\.?$", re.I)
_DEGREES = re.compile(r"^(?:°|degrees?|deg)\.?$", re.I)
# A unit tail: words and symbols, no digits except a power (cm^2, m²), at most three words.
_UNIT_TAIL = re.compile(r"^(?:[^\W\d_]|°)(?:[^\W\d_]|[°'\"/.])*(?:\^\{?[23]\}?|[²³])?"
                        r"(?:\s*/\s*[^\W\d_]+(?:\^\{?[23]\}?|[²³])?)?(?:\s+[^\W\d_](?:[^\W\d_]|['/.])*){0,2}$")


class ParsedNumber(NamedTuple):
    value: float
    percent: bool  # written with a percent sign or the word "percent"
    unit: str  # the unit words after the number, normalised ('' when none)
    # The exact value, where the float may not be: over 15 significant digits, magnitude >= 2**53, a
    # factorial. None: `value` is exact (the decimal it was written as; compare floats).
    exact: Fraction | None = None


def _to_float(text: str) -> float:
    return float(text.replace(",", "").replace("\u2009", ""))


def _to_fraction(text: str) -> Fraction:
    return Fraction(Decimal(text.replace(",", "").replace("\u2009", "")))


def _many_digits(*texts: str | None) -> bool:
    """More than 15 digits in all: a float may not be the number written."""
    return sum(c.isdigit() for t in texts if t for c in t) > 15


def exact_value(p: ParsedNumber) -> Fraction | None:
    """The exact value of a parsed number (None for a non-finite float)."""
    if p.exact is not None:
        return p.exact
    return Fraction(repr(p.value)) if math.isfinite(p.value) else None


def format_parsed(p: ParsedNumber) -> str:
    """The number as shown in verdicts: an exact integer in full, else `format_number`."""
    if p.exact is not None and p.exact.denominator == 1:
        return str(p.exact.numerator)
    return format_number(p.value)


@lru_cache(maxsize=16384)
def parse_number(answer: str) -> ParsedNumber | None:
    """The one number an answer states, or None. Never raises, never calls sympy."""
    if not answer or len(answer) > MAX_NUMBER_CHARS:
        return None
    s = unwrap(fold(answer))
    if "=" in s or "≈" in s:  # "x = 5", "AB = 5 cm", "2 + 3 = 5": the value after the last '='
        if _SEVERAL.search(s):  # "x = 5 or x = -5"
            return None
        s = _LAST_EQ.split(s)[-1]
    s = _PREFIX.sub("", s.strip())
    s = _CURRENCY.sub("", s).strip()
    if not s:
        return None
    m = _NUMBER_HEAD.match(s)
    if m is None:
        value = words_to_number(s)
        return None if value is None else ParsedNumber(float(value), False, "")
    end = m.end()
    exact = None
    try:
        if m.group("fn") is not None:
            value = _to_float(m.group("fn")) / _to_float(m.group("fd"))
            if not abs(value) < EXACT_BELOW or (end > 15 and _many_digits(m.group("fn"), m.group("fd"))):
                exact = _to_fraction(m.group("fn")) / _to_fraction(m.group("fd"))
        elif s[end:end + 1] == "!":  # a factorial: "3!" is 6, never 3
            n = m.group("n")
            if m.group("d") is not None or m.group("e") or m.group("e2") or not n.isdigit() \
                    or s[end + 1:end + 2] == "!" or int(n) > MAX_FACTORIAL:
                return None  # "2.5!", "3!!", "150!": not a number here (compared as text)
            exact = Fraction(math.factorial(int(n)))
            value = float(exact)
            end += 1
        else:
            value = _to_float(m.group("n"))
            if m.group("d") is not None:
                value /= _to_float(m.group("d"))
            exp = m.group("e") or m.group("e2")
            if exp is not None:
                value *= 10.0 ** int(exp)
            if not abs(value) < EXACT_BELOW or (end > 15 and _many_digits(m.group("n"), m.group("d"))):
                exact = _to_fraction(m.group("n")) / (_to_fraction(m.group("d")) if m.group("d") else 1)
                if exp is not None:
                    exact *= Fraction(10) ** int(exp)
    except (ValueError, ZeroDivisionError, OverflowError, InvalidOperation):
        return None
    if not math.isfinite(value):
        return None
    if m.group("sign") == "-":
        value = -value
        exact = None if exact is None else -exact
    return _with_tail(value, s[end:].strip(), exact)


def _with_tail(value: float, tail: str, exact: Fraction | None = None) -> ParsedNumber | None:
    tail = tail.rstrip(".")
    if not tail:
        return ParsedNumber(value, False, "", exact)
    first = tail.split(None, 1)[0].lower().rstrip(".,")
    if first in _SCALES:  # "5 million", "1.2 thousand apples"
        scaled = value * _SCALES[first]
        if not math.isfinite(scaled):
            return None
        if exact is not None or not abs(scaled) < EXACT_BELOW:
            exact = (exact if exact is not None else Fraction(repr(value))) * _SCALES[first]
        value = scaled
        tail = tail.split(None, 1)[1] if " " in tail else ""
        if not tail:
            return ParsedNumber(value, False, "", exact)
    if _PERCENT.match(tail):
        return ParsedNumber(value, True, "", exact)
    if _DEGREES.match(tail):
        return ParsedNumber(value, False, "°", exact)
    if _UNIT_TAIL.match(tail):
        return ParsedNumber(value, False, norm_unit(tail), exact)
    return None


def norm_unit(unit: str) -> str:
    u = unwrap(fold(unit)).replace("²", "^2").replace("³", "^3")
    u = re.sub(r"[{}\s]", "", u)
    return "°" if u.lower() in ("°", "degree", "degrees", "deg") else u


# Units that, written after a number, contradict a different expected unit (5 m is not 5 cm).
KNOWN_UNITS = frozenset(
    "mm cm dm m km in ft yd mi inch inches foot feet yard yards mile miles meter meters metre metres "
    "millimeter millimeters centimeter centimeters kilometer kilometers mg g kg t lb lbs oz gram grams "
    "kilogram kilograms pound pounds ms s sec secs second seconds min mins minute minutes h hr hrs hour hours "
    "day days week weeks month months year years ml mL l L liter liters litre litres ° "
    "mm^2 cm^2 m^2 km^2 in^2 ft^2 mm^3 cm^3 m^3 km/h m/s mph".split())


def unit_conflict(said: str, expected: str | None) -> bool:
    """True when the answer names a known unit different from the record's unit."""
    if not said or not expected:
        return False
    exp = norm_unit(expected)
    if said == exp or said.lower() == exp.lower():
        return False
    return said in KNOWN_UNITS and exp in KNOWN_UNITS


def round_half_up(value: float, digits: int) -> Decimal | None:
    """Decimal rounding of the shortest repr (1.15 -> 1.2, 1.25 -> 1.3), unlike binary round()."""
    try:
        return Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError, OverflowError):
        return None


def decimals_of(text: str) -> int:
    """Digits after the decimal point of a plain number string ('1.25' -> 2, '3' -> 0)."""
    m = re.search(r"\.(\d+)", text)
    return len(m.group(1)) if m else 0


def format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


# ------------------------------------------------------------------ text

# Punctuation that carries no meaning in an answer; '.', ',' and ':' survive between digits (3.5, 1,000,
# 2:30), a hyphen between letters is a space (quarter-past); operators (+ - * / ^ = < >) are kept, so
# "x+1" and "x-1" stay different, and the spaces around them go ("x^2 + 1" is "x^2+1"); '!' after a
# digit or a closing bracket is a factorial and kept ("3!" is not "3"; "Yes!" is "yes").
_DROP = re.compile(r"[;!?\"'\u201c\u201d\u2018\u2019()\[\]{}$\\`_#~|]|(?<!\d)[.,:]|[.,:](?!\d)"
                   r"|(?<=[^\W\d_])-(?=[^\W\d_])")
_FACTORIAL_BANG = re.compile(r"(?<=[\d)\]}])!+")  # kept through _DROP as a placeholder
_BANG = "\ue000"
_OPS = re.compile(r"\s*([+\-*/^=<>×÷±])\s*")
_ARTICLES = frozenset(("a", "an", "the"))
_HYPHENATED = re.compile(r"\b(" + "|".join(_TENS) + r")-(" + "|".join(list(_SMALL)[1:10]) + r")\b")


@lru_cache(maxsize=16384)
def norm_text(s: str) -> str:
    """Canonical text: no wrappers, case, articles or punctuation; number words as digits."""
    s = unwrap(fold(s)).casefold()
    if "\\" in s:
        s = re.sub(r"\\([a-z]+)", r" \1 ", s)
    if "-" in s:
        s = _HYPHENATED.sub(lambda m: str(_TENS[m.group(1)] + _SMALL[m.group(2)]), s)
    bangs = "!" in s
    if bangs:
        s = _FACTORIAL_BANG.sub(lambda m: _BANG * len(m.group()), s)
    s = _OPS.sub(r"\1", _DROP.sub(" ", s))
    if bangs:
        s = s.replace(_BANG, "!")
    out = []
    for tok in s.split():
        if tok in _ARTICLES:
            continue
        out.append(str(WORD_NUMBERS[tok]) if tok in WORD_NUMBERS else tok)
    return " ".join(out)


# ------------------------------------------------------------------ intervals

MAX_INTERVAL_CHARS = 300
INFINITIES = frozenset(("inf", "-inf"))
_UNION = re.compile(r"\\cup|∪|\s+U\s+")
_IN_PREFIX = re.compile(r"^[a-zA-Z]\s*(?:\\in\b|∈)\s*")
_INF = re.compile(r"([+-]?)\s*(?:\\infty|∞|infinity|inf)", re.I)


@lru_cache(maxsize=16384)
def parse_interval(answer: str) -> tuple[tuple[str, str, str, str], ...] | None:
    """The pieces of an interval answer, each (opening bracket, left end, right end, closing bracket):
    '(-2, 1]', '[0,\\infty)', '\\left( -\\infty, 3 \\right]', '(-\\infty,1)\\cup(2,\\infty)', 'x \\in [1, 2)'.
    Ends are stripped, infinities written 'inf' / '-inf'. None for anything else. A pair in round
    brackets ('(1, 2)', also a point) reads as one too: `definite_interval` tells them apart."""
    if not answer or len(answer) > MAX_INTERVAL_CHARS:
        return None
    s = _IN_PREFIX.sub("", unwrap(fold(answer)))
    pieces = []
    for part in _UNION.split(s):
        part = part.strip()
        if len(part) < 5 or part[0] not in "([" or part[-1] not in ")]":
            return None
        ends = _two_ends(part[1:-1])
        if ends is None:
            return None
        pieces.append((part[0], *ends, part[-1]))
    return tuple(pieces)


def _two_ends(inner: str) -> tuple[str, str] | None:
    """'a, b' -> ('a', 'b'): exactly one comma outside brackets, both ends non-empty."""
    depth, cut = 0, None
    for i, c in enumerate(inner):
        depth += (c in "([{") - (c in ")]}")
        if depth < 0:  # "(1, 2), (3, 4)": two pairs, not one interval
            return None
        if c == "," and depth == 0:
            if cut is not None:
                return None
            cut = i
    if cut is None or depth != 0:
        return None
    ends = []
    for e in (inner[:cut].strip(), inner[cut + 1:].strip()):
        if not e:
            return None
        m = _INF.fullmatch(e)
        ends.append(("-inf" if m.group(1) == "-" else "inf") if m else e)
    return ends[0], ends[1]


def definite_interval(pieces: tuple[tuple[str, str, str, str], ...]) -> bool:
    """An interval and nothing else: a square bracket, an infinite end or a union (not a point '(1, 2)')."""
    return len(pieces) > 1 or any(o == "[" or c == "]" or lo in INFINITIES or hi in INFINITIES
                                  for o, lo, hi, c in pieces)


def interval_text(pieces: tuple[tuple[str, str, str, str], ...]) -> str:
    """The canonical text of an interval, brackets kept: '(-2,1]', '(-inf,1)∪(2,inf)'."""
    def end(e: str) -> str:
        return e if e in INFINITIES else norm_text(e)
    return "∪".join(f"{o}{end(lo)},{end(hi)}{c}" for o, lo, hi, c in pieces)


# ------------------------------------------------------------------ lists

_AND = re.compile(r",?\s+and\s+", re.I)
_BRACKETS = (("[", "]"), ("(", ")"), ("\\{", "\\}"), ("{", "}"), ("<", ">"), ("\\langle", "\\rangle"))


def split_list(answer: str) -> list[str] | None:
    """'[1, 2, 3]', '(1,2,3)', '1, 2 and 3' -> ['1', '2', '3']; None when empty."""
    s = unwrap(fold(answer))
    for left, right in _BRACKETS:
        if s.startswith(left) and s.endswith(right):
            s = s[len(left):-len(right)].strip()
            break
    if not s:
        return None
    sep = ";" if ";" in s and "," not in s else ","
    parts = [p.strip() for p in _AND.sub(sep, s).split(sep)]
    parts = [unwrap(p.strip("'\"")) for p in parts]
    return parts if all(parts) else None
