"""The math benchmarks' tests (tests/benchmarks/test_math*.py, test_olympiad.py) under the names they use;
the writers are tests/_shapes.py's: Hub parquet with embedded images, `datasets` folders, VLMEvalKit TSVs."""

from __future__ import annotations

from _shapes import image_cell, png, write_dataset, write_jsonl, write_parquet, write_tsv

parquet = write_parquet
jsonl = write_jsonl
tsv = write_tsv
dataset_folder = write_dataset


def image(color=(200, 30, 30), path="x.png") -> dict:
    """A Hub image cell: {"bytes", "path"}."""
    return image_cell(color, path)


__all__ = ["dataset_folder", "image", "jsonl", "parquet", "png", "tsv"]
