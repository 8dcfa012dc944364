"""Records of the embedded benchmark: MathVista-schema dicts, their images, and the files on disk.

Each record's randomness comes from a seed derived from (seed, split, index), so a record does not
depend on how many were asked for, and train/val/test splits drawn with the same seed differ.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError
from mmpo.synth.families import CELL, FAMILIES, MAX_SIZE, MIN_SIZE, NOISE_SIGMA, PERCEPTION_PROMPT

DEFAULT_SIZE = 64

_HINTS = {
    "multi_choice": "Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
    "integer": "Please answer the question requiring an integer answer and provide the final value, "
               "e.g., 1, 2, 3, at the end.",
    "float": "Please answer the question requiring a floating-point number with one decimal place and provide "
             "the final value, e.g., 1.2, 1.3, 1.4, at the end.",
    "list": "Please answer the question requiring a Python list as an answer and provide the final list, "
            "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.",
    "text": "Please answer the question and provide the final answer at the end.",
}


def record_seed(seed: int, split: str | None, index: int) -> int:
    digest = hashlib.sha256(f"mmpo-synth/{seed}/{split or ''}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _check_args(n: int, families, image_size, max_objects) -> tuple[list[str], int]:
    if not isinstance(n, int) or n <= 0:
        raise MMPOError(f"--n must be a positive integer, got {n!r}")
    if isinstance(families, str):  # "digits" or "digits,bars" rather than a list
        families = [f.strip() for f in families.split(",") if f.strip()]
    names = list(FAMILIES) if not families else list(families)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise MMPOError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(FAMILIES)}")
    size = DEFAULT_SIZE if image_size is None else image_size
    if not isinstance(size, int) or size % CELL or not MIN_SIZE <= size <= MAX_SIZE:
        raise MMPOError(f"--image-size must be a multiple of {CELL} from {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
    if max_objects is not None and max_objects < 3:
        raise MMPOError(f"max_objects must be at least 3, got {max_objects!r}")
    return names, size


def _query(spec: dict[str, Any]) -> str:
    """MathVista's `query`: a hint naming the answer format, the question, the options."""
    from mmpo.data.prompts import question_text

    key = "multi_choice" if spec["choices"] else spec["answer_type"]
    return f"Hint: {_HINTS[key]}\nQuestion: {question_text(spec)}"


def make_record(index: int, *, seed: int = 0, family: str, image_size: int = DEFAULT_SIZE,
                split: str | None = None, max_objects: int | None = None) -> dict[str, Any]:
    """One record (no image drawn): MathVista fields + `solution` + `scene` (+ noise seed)."""
    rseed = record_seed(seed, split, index)
    spec = FAMILIES[family](random.Random(rseed), image_size, max_objects)
    pid = f"{split or 'synth'}-{index:06d}"
    scene = dict(spec["scene"])
    scene["noise_sigma"] = NOISE_SIGMA
    scene["noise_seed"] = rseed % (2**32)
    metadata = dict(spec["metadata"])
    metadata.update({"family": family, "split": split, "source": "mmpo-synth", "seed": seed, "index": index,
                     "img_width": image_size, "img_height": image_size, "language": "english"})
    return {
        "pid": pid,
        "question": spec["question"],
        "image": f"images/{pid}.png",
        "choices": spec["choices"],
        "unit": spec["unit"],
        "precision": spec["precision"],
        "answer": spec["answer"],
        "question_type": spec["question_type"],
        "answer_type": spec["answer_type"],
        "query": _query(spec),
        "metadata": metadata,
        "solution": spec["solution"],
        "scene": scene,
    }


def generate_records(n: int, seed: int = 0, families=None, image_size: int | None = None,
                     split: str | None = None, max_objects: int | None = None) -> list[dict[str, Any]]:
    """`n` records without images; families take turns by index (record i is family i mod k)."""
    names, size = _check_args(n, families, image_size, max_objects)
    return [make_record(i, seed=seed, family=names[i % len(names)], image_size=size, split=split,
                        max_objects=max_objects) for i in range(n)]


def render(record: dict[str, Any]):
    """The record's image (PIL), redrawn from its scene."""
    from mmpo.synth.draw import render_scene

    return render_scene(record["scene"])


def generate(n: int, seed: int = 0, families=None, image_size: int | None = None, split: str | None = None,
             max_objects: int | None = None) -> list[tuple[dict[str, Any], Any]]:
    """`n` (record, PIL image) pairs, deterministic for a seed."""
    return [(rec, render(rec)) for rec in generate_records(n, seed, families, image_size, split, max_objects)]


def write_benchmark(out_dir: str | os.PathLike, n: int, seed: int = 0, families=None, split_name: str = "test",
                    image_size: int | None = None, max_objects: int | None = None,
                    progress: bool = False) -> Path:
    """Write `out_dir/<split_name>.jsonl` and `out_dir/images/<pid>.png`; returns the JSONL path.

    The JSONL is written to a temporary name and renamed at the end, so a killed run never
    leaves a file that looks complete.
    """
    import json

    from mmpo.synth.draw import save_png

    records = generate_records(n, seed, families, image_size, split_name, max_objects)
    out = Path(out_dir)
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
        probe = out / f".{split_name}.write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise MMPOError(f"cannot write to {out}: {exc.strerror or exc}") from None
    items = records
    if progress:
        from tqdm import tqdm

        items = tqdm(records, desc=f"synth {split_name}", unit="rec")
    path = out / f"{split_name}.jsonl"
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in items:
            save_png(render(rec), out / rec["image"])
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def corpus_texts(n: int = 2000, seed: int = 0, families=None) -> list[str]:
    """Question, query, choice and solution texts of `n` records per family, plus the perception
    prompt and per-cell targets: the text a small tokenizer for this benchmark is trained on."""
    from mmpo.synth.families import perception_target

    texts = [PERCEPTION_PROMPT]
    for fam in families or FAMILIES:
        for rec in generate_records(n, seed, [fam], split="corpus"):
            texts.extend([rec["question"], rec["query"], rec["solution"], *(rec["choices"] or [])])
            if fam in ("digits", "arith"):
                texts.append(perception_target(rec))
    return texts
