"""The reference policy pi_ref: a frozen copy of the start model, or the LoRA base with the adapter off.

The paper keeps the reference frozen for the whole run (syncing it hurt chain-of-thought);
`sync_` implements TR-DPO's soft update (Gorbatovski et al. 2024) for users who want to compare.
"""

from __future__ import annotations

import copy

import torch
from transformers import TrainerCallback

from mmpo.errors import MMPOError
from mmpo.forward import preference_logps


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no gradients: the start model, kept as it is."""
    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref


class Reference:
    """Reference log-probs for a batch, under no_grad.

    mode `copy`: a separate frozen model; `adapter_disabled`: the policy (a peft model) with its
    adapter switched off; `precomputed`: no model, the values come with the batch
    (`mmpo.ref_cache`); `none`: reference-free losses only, nothing is computed.
    """

    def __init__(self, mode: str, model: torch.nn.Module | None = None):
        if mode not in ("copy", "adapter_disabled", "precomputed", "none"):
            raise ValueError(f"unknown reference mode {mode!r}")
        if mode == "copy" and model is None:
            raise ValueError("reference mode copy needs the reference model")
        self.mode = mode
        self.model = model

    @torch.no_grad()
    def logps(self, policy: torch.nn.Module, batch: dict, *, mechanism: str = "shared_prefix") -> dict | None:
        if self.mode == "none":
            return None
        if self.mode == "precomputed":
            if "ref_chosen_logps" not in batch:
                raise MMPOError("ref_model is precomputed but this batch has no reference log-probs: its dataset "
                                "was not given to MPOTrainer (train_dataset / eval_dataset) before training")
            return {"chosen_logps": batch["ref_chosen_logps"], "rejected_logps": batch["ref_rejected_logps"]}
        if self.mode == "copy":
            return preference_logps(self.model, batch, mechanism=mechanism)
        inner = getattr(policy, "module", policy)  # not through DDP: no gradient sync for a no_grad pass
        with _adapter_off(inner):
            return preference_logps(inner, batch, mechanism=mechanism)

    @torch.no_grad()
    def sync_(self, policy: torch.nn.Module, alpha: float) -> None:
        """TR-DPO soft update: ref <- alpha * policy + (1 - alpha) * ref, parameter by parameter."""
        if self.mode != "copy":
            raise ValueError("only a separate (copy) reference can be synced")
        ref_params = dict(self.model.named_parameters())
        for name, p in policy.named_parameters():
            target = ref_params.get(name)
            if target is not None:
                target.mul_(1 - alpha).add_(p.detach().to(target.dtype), alpha=alpha)


def _adapter_off(peft_model: torch.nn.Module):
    disable = getattr(peft_model, "disable_adapter", None)
    if disable is None:
        raise ValueError("reference mode adapter_disabled needs a peft (LoRA) policy")
    return disable()


class SyncCallback(TrainerCallback):
    """Every `ref_sync_steps` optimizer steps, mix the policy into the reference (TR-DPO)."""

    def __init__(self, trainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        if args.ref_sync_steps and state.global_step % args.ref_sync_steps == 0:
            t = self.trainer
            t.reference.sync_(t.accelerator.unwrap_model(t.model), args.ref_sync_alpha)
