"""The demo's base model: a tiny LLaVA trained from scratch to read digits and write gold chains.

    from mmpo.pretrain.digits import DigitsConfig, train_digits
    model, processor, log = train_digits(DigitsConfig(), out_dir="models/base")

This is what `mmpo demo --from-scratch` retrains; the result ships in `mmpo/assets/digits_base/`.
Two stages, as measured to work on 2 CPU cores (docs/demo.md):
1. perception: "Describe each cell ." -> one token per 16x16 cell ("x x 3 x 7 ..."); this is what
   makes a vision tower trained from scratch read the image at all;
2. mixed: cell grids, the reading sentence, direct answers and gold chains of thought, with the
   learning rate annealed to zero at the end (a model left mid-schedule gains from any low-lr
   fine-tuning, which would flatter the preference stage).
Fresh benchmark records every step (a large pool drawn from the pretraining split, never the
demo's train/val/test splits). The loop is `transformers.Trainer` with an explicit optimizer
(vision tower and projector at twice the language model's learning rate).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmpo.models.portable import make_portable
from mmpo.pretrain.sft import PRETRAIN_SPLIT, SFTCollator, example, warmup_cosine


def shipped_base() -> Path:
    """The base checkpoint that ships inside the package (what `train_digits(DigitsConfig())` wrote)."""
    return Path(__file__).resolve().parent.parent / "assets" / "digits_base"


@dataclass
class DigitsConfig:
    seed: int = 0
    pool: int = 24000                  # distinct pretraining records drawn once (images rendered lazily)
    batch_size: int = 32
    perception_steps: int = 400
    mixed_steps: int = 500
    lr: float = 3e-4                   # language model; vision tower + projector get 2x (1e-3 never learned to read here)
    warmup_steps: int = 50
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    # Share of each example kind in the mixed stage.
    mixture: dict[str, float] = field(default_factory=lambda: {"grid": 0.1, "read": 0.1, "direct": 0.3, "cot": 0.5})
    families: tuple[str, ...] = ("digits",)


class _Stream:
    """A map-style dataset of `steps * batch` examples drawn from the pool by a seeded mixture."""

    def __init__(self, pool: list[dict[str, Any]], mixture: dict[str, float], n: int, seed: int):
        self.pool, self.n = pool, n
        rng = random.Random(seed)
        kinds, weights = zip(*mixture.items())
        self.plan = [(rng.randrange(len(pool)), rng.choices(kinds, weights)[0]) for _ in range(n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[str, str, Any]:
        from mmpo.synth import render

        rec, kind = self.pool[self.plan[i][0]], self.plan[i][1]
        user, target = example(rec, kind)
        return user, target, render(rec)


def _optimizer(model: Any, cfg: DigitsConfig, lr: float, steps: int, floor: float):
    import torch

    vision = [p for n, p in model.named_parameters() if "vision_tower" in n or "multi_modal_projector" in n]
    vision_ids = {id(p) for p in vision}
    lm = [p for p in model.parameters() if id(p) not in vision_ids]
    opt = torch.optim.AdamW([{"params": lm, "lr": lr}, {"params": vision, "lr": 2 * lr}],
                            betas=cfg.betas, weight_decay=cfg.weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, steps, cfg.warmup_steps, floor))


def _run_stage(model, processor, dataset, cfg: DigitsConfig, steps: int, floor: float, out: Path, name: str):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(out / f"stage-{name}"), per_device_train_batch_size=cfg.batch_size, max_steps=steps,
        logging_steps=max(1, steps // 20), save_strategy="no", report_to="none", seed=cfg.seed,
        remove_unused_columns=False, dataloader_num_workers=0, max_grad_norm=1.0, disable_tqdm=False,
        use_cpu=True,
    )
    opt, sched = _optimizer(model, cfg, cfg.lr, steps, floor)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=SFTCollator(processor),
                      optimizers=(opt, sched))
    trainer.train()
    return [dict(entry, stage=name) for entry in trainer.state.log_history]


def train_digits(cfg: DigitsConfig, out_dir: str | Path, *, model=None, processor=None):
    """Train (or continue training `model`) and save a checkpoint to `out_dir`; returns (model, processor, log)."""
    import torch

    from mmpo.data.files import write_json
    from mmpo.models import build_tiny
    from mmpo.synth import generate_records

    out = Path(out_dir)
    torch.manual_seed(cfg.seed)
    if model is None:
        model, processor = build_tiny("llava", "small", seed=cfg.seed)
    model.train()
    pool = generate_records(cfg.pool, cfg.seed, list(cfg.families), split=PRETRAIN_SPLIT)
    log: list[dict[str, Any]] = []
    n = cfg.batch_size
    if cfg.perception_steps:
        data = _Stream(pool, {"grid": 1.0}, cfg.perception_steps * n, cfg.seed + 1)
        log += _run_stage(model, processor, data, cfg, cfg.perception_steps, 0.1, out, "perception")
    if cfg.mixed_steps:
        data = _Stream(pool, cfg.mixture, cfg.mixed_steps * n, cfg.seed + 2)
        log += _run_stage(model, processor, data, cfg, cfg.mixed_steps, 0.0, out, "mixed")
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    make_portable(out)  # weight names vLLM loads too (mmpo.models.portable)
    write_json(out / "pretrain.json", {"config": asdict(cfg), "log_history": log})
    return model, processor, log


def grid_accuracy(model: Any, processor: Any, records: list[dict[str, Any]]) -> dict[str, float]:
    """Teacher-forced accuracy of the per-cell description: over all cells, and over cells holding a digit."""
    import torch

    from mmpo.synth import PERCEPTION_PROMPT, perception_target, render

    collate = SFTCollator(processor)
    batch = collate([(PERCEPTION_PROMPT, perception_target(r), render(r)) for r in records])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pred = model(**batch).logits[:, :-1].argmax(-1)
    model.train(was_training)
    labels = batch["labels"][:, 1:]
    cells = labels != -100
    tok = processor.tokenizer
    not_digit = {tok.eos_token_id, *tok("x x", add_special_tokens=False)["input_ids"]}
    digit = cells & ~torch.isin(labels, torch.tensor(sorted(not_digit)))
    hit = pred == labels
    return {"cells": float((hit & cells).sum() / cells.sum()), "digits": float((hit & digit).sum() / digit.sum())}
