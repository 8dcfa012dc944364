"""Answer extraction: the model's final answer as a string, or None (a format failure).

Strict rules, in order (the first that finds an answer wins):
1. the last brace-balanced `\\boxed{...}` (or `\\fbox{...}`);
2. the last `Final answer:` / `Answer:` / `答案:` label (markdown bold around it allowed; a markdown
   heading `### Final Answer` takes the next line); the rest of that line, or the next non-empty line
   when the label ends its line;
3. the last "the answer is X" / "the correct option is X" / "答案是 X".
From a label (rules 2 and 3) only the first sentence is kept when what follows adds nothing
("Final answer: 12. This is the total."); when it revises the answer ("3. Wait, actually 4") or names
another number, the whole line is kept, so that the check fails rather than guessing. Trailing
punctuation goes, but '!' right after a digit or a closing bracket is a factorial and stays ("3!").

Lenient extras (for scoring benchmarks, where direct answers have no label), tried after the strict
rules: a bare short response ("12", "(B) 8/11", "Yes"), an option letter opening the response or
alone on a line, the last number in the response.

Every rule is a linear scan (no backtracking regex, one pass for braces), so a 100 KB response costs
milliseconds. An "answer" longer than MAX_ANSWER_CHARS is not an answer.
"""

from __future__ import annotations

import re
from collections import deque

MAX_ANSWER_CHARS = 1000

_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*+\{")
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.S)
_LABEL = re.compile(
    r"(?:(?<![^\W\d_])(?:final[ \t]+answer|answer)|最终答案|答案)(?:[ \t]*+(?:\*\*|__))?[ \t]*+[:：]", re.I)
_AFTER_LABEL = re.compile(r"(?:[ \t]*+(?:\*\*|__))?[ \t]*+[:：]")
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]*(?:\*\*)?final[ \t]+answer(?:\*\*)?[ \t]*:?[ \t]*$", re.I | re.M)
_IS = re.compile(
    r"(?:(?<![^\W\d_])(?:answer|option|choice)[ \t]+(?:is|would[ \t]+be|should[ \t]+be)(?![\w])"
    r"(?:[ \t]*+[:：])?|答案[是为])[ \t]*+", re.I)
# '!' after a digit or a closing bracket is a factorial ("5! ways"), not the end of a sentence.
_SENTENCE_END = re.compile(r"(?:[.?。！？]|(?<![\d)\]}!])!+)(?=\s)")
REVISION_WORDS = re.compile(r"\b(?:wait|actually|correction|sorry|hmm+|i mean|oops)\b", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ANSWER_PREFIX = re.compile(
    r"^(?:(?:so|thus|therefore|hence)[, ]+)?(?:the[ \t]+)?(?:final[ \t]+|correct[ \t]+)?"
    r"(?:answer|option|choice)[ \t]+(?:is|would[ \t]+be)(?:[ \t]*+[:：])?[ \t]*+", re.I)
_DELIMITER_LINES = frozenset(("$$", "\\[", "\\]", "```", "**"))
_TRAILING = ".,;:!?。，；：！？ \t\n"
_FACTORIAL_BASE = frozenset("0123456789)]}")
_FILLER = re.compile(r"^(?:it|this|that|there|they)(?:'s|[ \t]+(?:is|are|was|were))[ \t]+", re.I)
_LONE_LETTER = re.compile(r"^[ \t]*\(?([A-Z])\)?[.:)]?[ \t]*$", re.M)
_LEADING_LETTER = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])[.:)])(?=\s|$)")
_LAST_NUMBER = re.compile(r"[-\u2212]?\d[\d,]*(?:\.\d+)?%?")


def extract_answer(response: str | None, *, lenient: bool = False) -> str | None:
    """The final answer in `response`, or None on a format failure. See the module docstring."""
    if not isinstance(response, str) or not response:
        return None
    for rule in (_from_boxed, _from_label, _from_answer_is):
        found = rule(response)
        if found is not None:
            return found
    if lenient:
        for rule in (_bare_short, _option_letter, _last_number):
            found = rule(response)
            if found is not None:
                return found
    return None


def clean(s: str) -> str | None:
    """Markdown bold, surrounding quotes and trailing punctuation off; None when nothing is left."""
    s = s.replace("**", "").replace("__", "").strip().strip("`").strip()
    t = s.rstrip(_TRAILING)
    s = t if len(t) == len(s) or s[len(t)] != "!" else _keep_factorial(s, t)
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1].strip()
    elif s[:1] == "\u201c" and s[-1:] == "\u201d":
        s = s[1:-1].strip()
    s = _ANSWER_PREFIX.sub("", s)
    t = s.rstrip(_TRAILING)
    s = t if len(t) == len(s) or s[len(t)] != "!" else _keep_factorial(s, t)
    return s if 0 < len(s) <= MAX_ANSWER_CHARS else None


def _keep_factorial(s: str, stripped: str) -> str:
    """`s` without trailing punctuation (`stripped`), but with a factorial's '!' ("3!", "(n+1)!"): after a
    digit or a closing bracket '!' is read as mathematics, so "Final answer: 7!" is 5040, not 7."""
    if not stripped or stripped[-1] not in _FACTORIAL_BASE:
        return stripped
    rest = s[len(stripped):]
    return stripped + "!" * (len(rest) - len(rest.lstrip("!")))


def _from_boxed(text: str) -> str | None:
    if "\\boxed" not in text and "\\fbox" not in text:
        return None
    starts = [m.end() - 1 for m in _BOXED.finditer(text)]
    if not starts:
        return None
    # One pass over braces from the first \boxed: the matching '}' of every '{' (escaped braces skipped).
    match: dict[int, int] = {}
    stack: list[int] = []
    for tok in _BRACE_TOKEN.finditer(text, starts[0]):
        t = tok.group()
        if t == "{":
            stack.append(tok.start())
        elif t == "}" and stack:
            match[stack.pop()] = tok.start()
    for s in reversed(starts):
        e = match.get(s)
        if e is not None:
            found = clean(text[s + 1:e])
            if found is not None:
                return found
    return None


def _line_after(text: str, pos: int) -> str:
    """The rest of the line from pos; when blank, the next non-empty line."""
    end = text.find("\n", pos)
    rest = text[pos:] if end < 0 else text[pos:end]
    if rest.replace("*", "").replace("_", "").strip() or end < 0:
        return rest
    for line in text[end + 1:end + 1 + 4 * MAX_ANSWER_CHARS].split("\n")[:6]:
        if line.strip() and line.strip() not in _DELIMITER_LINES:  # "$$", "\\[" around a display
            return line
    return ""


def _first_sentence(segment: str) -> str:
    m = _SENTENCE_END.search(segment)
    if m is None:
        return segment
    head, tail = segment[:m.start()], segment[m.end():]
    if head.count("$") % 2 or REVISION_WORDS.search(tail):
        return segment
    tail_numbers = set(_NUMBER.findall(tail))
    if tail_numbers and not tail_numbers <= set(_NUMBER.findall(head)):
        return segment
    return head


def _last(pattern: re.Pattern, text: str) -> re.Match | None:
    last = deque(pattern.finditer(text), maxlen=1)
    return last[0] if last else None


def _last_label_end(text: str) -> int:
    """End of the last answer label, or -1. ASCII text: rfind from the end (this is the hot path)."""
    if not text.isascii():
        m = _last(_LABEL, text)
        return m.end() if m else -1
    low = text.lower()
    i = len(low)
    while (i := low.rfind("answer", 0, i)) >= 0:
        if i == 0 or not low[i - 1].isalpha():
            m = _AFTER_LABEL.match(low, i + 6)
            if m:
                return m.end()
    return -1


def _from_label(text: str) -> str | None:
    end = _last_label_end(text)
    heading = _last(_HEADING, text) if "#" in text else None
    if heading is not None and heading.start() > end:
        nxt = _line_after(text, heading.end())
        return clean(_first_sentence(nxt.strip())) if nxt else None
    if end < 0:
        return None
    return clean(_first_sentence(_line_after(text, end).strip(" \t*_")))


def _from_answer_is(text: str) -> str | None:
    m = _last(_IS, text)
    if m is None:
        return None
    return clean(_first_sentence(_line_after(text, m.end()).strip(" \t*_")))


def _bare_short(text: str) -> str | None:
    s = _FILLER.sub("", text.strip())
    if "\n" in s or len(s) > 40 or len(s.split()) > 4:
        return None
    return clean(s)


def _option_letter(text: str) -> str | None:
    m = _LEADING_LETTER.match(text)
    if m:
        return m.group(1) or m.group(2)
    m = _last(_LONE_LETTER, text)
    return m.group(1) if m else None


def _last_number(text: str) -> str | None:
    m = _last(_LAST_NUMBER, text)
    return clean(m.group().rstrip(",")) if m else None
