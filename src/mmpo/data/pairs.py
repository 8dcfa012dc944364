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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    record: int | None = None  # 0-based row of a parquet file or dataset (text files: `line`)
    answer_gt: Any = None      # the MMPR line's gold answer, when it has one (shown by `mmpo inspect`)


@dataclass
class PairSet:
    pairs: list[Pair]
    stats: Counter = field(default_factory=Counter)
    skipped: list[dict[str, Any]] = field(default_factory=list)   # {file, line, record, field, reason} per skip


# ---- reading ---------------------------------------------------------------------------------------

def load_pairs(path: str | os.PathLike, *, seed: int = 0, on_error: str = "raise",
               path_map: Sequence[str] | None = None, repeat: bool = True) -> PairSet:
    """Read pairs from an MMPR meta.json (or its folder), a JSONL or parquet file, or a `datasets` folder.

    `path_map`: "OLD=NEW" prefix replacements for the paths a meta.json names (the released MMPR
    meta.json names the authors' cluster paths; map them onto a local copy). `repeat=False` reads
    each MMPR line once, as the files hold it, ignoring `repeat_time`.
    """
    from mmpo.data.sources import is_dataset_folder

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    mapping = parse_path_map(path_map)
    path = Path(path)
    if path.is_dir():
        if (path / "meta.json").is_file():
            return _load_mmpr(path / "meta.json", seed, on_error, mapping, repeat)
        if is_dataset_folder(path):
            out = PairSet([])
            _read_rows(path, path, out, on_error, subset=None)
            return out
        raise InputError("a folder of pairs needs a meta.json (MMPR layout) or a saved `datasets` dataset", path=path)
    if not path.exists():
        raise InputError("file does not exist", path=path)
    if path.suffix == ".json":
        return _load_mmpr(path, seed, on_error, mapping, repeat)
    out = PairSet([])
    _read_rows(path, path.parent, out, on_error, subset=None)
    return out


def parse_path_map(items: Sequence[str] | None) -> list[tuple[str, str]]:
    """["OLD=NEW", ...] -> [(OLD, NEW), ...], longest OLD first; a malformed item is an error naming it."""
    out = []
    for item in items or ():
        old, sep, new = str(item).partition("=")
        if not sep or not old:
            raise InputError(f"expected OLD=NEW, got {item!r}", field="path_map")
        out.append((old, new))
    return sorted(out, key=lambda kv: -len(kv[0]))


def _candidates(raw: str, meta_dir: Path, mapping: list[tuple[str, str]]) -> list[Path]:
    """Where a path named in a meta.json may be, in the order they are tried."""
    mapped = next((new + raw[len(old):] for old, new in mapping if raw.startswith(old)), raw)
    path = Path(mapped)
    if path.is_absolute():
        # mmpo pairs writes absolute paths and its annotations next to meta.json: a folder copied or
        # moved elsewhere reads its own files first, then the path as written.
        found = [meta_dir / path.name, path]
    else:
        # The authors' loader opens relative paths from the working directory; mmpo tries meta's folder first.
        found = [meta_dir / path, Path.cwd() / path]
    return list(dict.fromkeys(found))


def _load_mmpr(meta_path: Path, seed: int, on_error: str, mapping: list[tuple[str, str]],
               repeat_lines: bool = True) -> PairSet:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=meta_path, line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", path=meta_path) from None
    if not isinstance(meta, dict):
        raise InputError("expected an object mapping subset names to {root, annotation, ...}", path=meta_path)
    # {} is what `mmpo pairs` writes when sampling gave no pairs: an empty set (training refuses it).
    out = PairSet([])
    for name, spec in meta.items():
        if not isinstance(spec, dict):
            raise InputError(f"subset {name!r}: expected an object", path=meta_path, field=name)
        if not isinstance(spec.get("annotation"), str) or not spec["annotation"]:
            raise InputError(f"subset {name!r}: missing or not a string", path=meta_path, field="annotation")
        repeat = spec.get("repeat_time", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int | float) or not math.isfinite(repeat) or repeat < 0:
            raise InputError(f"subset {name!r}: must be a number >= 0, got {repeat!r}", path=meta_path,
                             field="repeat_time")
        tried = _candidates(spec["annotation"], meta_path.parent, mapping)
        annotation = next((p for p in tried if p.is_file()), None)
        if annotation is None:
            raise InputError(f"subset {name!r}: annotation file not found; tried {', '.join(map(str, tried))} "
                             "(map a moved prefix with path_map OLD=NEW)", path=meta_path, field="annotation")
        root_note = None
        if spec.get("root"):
            roots = _candidates(spec["root"], meta_path.parent, mapping)
            root = next((p for p in roots if p.is_dir()), roots[0])
            if not root.is_dir():
                root_note = (f"subset {name!r}: root not found; tried {', '.join(map(str, roots))} "
                             "(map a moved prefix with path_map OLD=NEW)")
        else:
            root = annotation.parent
        subset = PairSet([])
        _read_rows(annotation, root, subset, on_error, subset=name, root_note=root_note)
        out.stats.update(subset.stats)
        out.skipped += subset.skipped
        if not repeat_lines:
            out.pairs.extend(subset.pairs)
            continue
        if repeat > 1 and repeat != int(repeat):
            out.stats[f"repeat_time_fraction_ignored:{name}"] += 1
        out.pairs.extend(_repeat(subset.pairs, float(repeat)))
    return out


def _repeat(pairs: list[Pair], repeat: float) -> list[Pair]:
    """MMPR's rule, as the authors' loader applies it: below 1, the first int(n * repeat) lines;
    from 1 on, int(repeat) copies (a fraction above 1 is dropped; counted in the stats)."""
    if repeat < 1:
        return pairs[: int(len(pairs) * repeat)]
    return pairs * int(repeat)


def _read_rows(path: Path, image_root: Path, out: PairSet, on_error: str, subset: str | None,
               root_note: str | None = None) -> None:
    from mmpo.data.sources import dataset_splits, iter_rows

    def skip(exc: InputError) -> None:
        if on_error == "raise":
            raise exc
        out.stats["skipped_bad_record"] += 1
        out.skipped.append({"file": exc.path, "line": exc.line, "record": exc.record, "field": exc.field,
                            "reason": exc.reason})

    splits = dataset_splits(path)
    split = "train" if splits and "train" in splits else None  # preference data trains on its train split
    for where, obj in iter_rows(path, on_malformed=skip, missing="annotation file does not exist", split=split):
        try:
            pair = parse_pair(obj, source=where["path"], line=where.get("line"), record=where.get("record"),
                              image_root=image_root, subset=subset)
        except InputError as exc:
            if root_note and exc.field in ("image", "images"):
                exc = InputError(f"{exc.reason}; {root_note}", path=exc.path, line=exc.line, record=exc.record,
                                 field=exc.field)
            skip(exc)
            continue
        if pair.chosen == pair.rejected:
            # No preference in it (and a zero DPO gradient): left out, and counted.
            out.stats["skipped_identical_chosen_rejected"] += 1
            continue
        out.pairs.append(pair)


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
    if value is None or value == [] or value == "":
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
               subset: str | None = None, record: int | None = None) -> Pair:
    """Validate one record (MMPR line or TRL row) and return a `Pair`; images are checked, not opened.

    No image (`image` absent, null or "", `images` absent, null or []) is a text-only pair, as the
    authors' loader reads MMPR's text-only subsets.
    """
    where = {"path": source, "line": line, "record": record}
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
    return Pair(messages, chosen, rejected, images, None if source is None else str(source), line, subset, record,
                obj.get("answer_gt"))
