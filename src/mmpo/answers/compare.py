"""The default comparison rules: one extracted answer against the record's gold answer.

    gold = gold_from_record(record)                          # answer, type, choices, precision, unit
    ok, normalized, reason = compare("1/2", gold, deadline=time.monotonic() + 2.0)

Multiple choice by letter, option text or value; numbers at the record's precision (units
checked, not ignored; integers exactly at any size; factorials as their value); lists element by
element; intervals with their brackets; text normalised; symbolic forms through `mmpo.answers.symbolic` within the deadline.
`check_answer` (`mmpo.answers.check`) is the entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from mmpo.answers.extract import REVISION_WORDS, clean
from mmpo.answers.normalize import (
    EXACT_BELOW,
    INFINITIES,
    ParsedNumber,
    decimals_of,
    definite_interval,
    exact_value,
    format_number,
    format_parsed,
    interval_text,
    norm_text,
    parse_interval,
    parse_number,
    round_half_up,
    split_list,
    strip_delimiters,
    unit_conflict,
    unwrap,
)
from mmpo.answers.symbolic import looks_symbolic, symbolic_equal, symbolic_value
from mmpo.data.records import (
    ANSWER_TYPES,
    MAX_CHOICES,
    QUESTION_TYPES,
    check_choice_count,
    choice_of_index,
    label_index,
    option_label,
)
from mmpo.errors import InputError


@dataclass(frozen=True, slots=True)
class Gold:
    """A record's answer fields, checked and normalised once per check."""

    answer: str  # the answer as text (a list answer as "[1, 2]")
    items: tuple[str, ...] | None  # list answers: the elements
    question_type: str
    answer_type: str
    choices: tuple[str, ...]
    precision: int | None
    unit: str | None


def gold_from_record(record: Mapping[str, Any]) -> Gold:
    if not isinstance(record, (dict, Mapping)):
        raise InputError(f"a record must be a dict, got {type(record).__name__}")
    answer = record.get("answer")
    if answer is None or answer == "" or isinstance(answer, bool):
        raise InputError("the record has no answer to check against", field="answer")
    choices = record.get("choices") or ()
    if not isinstance(choices, (list, tuple)):
        raise InputError(f"must be a list, got {type(choices).__name__}", field="choices")
    choices = tuple(map(str, choices))
    if len(choices) > MAX_CHOICES:
        check_choice_count(choices)
    qt = record.get("question_type") or ("multi_choice" if choices else "free_form")
    if qt not in QUESTION_TYPES:
        raise InputError(f"must be one of {', '.join(QUESTION_TYPES)}, got {qt!r}", field="question_type")
    if qt == "multi_choice" and not choices:
        raise InputError("a multi_choice record needs choices", field="choices")
    if qt == "multi_choice" and isinstance(answer, int):
        # ScienceQA's shape: a 0-based index (the record readers map it the same way); an integer that is
        # one choice's text and another's index is refused, as is an index past the end.
        answer, _ = choice_of_index(answer, choices)
    at = record.get("answer_type") or _infer_answer_type(answer, qt)
    if at not in ANSWER_TYPES:
        raise InputError(f"must be one of {', '.join(ANSWER_TYPES)}, got {at!r}", field="answer_type")
    precision = record.get("precision")
    if precision is not None:
        if isinstance(precision, bool) or not isinstance(precision, (int, float)) or precision < 0 \
                or not float(precision).is_integer() or precision > 15:
            raise InputError(f"must be a whole number of decimals (0 to 15), got {precision!r}", field="precision")
        precision = int(precision)
    unit = record.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise InputError(f"must be a string, got {type(unit).__name__}", field="unit")
    items = None
    if isinstance(answer, (list, tuple)):
        items = tuple(format_number(x) if isinstance(x, float) else str(x) for x in answer)
        text = str(list(answer))
    else:
        text = format_number(answer) if isinstance(answer, float) else str(answer)
        if at == "list":
            parts = split_list(text)
            items = tuple(parts) if parts else None
    return Gold(text, items, qt, at, choices, precision, unit or None)


def _infer_answer_type(answer: Any, question_type: str) -> str:
    if question_type == "multi_choice":
        return "text"
    if isinstance(answer, (list, tuple)):
        return "list"
    if isinstance(answer, int):
        return "integer"
    if isinstance(answer, float):
        return "float"
    s = str(answer).strip()
    if re.fullmatch(r"[+-]?\d+", s):
        return "integer"
    if re.fullmatch(r"[+-]?\d*\.\d+", s):
        return "float"
    if s.startswith("[") and s.endswith("]"):
        return "list"
    return "text"


def compare(pred: str, gold: Gold, deadline: float, rel_tol: float | None = None) -> tuple[bool, str | None, str]:
    """(correct?, the prediction as compared, reason) in the default mode."""
    if gold.question_type == "multi_choice":
        g, _ = choice_index(gold.answer, gold.choices, None, is_gold=True)
        if g is not None:
            p, how = choice_index(pred, gold.choices, deadline)
            if p is None:
                return False, None, how
            # Duplicate choices (the same normalised text) are one answer: any of their letters is right.
            ok = p == g or choice_groups(gold.choices)[p] == choice_groups(gold.choices)[g]
            return ok, f"({option_label(p)}) {gold.choices[p]}", how
        # The answer is not one of the choices (a data quirk): judge it as a free-form answer.
    if gold.answer_type in ("integer", "float"):
        return _compare_number(pred, gold, deadline, rel_tol)
    if gold.answer_type == "list":
        return _compare_list(pred, gold, rel_tol)
    return _compare_text(pred, gold, deadline)


# ------------------------------------------------------------------ multiple choice

def _letter_form(label: str) -> re.Pattern:
    return re.compile(
        r"^(?:(?:option|choice|answer)\s*:?\s*)?"
        rf"(?:\((?P<a>{label})\)|\[(?P<b>{label})\]|(?P<c>{label})(?P<sep>[.):,]|(?=\s)|$))"
        r"\s*(?P<rest>.*)$", re.S | re.I)


_LETTER_FORM = _letter_form("[A-Za-z]")
# Past 26 choices the labels go on AA, AB, ... (`mmpo.data.records.option_label`), in capitals.
_LABEL_FORM = _letter_form("(?-i:[A-Z]{2})|[A-Za-z]")
_AFFIRM = re.compile(r"^(?:is\s+)?(?:the\s+)?(?:correct|right)(?:\s+(?:answer|option|choice))?$", re.I)
_OTHER_LETTER = re.compile(r"\(([A-Z])\)")
_OTHER_LABEL = re.compile(r"\(([A-Z]{1,2})\)")


@lru_cache(maxsize=4096)
def interval_choices(choices: tuple[str, ...]) -> bool:
    """Whether one choice is an interval ('(-2, 1]'): then every interval-shaped choice, '(-2, 1)'
    too, is compared with its brackets (`choice_key`)."""
    return any((iv := parse_interval(c)) is not None and definite_interval(iv) for c in choices)


def choice_key(text: str, intervals: bool) -> str:
    """The normalised text a choice (or an answer) is matched by: `norm_text`, which drops brackets,
    except for an interval among interval choices, whose brackets are kept (`interval_text`)."""
    if intervals and (iv := parse_interval(text)) is not None:
        return interval_text(iv)
    return norm_text(text)


@lru_cache(maxsize=4096)
def choice_keys(choices: tuple[str, ...]) -> tuple[str, ...]:
    intervals = interval_choices(choices)
    return tuple(choice_key(c, intervals) for c in choices)


@lru_cache(maxsize=4096)
def choice_groups(choices: tuple[str, ...]) -> tuple[int, ...]:
    """For each choice, the first choice with the same normalised text: duplicates are one answer."""
    first: dict[str, int] = {}
    return tuple(first.setdefault(n, i) if n else i for i, n in enumerate(choice_keys(choices)))


def _one_group(hits: list[int], choices: tuple[str, ...]) -> bool:
    group = choice_groups(choices)
    return len({group[i] for i in hits}) == 1


def choice_index(pred: str, choices: tuple[str, ...], deadline: float | None, *,
                 is_gold: bool = False) -> tuple[int | None, str]:
    """Which choice `pred` names: (index, rule) or (None, why not). Choices with the same normalised
    text count as one (`choice_groups`): naming their text gives the first of them."""
    if is_gold and pred in choices:
        return choices.index(pred), "choice text"
    s = unwrap(clean(pred) or pred)
    intervals = interval_choices(choices)
    norms = choice_keys(choices)
    ns = choice_key(s, intervals)
    hits = [i for i, c in enumerate(norms) if c and c == ns]
    if hits:  # several only for duplicate choices, which are one answer
        return hits[0], "choice text"
    long = len(choices) > 26
    m = (_LABEL_FORM if long else _LETTER_FORM).match(s)
    if m:
        letter = m.group("a") or m.group("b") or m.group("c")
        if len(letter) == 1:
            idx = ord(letter.upper()) - 65
            idx = idx if idx < len(choices) else None
        else:
            idx = label_index(letter, len(choices))
        rest = m.group("rest").strip()
        if idx is not None and (letter.isupper() or len(s) <= 3):
            if not rest:
                return idx, "option letter"
            nr = choice_key(rest, intervals)
            if nr == norms[idx] or _same_number(rest, choices[idx]) or _AFFIRM.match(rest):
                return idx, "option letter and text"
            if m.group("c") is None or m.group("sep"):  # "(B) ...", "B. ...": a letter, then more words
                if any(nr == c for c in norms) or _same_number_any(rest, choices):
                    return None, "option letter contradicts its text"
                other = (_OTHER_LABEL if long else _OTHER_LETTER).findall(rest)
                if REVISION_WORDS.search(rest) or any(o != letter.upper() for o in other):
                    return None, "names more than one option"
                return idx, "option letter"
    if is_gold:
        return None, "answer is not a choice"
    if intervals and (iv := parse_interval(s)) is not None:  # by the ends' values, brackets equal
        hits = [i for i, c in enumerate(choices)
                if (civ := parse_interval(c)) is not None and intervals_equal(iv, civ, deadline)]
        if hits and _one_group(hits, choices):
            return hits[0], "interval"
        return None, "interval matches several choices" if hits else "matches no choice"
    pn = parse_number(s)
    if pn is not None:
        hits = [i for i, c in enumerate(choices) if _same_number(s, c)]
        if hits and _one_group(hits, choices):
            return hits[0], "number"
        if hits:
            return None, "number matches several choices"
    prefix = _prefix_choice(ns, norms)
    if prefix is not None:
        return prefix, "choice text first"
    bare = strip_delimiters(pred)
    # Symbolic matching only where it can add something: never between plain numbers (the fast path).
    needs_sympy = pn is None or any(parse_number(c) is None for c in choices)
    if deadline is not None and needs_sympy and looks_symbolic(bare):
        # An interval choice is named with its brackets (above), never by math-verify ("-2, 1" is no interval).
        hits = [i for i, c in enumerate(choices) if not (intervals and parse_interval(c) is not None)
                and symbolic_equal(strip_delimiters(c), bare, deadline)]
        if hits and _one_group(hits, choices):
            return hits[0], "symbolic"
    return None, "matches no choice"


def _same_number(a: str, b: str) -> bool:
    pa, pb = parse_number(a), parse_number(b)
    if pa is None or pb is None or unit_conflict(pa.unit, pb.unit or None):
        return False
    if pa.exact is None and pb.exact is None:  # the fast path: floats that are the numbers written
        return any(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x in _values(pa) for y in _values(pb))
    return any(_exact_match(x, y, kind="float", precision=None, gold_text="")
               for x in _exact_values(pa) for y in _exact_values(pb))


def _same_number_any(a: str, choices: tuple[str, ...]) -> bool:
    return any(_same_number(a, c) for c in choices)


def _prefix_choice(ns: str, norms: tuple[str, ...]) -> int | None:
    """'yes because ...' -> the choice 'yes', when the rest names no other choice."""
    found = [i for i, c in enumerate(norms) if c and ns.startswith(c + " ")]
    if not found:
        return None
    best = max(found, key=lambda i: len(norms[i]))
    if len({norms[i] for i in found if len(norms[i]) == len(norms[best])}) > 1:
        return None
    rest = f" {ns[len(norms[best]):]} "
    if any(c and c != norms[best] and f" {c} " in rest for c in norms):
        return None
    return best


# ------------------------------------------------------------------ numbers

def _values(p: ParsedNumber) -> tuple[float, ...]:
    return (p.value, p.value / 100) if p.percent else (p.value,)


def _exact_values(p: ParsedNumber) -> tuple[Fraction, ...]:
    x = exact_value(p)
    if x is None:
        return ()
    return (x, x / 100) if p.percent else (x,)


def numbers_match(v: float, g: float, *, kind: str, precision: int | None, gold_text: str,
                  rel_tol: float | None = None) -> bool:
    if not math.isfinite(v):
        return False
    if rel_tol and abs(v - g) <= rel_tol * abs(g):
        return True
    if kind == "integer":
        return v == g
    digits = precision if precision is not None else decimals_of(gold_text)
    if precision is None and digits == 0:
        return math.isclose(v, g, rel_tol=1e-9, abs_tol=1e-12)
    rv, rg = round_half_up(v, digits), round_half_up(g, digits)
    return rv is not None and rv == rg


def parsed_match(p: ParsedNumber, g: ParsedNumber, *, kind: str, precision: int | None, gold_text: str,
                 rel_tol: float | None = None) -> bool:
    """`numbers_match` for parsed numbers (percent read both ways); exact where a float is not."""
    if p.exact is None and g.exact is None:  # the fast path: both floats are the numbers written
        return any(numbers_match(v, gv, kind=kind, precision=precision, gold_text=gold_text, rel_tol=rel_tol)
                   for v in _values(p) for gv in _values(g))
    return any(_exact_match(v, gv, kind=kind, precision=precision, gold_text=gold_text, rel_tol=rel_tol)
               for v in _exact_values(p) for gv in _exact_values(g))


def _exact_match(v: Fraction, g: Fraction, *, kind: str, precision: int | None, gold_text: str,
                 rel_tol: float | None = None) -> bool:
    """The rules of `numbers_match` on exact values: integers are equal or not (at any size), roundings
    are decimal; only a float answer without decimals keeps its relative closeness."""
    if rel_tol and abs(v - g) <= Fraction(repr(rel_tol)) * abs(g):
        return True
    if kind == "integer" or (v.denominator == 1 and g.denominator == 1):
        return v == g
    digits = precision if precision is not None else decimals_of(gold_text)
    if precision is None and digits == 0:
        return abs(v - g) <= max(Fraction(1, 10**9) * max(abs(v), abs(g)), Fraction(1, 10**12))
    return _round_half_up(v, digits) == _round_half_up(g, digits)


def _round_half_up(x: Fraction, digits: int) -> int:
    """x rounded half away from zero at `digits` decimals, as an integer count of 10**-digits."""
    scaled = abs(x) * 10**digits
    n = math.floor(scaled + Fraction(1, 2))
    return n if x >= 0 else -n


def _number_of(text: str, deadline: float | None) -> ParsedNumber | None:
    p = parse_number(text)
    if p is None and deadline is not None:
        v = symbolic_value(strip_delimiters(text), deadline)
        if isinstance(v, int):  # an integer closed form ("2^{60}"), exact
            p = ParsedNumber(float(v), False, "", None if abs(v) < EXACT_BELOW else Fraction(v))
        elif v is not None:
            p = ParsedNumber(v, False, "")
    return p


def _compare_number(pred: str, gold: Gold, deadline: float, rel_tol: float | None):
    g = _number_of(gold.answer, deadline)
    if g is None:
        return _compare_text(pred, gold, deadline)
    p = _number_of(pred, deadline)
    if p is None:
        return False, None, "not a number"
    shown = (format_number(p.value) if p.exact is None else format_parsed(p)) + ("%" if p.percent else "")
    if unit_conflict(p.unit, gold.unit or g.unit or None):
        return False, f"{shown} {p.unit}", "unit differs"
    if p.exact is None and g.exact is None:  # the fast path (parsed_match's first branch, inlined)
        ok = any(numbers_match(v, gv, kind=gold.answer_type, precision=gold.precision, gold_text=gold.answer,
                               rel_tol=rel_tol) for v in _values(p) for gv in _values(g))
    else:
        ok = parsed_match(p, g, kind=gold.answer_type, precision=gold.precision, gold_text=gold.answer,
                          rel_tol=rel_tol)
    return ok, shown, "number"


# ------------------------------------------------------------------ lists and text

def _compare_list(pred: str, gold: Gold, rel_tol: float | None):
    gold_items = gold.items
    if not gold_items:
        return False, None, "answer is not a list"
    items = split_list(pred)
    if items is None:
        return False, None, "not a list"
    shown = "[" + ", ".join(items) + "]"
    if len(items) != len(gold_items):
        return False, shown, f"{len(items)} elements, expected {len(gold_items)}"
    for p, g in zip(items, gold_items):
        pn, gn = parse_number(p), parse_number(g)
        if pn is not None and gn is not None:
            if not parsed_match(pn._replace(percent=False), gn._replace(percent=False), kind="float",
                                precision=gold.precision, gold_text=g, rel_tol=rel_tol):
                return False, shown, "element differs"
        elif norm_text(p) != norm_text(g):
            return False, shown, "element differs"
    return True, shown, "list"


_YES_NO = {"yes": "no", "no": "yes", "true": "false", "false": "true"}


def _compare_text(pred: str, gold: Gold, deadline: float):
    gi = parse_interval(gold.answer)
    if gi is not None:
        pi = parse_interval(pred)
        if pi is not None:  # also a point against a point: "(1, 2)" is "(1, 2)", not "[1, 2]"
            return intervals_equal(pi, gi, deadline), interval_text(pi), "interval"
        if definite_interval(gi):  # "-2, 1" or "-2 < x <= 1" for "(-2, 1]": brackets missing
            return False, norm_text(pred), "not an interval"
    np_, ng = norm_text(pred), norm_text(gold.answer)
    if np_ and np_ == ng:
        return True, np_, "text"
    if ng in _YES_NO:
        words = np_.split()
        ok = bool(words) and words[0] == ng and _YES_NO[ng] not in words
        return ok, np_, "yes/no"
    if parse_number(pred) is not None and parse_number(gold.answer) is not None:
        return _same_number(pred, gold.answer), np_, "number"
    g, p = strip_delimiters(gold.answer), strip_delimiters(pred)
    if looks_symbolic(g) and looks_symbolic(p):
        same = symbolic_equal(g, p, deadline)
        if same is None:
            return False, np_, "symbolic check undecided"
        return same, np_, "symbolic"
    return False, np_, "text differs"


# ------------------------------------------------------------------ intervals

def intervals_equal(p: tuple[tuple[str, str, str, str], ...], g: tuple[tuple[str, str, str, str], ...],
                    deadline: float | None) -> bool:
    """Equal pieces (a union in any order): the same brackets at both ends, and equal ends."""
    if len(p) != len(g):
        return False
    if all(_piece_equal(a, b, deadline) for a, b in zip(p, g)):
        return True
    left = list(g)
    for a in p:
        hit = next((j for j, b in enumerate(left) if _piece_equal(a, b, deadline)), None)
        if hit is None:
            return False
        del left[hit]
    return True


def _piece_equal(a: tuple[str, str, str, str], b: tuple[str, str, str, str], deadline: float | None) -> bool:
    return a[0] == b[0] and a[3] == b[3] and _end_equal(a[1], b[1], deadline) and _end_equal(a[2], b[2], deadline)


def _end_equal(a: str, b: str, deadline: float | None) -> bool:
    """One end: infinities by sign, numbers by value, else the same text or (in bounded time) the same
    value through math-verify ("\\sqrt{2}" and "2^{1/2}")."""
    if a in INFINITIES or b in INFINITIES:
        return a == b
    if norm_text(a) == norm_text(b):
        return True
    if parse_number(a) is not None and parse_number(b) is not None:
        return _same_number(a, b)
    if deadline is not None and looks_symbolic(a) and looks_symbolic(b):
        return bool(symbolic_equal(b, a, deadline))
    return False
