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
answer and the question, `question_for_eval`). mmpo scores by rule instead: the answer is found by the
lenient extraction (\\boxed{}, "Final answer:", "the answer is", a bare letter or number, the last
number), multiple choice by the option letter (or the option's text or value), free form by value
(units checked) or, for expressions, equations and intervals, by symbolic equivalence through
math-verify in bounded time (`mmpo.answers.check_answer`, default rules). A GPT judge also credits
answers a rule cannot read (prose, other notations), so numbers may differ from the leaderboard's.

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
        from mmpo.answers import check_answer

        meta = record.get("metadata") or {}
        v = check_answer(response, record, lenient=True)
        return scored(v.extracted, v.correct, normalized=v.normalized, version=meta.get("problem_version"),
                      subject=meta.get("subject"), subfield=meta.get("subfield"))

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
