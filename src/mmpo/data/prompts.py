"""Prompt texts shared by sampling and evaluation, so both ask the model the same way.

The CoT prompt follows the MPO paper's data engine: reasoning first, then "Final answer: ..".
Direct mode asks for the answer alone.
"""

from __future__ import annotations

import re
from typing import Any

from mmpo.data.records import option_label

COT_INSTRUCTION = (
    "Your task is to answer the question below. Give step by step reasoning before you answer, "
    'and when you\'re ready to answer, please use the format "Final answer: .."'
)
BOXED_INSTRUCTION = (
    "Your task is to answer the question below. Give step by step reasoning before you answer, "
    "and put your final answer within \\boxed{}."
)
DIRECT_FREE_FORM = "Answer the question using a single word or phrase."
DIRECT_MULTI_CHOICE = "Answer with the option's letter from the given choices directly."

# Short-answer instructions that contradict step-by-step reasoning; removed before the CoT prompt.
_SHORT_ANSWER_PATTERNS = [
    r"Answer the question using a single word or phrase\.?",
    r"Answer with the option'?s letter from the given choices directly\.?",
    # MathVista's hints contain "e.g.," so they are matched through "at the end".
    r"(?:Hint: )?Please answer the question [^\n]*? at the end\.?",
    r"Answer directly\.?",
]
_SHORT_RE = re.compile("|".join(f"(?:{p})" for p in _SHORT_ANSWER_PATTERNS), re.IGNORECASE)

PROMPT_STYLES = ("cot", "boxed", "direct")
# Where the question text comes from: the record's official `query` when it has one (MathVista's, with
# its precision and list-format hints), or always mmpo's layout of question, options and unit.
PROMPT_SOURCES = ("auto", "query", "mmpo")
# The short-answer instructions that contradict reasoning even inside an official query.
_DIRECT_ONLY_RE = re.compile("|".join(f"(?:{p})" for p in _SHORT_ANSWER_PATTERNS if "at the end" not in p),
                             re.IGNORECASE)


def strip_short_answer_instructions(text: str, *, keep_hints: bool = False) -> str:
    """`text` without instructions to answer briefly; `keep_hints` keeps MathVista's format hints."""
    out = (_DIRECT_ONLY_RE if keep_hints else _SHORT_RE).sub("", text)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def question_text(record: dict[str, Any]) -> str:
    """The question with its unit and options, as the model sees it (MathVista's layout)."""
    q = str(record.get("question", "")).strip()
    unit = record.get("unit")
    if unit and str(unit).lower() not in q.lower():
        q += f" (Unit: {unit})"
    choices = record.get("choices") or []
    if choices:
        letters = [option_label(i) for i in range(len(choices))]  # A..Z, then AA, AB, ...
        q += "\nChoices:\n" + "\n".join(f"({ltr}) {c}" for ltr, c in zip(letters, choices))
    return q


def build_prompt(record: dict[str, Any], style: str = "cot", source: str = "auto") -> str:
    """The user-turn text for a record: `cot` (the paper's), `boxed`, or `direct`.

    `source`: `auto` uses the record's `query` when it has one, `query` requires it, `mmpo` always
    lays out question, unit and options itself.
    """
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {style!r}")
    if source not in PROMPT_SOURCES:
        raise ValueError(f"prompt source must be one of {PROMPT_SOURCES}, got {source!r}")
    query = record.get("query")
    if source == "query" and not (isinstance(query, str) and query.strip()):
        raise ValueError(f"record {record.get('pid')!r} has no query (use prompt source auto or mmpo)")
    if source != "mmpo" and isinstance(query, str) and query.strip():
        q = strip_short_answer_instructions(query, keep_hints=True)
    else:
        q = strip_short_answer_instructions(question_text(record))
    if style == "direct":
        hint = DIRECT_MULTI_CHOICE if record.get("choices") else DIRECT_FREE_FORM
        return f"{q}\n{hint}"
    head = COT_INSTRUCTION if style == "cot" else BOXED_INSTRUCTION
    return f"{head}\n\nQuestion:\n\n{q}"
