"""Checks that stop a wasted run early: the step-0 identity, non-finite values, collapse signals.

    check_step0(trainer, model, inputs, policy, ref)      # raises Step0Error naming the likely cause
    CollapseMonitor()                                      # a TrainerCallback: warns once per signal

Step 0 (docs/loss.md): before the first update the policy is the reference and dropout is off, so
every implicit reward is 0 and each term has a known value (DPO ln 2, BCO 2 ln 2). A run that starts
elsewhere is wrong from its first step; the check says which of the usual causes it is.
Collapse signals, read from the logged metrics over a window of logging steps: chosen log-probs
falling together with rejected ones (likelihood displacement), reward accuracy stuck near 0.5, and
the SFT term rising steadily.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from transformers import TrainerCallback

from mmpo.errors import MMPOError

logger = logging.getLogger(__name__)
ON_NONFINITE = ("stop", "skip")  # MPOConfig.on_nonfinite


class Step0Error(MMPOError):
    """The first batch's rewards are not 0: `cause` is one of CAUSES."""

    CAUSES = ("dropout", "reference_not_start_model", "stale_reference_cache", "tokenization_mismatch",
              "unexplained")

    def __init__(self, cause: str, message: str):
        self.cause = cause
        super().__init__(f"step-0 check failed ({cause}): {message} (turn the check off with step0_check: false)")


def _per_token_gap(policy: dict, ref: dict) -> float:
    gap = ((policy["chosen_logps"].detach() - ref["chosen_logps"]).abs() / policy["chosen_tokens"].clamp(min=1))
    gap_r = ((policy["rejected_logps"].detach() - ref["rejected_logps"]).abs()
             / policy["rejected_tokens"].clamp(min=1))
    return float(torch.cat([gap, gap_r]).max())


def check_step0(trainer: Any, model: torch.nn.Module, inputs: dict, policy: dict, ref: dict | None) -> float | None:
    """The largest per-token |log pi - log pi_ref| of the first batch; raises Step0Error above the tolerance."""
    if ref is None:
        return None  # reference-free losses: no rewards to check
    gap = _per_token_gap(policy, ref)
    tol = trainer.args.step0_tolerance
    if gap <= tol:
        return gap
    raise Step0Error(*_diagnose(trainer, model, inputs, policy, gap, tol))


def _dropout_modules(model: torch.nn.Module) -> list[str]:
    found = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Dropout) and module.p > 0:
            found.append(name)
        elif isinstance(getattr(module, "attention_dropout", None), float) and module.attention_dropout > 0:
            found.append(name)
    return found


def _diagnose(trainer: Any, model: torch.nn.Module, inputs: dict, policy: dict, gap: float,
              tol: float) -> tuple[str, str]:
    from mmpo.train.logps import preference_logps

    head = f"at step 0 the policy and the reference differ by up to {gap:.3g} nats per token (tolerance {tol:g})"
    dropout = _dropout_modules(model)
    if dropout and model.training:
        return "dropout", (f"{head}: dropout is on ({len(dropout)} modules, e.g. {dropout[0]}), so the two "
                           "forwards of each text differ; set disable_dropout: true")
    mode = trainer.reference.mode
    if mode == "copy":
        ref_model = trainer.accelerator.unwrap_model(trainer.reference.model)
        policy_model = trainer.accelerator.unwrap_model(model)
        theirs = dict(ref_model.named_parameters())
        for name, p in policy_model.named_parameters():
            q = theirs.get(name)
            if q is None or q.shape != p.shape or not torch.equal(q.detach().to(p.device), p.detach()):
                return "reference_not_start_model", (f"{head}: the reference model is not the start model (its "
                                                     f"weight {name} differs); give MPOTrainer the start model's "
                                                     "copy as ref_model, or none")
    if mode == "precomputed":
        with torch.no_grad():
            live = preference_logps(model, inputs, mechanism=trainer.args.preference_forward)
        if _per_token_gap(policy, live) <= tol:
            cache = getattr(trainer.train_dataset, "cache_path", None)
            if getattr(trainer.train_dataset, "from_cache", False):
                return "stale_reference_cache", (f"{head}: the precomputed reference log-probs read from {cache} are "
                                                 "not this model's on this data; delete the cache (or set "
                                                 "ref_cache_dir elsewhere) so that it is rebuilt")
            return "tokenization_mismatch", (f"{head}: the reference pass before training ({cache}) turned the pairs "
                                             "into other tokens than training does (chat template, truncation or "
                                             "processor settings differ between the two)")
    return "unexplained", f"{head}; preference_forward {trainer.args.preference_forward}, reference {mode}"


class NonFiniteError(MMPOError):
    """A non-finite loss or gradient with on_nonfinite: stop."""


def nonfinite_step(trainer: Any, what: str, model: torch.nn.Module) -> torch.Tensor:
    """A NaN/inf `what` at this step: stop naming the last complete checkpoint (`on_nonfinite: stop`), or
    count the step and return a zero loss that still touches every trainable weight (`skip`), so
    data-parallel gradient sync stays in step."""
    from mmpo.train.checkpoints import complete_checkpoints

    step = trainer.state.global_step + 1
    if trainer.args.on_nonfinite == "stop":
        done = complete_checkpoints(trainer.args.output_dir)
        last = f"the last complete checkpoint is {done[-1]}" if done else "no checkpoint was written yet"
        raise NonFiniteError(f"non-finite {what} at step {step}; training stopped, {last} (resume from it "
                             "with a lower learning rate, or set on_nonfinite: skip)")
    trainer.guard_counts["skipped_nonfinite"] += 1
    logger.warning("mmpo: non-finite %s at step %d: its gradient is zeroed (on_nonfinite: skip)", what, step)
    return sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)


def nonfinite_grads(model: torch.nn.Module) -> str | None:
    """The name of the first parameter whose gradient has a NaN or an infinity, or None."""
    for name, p in model.named_parameters():
        if p.grad is not None and not torch.isfinite(p.grad).all():
            return name
    return None


class CollapseMonitor(TrainerCallback):
    """Warns once per collapse signal, from the logged metrics of the last `window` logging steps.

    - likelihood displacement: chosen log-probs fall across the window while margins grow (the chosen
      answer loses probability with the rejected one);
    - reward accuracy stuck: `rewards/accuracies` within 0.05 of 0.5 for the whole window, after it;
    - SFT rising: `loss/gen` higher at every step of the window than at its start.
    The signals found are kept in `found` (and the trainer saves them in mpo_state.json).
    """

    def __init__(self, window: int = 8):
        self.window = window
        self.history: list[dict[str, float]] = []
        self.found: dict[str, int] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs or any(k.startswith("eval_") for k in logs):
            return
        self.history.append({k: float(v) for k, v in logs.items() if isinstance(v, int | float)})
        recent = self.history[-self.window:]
        if len(recent) < self.window:
            return
        for signal, hit, what in self._signals(recent):
            if hit and signal not in self.found:
                self.found[signal] = state.global_step
                logger.warning("mmpo: collapse signal at step %d: %s", state.global_step, what)

    def _signals(self, recent: list[dict[str, float]]):
        def series(key):
            values = [h.get(key) for h in recent]
            return values if all(v is not None and math.isfinite(v) for v in values) else None

        chosen, margins, acc, gen = (series("logps/chosen"), series("rewards/margins"),
                                     series("rewards/accuracies"), series("loss/gen"))
        falling = chosen is not None and all(b < a for a, b in zip(chosen, chosen[1:]))
        yield ("likelihood_displacement", falling and margins is not None and margins[-1] > margins[0],
               f"chosen log-probs fell for {self.window} logging steps ({chosen[0]:.2f} -> {chosen[-1]:.2f}) while "
               "the margin grew: the chosen answers lose probability with the rejected ones" if falling else "")
        yield ("reward_accuracy_stuck", acc is not None and all(abs(a - 0.5) <= 0.05 for a in acc),
               f"reward accuracy stayed at 0.5 +- 0.05 for {self.window} logging steps: the preference term "
               "is not separating chosen from rejected")
        yield ("sft_rising", gen is not None and all(g > gen[0] for g in gen[1:]) and gen[-1] > gen[0] * 1.05,
               f"the SFT term rose for {self.window} logging steps ({gen[0]:.3f} -> {gen[-1]:.3f})" if gen else "")
