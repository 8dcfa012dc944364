"""Preference pairs in: the MMPR layout, TRL's preference format, and single JSONL files.

    pairs = load_pairs("pairs/meta.json", seed=0)   # or pairs.jsonl, or a `datasets` folder
    pairs.pairs[0].messages, pairs.pairs[0].chosen, pairs.stats

Formats (docs/formats.md):
- MMPR: `meta.json` maps a subset name to `{root, annotation, data_augment, repeat_time, length}`;
  each annotation JSONL line is `{image, question, chosen, rejected[, answer_gt]}`. `<image>` in
  the question marks where the image goes (else it comes first). Relative paths resolve against
  the folder of meta.json (then the current directory, as the MMPR release is laid out).
  `repeat_time` 2 repeats a subset twice; 0.5 keeps a seeded half.
- TRL: `{prompt, chosen, rejected, images}` (or `image`), strings or conversational messages.
- A single `.jsonl` file of either kind (relative image paths resolve against its folder).

Bad records raise `InputError` naming file, line and field; with `on_error="skip"` they are
counted in `stats` instead. Images are checked to exist here and opened only when a batch is
built (`mmpo.train.collate`).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.data.files import iter_jsonl
from mmpo.errors import ON_ERROR, InputError

IMAGE_MARKER = "<image>"


@dataclass
class Pair:
    """One preference pair. `messages` are the prompt turns with `{"type": "image"}` parts (no payload);
    `images` fill those parts in order: file paths, `{"bytes", "path"}` dicts or PIL images."""

    messages: list[dict[str, Any]]
    chosen: str
    rejected: str
    images: tuple[Any, ...] = ()
    source: str | None = None
    line: int | None = None
    subset: str | None = None
    answer_gt: Any = None   # the MMPR line's gold answer, when it has one (shown by `mmpo inspect`)


@dataclass
class PairSet:
    pairs: list[Pair]
    stats: Counter = field(default_factory=Counter)
    skipped: list[dict[str, Any]] = field(default_factory=list)   # {file, line, field, reason} per skip


# ---- reading ---------------------------------------------------------------------------------------

def load_pairs(path: str | os.PathLike, *, seed: int = 0, on_error: str = "raise", repeat: bool = True) -> PairSet:
    """Read pairs from an MMPR meta.json (or its folder), a JSONL file, or a `datasets` folder.

    `repeat=False` reads each MMPR line once, as the files hold it, ignoring `repeat_time`."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    path = Path(path)
    if path.is_dir():
        if (path / "meta.json").is_file():
            return _load_mmpr(path / "meta.json", seed, on_error, repeat)
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return _load_hf_dataset(path, on_error)
        raise InputError("a folder of pairs needs a meta.json (MMPR layout) or a saved `datasets` dataset", path=path)
    if not path.exists():
        raise InputError("file does not exist", path=path)
    if path.suffix == ".json":
        return _load_mmpr(path, seed, on_error, repeat)
    out = PairSet([])
    _read_jsonl(path, path.parent, out, on_error, subset=None)
    return out


def _load_mmpr(meta_path: Path, seed: int, on_error: str, repeat_lines: bool = True) -> PairSet:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=meta_path, line=exc.lineno) from None
    if not isinstance(meta, dict) or not meta:
        raise InputError("expected an object mapping subset names to {root, annotation, ...}", path=meta_path)
    out = PairSet([])
    for name, spec in meta.items():
        if not isinstance(spec, dict):
            raise InputError(f"subset {name!r}: expected an object", path=meta_path, field=name)
        for key in ("annotation",):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise InputError(f"subset {name!r}: missing or not a string", path=meta_path, field=key)
        repeat = spec.get("repeat_time", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int | float) or not math.isfinite(repeat) or repeat < 0:
            raise InputError(f"subset {name!r}: must be a number >= 0, got {repeat!r}", path=meta_path,
                             field="repeat_time")
        annotation = _resolve(spec["annotation"], meta_path.parent)
        root = _resolve(spec.get("root") or "", meta_path.parent) if spec.get("root") else annotation.parent
        subset = PairSet([])
        _read_jsonl(annotation, root, subset, on_error, subset=name)
        out.stats.update(subset.stats)
        out.skipped += subset.skipped
        out.pairs.extend(_repeat(subset.pairs, float(repeat), random.Random(f"{seed}:{name}"))
                         if repeat_lines else subset.pairs)
    return out


def _resolve(p: str, base: Path) -> Path:
    path = Path(p)
    if path.is_absolute():
        return path
    # MMPR's own meta.json names paths relative to the folder above the release; try meta's folder first.
    return base / path if (base / path).exists() or not path.exists() else path


def _repeat(pairs: list[Pair], repeat: float, rng: random.Random) -> list[Pair]:
    whole = int(repeat)
    out = pairs * whole
    extra = int(round((repeat - whole) * len(pairs)))
    if extra:
        out += rng.sample(pairs, extra)
    return out


def _read_jsonl(path: Path, image_root: Path, out: PairSet, on_error: str, subset: str | None) -> None:
    def skip(exc: InputError) -> None:
        if on_error == "raise":
            raise exc
        out.stats["skipped_bad_record"] += 1
        out.skipped.append({"file": exc.path, "line": exc.line, "field": exc.field, "reason": exc.reason})

    for lineno, obj in iter_jsonl(path, on_malformed=skip, missing="annotation file does not exist"):
        try:
            out.pairs.append(parse_pair(obj, source=path, line=lineno, image_root=image_root, subset=subset))
        except InputError as exc:
            skip(exc)


def _load_hf_dataset(path: Path, on_error: str) -> PairSet:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise InputError(f"a DatasetDict without a 'train' split (splits: {list(ds)})", path=path)
        ds = ds["train"]
    for col in ("images", "image"):
        # Keep images encoded: they are decoded when their batch is built, not all at once here.
        if col in ds.column_names and isinstance(ds.features[col], datasets.Image):
            ds = ds.cast_column(col, datasets.Image(decode=False))
        elif col in ds.column_names and isinstance(getattr(ds.features[col], "feature", None), datasets.Image):
            ds = ds.cast_column(col, datasets.Sequence(datasets.Image(decode=False)))
    out = PairSet([])
    for i, row in enumerate(ds):
        try:
            out.pairs.append(parse_pair(row, source=path, line=i + 1, image_root=path))
        except InputError as exc:
            if on_error == "raise":
                raise
            out.stats["skipped_bad_record"] += 1
            out.skipped.append({"file": exc.path, "line": exc.line, "field": exc.field, "reason": exc.reason})
    return out


def _text(value: Any, *, where: dict, name: str) -> str:
    """A completion as text: a string, or the text of assistant messages (TRL's conversational form)."""
    if isinstance(value, list):
        parts = []
        for msg in value:
            if not isinstance(msg, dict) or "content" not in msg:
                raise InputError("expected a string or a list of {role, content} messages", **where, field=name)
            content = msg["content"]
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            parts.append(str(content))
        value = "".join(parts)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", **where, field=name)
    if not value.strip():
        raise InputError("is empty", **where, field=name)
    return value


def _image_refs(obj: dict, where: dict, image_root: Path) -> tuple[Any, ...]:
    name = "images" if "images" in obj else "image"
    value = obj.get(name)
    if value is None or value == []:
        return ()
    items = value if isinstance(value, list) else [value]
    refs = []
    for item in items:
        if isinstance(item, str):
            if not item:
                raise InputError("empty image path", **where, field=name)
            path = Path(item) if os.path.isabs(item) else image_root / item
            if not path.is_file():
                raise InputError(f"image {path} does not exist", **where, field=name)
            refs.append(str(path))
        elif isinstance(item, dict) and (item.get("bytes") or item.get("path")):
            if not item.get("bytes"):
                path = Path(item["path"]) if os.path.isabs(item["path"]) else image_root / item["path"]
                if not path.is_file():
                    raise InputError(f"image {path} does not exist", **where, field=name)
            refs.append(item)
        elif hasattr(item, "convert"):  # an already decoded PIL image
            refs.append(item)
        else:
            raise InputError(f"expected an image path, got {type(item).__name__}", **where, field=name)
    return tuple(refs)


def _question_messages(question: str, n_images: int, where: dict, name: str) -> list[dict[str, Any]]:
    pieces = question.split(IMAGE_MARKER)
    markers = len(pieces) - 1
    content: list[dict[str, Any]] = []
    if markers == 0:
        content = [{"type": "image"} for _ in range(n_images)]
        content.append({"type": "text", "text": question})  # as the model saw it when sampling
    elif markers == n_images:
        for i, piece in enumerate(pieces):
            # MMPR writes "<image>\n<question>": the newline belongs to the marker, not the question.
            piece = piece.strip("\n") if i else piece.rstrip("\n")
            if piece:
                content.append({"type": "text", "text": piece})
            if i < markers:
                content.append({"type": "image"})
    else:
        raise InputError(f"has {markers} {IMAGE_MARKER} marker(s) but the record has {n_images} image(s)",
                         **where, field=name)
    return [{"role": "user", "content": content}]


def _prompt_messages(prompt: list, n_images: int, where: dict) -> list[dict[str, Any]]:
    """TRL conversational prompt: images go into `{"type": "image"}` parts, or before the first user text."""
    msgs, placed, placeholders = [], False, 0
    for msg in prompt:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            raise InputError("expected messages with role system, user or assistant", **where, field="prompt")
        content = msg.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
            if msg["role"] == "user" and not placed:
                parts = [{"type": "image"} for _ in range(n_images)] + parts
                placed = True
                placeholders += n_images
            content = parts
        elif isinstance(content, list):
            content = [dict(p) for p in content]
            placeholders += sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image")
            placed = placed or any(isinstance(p, dict) and p.get("type") == "image" for p in content)
        else:
            raise InputError("message content must be a string or a list of parts", **where, field="prompt")
        msgs.append({"role": msg["role"], "content": content})
    if not msgs or placeholders != n_images:
        raise InputError(f"{placeholders} image placeholder(s) for {n_images} image(s)", **where, field="prompt")
    return msgs


def parse_pair(obj: Any, *, source=None, line: int | None = None, image_root: Path | None = None,
               subset: str | None = None) -> Pair:
    """Validate one record (MMPR line or TRL row) and return a `Pair`; images are checked, not opened."""
    where = {"path": source, "line": line}
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", **where)
    for name in ("chosen", "rejected"):
        if name not in obj:
            raise InputError("missing required field", **where, field=name)
    chosen = _text(obj["chosen"], where=where, name="chosen")
    rejected = _text(obj["rejected"], where=where, name="rejected")
    images = _image_refs(obj, where, image_root or Path("."))
    if "question" in obj:
        if not isinstance(obj["question"], str) or not obj["question"].strip():
            raise InputError("missing or empty", **where, field="question")
        messages = _question_messages(obj["question"], len(images), where, "question")
    elif "prompt" in obj:
        prompt = obj["prompt"]
        if isinstance(prompt, str):
            if not prompt.strip():
                raise InputError("is empty", **where, field="prompt")
            messages = _question_messages(prompt, len(images), where, "prompt")
        elif isinstance(prompt, list):
            messages = _prompt_messages(prompt, len(images), where)
        else:
            raise InputError(f"expected a string or messages, got {type(prompt).__name__}", **where, field="prompt")
    else:
        raise InputError("missing required field (MMPR: question; TRL: prompt)", **where, field="question")
    return Pair(messages, chosen, rejected, images, None if source is None else str(source), line, subset,
                obj.get("answer_gt"))
