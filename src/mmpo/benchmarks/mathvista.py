"""MathVista testmini (Lu et al., "MathVista: Evaluating Mathematical Reasoning of Foundation Models in
Visual Contexts", ICLR 2024; https://github.com/lupantech/MathVista).

Reads:
- the Hub release AI4Math/MathVista (parquet or a `datasets` folder; split testmini): `pid`, `question`,
  `image` (a path the parquet does not ship) with `decoded_image` (the embedded image), `choices`,
  `unit`, `precision`, `answer`, `question_type`, `answer_type`, `metadata` (task, skills, ...), `query`;
- the JSON release `testmini.json` ({pid: record}, images under `images/` beside it);
- VLMEvalKit's `MathVista_MINI.tsv`: `index`, `image` (base64), `question` (there the whole official
  query, "Hint: ...\\nQuestion: ...\\nChoices: ..."), `answer` (the choice's text), `answer_option`
  (its letter), `choices` (a Python list as text), `question_type`, `answer_type`, `precision`
  (text), `unit`, and the metadata columns `task`, `skills` (a Python list as text), `category`,
  `context`, `grade`, `source`, `language`, `split`, `img_height`, `img_width`, as far as present.
The test split has no answers and is refused (every record here needs one).

Prompts: the record's own `query` (the official one, with the answer-format hint: an integer, a float
with N decimals, a list, or the option letter); direct mode asks for the answer alone after it, CoT
mode puts the paper's reasoning instruction ("Final answer: ..") before it
(`mmpo.data.prompts.build_prompt`, source auto).

Scoring: the official rules of `evaluation/calculate_score.py` (`mmpo.answers.mathvista`): the answer
is taken from the response (mmpo's lenient extraction stands in for the GPT-4 extractor), then
normalised by the record's type (multiple choice: the option letter, or else the nearest choice by
edit distance; integers truncated; floats rounded to the record's precision) and compared exactly.

Breakdowns as on the MathVista leaderboard: by task (FQA, GPS, MWP, TQA, VQA: `metadata.task`) and by
mathematical skill (`metadata.skills`; a question counts in each of its skills); also by question type.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmpo.benchmarks._math import (
    accuracy_summary,
    bare_question,
    is_tsv_row,
    literal,
    many,
    number,
    one,
    read_benchmark,
    scored,
    text,
)
from mmpo.benchmarks.base import Benchmark
from mmpo.errors import InputError

# VLMEvalKit columns that are the record's own fields (the rest go into metadata).
_TSV_FIELDS = {"index", "pid", "image", "image_path", "question", "query", "answer", "answer_option", "choices",
               "question_type", "answer_type", "precision", "unit"}


def _tsv_row(row: dict, where: dict) -> dict:
    pid = text(row.get("pid")) or text(row.get("index"))
    if pid is None:
        raise InputError("missing required field", **where, field="index")
    raw = text(row.get("question")) or ""
    choices = literal(row.get("choices"), where, "choices", list) or None
    query = text(row.get("query")) or (raw if raw.lstrip().startswith("Hint:") else None)
    question = bare_question(raw, bool(choices)) if query == raw else raw
    answer = text(row.get("answer"))
    option = text(row.get("answer_option"))
    if choices and answer not in [str(c) for c in choices] and option:
        answer = option  # the letter: read as its choice
    precision = number(row.get("precision"), where, "precision")
    meta = {k: v for k, v in row.items() if k not in _TSV_FIELDS and v is not None}
    if "skills" in meta:
        skills = meta["skills"]
        try:
            meta["skills"] = literal(skills, where, "skills", list)
        except InputError:
            meta["skills"] = [str(skills)]  # one skill written as plain text
    return {"pid": pid, "question": question, "image": row.get("image"), "choices": choices, "answer": answer,
            "question_type": text(row.get("question_type")) or ("multi_choice" if choices else "free_form"),
            "answer_type": text(row.get("answer_type")) or ("text" if choices else "integer"),
            "precision": int(precision) if precision is not None and precision.is_integer() else precision,
            "unit": text(row.get("unit")), "query": query, "metadata": meta}


def _prepare(row: Any, where: dict) -> Any:
    if isinstance(row, dict) and is_tsv_row(where):
        return _tsv_row(row, where)
    return row


@dataclass(frozen=True)
class MathVista(Benchmark):
    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        return read_benchmark(self.title, path, split, _prepare)

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        from mmpo.data.prompts import build_prompt

        _check_mode(mode)
        return build_prompt(dict(record), "direct" if mode == "direct" else "cot", source="auto")

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        from mmpo.answers import check_answer

        _check_mode(mode)
        v = check_answer(response, record, scoring="mathvista")
        meta = record.get("metadata") or {}
        skills = meta.get("skills")
        return scored(v.extracted, v.correct, normalized=v.normalized, task=meta.get("task"),
                      skills=list(skills) if isinstance(skills, list | tuple) else ([skills] if skills else []),
                      question_type=record.get("question_type"))

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return accuracy_summary(predictions, {"task": one("task"), "skill": many("skills"),
                                              "question_type": one("question_type")})


def _check_mode(mode: str) -> None:
    if mode not in ("direct", "cot"):
        raise ValueError(f"mode must be direct or cot, got {mode!r}")


BENCHMARK = MathVista(
    name="mathvista", title="MathVista",
    reads="AI4Math/MathVista testmini (parquet, datasets folder), testmini.json, VLMEvalKit MathVista_MINI.tsv",
    scoring="official MathVista rules: option letter or nearest choice, integers truncated, floats at the "
            "record's precision, exact match",
    source="Lu et al., ICLR 2024; lupantech/MathVista evaluation/calculate_score.py",
    files=("MathVista_MINI.tsv", "MathVista/testmini.json", "MathVista/data/testmini-*.parquet",
           "MathVista/testmini-*.parquet", "MathVista/testmini"),
)
