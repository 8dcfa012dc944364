"""MathVista-schema records: the benchmark and prompt records every stage reads (docs/formats.md).

    records = load_records("data/test.jsonl", require_answer=True)   # validated, with image_path

A .jsonl file, a .json list, or a .json dict keyed by pid (MathVista's testmini.json). Every
error names the file, line and field of the bad record (`mmpo.errors.InputError`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmpo.data.files import iter_jsonl
from mmpo.errors import InputError

QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("integer", "float", "text", "list")

# MathVista record fields: name -> allowed python types (None allowed where listed).
_FIELDS: dict[str, tuple[type, ...]] = {
    "pid": (str, int),
    "question": (str,),
    "image": (str, type(None)),
    "choices": (list, type(None)),
    "unit": (str, type(None)),
    "precision": (int, float, type(None)),
    "answer": (str, int, float, list, type(None)),
    "question_type": (str,),
    "answer_type": (str,),
    "query": (str, type(None)),
    "metadata": (dict, type(None)),
}
_REQUIRED = ("pid", "question")


def load_records_file(path: str | os.PathLike) -> list[tuple[int | None, dict[str, Any]]]:
    """Records from a .jsonl file, a .json list, or a .json dict keyed by pid (MathVista's testmini.json)."""
    path = Path(path)
    if path.suffix == ".json":
        if not path.exists():
            raise InputError("file does not exist", path=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg} at line {exc.lineno})", path=path, line=exc.lineno) from None
        if isinstance(data, dict):
            items = []
            for key, rec in data.items():
                if isinstance(rec, dict):
                    rec = dict(rec)
                    rec.setdefault("pid", key)
                items.append((None, rec))
            return items
        if isinstance(data, list):
            return [(None, rec) for rec in data]
        raise InputError("expected a list or a dict of records", path=path)
    return list(iter_jsonl(path))


def validate_record(rec: Any, *, path=None, line: int | None = None, require_answer: bool = False) -> dict[str, Any]:
    """Check a MathVista-schema record; fill defaults for optional fields. Returns a new dict."""
    if not isinstance(rec, dict):
        raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
    for name in _REQUIRED:
        if name not in rec or rec[name] in (None, ""):
            raise InputError("missing required field", path=path, line=line, field=name)
    for name, types in _FIELDS.items():
        if name in rec and not isinstance(rec[name], types):
            raise InputError(f"has type {type(rec[name]).__name__}", path=path, line=line, field=name)
    out = dict(rec)
    out["pid"] = str(out["pid"])
    choices = out.get("choices")
    out.setdefault("question_type", "multi_choice" if choices else "free_form")
    out.setdefault("answer_type", "text" if choices else "integer")
    for name in ("image", "choices", "unit", "precision", "answer", "query", "metadata"):
        out.setdefault(name, None)
    if out["question_type"] not in QUESTION_TYPES:
        raise InputError(f"must be one of {QUESTION_TYPES}, got {out['question_type']!r}",
                         path=path, line=line, field="question_type")
    if out["answer_type"] not in ANSWER_TYPES:
        raise InputError(f"must be one of {ANSWER_TYPES}, got {out['answer_type']!r}",
                         path=path, line=line, field="answer_type")
    if out["question_type"] == "multi_choice" and not choices:
        raise InputError("multi_choice record without choices", path=path, line=line, field="choices")
    if require_answer and out["answer"] in (None, ""):
        raise InputError("missing required field", path=path, line=line, field="answer")
    return out


def load_records(path: str | os.PathLike, *, require_answer: bool = False) -> list[dict[str, Any]]:
    """Validated MathVista-schema records. Image paths are resolved relative to the file's folder."""
    path = Path(path)
    base = path.parent
    out, seen = [], {}
    for line, rec in load_records_file(path):
        rec = validate_record(rec, path=path, line=line, require_answer=require_answer)
        if rec["pid"] in seen:
            raise InputError(f"duplicate pid {rec['pid']!r} (first on line {seen[rec['pid']]})",
                             path=path, line=line, field="pid")
        seen[rec["pid"]] = line
        if rec["image"] and not os.path.isabs(rec["image"]):
            rec["image_path"] = str(base / rec["image"])
        else:
            rec["image_path"] = rec["image"]
        out.append(rec)
    return out
