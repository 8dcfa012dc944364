"""Pieces the pretraining recipes share: example texts, the SFT collator, the learning-rate shape.

    user, target = example(record, "cot")            # (prompt text, target) of one example kind
    batch = SFTCollator(processor)([(user, target, image), ...])   # labels on the target only
"""

from __future__ import annotations

import math
from typing import Any

READ_PROMPT = "What numbers are in the image ?"
# The synth split the pretraining recipes draw their records from; its name seeds the records, so it
# stays as the shipped checkpoints were trained with (and apart from the demo's train/val/test).
PRETRAIN_SPLIT = "warmup"


def example(record: dict[str, Any], kind: str) -> tuple[str, str]:
    """(user text, target) for one training example of `kind`."""
    from mmpo.data.prompts import build_prompt
    from mmpo.synth import PERCEPTION_PROMPT, perception_target, reading_target

    if kind == "grid":
        return PERCEPTION_PROMPT, perception_target(record)
    if kind == "read":
        return READ_PROMPT, reading_target(record)
    if kind == "direct":
        return build_prompt(record, "direct", "mmpo"), str(record["answer"])
    if kind == "cot":
        return build_prompt(record, "cot", "mmpo"), record["solution"]
    raise ValueError(f"unknown example kind {kind!r}")


class SFTCollator:
    """Batches of (user text, target, image) -> input_ids/labels/pixel_values, labels on the target only.

    The prompt goes through the processor (which expands the image placeholder); the target is
    tokenized alone and appended, so the prompt/target boundary is exact. Right padding.
    """

    def __init__(self, processor: Any):
        self.processor = processor
        self.tok = processor.tokenizer

    def __call__(self, items: list[tuple[str, str, Any]]) -> dict[str, Any]:
        import torch

        from mmpo.data.chat import chat_prompt, encode

        prompts = [chat_prompt(self.processor, u, image=img is not None) for u, _, img in items]
        enc = encode(self.processor, prompts, [img for _, _, img in items], padding_side="left")
        pad = self.tok.pad_token_id
        rows, labels = [], []
        for i, (_, target, _) in enumerate(items):
            p = enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist()
            t = self.tok(target, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]
            rows.append(p + t)
            labels.append([-100] * len(p) + t)
        width = max(map(len, rows))
        out = {
            "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
            "labels": torch.tensor([r + [-100] * (width - len(r)) for r in labels]),
        }
        for key, value in enc.items():
            if key not in ("input_ids", "attention_mask"):
                out[key] = value
        return out


def warmup_cosine(step: int, total: int, warm: int, floor: float = 0.0) -> float:
    """Learning-rate scale: linear rise over `warm` steps, then cosine down to `floor` at step `total`."""
    if step < warm:
        return (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
