"""Reading `mmpo sample` output: one JSON line per prompt, validated field by field.

    for path, line, sample in iter_samples(["samples.jsonl"], on_error="skip", skips=skips): ...

The line layout is written by `mmpo.sample.run` (docs/formats.md). A field this reader does not know
is an error: a misspelt field would otherwise be ignored silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mmpo.answers import VERDICTS
from mmpo.data.files import iter_jsonl
from mmpo.errors import InputError

# Top-level fields of a samples line and their types.
_SAMPLE_FIELDS = {
    "pid": (str,), "prompt": (str,), "image": (str, type(None)), "question": (str,),
    "answer": (str, int, float, list, type(None)), "record": (dict,), "responses": (list,),
    "settings": (dict,), "truncated": (int,), "source": (str,),
}
_SAMPLE_REQUIRED = ("pid", "prompt", "image", "responses")
_RESPONSE_FIELDS = {
    "text": (str,), "extracted": (str, type(None)), "verdict": (str, type(None)),
    "truncated": (bool,), "ntp_prefix": (str,), "ntp_continuation": (str,), "ntp_truncated": (bool,),
}


def validate_sample(obj: Any, *, path=None, line: int | None = None) -> dict[str, Any]:
    """Check one samples line; raises InputError naming file, line and field."""
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=line)
    for name in obj:
        if name not in _SAMPLE_FIELDS:
            raise InputError("unknown field (not written by mmpo sample)", path=path, line=line, field=name)
    for name in _SAMPLE_REQUIRED:
        if name not in obj:
            raise InputError("missing required field", path=path, line=line, field=name)
    for name, value in obj.items():
        if not isinstance(value, _SAMPLE_FIELDS[name]):
            raise InputError(f"has type {type(value).__name__}", path=path, line=line, field=name)
    if not obj["responses"]:
        raise InputError("no responses", path=path, line=line, field="responses")
    for i, resp in enumerate(obj["responses"]):
        where = f"responses[{i}]"
        if not isinstance(resp, dict):
            raise InputError(f"expected an object, got {type(resp).__name__}", path=path, line=line, field=where)
        if "text" not in resp:
            raise InputError("missing required field", path=path, line=line, field=f"{where}.text")
        for name, value in resp.items():
            if name not in _RESPONSE_FIELDS:
                raise InputError("unknown field", path=path, line=line, field=f"{where}.{name}")
            if not isinstance(value, _RESPONSE_FIELDS[name]):
                raise InputError(f"has type {type(value).__name__}", path=path, line=line, field=f"{where}.{name}")
        if resp.get("verdict") not in (*VERDICTS, None):
            raise InputError(f"must be one of {VERDICTS} or null, got {resp['verdict']!r}",
                             path=path, line=line, field=f"{where}.verdict")
        if ("ntp_prefix" in resp) != ("ntp_continuation" in resp):
            raise InputError("ntp_prefix and ntp_continuation must come together",
                             path=path, line=line, field=f"{where}.ntp_prefix")
    if obj["image"] is not None and not os.path.isfile(obj["image"]):
        raise InputError(f"image file not found: {obj['image']}", path=path, line=line, field="image")
    return obj


def iter_samples(paths: Iterable[str | os.PathLike], *, on_error: str = "raise",
                 skips: list[dict[str, Any]] | None = None) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Yield (file, line, sample) over many samples files. With on_error="skip", a bad line is
    appended to `skips` as {file, line, reason} instead of raising; a duplicate pid likewise."""
    seen: dict[str, str] = {}

    def skip(exc: InputError) -> None:
        if on_error != "skip":
            raise exc
        if skips is not None:
            skips.append({"file": exc.path, "line": exc.line, "reason": exc.reason, "field": exc.field})

    for p in paths:
        path = Path(p)
        for lineno, obj in iter_jsonl(path, on_malformed=skip, missing="samples file does not exist"):
            try:
                sample = validate_sample(obj, path=path, line=lineno)
                if sample["pid"] in seen:
                    raise InputError(f"duplicate pid {sample['pid']!r} (first at {seen[sample['pid']]})",
                                     path=path, line=lineno, field="pid")
            except InputError as exc:
                skip(exc)
                continue
            seen[sample["pid"]] = f"{path}:{lineno}"
            yield path, lineno, sample
