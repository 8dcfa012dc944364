"""Small preference-pair files for the trainer tests (shared by the torchrun worker, so not a fixture)."""

from __future__ import annotations

import json
import random
from pathlib import Path


def write_pairs(folder, n: int = 8, seed: int = 0) -> Path:
    """`folder/pairs.jsonl` (MMPR line format) with n pairs over a few 64x64 images.

    Chosen answers vary in length (1 to 4 clauses) so per-micro-batch and per-step token
    normalisation give different numbers.
    """
    from PIL import Image

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        name = f"images/{i % 4}.png"
        if not (folder / name).exists():
            Image.new("RGB", (64, 64), (40 + 50 * (i % 4), 90, 200 - 40 * (i % 4))).save(folder / name)
        a = rng.randrange(10)
        chosen = " ".join([f"The number is {a} ."] * (1 + i % 4)) + f" Final answer: {a}"
        rejected = f"Final answer: {rng.randrange(10)}" + " ." * rng.randrange(0, 4)
        lines.append({"image": name, "question": f"<image>\nWhat is number {i}?", "chosen": chosen,
                      "rejected": rejected})
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def train_args(out, **kw):
    """MPOConfig for a few fast CPU steps; keyword arguments override."""
    from mmpo.train.config import MPOConfig

    base = dict(output_dir=str(out), per_device_train_batch_size=2, max_steps=3, logging_steps=1,
                learning_rate=1e-3, lr_scheduler_type="constant", save_strategy="no", use_cpu=True,
                disable_tqdm=True, seed=0, report_to="none", dataloader_num_workers=0)
    base.update(kw)
    return MPOConfig(**base)


def step_logs(history: list[dict]) -> list[dict]:
    """The per-step training entries of a Trainer log_history."""
    return [h for h in history if "loss" in h and "train_runtime" not in h]
