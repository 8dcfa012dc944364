"""Small files in the shapes benchmarks ship in, made locally for the tests (no download).

    png((200, 30, 30), size=16)                 # PNG bytes of a plain square
    image_cell(color, name="x.png")             # a Hub image cell: {"bytes", "path"}
    write_jsonl(path, rows)                     # JSON lines
    write_parquet(path, rows)                   # one parquet file (image cells embedded)
    write_shards(folder, {"test": [rows, rows]})  # a Hub download: folder/data/test-0000i-of-0000n.parquet
    write_tsv(path, header, rows)               # a VLMEvalKit TSV: bytes cells as base64, None as empty
    write_dataset(path, rows | {split: rows})   # `datasets` save_to_disk: a Dataset, or a DatasetDict

The benchmark-specific builders live next to their tests (tests/_judge_data.py: MM-Vet, LLaVA-Bench,
MMHal-Bench as they ship); tests/_math_shapes.py and tests/_qa_shapes.py keep the names their tests use.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path


def png(color=(200, 30, 30), size: int = 16) -> bytes:
    """PNG bytes of a `size` x `size` square of one RGB color."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), tuple(color)).save(buf, format="PNG")
    return buf.getvalue()


def image_cell(color=(200, 30, 30), name: str | None = "x.png", size: int = 16) -> dict:
    """A Hub image cell: {"bytes": PNG bytes, "path": name}."""
    return {"bytes": png(color, size), "path": name}


def write_jsonl(path: Path, rows) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows)), path)
    return path


def write_shards(folder: Path, split_rows: Mapping[str, Sequence[Sequence[dict]]]) -> Path:
    """A Hub download: folder/data/SPLIT-0000i-of-0000n.parquet for each split's shards, and a card."""
    folder = Path(folder)
    for split, shards in split_rows.items():
        for i, rows in enumerate(shards):
            write_parquet(folder / "data" / f"{split}-{i:05d}-of-{len(shards):05d}.parquet", rows)
    (folder / "README.md").write_text("dataset card\n")
    return folder


def write_tsv(path: Path, header: Sequence[str], rows: Sequence[Mapping | Sequence]) -> Path:
    """A VLMEvalKit TSV. Rows are dicts (by header name) or lists (in header order); bytes cells are
    written as base64, None as an empty cell, and a cell holding a tab, newline or quote is quoted as
    pandas' to_csv quotes it."""
    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bytes):
            return base64.b64encode(v).decode("ascii")
        return _quote(str(v))

    lines = ["\t".join(header)]
    for row in rows:
        values = [row.get(h) for h in header] if isinstance(row, Mapping) else list(row)
        lines.append("\t".join(cell(v) for v in values))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _quote(s: str) -> str:
    if any(c in s for c in '\n"\t'):
        return '"' + s.replace('"', '""') + '"'
    return s


def write_dataset(path: Path, rows: Sequence[dict] | Mapping[str, Sequence[dict]],
                  image_columns: Sequence[str] = ("image",)) -> Path:
    """`save_to_disk` of a `datasets.Dataset` (rows: a list) or a `DatasetDict` (rows: {split: list}),
    the named columns cast to `datasets.Image()` features."""
    import datasets

    def one(split_rows):
        ds = datasets.Dataset.from_list(list(split_rows))
        for col in image_columns:
            if col in ds.column_names:
                ds = ds.cast_column(col, datasets.Image())
        return ds

    if isinstance(rows, Mapping):
        datasets.DatasetDict({split: one(r) for split, r in rows.items()}).save_to_disk(str(path))
    else:
        one(rows).save_to_disk(str(path))
    return Path(path)
