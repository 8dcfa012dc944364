"""Getting the policy ready for preference training: dropout off, LoRA (peft), frozen vision tower.

Dropout is off because DPO-style rewards compare two forwards of the same text: with dropout the
policy and the reference disagree at step 0 and the first loss is not 0.832 + NLL (docs/loss.md).
"""

from __future__ import annotations

from typing import Any

import torch

# Attribute names of the vision encoder in transformers' vision-language models (LLaVA, InternVL:
# vision_tower; Qwen2-VL: visual; others: vision_model).
VISION_TOWER_NAMES = ("vision_tower", "visual", "vision_model")


def disable_dropout(model: torch.nn.Module) -> None:
    """Set every dropout probability to 0, including attention dropout read from module attributes."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        # Eager attention layers read `self.attention_dropout` (a float) at call time.
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
        if isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0


def vision_tower(model: torch.nn.Module) -> torch.nn.Module | None:
    """The shallowest submodule named like a vision encoder, or None for a text-only model."""
    found = [(name.count("."), module) for name, module in model.named_modules()
             if name.rsplit(".", 1)[-1] in VISION_TOWER_NAMES]
    return min(found, key=lambda x: x[0])[1] if found else None


def freeze_vision_tower(model: torch.nn.Module) -> int:
    """Stop gradients into the vision encoder; returns how many parameters were frozen."""
    tower = vision_tower(model)
    if tower is None:
        return 0
    n = 0
    for p in tower.parameters():
        p.requires_grad_(False)
        n += p.numel()
    return n


def add_lora(model: torch.nn.Module, *, r: int, alpha: float, dropout: float, target_modules: list[str],
             freeze_vision: bool = False, seed: int | None = None) -> Any:
    """Wrap `model` in a peft LoRA adapter; only adapter weights train.

    `all-linear` adapts every linear layer except the output head; with `freeze_vision` the
    vision encoder gets no adapters. `seed` fixes the adapters' random init (the Trainer seeds
    only later), without touching the caller's random state.
    """
    from peft import LoraConfig, get_peft_model

    targets: str | list[str] = "all-linear" if list(target_modules) == ["all-linear"] else list(target_modules)
    exclude = None
    if freeze_vision and vision_tower(model) is not None:
        names = [n for n, _ in model.named_modules() if n.rsplit(".", 1)[-1] in VISION_TOWER_NAMES]
        exclude = [n + "." for n in names]
        exclude = r"(" + "|".join(e.replace(".", r"\.") for e in exclude) + r").*"
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        exclude_modules=exclude, bias="none")
    if seed is None:
        return get_peft_model(model, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(model, config)


def prepare_policy(model: torch.nn.Module, args: Any) -> torch.nn.Module:
    """The policy as `args` (an MPOConfig) trains it: dropout off, LoRA on, or the vision tower frozen."""
    if args.disable_dropout:
        disable_dropout(model)
    if args.use_lora:
        model = add_lora(model, r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout,
                         target_modules=args.lora_target_modules, freeze_vision=args.freeze_vision_tower,
                         seed=args.seed)
        if args.disable_dropout:
            disable_dropout(model)
    elif args.freeze_vision_tower:
        freeze_vision_tower(model)
    return model
