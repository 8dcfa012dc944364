"""Small files in the shapes benchmarks ship in, made here (no download): PNG bytes, JSONL, parquet
with embedded images (a file, or a Hub download folder of shards), VLMEvalKit TSV with base64 images,
and `datasets` folders written by save_to_disk."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path


def png(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def image_cell(color=(200, 30, 30), name="x.png") -> dict:
    return {"bytes": png(color), "path": name}


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_shards(folder: Path, split_rows: dict[str, list[list[dict]]]) -> Path:
    """A Hub download: folder/data/SPLIT-0000i-of-0000n.parquet for each split's shards."""
    for split, shards in split_rows.items():
        for i, rows in enumerate(shards):
            write_parquet(folder / "data" / f"{split}-{i:05d}-of-{len(shards):05d}.parquet", rows)
    (folder / "README.md").write_text("dataset card\n")
    return folder


def write_tsv(path: Path, header: list[str], rows: list[dict]) -> Path:
    """VLMEvalKit's TSV: `image` cells are base64 (bytes given here are encoded), empty cells for None."""
    lines = ["\t".join(header)]
    for row in rows:
        cells = []
        for h in header:
            v = row.get(h)
            if isinstance(v, bytes):
                v = base64.b64encode(v).decode("ascii")
            cells.append("" if v is None else str(v))
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_dataset(path: Path, splits: dict[str, list[dict]], image_columns=("image",)) -> Path:
    """A `DatasetDict.save_to_disk` folder, image columns as `datasets.Image()` features."""
    import datasets

    out = {}
    for split, rows in splits.items():
        ds = datasets.Dataset.from_list(rows)
        for col in image_columns:
            if col in ds.column_names:
                ds = ds.cast_column(col, datasets.Image())
        out[split] = ds
    datasets.DatasetDict(out).save_to_disk(str(path))
    return path
