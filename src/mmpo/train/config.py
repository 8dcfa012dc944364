"""MPOConfig: every setting of `mmpo train`, a `transformers.TrainingArguments` with the MPO fields.

Parsed by `HfArgumentParser` from a YAML recipe plus command-line overrides; validated in
`__post_init__`, where each error names its field. Defaults are the paper's loss (docs/loss.md)
and CPU-friendly Trainer settings (no reporting integrations, keep all columns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from transformers import TrainingArguments

from mmpo.errors import ON_ERROR, InputError
from mmpo.train.guards import ON_NONFINITE
from mmpo.train.length_groups import SAMPLING_STRATEGIES
from mmpo.train.logps import MECHANISMS
from mmpo.train.losses import (
    LOSS_TYPES,
    MPO_LOSS,
    MPO_WEIGHTS,
    REFERENCE_FREE,
    SFT_NORMALIZATIONS,
    RewardShift,
)
from mmpo.train.reference import REF_MODES


def _help(text: str, **kw):
    return field(metadata={"help": text}, **kw)


# Numeric fields checked before anything runs: (name, lower bound, bound allowed). A list, a string or a
# NaN here would otherwise surface as a traceback deep inside the Trainer.
_NUMBERS = (("beta", 0.0, False), ("learning_rate", 0.0, True), ("weight_decay", 0.0, True),
            ("label_smoothing", 0.0, True), ("simpo_gamma", float("-inf"), False), ("adam_beta1", 0.0, True),
            ("adam_beta2", 0.0, True), ("adam_epsilon", 0.0, True), ("max_grad_norm", 0.0, True),
            ("num_train_epochs", 0.0, False), ("warmup_steps", 0.0, True), ("per_device_train_batch_size", 1, True),
            ("per_device_eval_batch_size", 1, True), ("gradient_accumulation_steps", 1, True),
            ("logging_steps", 0.0, False), ("save_steps", 0.0, False), ("max_steps", -1, True),
            ("lora_alpha", 0.0, False), ("ref_sync_alpha", 0.0, False), ("max_length", 2, True),
            ("step0_tolerance", 0.0, True))
_OPTIONAL_NUMBERS = {"max_length"}
MODEL_DTYPES = ("auto", "float32", "bfloat16", "float16")


def policy_dtype(cfg) -> str | None:
    """The dtype run_training loads the policy in (None: the checkpoint's own)."""
    if cfg.model_dtype != "auto":
        return cfg.model_dtype
    return None if cfg.use_lora else "float32"



@dataclass
class MPOConfig(TrainingArguments):
    # ---- model and data
    model_name_or_path: str | None = _help("checkpoint folder (or hub id in the local cache) of the policy",
                                           default=None)
    train_data: str | None = _help("pairs: an MMPR meta.json (or its folder), a JSONL file, or a `datasets` "
                                   "folder in TRL's preference format", default=None)
    eval_data: str | None = _help("held-out pairs, same formats as train_data", default=None)
    path_map: list[str] = _help("OLD=NEW prefix replacements for the paths a meta.json names (e.g. the released "
                                "MMPR meta.json's cluster paths onto a local copy)", default_factory=list)
    model_dtype: str = _help("dtype the policy is loaded in: auto (float32 when every parameter trains, so bf16/fp16 "
                             "runs keep fp32 master weights under autocast; the checkpoint's dtype for a LoRA "
                             "base), float32, bfloat16 (pure bf16: small updates round away), float16",
                             default="auto")
    trust_remote_code: bool = _help("run the checkpoint's own Python code (only for checkpoints you trust)",
                                    default=False)
    # ---- the objective
    loss_type: list[str] = _help(f"loss terms, any of {', '.join(LOSS_TYPES)}",
                                 default_factory=lambda: list(MPO_LOSS))
    loss_weights: list[float] | None = _help("one weight per loss_type (default: MPO's 0.8/0.2/1.0 for "
                                             "sigmoid/bco_pair/sft, else 1.0 each)", default=None)
    beta: float = _help("KL strength beta of the implicit reward", default=0.1)
    bco_delta: str = _help("BCO reward shift: running_mean (authors' code) or none (delta = 0, as TRL)",
                           default="running_mean")
    sft_normalization: str = _help("NLL normaliser: global (chosen tokens of the whole optimizer step, "
                                   "invariant to accumulation and ranks) or micro_batch (as TRL)", default="global")
    label_smoothing: float = _help("label-flip rate for cdpo, robust and aot_pair, in [0, 0.5)", default=0.0)
    simpo_gamma: float = _help("SimPO's target reward margin gamma", default=0.5)
    # ---- sequences
    max_length: int | None = _help("max tokens of prompt + one completion (image tokens included); "
                                   "completions are cut from their end, prompts never", default=None)
    truncate_completions: bool = _help("cut over-long completions from their end (else treat as bad pairs)",
                                       default=True)
    on_error: str = _help("bad pairs and over-long prompts: raise (stop, naming file and line) or skip "
                          "(count them)", default="raise")
    preference_forward: str = _help("shared_prefix (each prompt and image once per pair; falls back to plain "
                                    "where unsupported) or plain (two full sequences, as every peer)",
                                    default="shared_prefix")
    # ---- reference model
    ref_model: str = _help("reference: copy (frozen copy of the start model), adapter_disabled (LoRA base), "
                           "precomputed (one pass before training caches every pair's reference log-probs "
                           "on disk; training holds no reference model), auto (adapter_disabled with LoRA, "
                           "else copy)", default="auto")
    ref_cache_dir: str | None = _help("folder of the precomputed reference log-probs (default "
                                      "<output_dir>/ref_logps); a cache built for another model, data or "
                                      "tokenization is rebuilt", default=None)
    ref_sync_steps: int = _help("TR-DPO: every N optimizer steps mix the policy into the reference "
                                "(0 = frozen, as the paper)", default=0)
    ref_sync_alpha: float = _help("TR-DPO mixing weight of the policy, in (0, 1]", default=0.6)
    disable_dropout: bool = _help("turn dropout off in policy and reference (rewards exactly 0 at step 0)",
                                  default=True)
    # ---- what trains
    use_lora: bool = _help("train a LoRA adapter (peft) instead of all parameters", default=False)
    lora_r: int = _help("LoRA rank", default=16)
    lora_alpha: float = _help("LoRA scaling alpha", default=32.0)
    lora_dropout: float = _help("LoRA dropout (off anyway when disable_dropout)", default=0.0)
    lora_target_modules: list[str] = _help("module names to adapt, or all-linear",
                                           default_factory=lambda: ["all-linear"])
    freeze_vision_tower: bool = _help("keep the vision encoder's weights fixed", default=False)
    # ---- checks that stop a wasted run early (mmpo.train.guards)
    step0_check: bool = _help("before the first update, check that every reward is 0 (the reference is the start "
                              "model, dropout is off, the reference pass tokenized as training does)", default=True)
    step0_tolerance: float = _help("largest |log pi - log pi_ref| per completion token accepted at step 0",
                                   default=0.005)
    on_nonfinite: str = _help("a NaN/inf loss or gradient: stop (the last complete checkpoint stays as it is) or "
                              "skip (its step's gradient is zeroed, counted as guard/skipped_nonfinite)",
                              default="stop")
    # ---- the output folder
    resume_other_inputs: bool = _help("resume a checkpoint although the start model or the training pairs "
                                      "changed since it was written (refused otherwise)", default=False)
    overwrite_output_dir: bool = _help("start over in an output_dir that holds checkpoints or a finished run "
                                       "(its checkpoint-* folders are deleted); without it such a folder is "
                                       "refused unless resume_from_checkpoint is set", default=False)
    # ---- Trainer defaults suited to this tool
    report_to: None | str | list[str] = _help("logging integrations (none by default; e.g. tensorboard)",
                                             default="none")
    remove_unused_columns: bool = _help("kept False: pairs are not model-signature columns", default=False)
    logging_steps: float = _help("log every N optimizer steps", default=10)
    train_sampling_strategy: str = field(default="group_by_length", metadata={
        "help": "group_by_length (default: each optimizer step's pairs have similar prompt + chosen + rejected "
                "text length, steps in seeded random order, so little compute goes to padding), random, "
                "sequential", "choices": list(SAMPLING_STRATEGIES)})

    def __post_init__(self):
        self._validate_mpo()
        super().__post_init__()

    def _validate_mpo(self) -> None:
        def bad(name: str, msg: str):
            raise InputError(msg, field=name)

        if self.model_dtype not in MODEL_DTYPES:
            bad("model_dtype", f"must be one of {', '.join(MODEL_DTYPES)}, got {self.model_dtype!r}")

        for name, low, low_ok in _NUMBERS:
            value = getattr(self, name, None)
            if value is None and name in _OPTIONAL_NUMBERS:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                bad(name, f"must be a number, got {type(value).__name__} {value!r}")
            if not math.isfinite(value):
                bad(name, f"must be finite, got {value}")
            if value < low or (value == low and not low_ok):
                bad(name, f"must be {'>=' if low_ok else '>'} {low:g}, got {value:g}")
        if self.max_steps == 0 or self.max_steps < -1:
            bad("max_steps", f"must be > 0, or -1 to train num_train_epochs epochs; got {self.max_steps} "
                             "(0 would still run one optimizer step)")

        if isinstance(self.loss_type, str):
            self.loss_type = [self.loss_type]
        if not self.loss_type:
            bad("loss_type", "needs at least one loss")
        for name in self.loss_type:
            if name not in LOSS_TYPES:
                bad("loss_type", f"unknown loss {name!r}; choose from {', '.join(LOSS_TYPES)}")
        if len(set(self.loss_type)) != len(self.loss_type):
            bad("loss_type", f"lists a loss twice: {self.loss_type}")
        if self.loss_weights is None:
            self.loss_weights = list(MPO_WEIGHTS) if list(self.loss_type) == list(MPO_LOSS) else [1.0] * len(self.loss_type)
        if isinstance(self.loss_weights, int | float):
            self.loss_weights = [self.loss_weights]
        self.loss_weights = [float(w) for w in self.loss_weights]
        if len(self.loss_weights) != len(self.loss_type):
            bad("loss_weights", f"has {len(self.loss_weights)} weights for {len(self.loss_type)} losses")
        if any(not math.isfinite(w) or w < 0 for w in self.loss_weights):
            bad("loss_weights", f"weights must be finite and >= 0, got {self.loss_weights}")
        if not any(w > 0 for w in self.loss_weights):
            bad("loss_weights", f"all zero ({self.loss_weights}): the loss would be 0 and nothing would train")
        if self.bco_delta not in RewardShift.MODES:
            bad("bco_delta", f"must be one of {RewardShift.MODES}, got {self.bco_delta!r}")
        if self.sft_normalization not in SFT_NORMALIZATIONS:
            bad("sft_normalization", f"must be one of {SFT_NORMALIZATIONS}, got {self.sft_normalization!r}")
        if self.preference_forward not in MECHANISMS:
            bad("preference_forward", f"must be one of {MECHANISMS}, got {self.preference_forward!r}")
        if not 0.0 <= self.label_smoothing < 0.5:
            bad("label_smoothing", f"must be in [0, 0.5), got {self.label_smoothing}")
        if self.on_nonfinite not in ON_NONFINITE:
            bad("on_nonfinite", f"must be one of {ON_NONFINITE}, got {self.on_nonfinite!r}")
        if self.on_error not in ON_ERROR:
            bad("on_error", f"must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.ref_model not in REF_MODES:
            bad("ref_model", f"must be one of {REF_MODES}, got {self.ref_model!r}")
        if self.train_sampling_strategy not in SAMPLING_STRATEGIES:
            bad("train_sampling_strategy", f"must be one of {SAMPLING_STRATEGIES}, got "
                                           f"{self.train_sampling_strategy!r}")
        if self.ref_model == "adapter_disabled" and not self.use_lora:
            bad("ref_model", "adapter_disabled needs use_lora: true")
        if self.ref_sync_steps < 0:
            bad("ref_sync_steps", f"must be >= 0, got {self.ref_sync_steps}")
        if self.ref_sync_steps and self.resolved_ref_model != "copy":
            bad("ref_sync_steps", "TR-DPO syncing needs a separate reference (ref_model: copy, no LoRA)")
        if not 0.0 < self.ref_sync_alpha <= 1.0:
            bad("ref_sync_alpha", f"must be in (0, 1], got {self.ref_sync_alpha}")
        if self.use_lora:
            if self.lora_r < 1:
                bad("lora_r", f"must be >= 1, got {self.lora_r}")
            if not 0.0 <= self.lora_dropout < 1.0:
                bad("lora_dropout", f"must be in [0, 1), got {self.lora_dropout}")
            if not self.lora_target_modules:
                bad("lora_target_modules", "needs at least one module name (or all-linear)")

    @property
    def resolved_ref_model(self) -> str:
        """copy, adapter_disabled or precomputed (`auto` resolved for this run); none when no loss needs it."""
        if set(self.loss_type) <= REFERENCE_FREE:
            return "none"
        if self.ref_model == "auto":
            return "adapter_disabled" if self.use_lora else "copy"
        return self.ref_model
