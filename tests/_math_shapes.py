"""Files in the shapes the math benchmarks ship in, made locally for tests/benchmarks/test_math*.py and
friends: Hub parquet with embedded images, `datasets` folders, VLMEvalKit TSVs with base64 images."""

from __future__ import annotations

import base64
import io
import json


def png(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, format="PNG")
    return buf.getvalue()


def image(color=(200, 30, 30), path="x.png") -> dict:
    """A Hub image cell: {"bytes", "path"}."""
    return {"bytes": png(color), "path": path}


def parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def dataset_folder(path, rows, image_columns=("image",)):
    """`datasets.Dataset.save_to_disk` of `rows`, the named columns cast to Image features."""
    import datasets

    ds = datasets.Dataset.from_list(rows)
    for name in image_columns:
        if name in ds.column_names:
            ds = ds.cast_column(name, datasets.Image())
    ds.save_to_disk(str(path))
    return path


def tsv(path, header, rows):
    """A VLMEvalKit TSV: `image` cells as base64 PNG (bytes are encoded here), empty cells for None."""
    def cell(name, v):
        if v is None:
            return ""
        if name == "image" and isinstance(v, bytes):
            return base64.b64encode(v).decode()
        return str(v)

    lines = ["\t".join(header)]
    for r in rows:
        lines.append("\t".join(_quote(cell(h, r.get(h))) for h in header))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _quote(s: str) -> str:
    """csv-style quoting for cells with newlines or quotes (as pandas' to_csv writes them)."""
    if any(c in s for c in '\n"\t'):
        return '"' + s.replace('"', '""') + '"'
    return s
