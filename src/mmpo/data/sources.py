"""Rows from any container a data set ships in: JSONL, JSON (a list, or a dict keyed by id; or JSON
lines in a file named .json, as POPE ships its questions), parquet files, `datasets` folders written
by `save_to_disk`, and VLMEvalKit's TSV (base64 images).

    for where, row in iter_rows("testmini.parquet"):   # where: {"path", "line"} or {"path", "record"}
        ...

Parquet and Arrow are how the Hub serves data (MathVista, M3CoT, TRL's vision sets): image columns
come as `{"bytes", "path"}` dicts, kept encoded here and decoded only when an image is opened
(`mmpo.data.images.open_image`). `where` names the row in errors: the 1-based line of a text file,
or the 0-based record index of a list, a parquet file or a dataset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mmpo.data.files import iter_jsonl, parse_json
from mmpo.errors import InputError

# Folder markers of `datasets.Dataset.save_to_disk` (one split) and `DatasetDict.save_to_disk` (several).
DATASET_MARKERS = ("dataset_info.json", "state.json")
DATASET_DICT_MARKER = "dataset_dict.json"


def is_dataset_folder(path: Path) -> bool:
    return path.is_dir() and (any((path / m).is_file() for m in DATASET_MARKERS)
                              or (path / DATASET_DICT_MARKER).is_file())


def dataset_splits(path: Path) -> list[str] | None:
    """The split names of a saved DatasetDict folder, or None for anything else."""
    marker = Path(path) / DATASET_DICT_MARKER
    if not marker.is_file():
        return None
    try:
        return list(json.loads(marker.read_text(encoding="utf-8")).get("splits", []))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None


def iter_rows(path: str | os.PathLike, *, on_malformed: Callable[[InputError], None] | None = None,
              missing: str = "file does not exist", split: str | None = None) -> Iterator[tuple[dict, Any]]:
    """(where, row) for every row of the file or folder at `path`.

    `on_malformed`: for text files, a line that is not a JSON object goes there instead of raising.
    `split`: the split to read from a DatasetDict folder (default: the only one, or an error listing them).
    """
    path = Path(path)
    if path.is_dir():
        if is_dataset_folder(path):
            yield from _dataset_rows(path, split)
            return
        raise InputError("a folder of data needs to be a saved `datasets` dataset (dataset_info.json or "
                         "dataset_dict.json in it)", path=path)
    if not path.is_file():
        raise InputError(missing, path=path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix == ".tsv":
        yield from _tsv_rows(path)
    else:
        for line, obj in iter_jsonl(path, on_malformed=on_malformed, missing=missing):
            yield {"path": path, "line": line}, obj


def _json_rows(path: Path) -> Iterator[tuple[dict, Any]]:
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", path=path) from None
    try:
        data = parse_json(text, path=path)
    except InputError as exc:
        # Not one document: JSON lines in a file named .json (POPE's own coco_pope_*.json)?
        for line, obj in _json_lines(text, path, exc):
            yield {"path": path, "line": line}, obj
        return
    if isinstance(data, dict):
        # MathVista's testmini.json: {pid: record}; the key is the pid when the record has none.
        for i, (key, rec) in enumerate(data.items()):
            if isinstance(rec, dict):
                rec = {"pid": key, **rec}
            yield {"path": path, "record": i}, rec
    elif isinstance(data, list):
        for i, rec in enumerate(data):
            yield {"path": path, "record": i}, rec
    else:
        raise InputError(f"expected a list or a dict of records, got {type(data).__name__}", path=path)


def _json_lines(text: str, path: Path, not_a_document: InputError) -> list[tuple[int, dict]]:
    """The rows of a .json file that is JSON lines: every non-empty line a JSON object, numbered as in a
    .jsonl (1-based, split on newlines). All lines are checked before any row is given: a file that is
    neither one document nor JSON lines is an InputError naming the first line that is not an object;
    its `line` is that line when the file starts as JSON lines, else the document's error line (a
    pretty-printed document broken further down)."""
    rows: list[tuple[int, dict]] = []
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = parse_json(raw, path=path, line=n)
        except InputError as exc:
            why = exc.reason
        else:
            if isinstance(obj, dict):
                rows.append((n, obj))
                continue
            why = f"expected a JSON object, got {type(obj).__name__}"
        raise InputError(f"neither one JSON document ({not_a_document.reason}) nor JSON lines (line {n}: {why})",
                         path=path, line=n if rows else not_a_document.line)
    if not rows:  # only whitespace: the document error ("Expecting value")
        raise not_a_document
    return rows


def _tsv_rows(path: Path) -> Iterator[tuple[dict, Any]]:
    """VLMEvalKit's benchmark TSVs: a header line, one question per line (1-based `line`, counting the
    header as line 1), empty cells as None. `image` holds base64 image bytes (or a list of them written
    as a Python/JSON list), or the `index` of an earlier row whose image it shares (VLMEvalKit stores a
    repeated image once); each becomes a `{"bytes", "path"}` dict, as Hub image columns are kept."""
    import csv

    csv.field_size_limit(1 << 31)  # one cell holds a whole base64 image
    by_index: dict[str, Any] = {}
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader, None)
            if not header:
                raise InputError("empty TSV file (no header line)", path=path)
            header = [h.strip() for h in header]
            for n, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise InputError(f"{len(cells)} cells for {len(header)} columns", path=path, line=n)
                row = {h: (c if c != "" else None) for h, c in zip(header, cells)}
                if row.get("image") is not None:
                    row["image"] = _tsv_image(row["image"], by_index, path, n)
                if row.get("index") is not None:
                    by_index[str(row["index"])] = row.get("image")
                yield {"path": path, "line": n}, row
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", path=path) from None
    except csv.Error as exc:
        raise InputError(f"not a readable TSV file ({exc})", path=path) from None


def _tsv_image(cell: str, by_index: dict[str, Any], path: Path, line: int) -> Any:
    import base64
    import binascii

    text = cell.strip()
    if len(text) <= 64 and text in by_index:  # a reference to an earlier row's image
        return by_index[text]
    if text.startswith("["):
        items = [s.strip().strip("'\"") for s in text[1:-1].split(",") if s.strip()]
        return [_tsv_image(s, by_index, path, line) for s in items]
    try:
        return {"bytes": base64.b64decode(text, validate=True), "path": None}
    except (binascii.Error, ValueError):
        raise InputError("neither base64 image bytes nor the index of an earlier row", path=path, line=line,
                         field="image") from None


def _parquet_rows(path: Path, batch_size: int = 256) -> Iterator[tuple[dict, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable parquet file ({exc})", path=path) from None
    i = 0
    for batch in source.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            yield {"path": path, "record": i}, row
            i += 1


def _dataset_rows(path: Path, split: str | None) -> Iterator[tuple[dict, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"cannot read this `datasets` folder ({exc})", path=path) from None
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        chosen = split if split is not None else (names[0] if len(names) == 1 else None)
        if chosen not in ds:
            raise InputError(f"a DatasetDict with splits {names}: point at one of them "
                             f"({path / (names[0] if names else 'SPLIT')}) or choose a split", path=path)
        ds, path = ds[chosen], path / chosen
    # Image features stay encoded ({"bytes", "path"}): decoded when their batch needs them.
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            ds = ds.cast_column(name, datasets.Image(decode=False))
        elif isinstance(getattr(feature, "feature", None), datasets.Image):
            ds = ds.cast_column(name, datasets.Sequence(datasets.Image(decode=False)))
        elif isinstance(feature, list) and feature and isinstance(feature[0], datasets.Image):
            ds = ds.cast_column(name, [datasets.Image(decode=False)])
    for i, row in enumerate(ds):
        yield {"path": path, "record": i}, row
