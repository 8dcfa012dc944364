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

import logging
import os
from collections import defaultdict
from typing import Any

import torch
from transformers import PreTrainedModel, Trainer

from mmpo.train import checkpoints
from mmpo.train.collate import PairCollator
from mmpo.train.config import MPOConfig
from mmpo.train.guards import CollapseMonitor, check_step0, nonfinite_grads, nonfinite_step
from mmpo.train.length_groups import eval_order, train_sampler
from mmpo.train.logps import preference_logps
from mmpo.train.losses import TERM_NAMES, RewardShift, compute_term
from mmpo.train.policy import prepare_policy
from mmpo.train.reference import SyncCallback, reference_model, setup_reference

logger = logging.getLogger(__name__)


class MPOTrainer(Trainer):
    # The Trainer divides every micro-batch loss by the accumulation steps; the global SFT term
    # is scaled up to match in `_sft_normaliser`, so this stays False for every term.
    loss_is_scaled_for_ga = False

    def __init__(self, model: torch.nn.Module, args: MPOConfig, *, ref_model: torch.nn.Module | None = None,
                 train_dataset=None, eval_dataset=None, processing_class=None, data_collator=None,
                 callbacks=None, **kwargs: Any):
        if not isinstance(args, MPOConfig):
            raise TypeError(f"args must be an MPOConfig, got {type(args).__name__}")
        ref_mode, ref_digest = args.resolved_ref_model, None
        if ref_mode == "precomputed":
            from mmpo.train.reference import model_digest

            # Hashed before LoRA wraps the model: the reference is these weights as they are now.
            ref_digest = model_digest(ref_model if ref_model is not None else model)
        model = prepare_policy(model, args)
        ref_model = reference_model(model, ref_model, ref_mode, args.disable_dropout)
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
        self.ref_pass = None  # the precomputed reference's pass, when ref_model is precomputed
        self.run_inputs: dict[str, Any] | None = None  # what the run trains from (mmpo.train.run.run_inputs)
        self.reference = setup_reference(self, ref_mode, ref_model, ref_digest)
        self.reward_shift = RewardShift(args.bco_delta)
        self.guard_counts: dict[str, int] = defaultdict(int)
        self._step0_pending = args.step0_check
        self.collapse = CollapseMonitor()
        self.add_callback(self.collapse)
        self.forward_seen: dict[str, set[str]] = {"mechanisms": set(), "fallback_reasons": set()}
        self._metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "eval": defaultdict(list)}
        if args.ref_sync_steps:
            self.add_callback(SyncCallback(self))

    def prepare_batch(self, batch: dict) -> dict:
        """A collated batch on the device, as the Trainer prepares it (the reference pass uses it too)."""
        return self._prepare_inputs(batch)

    def fill_reference_logps(self) -> None:
        """The precomputed reference log-probs of every dataset (`mmpo.train.reference.PrecomputedReference`)."""
        if self.ref_pass is not None:
            self.ref_pass.fill(self)

    def evaluate(self, *args, **kwargs):
        self.fill_reference_logps()
        return super().evaluate(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        sampler = train_sampler(self, train_dataset if train_dataset is not None else self.train_dataset)
        return sampler if sampler is not None else super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        order = eval_order(self, eval_dataset)
        return order if order is not None else super()._get_eval_sampler(eval_dataset)

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
        for name, weight in zip(args.loss_type, args.loss_weights):
            extra = {}
            if name == "sft":
                extra["sft_num_tokens"] = self._sft_normaliser(policy["chosen_tokens"], num_items_in_batch)
            term = compute_term(name, **common, **extra)
            loss = loss + weight * term
            self._metrics[mode][f"loss/{TERM_NAMES.get(name, name)}"].append(self._mean(term.detach()))
        self._log_pair_metrics(mode, pc, pr, chosen_rewards if ref is not None else None, rejected_rewards, delta)
        if mode == "train" and not torch.isfinite(loss.detach()).all():
            loss = self._nonfinite("loss", model, inputs)
        return (loss, policy) if return_outputs else loss

    def _log_pair_metrics(self, mode: str, pc, pr, chosen_rewards, rejected_rewards, delta) -> None:
        """TRL's names: rewards/* (when there is a reference), logps/*; and bco/delta."""
        metrics = self._metrics[mode]
        if chosen_rewards is not None:
            metrics["rewards/chosen"].append(self._mean(chosen_rewards))
            metrics["rewards/rejected"].append(self._mean(rejected_rewards))
            metrics["rewards/margins"].append(self._mean(chosen_rewards - rejected_rewards))
            metrics["rewards/accuracies"].append(self._mean((chosen_rewards > rejected_rewards).float()))
        metrics["logps/chosen"].append(self._mean(pc.detach()))
        metrics["logps/rejected"].append(self._mean(pr.detach()))
        if "bco_pair" in self.args.loss_type:
            metrics["bco/delta"].append(float(delta))

    def train(self, *args, **kwargs):
        result = super().train(*args, **kwargs)
        if self.args.should_save:
            checkpoints.write_run_info(self.args.output_dir, self.run_info())
        return result

    def run_info(self) -> dict[str, Any]:
        """What ran: the preference forward (and why it fell back), the engine, the processes, the reference."""
        return checkpoints.run_info(self)

    def _nonfinite(self, what: str, model, inputs) -> torch.Tensor:
        """A NaN/inf `what` at this step: stop naming the last complete checkpoint, or skip the step."""
        return nonfinite_step(self, what, model)

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
        """Written aside, then renamed into place (`mmpo.train.checkpoints.save_staged`; docs/reliability.md)."""
        checkpoints.save_staged(self, model, trial, super()._save_checkpoint)

    def save_mpo_state(self, folder: str) -> None:
        """Write `mpo_state.json` (and the reference weights when TR-DPO changed them) into `folder`."""
        if not self.args.should_save:
            return
        checkpoints.write_state(folder, {
            "reward_shift": self.reward_shift.state_dict(), "stats": dict(getattr(self.data_collator, "stats", {})),
            "guards": dict(self.guard_counts), "collapse_signals": dict(self.collapse.found),
            "inputs": self.run_inputs})
        if self.args.ref_sync_steps and self.reference.mode == "copy":
            from safetensors.torch import save_file

            ref = self.accelerator.unwrap_model(self.reference.model)
            save_file({k: v.detach().contiguous().cpu() for k, v in ref.state_dict().items()},
                      os.path.join(folder, checkpoints.REFERENCE_FILE))

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
        checkpoints.restore_state(self, resume_from_checkpoint)
        ref_path = os.path.join(resume_from_checkpoint, checkpoints.REFERENCE_FILE)
        if self.args.ref_sync_steps and os.path.isfile(ref_path):
            from safetensors.torch import load_file

            self.accelerator.unwrap_model(self.reference.model).load_state_dict(load_file(ref_path))
