"""Record types and file I/O shared by every stage: JSONL with validation, MathVista records.

Every reader names the file, line and field of a bad record (`mmpo.errors.InputError`).
Writers append one complete line at a time and flush, so a killed stage leaves at most
one partial last line, which `read_jsonl(..., repair_tail=True)` drops for resuming.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def iter_jsonl(path: str | os.PathLike, *, on_malformed: Callable[[InputError], None] | None = None,
               missing: str = "file does not exist") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object) for each non-empty line.

    A line that is not a JSON object raises InputError, or, with `on_malformed`, is handed to it
    and skipped (the caller counts it: nothing is dropped silently).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(missing, path=path)
    with path.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                err = InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=lineno)
            else:
                if isinstance(obj, dict):
                    yield lineno, obj
                    continue
                err = InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno)
            if on_malformed is None:
                raise err
            on_malformed(err)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)]


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


class JsonlAppender:
    """Append-only JSONL writer: one whole line per record, flushed and fsynced in batches.

    On open it drops a partial last line left by a killed run, so a rerun resumes cleanly.
    """

    def __init__(self, path: str | os.PathLike, *, fsync_every: int = 1):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        truncate_partial_tail(self.path)
        self._fh = self.path.open("a", encoding="utf-8")
        self._fsync_every = max(1, fsync_every)
        self._n = 0

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._fh.flush()
        self._n += 1
        if self._n % self._fsync_every == 0:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def truncate_partial_tail(path: str | os.PathLike) -> int:
    """Cut a trailing line that lacks its newline (a write interrupted by a kill). Returns bytes cut."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # Walk back to the last newline.
        pos = size - 1
        chunk = 4096
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            buf = fh.read(pos - start)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                cut = start + idx + 1
                fh.truncate(cut)
                return size - cut
            pos = start
        fh.truncate(0)
        return size


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (temp file + rename), so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
