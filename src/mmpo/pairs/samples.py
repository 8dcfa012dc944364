"""Reading `mmpo sample` output: one JSON line per prompt, validated field by field.

    for path, line, sample in iter_samples(["samples.jsonl"], on_error="skip", skips=skips): ...

The line layout and its check are `mmpo.data.layout`'s (`sample_line`, `validate_sample`; docs/formats.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mmpo.data.files import iter_jsonl
from mmpo.data.layout import validate_sample
from mmpo.errors import InputError

__all__ = ["iter_samples", "validate_sample"]


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
