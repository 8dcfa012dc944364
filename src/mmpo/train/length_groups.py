"""Length-grouped batches: pairs of similar length share a batch, so little compute goes to padding.

    lengths = pair_lengths(dataset, tokenizer)                    # prompt text + chosen + rejected tokens
    sampler = LengthGroupedSampler(lengths, batch=8 * accum * world, seed=0)
    order = grouped_order(lengths, batch=8, seed=0, epoch=1)      # a permutation of range(len(lengths))

Each epoch: a seeded random permutation is cut into mega-batches of `GROUP` global batches; each
mega-batch is sorted by length and cut into global batches (one optimizer step each); then the
order of those batches is shuffled, so steps still come in random order with no long-to-short
trend. A short last batch stays last, so every other batch keeps its boundaries. Grouping by the
global batch (not the micro-batch) keeps an optimizer step's pairs the same for 1 x 8 and 8 x 1
accumulation and for any split across ranks.

Image tokens are not counted: most processors give every image the same number of tokens, so
they do not change the order (dynamic-resolution processors such as Qwen2-VL's are grouped by
their text only).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

GROUP = 50  # global batches per mega-batch, as transformers' LengthGroupedSampler
SAMPLING_STRATEGIES = ("group_by_length", "random", "sequential")  # MPOConfig.train_sampling_strategy


def grouped_order(lengths: Sequence[int], batch: int, seed: int, epoch: int = 0, group: int = GROUP) -> list[int]:
    """This epoch's order of the indices of `lengths`: length-homogeneous batches of `batch`, shuffled."""
    if batch < 1 or group < 1:
        raise ValueError(f"batch and group must be >= 1, got {batch} and {group}")
    rng = random.Random(f"mmpo-length-groups:{seed}:{epoch}")  # str seeds are hashed stably (not PYTHONHASHSEED)
    perm = list(range(len(lengths)))
    rng.shuffle(perm)
    size = group * batch
    batches: list[list[int]] = []
    for start in range(0, len(perm), size):
        mega = sorted(perm[start:start + size], key=lambda i: lengths[i], reverse=True)  # stable: ties keep order
        batches.extend(mega[j:j + batch] for j in range(0, len(mega), batch))
    short = batches.pop() if batches and len(batches[-1]) < batch else None
    rng.shuffle(batches)
    if short:
        batches.append(short)
    return [i for b in batches for i in b]


class LengthGroupedSampler:
    """A DataLoader sampler yielding `grouped_order`; the Trainer (through accelerate) calls `set_epoch`."""

    def __init__(self, lengths: Sequence[int], batch: int, seed: int, group: int = GROUP):
        self.lengths, self.batch, self.seed, self.group = list(lengths), batch, seed, group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(grouped_order(self.lengths, self.batch, self.seed, self.epoch, self.group))

    def __len__(self) -> int:
        return len(self.lengths)


def _unwrap(item: Any) -> Any:
    return getattr(item, "pair", item)  # a RefPair carries its Pair


def _prompt_text(messages: list[dict]) -> str:
    parts = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(p["text"] for p in content or () if isinstance(p, dict) and p.get("text"))
    return "\n".join(parts)


def pair_lengths(dataset: Any, tokenizer: Any, chunk: int = 1024) -> list[int]:
    """Text tokens of each pair's prompt + chosen + rejected (no chat template, no image tokens)."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor's tokenizer
    pairs = getattr(dataset, "pairs", None)
    if pairs is None:
        pairs = [_unwrap(dataset[i]) for i in range(len(dataset))]
    out: list[int] = []
    for start in range(0, len(pairs), chunk):
        part = pairs[start:start + chunk]
        counts = [0] * len(part)
        for texts in ([_prompt_text(p.messages) for p in part], [p.chosen for p in part],
                      [p.rejected for p in part]):
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            counts = [c + len(x) for c, x in zip(counts, ids)]
        out.extend(counts)
    return out


def train_sampler(trainer: Any, dataset: Any) -> LengthGroupedSampler | None:
    """The Trainer's train sampler under `train_sampling_strategy: group_by_length` (None: the Trainer's own).

    Grouped by the optimizer step's pairs, so accumulation and rank splits see the same steps.
    """
    args = trainer.args
    if args.train_sampling_strategy != "group_by_length" or dataset is None or not hasattr(dataset, "__len__"):
        return None
    step = trainer._train_batch_size * args.gradient_accumulation_steps * args.world_size
    seed = args.data_seed if args.data_seed is not None else args.seed
    return LengthGroupedSampler(_trainer_lengths(trainer, dataset), step, seed)


def eval_order(trainer: Any, dataset: Any) -> list[int] | None:
    """Longest pairs first for evaluation (its order is free), or None for the Trainer's own."""
    if trainer.args.train_sampling_strategy != "group_by_length" or not hasattr(dataset, "__len__"):
        return None
    lengths = _trainer_lengths(trainer, dataset)
    return sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)


def _trainer_lengths(trainer: Any, dataset: Any) -> list[int]:
    from mmpo.errors import InputError

    try:
        return pair_lengths(dataset, trainer.processing_class or getattr(trainer.data_collator, "processor", None))
    except (AttributeError, TypeError):
        raise InputError("group_by_length needs mmpo pair datasets (PairDataset) and a processor; set "
                         "train_sampling_strategy: random", field="train_sampling_strategy") from None
