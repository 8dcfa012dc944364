"""Opening images as RGB, as an image viewer shows them, with errors that name the record's file and
line and the image. The one loader of every stage that gives images to a model (sampling,
evaluation, training, the demo): nothing else decodes image files or embedded bytes.

    image = load_image("photo.jpg")                           # a file
    image = open_image(ref, source="pairs.jsonl", line=3)     # a path, {"bytes", "path"}, or PIL image
    check_image(ref, source="pairs.jsonl", line=3)            # header only: cheap, before any model loads

As a viewer shows it:
- the EXIF orientation is applied (a phone photo stored sideways with Orientation 6 comes out
  upright), and the tag is dropped from the result so that nothing rotates it twice; an EXIF block
  that cannot be read leaves the image as stored, as viewers do;
- transparency is composited onto white (RGBA, LA, PA, premultiplied modes, and palette or grey/RGB
  images with a transparent colour): a chart of black marks on a transparent background stays black
  on white, where a plain conversion to RGB made it all black;
- high bit-depth images (16-bit PNGs, 32-bit integer and float modes) are scaled to 8 bits by their
  value range, not clipped.

Every failure is an `InputError` (never PIL's own exception): unreadable or truncated files, files
that are not images, and images over `MAX_PIXELS` (a decompression bomb: a small file that
decodes to gigabytes).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmpo.errors import InputError

# Pixels above which an image is refused: PIL's own warning threshold (about 89 million pixels),
# far above any vision-language model's input and below what fills memory.
MAX_PIXELS = 89_478_485
BACKGROUND = (255, 255, 255)  # what transparent pixels are shown on
_EXIF_ORIENTATION = 0x0112
_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def open_image(ref: Any, *, source: str | os.PathLike | None = None, line: int | None = None,
               field: str = "image", record: int | None = None) -> Any:
    """An RGB image, as a viewer shows it, from a reference as the readers keep it: a file path, a
    `{"bytes", "path"}` dict (Hugging Face `Image` features), or an already decoded PIL image (left
    unchanged; a new image is returned); decoded now, not lazily."""
    where = dict(line=line, record=record, field=field)
    if isinstance(ref, str | os.PathLike):
        return _decode(_file(ref, source, where), ref, source, where)
    if isinstance(ref, dict):
        if ref.get("bytes"):
            return _decode(io.BytesIO(ref["bytes"]), "embedded image bytes", source, where)
        return _decode(_file(ref["path"], source, where), ref["path"], source, where)
    return _to_rgb(_upright(ref))


def load_image(path: str | os.PathLike, *, source: str | os.PathLike | None = None, line: int | None = None,
               field: str = "image", record: int | None = None) -> Any:
    """The image file at `path` as RGB, as a viewer shows it (`open_image` for a path)."""
    return open_image(str(path), source=source, line=line, field=field, record=record)


def check_image(ref: Any, *, source: str | os.PathLike | None = None, line: int | None = None,
                field: str = "image", record: int | None = None) -> None:
    """Read the header only (format, size): refuse what is not an image or is too large, cheaply."""
    from PIL import Image, UnidentifiedImageError

    if hasattr(ref, "convert"):
        return
    name, where = _name(ref), dict(line=line, record=record, field=field)
    data = _file(ref, source, where) if isinstance(ref, str | os.PathLike) else (
        io.BytesIO(ref["bytes"]) if ref.get("bytes") else _file(ref["path"], source, where))
    try:
        with Image.open(data) as img:
            _check_size(img.size, name, source, where)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _unreadable(name, exc, source, where) from None


def load_record_images(records: Sequence[dict[str, Any]]) -> list[Any]:
    """The image of each record (None for a text-only one), errors naming the record's file and line."""
    return [None if rec.get("image_ref", rec.get("image_path")) is None else
            open_image(rec.get("image_ref", rec.get("image_path")), source=rec.get("_source"),
                       **(rec.get("_where") or {"line": rec.get("_line")}))
            for rec in records]


def _file(path: str | os.PathLike, source=None, where: dict | None = None) -> str:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image {p} does not exist", path=source or str(p), **(where or {}))
    return str(p)


def _name(ref: Any) -> str:
    if isinstance(ref, str | os.PathLike):
        return str(ref)
    return "embedded image bytes" if ref.get("bytes") else str(ref.get("path"))


def _decode(data: Any, name: Any, source, where: dict) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(data) as img:
            _check_size(img.size, str(name), source, where)
            img.load()  # decode now, so a truncated file fails here and not inside a batch
            return _to_rgb(_upright(img))
    except InputError:
        raise
    except FileNotFoundError as exc:
        raise InputError(f"image {exc.args[0]} does not exist", path=source or name, **where) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _unreadable(str(name), exc, source, where) from None


def _check_size(size: tuple[int, int], name: str, source, where: dict) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise InputError(f"image {name} is {w}x{h} pixels ({w * h / 1e6:.0f} Mpx), over the {MAX_PIXELS / 1e6:.0f} Mpx "
                         "limit (a decompression bomb, or an image to downscale first)", path=source or name, **where)


def _unreadable(name: str, exc: Exception, source, where: dict) -> InputError:
    from PIL import Image

    if isinstance(exc, Image.DecompressionBombError):
        return InputError(f"image {name} is over the {MAX_PIXELS / 1e6:.0f} Mpx limit (a decompression bomb, or an "
                          f"image to downscale first): {exc}", path=source or name, **where)
    if isinstance(exc, FileNotFoundError):
        return InputError(f"image {exc.args[0]} does not exist", path=source or name, **where)
    return InputError(f"image {name} cannot be read ({type(exc).__name__}: {exc})", path=source or name, **where)


def _upright(img: Any) -> Any:
    """The image turned as its EXIF orientation says (the same image when there is nothing to turn)."""
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        if not isinstance(orientation, int) or not 2 <= orientation <= 8:
            return img
        return ImageOps.exif_transpose(img)
    except Exception:  # an EXIF block PIL cannot parse: shown as stored, as viewers do
        return img


def _has_transparency(img: Any) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _to_rgb(img: Any) -> Any:
    """RGB: transparency composited onto white; high bit-depth modes scaled by their range (PIL's own
    convert clips them to 255)."""
    if img.mode in _HIGH_DEPTH:
        import numpy as np
        from PIL import Image

        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or (img.mode == "I" and arr.max(initial=0) <= 65535) \
            else max(float(arr.max(initial=0)), 1.0)
        if img.mode == "F":
            low, high = float(arr.min(initial=0)), float(arr.max(initial=1))
            arr, top = arr - low, max(high - low, 1e-12)
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if _has_transparency(img):
        from PIL import Image

        rgba = img.convert("RGBA")  # palette and colour-key transparency become an alpha channel
        out = Image.new("RGB", rgba.size, BACKGROUND)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")


def image_size(ref: Any) -> tuple[int, int] | None:
    """(width, height) of a reference from its header, as a viewer shows it (EXIF rotations swap the
    two); None when the header cannot be read (the loader reports that, naming the record)."""
    from PIL import Image

    if hasattr(ref, "size"):
        return tuple(ref.size)
    try:
        data = io.BytesIO(ref["bytes"]) if isinstance(ref, dict) and ref.get("bytes") else (
            ref["path"] if isinstance(ref, dict) else ref)
        with Image.open(data) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1)  # 5-8: rotated by 90 or 270 degrees
    except Exception:  # noqa: BLE001  (any unreadable header: the loader names it)
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
