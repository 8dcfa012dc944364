"""MathVerse testmini (Zhang et al., "MathVerse: Does Your Multi-modal LLM Truly See the Diagrams in
Visual Math Problems?", ECCV 2024; https://github.com/ZrrSkywalker/MathVerse): every problem in
several versions, reported per version (Text Dominant, Text Lite, Vision Intensive, Vision Dominant,
Vision Only, and Text Only, the separate text-only split, when present).

Reads:
- the Hub release AI4Math/MathVerse (parquet or a `datasets` folder; configs testmini and
  testmini_text_only): `sample_index`, `problem_index`, `problem_version`, `question` (with the options
  written in it, "Choices:\\nA:..", and empty in the Vision Only version), `image`, `answer` (the
  letter for multiple choice), `question_type` ("multi-choice" / "free-form"), `metadata` (split,
  source, subject, subfield), `query_wo`, `query_cot`, `question_for_eval`
  (`mmpo.data.records.normalize_record` maps this shape; the options become choices, or the letters
  A-D when the figure holds them);
- VLMEvalKit's MathVerse_MINI TSVs (all versions in one, or one per version): `index`, `image`
  (base64), `question` (the prompt VLMEvalKit asks, "...\\nQuestion: ..." cut to its question and kept
  as the direct prompt), `answer`, `question_for_eval`, `query_cot` where present, `metadata` (a Python
  dict as text, with `problem_version` and `subfield` when there is no column of its own), and
  `question_type` where present (else multiple choice is read from a letter answer).

Prompts: the release's own, `query_wo` (answer directly) and `query_cot` (reason first), as the
authors ask them; a record without them gets mmpo's layout (`mmpo.data.prompts.build_prompt`).

Scoring: the authors score with GPT-4 (it extracts the answer, then judges it against the standard
answer and the question, `question_for_eval`). mmpo scores by rule instead, with no model:
- multiple choice: mmpo's lenient extraction (\\boxed{}, "Final answer:", "the answer is", a bare
  option letter), then the option letter, the option's text or its value (`mmpo.answers.check_answer`);
- free form: the strict extraction, else the last line when it reads as mathematics ("f(x) = ...",
  "(-2, 1]", "22.3 m") or the equation it ends with, else the lenient rules (a short reply, the last
  number); then mmpo's default comparison: numbers by value (units checked), expressions, equations
  by symbolic equivalence through math-verify in bounded time, intervals only with the same
  brackets and equal ends; and "f(x) = ..." against a gold "y = ..." by the right-hand sides.
A GPT judge also credits answers a rule cannot read (prose, other notations), so the numbers may
differ from the leaderboard's.

Primary: accuracy over all questions of the five vision versions (the paper's "All"; Text Only is
reported in the per-version breakdown, and over everything as `accuracy_with_text_only`, but kept
out of the primary when other versions are present). Breakdowns: by version, subject, subfield.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmpo.benchmarks._math import accuracy_summary, is_tsv_row, literal, one, read_benchmark, scored, text
from mmpo.benchmarks.base import Benchmark
from mmpo.errors import InputError

VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only", "Text Only")
TEXT_ONLY = "Text Only"
_QUESTION_AT = re.compile(r"^.*?\n\s*Question:\s*", re.S)
_LETTER = re.compile(r"\(?[A-H]\)?")


def _tsv_row(row: dict, where: dict) -> dict:
    out = dict(row)
    meta = literal(row.get("metadata"), where, "metadata", dict) or {}
    out["metadata"] = {k: v for k, v in meta.items() if k != "problem_version"}
    pid = text(row.get("sample_index")) or text(row.get("index"))
    if pid is None:
        raise InputError("missing required field", **where, field="index")
    out["sample_index"] = pid
    version = text(row.get("problem_version")) or text(meta.get("problem_version"))
    if version is None:
        raise InputError("no problem_version (neither a column nor in metadata)", **where, field="problem_version")
    out["problem_version"] = version
    asked = text(row.get("question")) or ""
    if not text(row.get("query_wo")) and asked:
        out["query_wo"] = asked
    question = _QUESTION_AT.sub("", asked, count=1) if "Question:" in asked else ""
    out["question"] = question if question.strip() else (text(row.get("question_for_eval")) or "")
    if version == "Vision Only":
        out["question"] = ""  # the question is in the figure (VLMEvalKit's cell is only the instruction)
    if text(row.get("question_type")) is None:
        answer = text(row.get("answer")) or ""
        multi = bool(_LETTER.fullmatch(answer)) and (version == "Vision Only" or "Choices" in asked
                                                     or "Choices" in (text(row.get("question_for_eval")) or ""))
        out["question_type"] = "multi-choice" if multi else "free-form"
    return out


def _prepare(row: Any, where: dict) -> Any:
    if isinstance(row, dict) and is_tsv_row(where):
        return _tsv_row(row, where)
    if isinstance(row, dict) and "problem_version" not in row:
        raise InputError("not a MathVerse row (no problem_version)", **where, field="problem_version")
    return row


# ---- free-form answers ------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{2,}")
_LATEX_WORDS = re.compile(r"\\[a-zA-Z]+|\\text\s*\{[^{}]*\}")
_EQUATION_TAIL = re.compile(r"(?<![\w\\])([a-zA-Z](?:_\{?\w+\}?)?(?:\s*\(\s*[a-z]\s*\))?\s*=\s*[^=]+)$")
_FUNCTION_LHS = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?\s*\(\s*[a-z]\s*\)|y)\s*=\s*")
_FILLER = re.compile(r"^(?:so|thus|therefore|hence)\b[,:]?\s*", re.I)


def _mathlike(line: str) -> bool:
    """A line that is an answer rather than a sentence: at most two plain words besides LaTeX."""
    return len(_WORD.findall(_LATEX_WORDS.sub(" ", line))) <= 2


def extract_free_form(response: str | None) -> str | None:
    """The answer of a free-form response: mmpo's strict rules (\\boxed{}, "Final answer:", "the answer
    is"); else the last line when it reads as mathematics ("f(x) = -x^2 + 1", "(-2, 1]", "22.3 m"), or the
    equation it ends with ("... is y = 2x + 1."); else the lenient rules (a short reply, the last number)."""
    from mmpo.answers import extract_answer
    from mmpo.answers.extract import clean

    found = extract_answer(response)
    if found is not None or not isinstance(response, str):
        return found
    lines = [ln.strip() for ln in response.strip().splitlines() if ln.strip()]
    if lines:
        last = _FILLER.sub("", lines[-1].replace("**", "")).strip().rstrip(".").strip()
        last = last.removeprefix("\\(").removesuffix("\\)").strip("$ ")
        if last and _mathlike(last):
            return clean(last)
        m = _EQUATION_TAIL.search(last)
        if m and _mathlike(m.group(1)):
            return clean(m.group(1))
    return extract_answer(response, lenient=True)


def free_form_equal(extracted: str, record: Mapping[str, Any]) -> bool:
    """mmpo's default comparison (`mmpo.answers.compare`; an interval matches only with the same
    brackets and equal ends), with one guard: "f(x) = ..." answers a gold "y = ..." (or the other way
    round) when the right-hand sides are equal."""
    import time
    from dataclasses import replace

    from mmpo.answers.compare import compare, gold_from_record
    from mmpo.answers.normalize import strip_delimiters

    gold = gold_from_record(record)
    deadline = time.monotonic() + 2.0
    pred = strip_delimiters(extracted).strip()
    gl, pl = _FUNCTION_LHS.match(gold.answer), _FUNCTION_LHS.match(pred)
    if gl and pl:
        gold, pred = replace(gold, answer=gold.answer[gl.end():].strip()), pred[pl.end():].strip()
    ok, _, _ = compare(pred, gold, deadline)
    return ok


@dataclass(frozen=True)
class MathVerse(Benchmark):
    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        return read_benchmark(self.title, path, split, _prepare)

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        from mmpo.data.prompts import build_prompt

        if mode not in ("direct", "cot"):
            raise ValueError(f"mode must be direct or cot, got {mode!r}")
        own = record.get("query_wo" if mode == "direct" else "query_cot")
        if isinstance(own, str) and own.strip():
            return own.strip()
        return build_prompt(dict(record), "direct" if mode == "direct" else "cot", source="mmpo")

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        meta = record.get("metadata") or {}
        extra = {"version": meta.get("problem_version"), "subject": meta.get("subject"),
                 "subfield": meta.get("subfield")}
        if record.get("question_type") == "multi_choice":
            from mmpo.answers import check_answer

            v = check_answer(response, record, lenient=True)
            return scored(v.extracted, v.correct, normalized=v.normalized, **extra)
        extracted = extract_free_form(response)
        if extracted is None:
            return scored(None, False, **extra)
        return scored(extracted, free_form_equal(extracted, record), **extra)

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        has_vision = any(p.get("version") != TEXT_ONLY for p in predictions)
        out = accuracy_summary(predictions, {"version": one("version"), "subject": one("subject"),
                                             "subfield": one("subfield")},
                               primary_of=(lambda p: p.get("version") != TEXT_ONLY) if has_vision else None)
        if any(p.get("version") == TEXT_ONLY for p in predictions):
            all_ = accuracy_summary(predictions, {})
            out["metrics"]["accuracy_with_text_only"] = all_["primary"]
        order = {v: i for i, v in enumerate(VERSIONS)}
        out["by"]["version"] = dict(sorted(out["by"]["version"].items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))
        return out


BENCHMARK = MathVerse(
    name="mathverse", title="MathVerse",
    reads="AI4Math/MathVerse testmini and testmini_text_only (parquet, datasets folder), VLMEvalKit "
          "MathVerse_MINI*.tsv",
    scoring="rule-based stand-in for the official GPT judge: option letter; free form by value or "
            "symbolic equivalence (math-verify, bounded time)",
    source="Zhang et al., ECCV 2024; ZrrSkywalker/MathVerse; VLMEvalKit vlmeval/dataset/utils/mathverse.py",
    files=("MathVerse_MINI*.tsv", "MathVerse/testmini-*.parquet", "MathVerse/testmini/*.parquet",
           "MathVerse/testmini_text_only/*.parquet", "MathVerse/testmini"),
)
