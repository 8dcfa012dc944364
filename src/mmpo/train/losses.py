"""Preference losses as pure functions of log-probabilities (no model, no trainer state).

Shapes: B pairs per batch. `*_logps` are (B,) **sums** of completion-token log-probs (docs/loss.md);
`*_logratios` are policy minus reference, (B,). Every per-pair loss returns (B,); the caller averages
over pairs, weights and sums (`compute_term` does that for the trainer).

MPO (Wang et al. 2024, arXiv 2411.10442, §3.2) is sigmoid (preference) + bco_pair (quality) + sft
(generation), weights 0.8 / 0.2 / 1.0. The others are the paper's ablation (§5) plus SimPO.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOSS_TYPES = ("sigmoid", "bco_pair", "sft", "ipo", "cdpo", "robust", "hinge", "sppo_hard", "aot_pair",
              "orpo", "simpo")
# MPO (paper §3.2): preference (DPO) + quality (BCO) + generation (SFT), weighted 0.8 / 0.2 / 1.0.
MPO_LOSS = ("sigmoid", "bco_pair", "sft")
MPO_WEIGHTS = (0.8, 0.2, 1.0)
# The SFT term's normaliser: the chosen tokens of the whole optimizer step, or of each micro-batch (TRL).
SFT_NORMALIZATIONS = ("global", "micro_batch")
# Losses that never look at the reference model: with only these, the trainer skips its forward.
REFERENCE_FREE = frozenset({"sft", "orpo", "simpo"})
# Names of the logged terms: MPO's three get loss/pref, loss/quality, loss/gen (docs/loss.md), the rest their own.
TERM_NAMES = {"sigmoid": "pref", "bco_pair": "quality", "sft": "gen"}


def sigmoid_loss(chosen_logratios, rejected_logratios, beta: float):
    """DPO, Rafailov et al. 2023 eq. 7: -log sigmoid(beta * (h_c - h_r)). (B,) -> (B,)."""
    return -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))


def bco_pair_loss(chosen_logratios, rejected_logratios, beta: float, delta: float | torch.Tensor = 0.0):
    """BCO (Jung et al. 2024) as MPO's quality loss (Wang et al. 2024 §3.2).

    -log sigmoid(r_c - delta) - log sigmoid(-(r_r - delta)), r = beta * logratio; delta is the reward
    shift (a running mean of rewards in MPO, 0 in TRL >= 0.29). (B,) -> (B,).
    """
    chosen_rewards = beta * chosen_logratios
    rejected_rewards = beta * rejected_logratios
    return -F.logsigmoid(chosen_rewards - delta) - F.logsigmoid(-(rejected_rewards - delta))


def sft_loss(chosen_logps, num_tokens):
    """Generation loss (MPO §3.2): NLL of the chosen completions per token.

    `chosen_logps` (B,) sums; `num_tokens` is the normaliser: the chosen tokens of this batch
    (TRL, the authors' code) or a share of the whole optimizer step's tokens (mmpo's default).
    Returns a scalar, the same for every pair, so it is not averaged again.
    """
    return -chosen_logps.sum() / num_tokens


def ipo_loss(chosen_logratios, rejected_logratios, beta: float, chosen_tokens=None, rejected_tokens=None):
    """IPO, Azar et al. 2023 eq. 17: (h - 1/(2 beta))^2.

    With token counts (B,), h uses per-token log-ratios as TRL does (its authors confirmed the
    paper's results used that form); without them, the summed log-ratios. (B,) -> (B,).
    """
    if chosen_tokens is not None:
        chosen_logratios = chosen_logratios / chosen_tokens.clamp(min=1)
        rejected_logratios = rejected_logratios / rejected_tokens.clamp(min=1)
    return (chosen_logratios - rejected_logratios - 1 / (2 * beta)) ** 2


def cdpo_loss(chosen_logratios, rejected_logratios, beta: float, label_smoothing: float):
    """Conservative DPO (Mitchell 2023): labels flipped with probability eps. (B,) -> (B,)."""
    logits = beta * (chosen_logratios - rejected_logratios)
    return -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)


def robust_loss(chosen_logratios, rejected_logratios, beta: float, label_smoothing: float):
    """Robust DPO, Chowdhury et al. 2024 eq. 8: unbiased under label-flip rate eps < 0.5. (B,) -> (B,)."""
    logits = beta * (chosen_logratios - rejected_logratios)
    return (-(1 - label_smoothing) * F.logsigmoid(logits)
            + label_smoothing * F.logsigmoid(-logits)) / (1 - 2 * label_smoothing)


def hinge_loss(chosen_logratios, rejected_logratios, beta: float):
    """Hinge loss of RSO/SLiC, Liu et al. 2023: max(0, 1 - beta * (h_c - h_r)). (B,) -> (B,)."""
    return torch.relu(1 - beta * (chosen_logratios - rejected_logratios))


def sppo_hard_loss(chosen_logratios, rejected_logratios, beta: float):
    """SPPO with hard win probabilities (1 and 0), Wu et al. 2024 eq. 4.7. (B,) -> (B,)."""
    return (chosen_logratios - 0.5 / beta) ** 2 + (rejected_logratios + 0.5 / beta) ** 2


def aot_pair_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                  beta: float, label_smoothing: float = 0.0):
    """Paired AOT, Melnyk et al. 2024: DPO on the sorted policy and reference margins.

    Sorting across the batch makes it a stochastic-dominance loss, so a pair's value depends on
    the whole batch. (B,) -> (B,).
    """
    policy_sorted, _ = torch.sort(policy_chosen_logps - policy_rejected_logps, dim=0)
    ref_sorted, _ = torch.sort(ref_chosen_logps - ref_rejected_logps, dim=0)
    logits = beta * (policy_sorted - ref_sorted)
    return -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)


def _log_odds(avg_logps):
    # log(p / (1 - p)) with p = exp(avg_logp) < 1; log1p(-exp) is exact near p -> 0.
    return avg_logps - torch.log1p(-torch.exp(avg_logps))


def orpo_loss(policy_chosen_logps, policy_rejected_logps, chosen_tokens, rejected_tokens, beta: float):
    """ORPO's odds-ratio term, Hong et al. 2024 eq. 6-7, weighted by beta (its lambda); reference-free.

    Uses per-token average log-probs. Pair it with `sft` for the full ORPO objective. (B,) -> (B,).
    """
    avg_c = policy_chosen_logps / chosen_tokens.clamp(min=1)
    avg_r = policy_rejected_logps / rejected_tokens.clamp(min=1)
    return -beta * F.logsigmoid(_log_odds(avg_c) - _log_odds(avg_r))


def simpo_loss(policy_chosen_logps, policy_rejected_logps, chosen_tokens, rejected_tokens, beta: float,
               gamma: float):
    """SimPO, Meng et al. 2024 eq. 6: -log sigmoid(beta * (avg_c - avg_r) - gamma); reference-free. (B,) -> (B,)."""
    avg_c = policy_chosen_logps / chosen_tokens.clamp(min=1)
    avg_r = policy_rejected_logps / rejected_tokens.clamp(min=1)
    return -F.logsigmoid(beta * (avg_c - avg_r) - gamma)


def compute_term(loss_type: str, *, policy_chosen_logps, policy_rejected_logps, ref_chosen_logps=None,
                 ref_rejected_logps=None, chosen_tokens=None, rejected_tokens=None, beta: float = 0.1,
                 delta: float | torch.Tensor = 0.0, label_smoothing: float = 0.0, simpo_gamma: float = 0.5,
                 sft_num_tokens=None, ipo_per_token: bool = True):
    """One loss term as a scalar: the per-pair loss averaged over the B pairs (sft: already a scalar).

    `sft_num_tokens` defaults to this batch's chosen tokens (TRL's normalisation).
    """
    if loss_type == "sft":
        n = chosen_tokens.sum().clamp(min=1) if sft_num_tokens is None else sft_num_tokens
        return sft_loss(policy_chosen_logps, n)
    if loss_type == "orpo":
        return orpo_loss(policy_chosen_logps, policy_rejected_logps, chosen_tokens, rejected_tokens, beta).mean()
    if loss_type == "simpo":
        return simpo_loss(policy_chosen_logps, policy_rejected_logps, chosen_tokens, rejected_tokens, beta,
                          simpo_gamma).mean()
    if loss_type == "aot_pair":
        return aot_pair_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                             beta, label_smoothing).mean()
    hc = policy_chosen_logps - ref_chosen_logps
    hr = policy_rejected_logps - ref_rejected_logps
    if loss_type == "sigmoid":
        per_pair = sigmoid_loss(hc, hr, beta)
    elif loss_type == "bco_pair":
        per_pair = bco_pair_loss(hc, hr, beta, delta)
    elif loss_type == "ipo":
        per_pair = ipo_loss(hc, hr, beta, *((chosen_tokens, rejected_tokens) if ipo_per_token else ()))
    elif loss_type == "cdpo":
        per_pair = cdpo_loss(hc, hr, beta, label_smoothing)
    elif loss_type == "robust":
        per_pair = robust_loss(hc, hr, beta, label_smoothing)
    elif loss_type == "hinge":
        per_pair = hinge_loss(hc, hr, beta)
    elif loss_type == "sppo_hard":
        per_pair = sppo_hard_loss(hc, hr, beta)
    else:
        raise ValueError(f"unknown loss type {loss_type!r}; expected one of {LOSS_TYPES}")
    return per_pair.mean()


class RewardShift:
    """BCO's reward shift delta: a count-weighted running mean of batch-mean rewards (or 0).

    Mode `running_mean` follows the authors' code: each training micro-step adds the batch mean
    of the detached rewards, averaged over ranks (all-reduce), before the loss uses delta, so
    delta includes the current batch. Mode `none` keeps delta at 0 (TRL >= 0.29).
    Kept in float64 on the host so long runs do not drift; saved with the checkpoint.
    """

    MODES = ("running_mean", "none")

    def __init__(self, mode: str = "running_mean"):
        if mode not in self.MODES:
            raise ValueError(f"bco_delta must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.mean = 0.0
        self.count = 0

    @property
    def value(self) -> float:
        return self.mean if self.mode == "running_mean" else 0.0

    def update(self, batch_mean: torch.Tensor) -> float:
        """Add one micro-step's batch-mean reward (a scalar tensor; one per rank). Returns the new delta."""
        if self.mode == "none":
            return 0.0
        stat = torch.stack([batch_mean.detach().reshape(()).to(torch.float64),
                            torch.ones((), dtype=torch.float64, device=batch_mean.device)])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(stat)
        total, n = stat.tolist()
        n = int(round(n))
        self.mean = (self.mean * self.count + total) / (self.count + n)
        self.count += n
        return self.mean

    def state_dict(self) -> dict:
        return {"mode": self.mode, "mean": self.mean, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        mean, count = float(state["mean"]), int(state["count"])
        if not math.isfinite(mean) or count < 0:
            raise ValueError(f"invalid reward-shift state {state!r}")
        self.mean, self.count = mean, count
