"""The demo's settings: `DemoConfig` and its presets, partial dicts of the stages' own options.

    cfg = DemoConfig.preset("default")            # what `make demo` runs
    cfg = DemoConfig.preset("tiny", seed=1)       # the CI-scale smoke run of every stage

`sample`, `pairs` and `eval` hold `SampleOptions`, `PairOptions` and `EvalOptions` fields, `training`
MPOConfig fields: only what the demo sets differently from those stages' defaults (docs/demo.md).
Light on purpose (no torch): `mmpo demo --help` reads the preset and backbone names from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mmpo.errors import MMPOError, check_choice

BACKBONES = ("tiny", "smol")
STAGE_PARTS = ("sample", "pairs", "training", "eval")  # DemoConfig's dicts of stage options
# The start models learned mmpo's prompt layout (synth records also carry a MathVista-style query).
PROMPT_SOURCE = "mmpo"
# name -> MPOConfig fields of each variant. MPO is MPOConfig's default mix; the controls isolate its parts.
VARIANTS: dict[str, dict[str, Any]] = {
    "mpo": {},
    "sft_chosen": {"loss_type": ["sft"], "loss_weights": [1.0]},
    "dpo": {"loss_type": ["sigmoid"], "loss_weights": [1.0]},
}
# LoRA on the language model (and projector); the vision tower stays as aligned.
SMOL_LORA = {"use_lora": True, "lora_r": 16, "lora_alpha": 32.0, "freeze_vision_tower": True}


def _default_sample() -> dict[str, Any]:
    # a gold chain of the digits family is at most ~35 tokens
    return {"temperature": 0.7, "max_new_tokens": 48, "batch_size": 16, "prompt_source": PROMPT_SOURCE}


def _default_eval() -> dict[str, Any]:
    return {"max_new_tokens": 48, "batch_size": 64, "prompt_source": PROMPT_SOURCE, "dtype": "float32"}


def _default_training() -> dict[str, Any]:
    return {"num_train_epochs": 1.0, "per_device_train_batch_size": 16, "lr_scheduler_type": "cosine",
            "warmup_steps": 0.05, "weight_decay": 0.0, "logging_steps": 5, "save_strategy": "no", "use_cpu": True,
            # One reference pass over the pairs serves every run from the same start model (a cache keyed
            # by model, data and tokenization), so no run holds a reference model.
            "ref_model": "precomputed"}


@dataclass
class DemoConfig:
    seed: int = 0
    n_train: int = 2000            # prompts sampled for pairs
    n_val: int = 500               # validation split: settings are chosen here
    n_test: int = 2000             # held-out test split: reported, never used for choices
    lrs: tuple[float, ...] = (5e-6, 1e-5, 3e-5)   # candidates for MPO, chosen on validation
    base: str | None = None        # start checkpoint (smol: alignment folder); None = the shipped one
    from_scratch: bool = False     # retrain the base model (smol: the alignment) first
    pretrain_scale: float = 1.0    # fraction of the pretraining steps when retraining (tests use less)
    seeds: tuple[int, ...] = (0,)  # --full: several training seeds, spread reported
    families: tuple[str, ...] = ("digits",)
    backbone: str = "tiny"         # tiny: the shipped base model; smol: SmolLM2-135M + the shipped alignment
    read_eval: int = 0             # records for a "What numbers are in the image ?" reading check (0: off)
    sample: dict[str, Any] = field(default_factory=_default_sample)      # SampleOptions fields
    pairs: dict[str, Any] = field(default_factory=lambda: {"max_pairs_per_prompt": 4})   # PairOptions fields
    training: dict[str, Any] = field(default_factory=_default_training)  # MPOConfig fields of every run
    eval: dict[str, Any] = field(default_factory=_default_eval)          # EvalOptions fields
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_choice("backbone", self.backbone, BACKBONES)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DemoConfig:
        if name not in PRESETS:
            raise MMPOError(f"unknown demo preset {name!r}; choose from {', '.join(PRESETS)}")
        cfg = cls()
        for changes in (PRESETS[name], overrides):  # a stage's dict is merged into the one before
            parts = {k: {**getattr(cfg, k), **v} for k, v in changes.items() if k in STAGE_PARTS}
            cfg = replace(cfg, **{k: v for k, v in changes.items() if k not in STAGE_PARTS}, **parts)
        if overrides.get("seed") and "seeds" not in overrides:
            # --seed moves sampling and training too, not only the data: training seeds count from it.
            cfg = replace(cfg, seeds=tuple(cfg.seed + s for s in cfg.seeds))
        return cfg


# name -> changes to the defaults; a stage's part is merged into its dict.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "full": dict(n_train=4000, n_val=1000, n_test=2000, seeds=(0, 1, 2)),
    # The CI scale: every stage runs and writes valid files, in about a minute.
    "tiny": dict(n_train=24, n_val=16, n_test=24, lrs=(1e-5,),
                 sample={"n": 4, "max_new_tokens": 24, "batch_size": 8}, eval={"max_new_tokens": 24, "batch_size": 16},
                 training={"per_device_train_batch_size": 4, "logging_steps": 1}),
    # The tiny smoke run on SmolLM2 (~9 min): its chains run ~100 tokens, so the tiny preset's 24
    # would truncate every one and leave no pairs.
    "smol_tiny": dict(backbone="smol", n_train=32, n_val=0, n_test=24, lrs=(1e-5,), read_eval=8,
                      sample={"temperature": 0.6, "top_k": 20, "max_new_tokens": 128, "batch_size": 8},
                      eval={"max_new_tokens": 128, "direct_max_new_tokens": 16, "batch_size": 16},
                      training={"per_device_train_batch_size": 4, "logging_steps": 1, **SMOL_LORA}),
    # SmolLM2-135M with LoRA, sized for about an hour on 2 CPU cores (see README): its chains run ~100
    # tokens, so prompts, pairs per prompt and the test split are smaller. One learning rate fixed
    # beforehand (no validation split: each candidate would cost ~10 min).
    "smol": dict(backbone="smol", n_train=320, n_val=0, n_test=500, lrs=(2e-4,), read_eval=200,
                 sample={"temperature": 0.6, "top_k": 20, "max_new_tokens": 128, "batch_size": 8},
                 pairs={"max_pairs_per_prompt": 2},
                 eval={"max_new_tokens": 128, "direct_max_new_tokens": 16, "batch_size": 32},
                 training={"per_device_train_batch_size": 8, "logging_steps": 2, **SMOL_LORA}),
}
