"""What the math benchmarks (MathVista, MathVision, MathVerse, OlympiadBench) share: reading a release
through `mmpo.data.records.read_records` with a benchmark's own row mapping, the cells of VLMEvalKit's
TSVs (lists and dicts written as Python literals, numbers as text), and accuracy with breakdowns.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mmpo.errors import InputError

log = logging.getLogger("mmpo.benchmarks")


def read_benchmark(name: str, path: str | os.PathLike, split: str | None,
                   prepare: Callable[[Any, dict], Any] | None) -> list[dict[str, Any]]:
    """Validated records with answers; an InputError when the file holds none."""
    from mmpo.data.records import read_records

    records = read_records(path, require_answer=True, split=split, prepare=prepare)
    if not records:
        raise InputError(f"no {name} questions in this file", path=path)
    return records


def is_tsv_row(where: Mapping[str, Any]) -> bool:
    return str(where.get("path", "")).lower().endswith(".tsv")


def where_of(where: Mapping[str, Any]) -> dict[str, Any]:
    return {k: where.get(k) for k in ("path", "line", "record")}


def literal(value: Any, where: Mapping[str, Any], field: str, kind: type) -> Any:
    """A list or dict cell: the value itself, or its text as JSON or as a Python literal (VLMEvalKit
    writes `['a', 'b']` and `{'task': ...}`); None for an empty cell."""
    if value is None or isinstance(value, kind):
        return value
    if hasattr(value, "tolist") and kind is list:  # numpy arrays from pandas-written parquet
        return list(value.tolist())
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        for parse in (json.loads, ast.literal_eval):
            try:
                out = parse(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(out, kind):
                return out
    raise InputError(f"expected a {kind.__name__} (or its JSON / Python text), got {str(value)[:80]!r}",
                     **where_of(where), field=field)


def number(value: Any, where: Mapping[str, Any], field: str) -> float | None:
    """A numeric cell (TSVs hold numbers as text: "1.0"); None for an empty one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        raise InputError(f"expected a number, got {value!r}", **where_of(where), field=field)
    if isinstance(value, int | float):
        return float(value)
    try:
        out = float(str(value).strip())
    except ValueError:
        raise InputError(f"expected a number, got {str(value)[:40]!r}", **where_of(where), field=field) from None
    return None if math.isnan(out) else out


def text(value: Any) -> str | None:
    """A cell as stripped text, None when empty (pandas writes empty cells as NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip()
    return s or None


_HINT_QUESTION = re.compile(r"^\s*Hint:.*?\n\s*Question:\s*", re.S)
_CHOICES_TAIL = re.compile(r"\n\s*(?:Choices|Options)\s*:.*$", re.S)


def bare_question(question: str, has_choices: bool) -> str:
    """The question of a VLMEvalKit prompt cell ("Hint: ...\\nQuestion: ...\\nChoices: ..."): the text
    after "Question:", without the choices block when the choices are a column of their own."""
    out = _HINT_QUESTION.sub("", question, count=1)
    if has_choices:
        out = _CHOICES_TAIL.sub("", out)
    return out.strip()


# ---- scoring ---------------------------------------------------------------------------------------

def scored(extracted: str | None, correct: bool, **extra: Any) -> dict[str, Any]:
    """The fields of one prediction: a response without an answer is a format failure."""
    verdict = "format_failure" if extracted is None else ("correct" if correct else "incorrect")
    return {"extracted": extracted, "verdict": verdict, "score": 1.0 if verdict == "correct" else 0.0, **extra}


def _score(p: Mapping[str, Any]) -> float:
    s = p.get("score")
    if isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s <= 1:
        raise InputError(f"prediction {p.get('pid')!r} has no score in [0, 1] (got {s!r})", field="score")
    return float(s)


def accuracy_summary(predictions: Sequence[Mapping[str, Any]],
                     breakdowns: Mapping[str, Callable[[Mapping[str, Any]], Iterable[Any]]],
                     *, primary_of: Callable[[Mapping[str, Any]], bool] | None = None,
                     primary: str = "accuracy") -> dict[str, Any]:
    """Mean score over `predictions` (or over those `primary_of` keeps), and per group of each
    breakdown (a prediction in several groups, such as MathVista's skills, counts in each; None or an
    empty group name is left out of that breakdown).

    metrics: `primary` (the mean score), `format_failure_rate` (answers not found), `n_scored`."""
    scores = [_score(p) for p in predictions]
    kept = [s for p, s in zip(predictions, scores) if primary_of is None or primary_of(p)]
    value = sum(kept) / len(kept) if kept else 0.0
    failures = sum(1 for p in predictions if p.get("verdict") == "format_failure")
    by: dict[str, dict[str, dict[str, Any]]] = {}
    for name, groups_of in breakdowns.items():
        sums: dict[str, list[float]] = {}
        for p, s in zip(predictions, scores):
            for g in groups_of(p) or ():
                if g is None or str(g) == "":
                    continue
                sums.setdefault(str(g), []).append(s)
        by[name] = {g: {"n": len(v), primary: sum(v) / len(v)} for g, v in sorted(sums.items())}
    return {"primary": value, "n": len(kept),
            "metrics": {primary: value, "n_scored": len(kept),
                        "format_failure_rate": failures / len(predictions) if predictions else 0.0},
            "by": by}


def one(field: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A breakdown by one field of the prediction."""
    return lambda p: [p.get(field)]


def many(field: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A breakdown by a list field of the prediction (each element a group)."""
    def groups(p: Mapping[str, Any]) -> list[Any]:
        v = p.get(field)
        return list(v) if isinstance(v, list | tuple) else [v]
    return groups
