"""The QA benchmarks' tests (ScienceQA, M3CoT, POPE, CRPE) under the names they use; the writers are
tests/_shapes.py's: PNG bytes, JSONL, parquet (a file or a Hub folder of shards), VLMEvalKit TSV with
base64 images, `datasets` folders."""

from __future__ import annotations

from _shapes import image_cell, png, write_dataset, write_jsonl, write_parquet, write_shards, write_tsv

__all__ = ["image_cell", "png", "write_dataset", "write_jsonl", "write_parquet", "write_shards", "write_tsv"]
