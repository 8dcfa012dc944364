"""Open a record's image as RGB, with errors that name the record's file and line and the image path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmpo.errors import InputError


def load_image(path: str | os.PathLike, *, source: str | os.PathLike | None = None, line: int | None = None,
               field: str = "image", record: int | None = None) -> Any:
    """The image at `path`, decoded now (not lazily) and converted to RGB.

    `source`/`line`: the data file and line that referenced the image, named in any error.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    where = dict(path=source if source is not None else path, line=line, record=record, field=field)
    if not path.is_file():
        raise InputError(f"image {path} does not exist" if not path.exists() else f"image {path} is not a file",
                         **where)
    try:
        with Image.open(path) as img:
            img.load()  # decode now, so a truncated file fails here and not inside a batch
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"image {path} cannot be read ({type(exc).__name__}: {exc})", **where) from None


def open_image(ref: Any, *, source: str | os.PathLike | None = None, line: int | None = None,
               field: str = "image", record: int | None = None) -> Any:
    """An RGB image from a reference as the readers keep it: a file path, a `{"bytes", "path"}` dict
    (Hugging Face `Image` features), or an already decoded PIL image."""
    if isinstance(ref, str | os.PathLike):
        return load_image(ref, source=source, line=line, field=field, record=record)
    if isinstance(ref, dict):
        if ref.get("bytes"):
            import io

            from PIL import Image

            try:
                return Image.open(io.BytesIO(ref["bytes"])).convert("RGB")
            except OSError as exc:
                raise InputError(f"image bytes cannot be read ({exc})", path=source, line=line, record=record,
                                 field=field) from None
        return load_image(ref["path"], source=source, line=line, field=field, record=record)
    return ref.convert("RGB")


def load_record_images(records: Sequence[dict[str, Any]]) -> list[Any]:
    """The image of each record (None for a text-only one), errors naming the record's file and line."""
    return [None if rec.get("image_ref", rec.get("image_path")) is None else
            open_image(rec.get("image_ref", rec.get("image_path")), source=rec.get("_source"),
                       **(rec.get("_where") or {"line": rec.get("_line")}))
            for rec in records]
