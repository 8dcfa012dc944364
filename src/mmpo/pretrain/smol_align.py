"""Alignment of the smol model: teach a new vision tower to speak to the frozen SmolLM2.

    from mmpo.pretrain.smol_align import AlignConfig, align_model, save_aligned_smol, train_alignment
    save_aligned_smol("models/smol")             # SmolLM2 + the shipped alignment, a loadable checkpoint
    train_alignment(AlignConfig(), "align")      # a fresh smol model; writes align/alignment.safetensors
    apply_alignment(model, "align")              # loads it into a smol model
    align_model(model, processor)                # the shipped alignment (or train=AlignConfig(), folder=...)

The language model never changes here: its general ability to write chains of thought is what
the preference stage builds on, so alignment trains only the vision tower and the projector
(about 0.8M parameters, a 3 MB file that ships in the package). Two stages:

1. vision (no language model in the loop, fast): each image token is regressed onto the input
   embedding of the text token for its cell, the digit's own token ("3") or a space for an empty
   cell, so the image reads to the language model like the digits written out;
2. through the frozen language model: the per-cell description, the reading sentence ("The
   numbers are 3 , 7 , 2 .") and direct answers to the one-step question ("What is the largest
   number ?"), with the loss on the answer tokens. Multi-step direct answers are left out on
   purpose: with the language model frozen, fitting them would push arithmetic into the image
   features rather than teach reading.
Fresh benchmark records from the pretraining split, never the demo's train/val/test splits.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError
from mmpo.pretrain.sft import PRETRAIN_SPLIT, SFTCollator, example, warmup_cosine

WEIGHTS = "alignment.safetensors"
MANIFEST = "alignment.json"
TRAINED = ("vision_tower.", "multi_modal_projector.")
# The text an empty cell stands for in stage 1: a space (SmolLM2 writes " 3" as a space token and
# "3"), or "x" for tokenizers without a lone space token (the tiny models').
EMPTY_CELL = (" ", "x")


@dataclass
class AlignConfig:
    seed: int = 0
    pool: int = 20000                   # distinct pretraining records (images rendered lazily)
    vision_steps: int = 400             # stage 1 (~25 s on 2 cores)
    vision_batch: int = 64
    vision_lr: float = 2e-3
    lm_steps: int = 80                  # stage 2 (~3 min on 2 cores; 160 steps hurt CoT, see README)
    lm_batch: int = 8
    lm_lr: float = 5e-4
    warmup_steps: int = 20
    weight_decay: float = 0.01
    mixture: dict[str, float] = field(default_factory=lambda: {"grid": 0.3, "read": 0.5, "largest": 0.2})
    families: tuple[str, ...] = ("digits",)


def shipped_alignment() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "smol_align"


def _trainable(model: Any) -> list[tuple[str, Any]]:
    return [(n, p) for n, p in model.named_parameters() if n.removeprefix("model.").startswith(TRAINED)]


def _single_token(tok: Any, text: str) -> int | None:
    enc = tok(text, add_special_tokens=False)["input_ids"]
    return enc[0] if len(enc) == 1 else None


def _cell_token_ids(tok: Any) -> dict[str, int]:
    """Digit -> its token id, and "x" (empty cell) -> the id of the first single-token EMPTY_CELL text."""
    ids = {}
    for text in map(str, range(10)):
        if (ids.setdefault(text, _single_token(tok, text))) is None:
            raise MMPOError(f"the tokenizer splits the digit {text!r} into several tokens; stage 1 of "
                            "alignment needs one token per digit")
    empty = next((i for i in map(lambda t: _single_token(tok, t), EMPTY_CELL) if i is not None), None)
    if empty is None:
        raise MMPOError(f"the tokenizer has no single token for an empty cell (tried {EMPTY_CELL})")
    ids["x"] = empty
    return ids


def _cell_labels(records: list[dict[str, Any]], ids: dict[str, int]) -> list[list[int]]:
    from mmpo.synth import perception_target

    return [[ids[c] for c in perception_target(r).split()] for r in records]


def _image_features(model: Any, pixel_values: Any) -> Any:
    import torch

    cfg = model.config
    out = model.model.get_image_features(pixel_values=pixel_values, vision_feature_layer=cfg.vision_feature_layer,
                                         vision_feature_select_strategy=cfg.vision_feature_select_strategy)
    feats = out.pooler_output if hasattr(out, "pooler_output") else out
    return torch.stack(list(feats)) if isinstance(feats, list | tuple) else feats


def _vision_stage(model, processor, pool, cfg: AlignConfig, log: list[dict[str, Any]]) -> None:
    """Stage 1: image tokens -> the input embeddings of their cells' tokens (MSE), no LM forward."""
    import torch
    from tqdm.auto import tqdm

    from mmpo.synth import render

    ids = _cell_token_ids(processor.tokenizer)
    cand = torch.tensor(sorted(set(ids.values())))
    emb = model.get_input_embeddings().weight.detach()
    scale = float(emb[cand].pow(2).mean())
    params = [p for _, p in _trainable(model)]
    opt = torch.optim.AdamW(params, lr=cfg.vision_lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, cfg.vision_steps, cfg.warmup_steps))
    rng = random.Random(cfg.seed + 1)
    bar = tqdm(range(cfg.vision_steps), desc="align: vision", unit="step")
    for step in bar:
        recs = [pool[rng.randrange(len(pool))] for _ in range(cfg.vision_batch)]
        pixels = processor.image_processor([render(r) for r in recs], return_tensors="pt")["pixel_values"]
        labels = torch.tensor(_cell_labels(recs, ids))
        feats = _image_features(model, pixels)
        loss = (feats - emb[labels]).pow(2).mean() / scale
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0 or step == cfg.vision_steps - 1:
            with torch.no_grad():  # nearest candidate embedding = the token the cell reads as
                dist = torch.cdist(feats.reshape(-1, feats.shape[-1]), emb[cand])
                acc = float((cand[dist.argmin(-1)] == labels.reshape(-1)).float().mean())
            bar.set_postfix(loss=f"{loss.item():.3f}", cell_acc=f"{acc:.3f}")
            log.append({"stage": "vision", "step": step, "loss": loss.item(), "cell_accuracy": acc})


class _Examples:
    """A map-style dataset of (user text, target, image), drawn from the pool by a seeded mixture."""

    def __init__(self, pool: list[dict[str, Any]], mixture: dict[str, float], n: int, seed: int):
        rng = random.Random(seed)
        largest = [r for r in pool if r["metadata"]["template"] == "largest"]
        kinds, weights = zip(*mixture.items())
        self.items = []
        for _ in range(n):
            kind = rng.choices(kinds, weights)[0]
            src = largest if kind == "largest" else pool
            self.items.append((src[rng.randrange(len(src))], kind))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[str, str, Any]:
        from mmpo.synth import render

        rec, kind = self.items[i]
        user, target = example(rec, "direct" if kind == "largest" else kind)
        return user, target, render(rec)


def _lm_stage(model, processor, pool, cfg: AlignConfig, out: Path, log: list[dict[str, Any]]) -> None:
    """Stage 2: through the frozen language model, loss on the answer tokens only."""
    import torch
    from transformers import Trainer, TrainingArguments

    params = [p for _, p in _trainable(model)]
    opt = torch.optim.AdamW(params, lr=cfg.lm_lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, cfg.lm_steps, min(cfg.warmup_steps, cfg.lm_steps // 5 + 1)))
    args = TrainingArguments(
        output_dir=str(out / "stage-lm"), per_device_train_batch_size=cfg.lm_batch, max_steps=cfg.lm_steps,
        logging_steps=max(1, cfg.lm_steps // 20), save_strategy="no", report_to="none", seed=cfg.seed,
        remove_unused_columns=False, dataloader_num_workers=0, max_grad_norm=1.0, use_cpu=True)
    data = _Examples(pool, cfg.mixture, cfg.lm_steps * cfg.lm_batch, cfg.seed + 2)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=SFTCollator(processor),
                      optimizers=(opt, sched))
    trainer.train()
    log += [dict(e, stage="lm") for e in trainer.state.log_history]


def train_alignment(cfg: AlignConfig, out_dir: str | Path, *, model=None, processor=None) -> tuple[Any, Any]:
    """Train the vision tower and projector of a smol model; write OUT/alignment.safetensors + .json.

    `model`/`processor` default to a fresh `build_smol(cfg.seed)`. The language model is frozen
    (requires_grad off) for the whole run and restored to trainable state afterwards.
    """
    import torch
    from safetensors.torch import save_file

    from mmpo.synth import generate_records

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if model is None:
        from mmpo.models.smol import build_smol

        model, processor, _ = build_smol(cfg.seed)
    torch.manual_seed(cfg.seed)
    trainable = {n for n, _ in _trainable(model)}
    if not trainable:
        raise MMPOError("the model has no vision_tower / multi_modal_projector to align (a LLaVA-style model is needed)")
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(n in trainable)
    pool = generate_records(cfg.pool, cfg.seed, list(cfg.families), split=PRETRAIN_SPLIT)
    log: list[dict[str, Any]] = []
    model.train()
    try:
        if cfg.vision_steps:
            _vision_stage(model, processor, pool, cfg, log)
        if cfg.lm_steps:
            _lm_stage(model, processor, pool, cfg, out, log)
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
        model.eval()
    state = {n: p.detach().contiguous() for n, p in model.named_parameters() if n in trainable}
    save_file(state, str(out / WEIGHTS), metadata={"format": "pt"})
    manifest = {"config": asdict(cfg), "seconds": round(time.perf_counter() - start, 1),
                "parameters": sum(t.numel() for t in state.values()),
                "vision_config": model.config.vision_config.to_dict(), "log_history": log}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str) + "\n", encoding="utf-8")
    return model, processor


def apply_alignment(model: Any, align_dir: str | Path) -> dict[str, Any]:
    """Load OUT/alignment.safetensors into a smol model (the vision tower and projector only)."""
    from safetensors.torch import load_file

    path = Path(align_dir) / WEIGHTS
    if not path.is_file():
        raise MMPOError(f"{path}: no alignment weights here; train them with `mmpo model smol --align --out DIR`")
    state = load_file(str(path))
    own = dict(_trainable(model))
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise MMPOError(f"{path}: does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]}); "
                        "was it trained for another image size?")
    for name, tensor in state.items():
        if tuple(own[name].shape) != tuple(tensor.shape):
            raise MMPOError(f"{path}: {name} has shape {tuple(tensor.shape)}, the model {tuple(own[name].shape)}")
    import torch

    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor.to(own[name].dtype))
    manifest = Path(align_dir) / MANIFEST
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}


def align_model(model: Any, processor: Any, *, train: AlignConfig | None = None,
                folder: str | Path | None = None) -> dict[str, Any]:
    """Give a smol model its vision side; returns the alignment's manifest.

    With `train`, train it now and write it into `folder` (required); otherwise load it from
    `folder`, by default the alignment that ships with mmpo.
    """
    if train is not None:
        if folder is None:
            raise MMPOError("training an alignment needs a folder to write it into")
        train_alignment(train, folder, model=model, processor=processor)
        return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    return apply_alignment(model, folder if folder is not None else shipped_alignment())


def save_aligned_smol(out_dir: str | Path, seed: int = 0, *, image_size: int = 64, train: AlignConfig | None = None,
                      folder: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the smol model with its vision side aligned (`align_model`'s `train`/`folder`); returns (path, info)."""
    from mmpo.models.smol import save_smol

    return save_smol(out_dir, seed, image_size=image_size,
                     prepare=lambda model, processor: align_model(model, processor, train=train,
                                                                  folder=folder).get("config"))
