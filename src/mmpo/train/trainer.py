"""MPOTrainer: `transformers.Trainer` with the mixed preference loss (docs/loss.md).

    trainer = MPOTrainer(model, args=MPOConfig(...), train_dataset=PairDataset(load_pairs(...)),
                         processing_class=processor)
    trainer.train()

The Trainer (with accelerate) owns the loop, distribution, mixed precision, accumulation and
checkpoints. This class adds: the reference policy (or its log-probs precomputed before training,
`mmpo.train.reference`), the weighted loss terms, the BCO reward shift (kept in checkpoints as
`mpo_state.json`), the step-wide chosen-token count for the global SFT normalisation, batches
grouped by length (`mmpo.train.length_groups`), and TRL-named metrics averaged over each logging window.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from mmpo.errors import InputError, MMPOError
from mmpo.train.collate import PairCollator
from mmpo.train.config import MPOConfig
from mmpo.train.guards import CollapseMonitor, NonFiniteError, check_step0, nonfinite_grads
from mmpo.train.logps import preference_logps, under_engine
from mmpo.train.losses import TERM_NAMES, RewardShift, compute_term
from mmpo.train.policy import add_lora, disable_dropout, freeze_vision_tower
from mmpo.train.reference import Reference, SyncCallback, adapter_off, frozen_copy

logger = logging.getLogger(__name__)
STATE_FILE = "mpo_state.json"
REFERENCE_FILE = "reference.safetensors"
RUN_INFO = "run_info.json"
STAGING = ".checkpoint-staging"  # checkpoints are written here, then renamed into the output folder


class _ReferencePass(TrainerCallback):
    """Fills the precomputed reference log-probs when training begins, once the engine has prepared the model."""

    def __init__(self, trainer: MPOTrainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer.fill_reference_logps()


def prepare_reference(trainer: Trainer, ref_model: torch.nn.Module) -> torch.nn.Module:
    """The frozen reference placed as the engine needs it: sharded like the policy under FSDP2 and
    DeepSpeed ZeRO-3 (a no-optimizer DeepSpeed engine), on the device otherwise.

    The FSDP2 and DeepSpeed branches need GPUs and were not run in this repository's CI (see README).
    """
    if trainer.is_deepspeed_enabled:
        import deepspeed

        config = copy.deepcopy(trainer.accelerator.state.deepspeed_plugin.deepspeed_config)
        stage = config.get("zero_optimization", {}).get("stage", 0)
        for key in ("optimizer", "scheduler"):
            config.pop(key, None)
        if stage != 3:  # only ZeRO-3 shards parameters; a frozen model needs nothing else from the engine
            config["zero_optimization"] = {"stage": 0}
        engine, *_ = deepspeed.initialize(model=ref_model, config=config)
        engine.eval()
        return engine
    if trainer.is_fsdp_enabled:
        plugin = trainer.accelerator.state.fsdp_plugin
        if getattr(plugin, "fsdp_version", 1) != 2:
            raise MMPOError("ref_model: copy under FSDP needs fsdp_version 2 (FSDP2) in the accelerate config; "
                            "or use ref_model: precomputed")
        from accelerate.utils.fsdp_utils import fsdp2_prepare_model

        return fsdp2_prepare_model(trainer.accelerator, ref_model).eval()
    return trainer.accelerator.prepare_model(ref_model, evaluation_mode=True)


def complete_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The `checkpoint-N` folders of `folder` that hold a whole checkpoint, oldest first.

    Complete means: the Trainer's state, mmpo's state (written last) and a non-empty model config
    or adapter config. Folders left by older versions killed mid-save fail this and are ignored.
    """
    found = []
    for path in Path(folder).glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        step = path.name.rsplit("-", 1)[-1]
        if not (path.is_dir() and step.isdigit()):
            continue
        configs = [path / "config.json", path / "adapter_config.json"]
        if ((path / "trainer_state.json").is_file() and (path / STATE_FILE).is_file()
                and any(c.is_file() and c.stat().st_size > 0 for c in configs)):
            found.append((int(step), path))
    return [p for _, p in sorted(found)]


def _fsync_tree(folder: str) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(root)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MPOTrainer(Trainer):
    # The Trainer divides every micro-batch loss by the accumulation steps; the global SFT term
    # is scaled up to match in `_sft_normaliser`, so this stays False for every term.
    loss_is_scaled_for_ga = False

    def __init__(self, model: torch.nn.Module, args: MPOConfig, *, ref_model: torch.nn.Module | None = None,
                 train_dataset=None, eval_dataset=None, processing_class=None, data_collator=None,
                 callbacks=None, **kwargs: Any):
        if not isinstance(args, MPOConfig):
            raise TypeError(f"args must be an MPOConfig, got {type(args).__name__}")
        ref_mode = args.resolved_ref_model
        if ref_mode == "precomputed":
            from mmpo.train.reference import model_digest

            # Hashed before LoRA wraps the model: the reference is these weights as they are now.
            ref_digest = model_digest(ref_model if ref_model is not None else model)
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
        if ref_mode == "copy" and ref_model is None:
            ref_model = frozen_copy(model)
        elif ref_model is not None:
            ref_model.eval().requires_grad_(False)
            if args.disable_dropout:
                disable_dropout(ref_model)
        if data_collator is None:
            if processing_class is None:
                raise ValueError("MPOTrainer needs processing_class (the model's processor) or a data_collator")
            data_collator = PairCollator(processing_class, max_length=args.max_length,
                                         truncate_completions=args.truncate_completions, on_error=args.on_error,
                                         stats=getattr(train_dataset, "stats", None))
        super().__init__(model=model, args=args, data_collator=data_collator, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, processing_class=processing_class, callbacks=callbacks,
                         **kwargs)
        # The model never sees num_items_in_batch (compute_loss is ours), so the Trainer must divide
        # each micro-batch loss by the accumulation steps; older 5.x releases decide that from this flag.
        self.model_accepts_loss_kwargs = False
        if ref_mode == "copy":
            ref_model = prepare_reference(self, ref_model)
        elif ref_mode == "precomputed":
            self._attach_ref_logps(ref_model, ref_digest)
            ref_model = None  # training holds no reference model
        self.reference = Reference(ref_mode, ref_model)
        self.reward_shift = RewardShift(args.bco_delta)
        self.guard_counts: dict[str, int] = defaultdict(int)
        self._step0_pending = args.step0_check
        self.collapse = CollapseMonitor()
        self.add_callback(self.collapse)
        self.forward_seen: dict[str, set[str]] = {"mechanisms": set(), "fallback_reasons": set()}
        self._metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "eval": defaultdict(list)}
        if args.ref_sync_steps:
            self.add_callback(SyncCallback(self))

    # ---- precomputed reference log-probs and length-grouped batches ------------------------------

    def _attach_ref_logps(self, ref_model: torch.nn.Module | None, digest: str) -> None:
        """Let every pair carry its reference log-probs, filled by `fill_reference_logps` when training
        (or an evaluation) begins: through the model as the engine prepared it (wrapped under DDP and
        DeepSpeed, sharded under FSDP2), one no-grad pass split across ranks, or the cache on disk."""
        import math

        from mmpo.train.reference import RefLogpsDataset, settings_digest

        processor = self.processing_class or getattr(self.data_collator, "processor", None)
        if processor is None:
            raise MMPOError("ref_model: precomputed needs processing_class (the model's processor)")
        self._ref_pass = {"model": ref_model, "digest": digest, "settings": settings_digest(processor, self.args),
                          "done": False}

        def placeholder(dataset):
            return None if dataset is None else RefLogpsDataset(dataset, torch.full((2, len(dataset)), math.nan))

        self.train_dataset = placeholder(self.train_dataset)
        if isinstance(self.eval_dataset, dict):
            self.eval_dataset = {name: placeholder(ds) for name, ds in self.eval_dataset.items()}
        else:
            self.eval_dataset = placeholder(self.eval_dataset)
        self.add_callback(_ReferencePass(self))

    def fill_reference_logps(self) -> None:
        """The precomputed reference log-probs of every dataset (once per trainer; see `_attach_ref_logps`)."""
        from mmpo.train.reference import data_digest, load_or_compute

        plan = getattr(self, "_ref_pass", None)
        if plan is None or plan["done"]:
            return
        explicit = plan["model"]
        if explicit is not None:
            source = explicit.to(self.args.device)
        else:
            # The start model; with LoRA its base (the adapter off); under an engine its prepared form.
            source = self.model_wrapped if under_engine(self.model_wrapped) else self.model
        datasets = [(self.train_dataset, "train")]
        if isinstance(self.eval_dataset, dict):
            datasets += [(ds, f"eval_{name}") for name, ds in self.eval_dataset.items()]
        else:
            datasets.append((self.eval_dataset, "eval"))
        for dataset, role in datasets:
            if dataset is None:
                continue
            parts = {"model": plan["digest"], "data": data_digest(dataset.base), "settings": plan["settings"]}
            off = adapter_off(self.model) if self.args.use_lora and explicit is None else contextlib.nullcontext()
            with off:
                filled = load_or_compute(self, source, dataset.base, role, parts)
            dataset.values.copy_(filled.values)
            dataset.cache_path, dataset.from_cache = filled.cache_path, filled.from_cache
        plan["done"] = True

    def evaluate(self, *args, **kwargs):
        self.fill_reference_logps()
        return super().evaluate(*args, **kwargs)

    def _pair_lengths(self, dataset) -> list[int]:
        from mmpo.train.length_groups import pair_lengths

        try:
            return pair_lengths(dataset, self.processing_class or getattr(self.data_collator, "processor", None))
        except (AttributeError, TypeError):
            raise InputError("group_by_length needs mmpo pair datasets (PairDataset) and a processor; set "
                             "train_sampling_strategy: random", field="train_sampling_strategy") from None

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or dataset is None or not hasattr(dataset,
                                                                                                    "__len__"):
            return super()._get_train_sampler(train_dataset)
        from mmpo.train.length_groups import LengthGroupedSampler

        # Grouped by the optimizer step's pairs, so accumulation and rank splits see the same steps.
        step = self._train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return LengthGroupedSampler(self._pair_lengths(dataset), step, seed)

    def _get_eval_sampler(self, eval_dataset):
        if self.args.train_sampling_strategy != "group_by_length" or not hasattr(eval_dataset, "__len__"):
            return super()._get_eval_sampler(eval_dataset)
        lengths = self._pair_lengths(eval_dataset)
        return sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)  # eval order is free

    # ---- the loss ------------------------------------------------------------------------------

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device):
        """Chosen completion tokens of the whole optimizer step (all micro-batches, all ranks)."""
        if self.args.sft_normalization != "global" or "sft" not in self.args.loss_type:
            return None
        n = sum(int(b["chosen_mask"].sum()) for b in batch_samples if "chosen_mask" in b)
        n = torch.tensor(n, dtype=torch.float64, device=device)
        if self.accelerator.num_processes > 1:
            n = self.accelerator.gather(n.reshape(1)).sum()
        return n

    def _sft_normaliser(self, batch_tokens: torch.Tensor, num_items_in_batch) -> torch.Tensor:
        """The SFT denominator for this micro-batch.

        global: each micro-batch loss is divided by the accumulation steps A (by the Trainer) and
        averaged over the W ranks (by DDP), so dividing its NLL sum by N / (A * W), N the step's
        chosen tokens, makes the step's gradient that of (total NLL) / N.
        """
        if num_items_in_batch is None or not self.model.training:
            return batch_tokens.sum().clamp(min=1)
        share = self.current_gradient_accumulation_steps * self.accelerator.num_processes
        return (num_items_in_batch / share).clamp(min=1e-12).to(torch.float32)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        if inputs.get("num_pairs") == 0:
            # Every pair of this batch was skipped (on_error: skip): a zero loss that still
            # touches every trainable weight, so data-parallel gradient sync stays in step.
            loss = sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)
            return (loss, {}) if return_outputs else loss
        args = self.args
        mech = args.preference_forward
        policy = preference_logps(model, inputs, mechanism=mech)
        ref = self.reference.logps(model, inputs, mechanism=mech)
        self.forward_seen["mechanisms"].add(policy["mechanism"])
        if policy.get("fallback_reason"):
            self.forward_seen["fallback_reasons"].add(policy["fallback_reason"])
        if mode == "train" and self._step0_pending:
            self._step0_pending = False
            if self.state.global_step == 0:
                gap = check_step0(self, model, inputs, policy, ref)
                if gap is not None:
                    self._metrics["train"]["guard/step0_gap"].append(gap)
        pc, pr = policy["chosen_logps"], policy["rejected_logps"]
        rc = ref["chosen_logps"] if ref is not None else torch.zeros_like(pc)
        rr = ref["rejected_logps"] if ref is not None else torch.zeros_like(pr)
        chosen_rewards = args.beta * (pc - rc).detach()
        rejected_rewards = args.beta * (pr - rr).detach()
        if mode == "train" and not torch.isfinite(torch.cat([chosen_rewards, rejected_rewards])).all():
            # Before anything is updated from this batch: a NaN would otherwise stay in delta for good.
            loss = self._nonfinite("log-probs", model, inputs)
            return (loss, {}) if return_outputs else loss
        if mode == "train" and "bco_pair" in args.loss_type:
            # Updated before the loss, so delta includes this batch (the authors' order).
            self.reward_shift.update(torch.cat([chosen_rewards, rejected_rewards]).mean())
        delta = self.reward_shift.value
        common = dict(policy_chosen_logps=pc, policy_rejected_logps=pr, ref_chosen_logps=rc,
                      ref_rejected_logps=rr, chosen_tokens=policy["chosen_tokens"],
                      rejected_tokens=policy["rejected_tokens"], beta=args.beta, delta=delta,
                      label_smoothing=args.label_smoothing, simpo_gamma=args.simpo_gamma)
        loss = 0.0
        metrics = self._metrics[mode]
        for name, weight in zip(args.loss_type, args.loss_weights):
            extra = {}
            if name == "sft":
                extra["sft_num_tokens"] = self._sft_normaliser(policy["chosen_tokens"], num_items_in_batch)
            term = compute_term(name, **common, **extra)
            loss = loss + weight * term
            metrics[f"loss/{TERM_NAMES.get(name, name)}"].append(self._mean(term.detach()))
        if ref is not None:
            metrics["rewards/chosen"].append(self._mean(chosen_rewards))
            metrics["rewards/rejected"].append(self._mean(rejected_rewards))
            metrics["rewards/margins"].append(self._mean(chosen_rewards - rejected_rewards))
            metrics["rewards/accuracies"].append(self._mean((chosen_rewards > rejected_rewards).float()))
        metrics["logps/chosen"].append(self._mean(pc.detach()))
        metrics["logps/rejected"].append(self._mean(pr.detach()))
        if "bco_pair" in args.loss_type:
            metrics["bco/delta"].append(float(delta))
        if mode == "train" and not torch.isfinite(loss.detach()).all():
            loss = self._nonfinite("loss", model, inputs)
        return (loss, policy) if return_outputs else loss

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        self.write_run_info(self.args.output_dir)
        return result

    def run_info(self) -> dict[str, Any]:
        """What ran: the preference forward (and why it fell back), the engine, the processes, the reference."""
        if self.is_deepspeed_enabled:
            engine = "deepspeed"
        elif self.is_fsdp_enabled:
            plugin = getattr(self.accelerator.state, "fsdp_plugin", None)
            engine = f"fsdp{getattr(plugin, 'fsdp_version', 1)}"
        elif self.args.world_size > 1:
            engine = "ddp"
        else:
            engine = "none"
        seen = self.forward_seen["mechanisms"]
        return {"preference_forward": "shared_prefix" if seen == {"shared_prefix"} else
                ("plain" if seen == {"plain"} else sorted(seen) or None),
                "requested_forward": self.args.preference_forward,
                "fallback_reasons": sorted(self.forward_seen["fallback_reasons"]), "engine": engine,
                "world_size": self.args.world_size, "reference": self.reference.mode,
                "gradient_accumulation_steps": self.args.gradient_accumulation_steps,
                "per_device_train_batch_size": self.args.per_device_train_batch_size}

    def write_run_info(self, folder: str) -> None:
        """`run_info.json` in `folder` (docs/formats.md), written by the main process."""
        if self.args.should_save:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, RUN_INFO), "w", encoding="utf-8") as fh:
                json.dump(self.run_info(), fh, indent=2)

    def _nonfinite(self, what: str, model, inputs) -> torch.Tensor:
        """A NaN/inf `what` at this step: stop naming the last complete checkpoint, or skip the step."""
        step = self.state.global_step + 1
        if self.args.on_nonfinite == "stop":
            done = complete_checkpoints(self.args.output_dir)
            last = f"the last complete checkpoint is {done[-1]}" if done else "no checkpoint was written yet"
            raise NonFiniteError(f"non-finite {what} at step {step}; training stopped, {last} (resume from it "
                                 "with a lower learning rate, or set on_nonfinite: skip)")
        self.guard_counts["skipped_nonfinite"] += 1
        logger.warning("mmpo: non-finite %s at step %d: its gradient is zeroed (on_nonfinite: skip)", what, step)
        # A zero loss that still touches every trainable weight, so data-parallel gradient sync stays in step.
        return sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        bad = nonfinite_grads(model)
        if bad is not None:
            self._nonfinite(f"gradient ({bad})", model, inputs)
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.zero_()
            loss = torch.zeros_like(loss)
        return loss

    def _mean(self, x: torch.Tensor) -> float:
        """Mean over all ranks' values (per pair, or one scalar per rank).

        Plain gather, as TRL: gather_for_metrics would trim a last batch by sample count, which
        is wrong for the one-per-rank scalars.
        """
        return self.accelerator.gather(x.reshape(-1)).float().mean().item()

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # Pairs have no labels, so the Trainer would skip the loss: always compute it.
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        averaged = {key: sum(v) / len(v) for key, v in self._metrics[mode].items() if v}
        if mode == "train" and self.guard_counts:
            averaged.update({f"guard/{k}": float(v) for k, v in self.guard_counts.items()})
        if mode == "eval":
            averaged = {f"eval_{key}": v for key, v in averaged.items()}
        logs.update(averaged)
        self._metrics[mode].clear()
        super().log(logs, start_time)

    def floating_point_ops(self, inputs) -> int:
        return 0  # batches have no top-level input_ids; FLOPs are not estimated

    # ---- checkpoints: the reward shift (and a synced reference) travel with the weights ------------

    def _save_checkpoint(self, model, trial) -> None:
        """Write the checkpoint aside, then rename it into place: a kill at any moment leaves either a
        complete `checkpoint-N` or none (docs/reliability.md)."""
        run_dir = self._get_output_dir(trial=trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging_root = os.path.join(run_dir, STAGING)
        staging, final = os.path.join(staging_root, name), os.path.join(run_dir, name)
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # what a killed save left behind
        self.accelerator.wait_for_everyone()
        get_run_dir = self._get_output_dir
        self._get_output_dir = lambda trial=None: staging_root  # every rank writes its part under staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._get_output_dir = get_run_dir
        self.save_mpo_state(staging)  # last: its presence marks a complete checkpoint
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            _fsync_tree(staging)
            if os.path.exists(final):  # the same step saved again (a resumed run)
                shutil.rmtree(final)
            os.replace(staging, final)
            _fsync_dir(run_dir)
            if self.state.best_model_checkpoint and self.state.best_model_checkpoint.startswith(staging_root):
                self.state.best_model_checkpoint = os.path.join(run_dir, os.path.basename(
                    self.state.best_model_checkpoint))
            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)
        self.accelerator.wait_for_everyone()

    def save_mpo_state(self, folder: str) -> None:
        """Write `mpo_state.json` (and the reference weights when TR-DPO changed them) into `folder`."""
        if not self.args.should_save:
            return
        os.makedirs(folder, exist_ok=True)
        state = {"reward_shift": self.reward_shift.state_dict(),
                 "stats": dict(getattr(self.data_collator, "stats", {})),
                 "guards": dict(self.guard_counts), "collapse_signals": dict(self.collapse.found)}
        with open(os.path.join(folder, STATE_FILE), "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2)
        if self.args.ref_sync_steps and self.reference.mode == "copy":
            from safetensors.torch import save_file

            ref = self.accelerator.unwrap_model(self.reference.model)
            save_file({k: v.detach().contiguous().cpu() for k, v in ref.state_dict().items()},
                      os.path.join(folder, REFERENCE_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        if (isinstance(target, PreTrainedModel) and not (self.is_deepspeed_enabled or self.is_fsdp_enabled)
                and os.path.isfile(os.path.join(resume_from_checkpoint, "config.json"))):
            # Trainer (5.x) loads checkpoint keys as saved, but save_pretrained writes some
            # architectures (LLaVA) under their legacy names; from_pretrained maps them back.
            loaded = type(target).from_pretrained(resume_from_checkpoint, dtype=target.dtype)
            target.load_state_dict(loaded.state_dict())
            del loaded
        else:
            super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, STATE_FILE)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                state = json.load(fh)
            self.reward_shift.load_state_dict(state["reward_shift"])
            stats = getattr(self.data_collator, "stats", None)
            if stats is not None:
                stats.clear()
                stats.update(state.get("stats", {}))
            self.guard_counts.clear()
            self.guard_counts.update(state.get("guards", {}))
            self.collapse.found.update(state.get("collapse_signals", {}))
        ref_path = os.path.join(resume_from_checkpoint, REFERENCE_FILE)
        if self.args.ref_sync_steps and os.path.isfile(ref_path):
            from safetensors.torch import load_file

            self.accelerator.unwrap_model(self.reference.model).load_state_dict(load_file(ref_path))
