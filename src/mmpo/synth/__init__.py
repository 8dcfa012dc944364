"""The embedded visual-math benchmark: procedurally drawn images with exact answers, MathVista records.

    from mmpo.synth import generate, write_benchmark
    pairs = generate(100, seed=0, families=["digits"])      # [(record, PIL image), ...]
    path = write_benchmark("data", 2000, seed=0, split_name="test")

Families (`FAMILIES`): bars (bar charts), shapes (counting), arith (an expression drawn in digits),
triangle (angles, multiple choice) and digits (the demo's family: digits one per 16x16 cell).
Importing this package does not import PIL or numpy; drawing does.
"""

from mmpo.synth.benchmark import (
    DEFAULT_SIZE,
    corpus_texts,
    generate,
    generate_records,
    make_record,
    record_seed,
    render,
    write_benchmark,
)
from mmpo.synth.families import CELL, FAMILIES, PERCEPTION_PROMPT, perception_target, reading_target

__all__ = [
    "CELL",
    "DEFAULT_SIZE",
    "FAMILIES",
    "PERCEPTION_PROMPT",
    "corpus_texts",
    "generate",
    "generate_records",
    "make_record",
    "perception_target",
    "reading_target",
    "record_seed",
    "render",
    "write_benchmark",
]
