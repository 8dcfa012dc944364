"""What the judge-scored benchmarks (MM-Vet, LLaVA-Bench, MMHal-Bench) share.

A judge benchmark's `check` only records the answer (`extracted`: the stripped response, None when
empty; `verdict`: "format_failure" when empty, else "incorrect" until judged; `score`: None) and the
record's groups; `mmpo.judge.run.judge_predictions` then asks the judge and overwrites `score` and
`verdict`. Besides the `Benchmark` methods a judge benchmark gives:

- `judge_placeholders` / `judge_required`: the `{fields}` its judge prompt may / must use
  (`{response}` is always required); `judge_fields(record)`: their values for one record;
- `judge_variants` / `judge_variant(record)`: the keys of per-record templates (LLaVA-Bench: one rule
  per category), if any;
- `parse(reply) -> dict | None`: the judge's reply parsed (`{"score": float, ...}`), None when it
  cannot be read; `verdict_of(parsed)`: "correct" or "incorrect" by the benchmark's threshold.

A reply that cannot be parsed is never scored as a zero: the prediction keeps `score: None`,
`verdict: None` and `judge_unparsed: True`, and `summarize` leaves it out of every mean and counts it
(`metrics["judge_unparsed"]`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.benchmarks.base import Benchmark
from mmpo.errors import InputError, MMPOError


@dataclass(frozen=True)
class JudgeBenchmark(Benchmark):
    kind: str = "judge"
    judge_placeholders: tuple[str, ...] = ("question", "answer")
    judge_required: tuple[str, ...] = ("question", "answer")
    judge_variants: tuple[str, ...] = field(default_factory=tuple)
    judge_variant_name: str = ""
    judge_format: str = ""  # what `parse` reads, for the parse_error of an unreadable reply

    @property
    def modes(self) -> tuple[str, ...]:
        # Open-ended questions asked as the benchmark ships them: no answer format to vary.
        return ("direct",)

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        if mode not in self.modes:
            raise MMPOError(f"{self.name} asks its questions as they ship (mode direct), not {mode!r}")
        return str(record["question"])

    def groups(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record fields `summarize` groups by, copied onto each prediction."""
        return {}

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        text = (response or "").strip()
        return {"extracted": text or None, "verdict": "incorrect" if text else "format_failure", "score": None,
                **self.groups(record)}

    def judge_fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"question": record["question"], "answer": record.get("answer")}

    def judge_variant(self, record: Mapping[str, Any]) -> str | None:
        return None

    def parse(self, reply: str | None) -> dict[str, Any] | None:
        raise NotImplementedError

    def verdict_of(self, parsed: Mapping[str, Any]) -> str:
        raise NotImplementedError


def scored(predictions: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], int, int]:
    """(the predictions with a score, how many have an unparsed judgement, how many are not judged yet)."""
    done, unparsed, pending = [], 0, 0
    for p in predictions:
        if p.get("judge_unparsed"):
            unparsed += 1
        elif p.get("score") is None:
            pending += 1
        else:
            done.append(p)
    return done, unparsed, pending


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def counts(predictions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    done, unparsed, pending = scored(predictions)
    return {"judged": len(done), "judge_unparsed": unparsed, "not_judged": pending,
            "format_failure": sum(1 for p in predictions if p.get("verdict") == "format_failure")}


# ---- building records ------------------------------------------------------------------------------

def finish_record(rec: dict[str, Any], where: dict[str, Any], image: Any, base: Path) -> dict[str, Any]:
    """A validated MathVista-schema record (free-form, text answer) with `image_ref`, `image_path`,
    `_source`, `_where` and `_line`, as `mmpo.data.records.read_records` gives them."""
    from mmpo.data.records import validate_record

    rec = {"question_type": "free_form", "answer_type": "text", **rec}
    out = validate_record(rec, require_answer=True, **where)
    out["image_ref"] = image_ref(image, base, where)
    out["image_path"] = out["image_ref"] if isinstance(out["image_ref"], str) else None
    out["_source"] = str(where["path"])
    out["_where"] = {k: v for k, v in where.items() if k != "path"}
    out["_line"] = where.get("line")
    return out


def image_ref(image: Any, base: Path, where: dict[str, Any], field: str = "image") -> Any:
    """An absolute image path, a `{"bytes", "path"}` dict (embedded), or None (no image)."""
    if isinstance(image, list):
        image = image[0] if image else None
    if isinstance(image, dict):
        if image.get("bytes"):
            return {"bytes": image["bytes"], "path": image.get("path")}
        image = image.get("path")
    if not image:
        return None
    path = Path(image) if os.path.isabs(str(image)) else base / str(image)
    if not path.is_file():
        raise InputError(f"image {path} does not exist", **where, field=field)
    return str(path.resolve())


def check_unique(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict] = {}
    for rec in records:
        if rec["pid"] in seen:
            raise InputError(f"duplicate id {rec['pid']!r}", path=rec["_source"], field="pid", **rec["_where"])
        seen[rec["pid"]] = rec
    return records


def text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN cells of exported tables
        return None
    return str(value)
