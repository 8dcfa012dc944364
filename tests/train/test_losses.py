"""Every loss against numbers derived by hand (the derivation is in each comment)."""

import math

import pytest
import torch

from mmpo.train import losses

LN2 = math.log(2.0)


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


# A pair with policy-minus-reference log-ratios h_c = 2, h_r = -1 and beta = 0.5: beta*(h_c-h_r) = 1.5.
HC, HR, BETA = t(2.0), t(-1.0), 0.5


def test_sigmoid_is_dpo():
    # -log sigmoid(1.5) = log(1 + e^-1.5) = 0.2014132779827524
    assert losses.sigmoid_loss(HC, HR, BETA).item() == pytest.approx(0.2014132779827524, rel=1e-12)
    # zero rewards: ln 2, whatever beta
    assert losses.sigmoid_loss(t(0.0), t(0.0), 0.1).item() == pytest.approx(LN2, rel=1e-12)


def test_bco_pair_with_and_without_delta():
    # r_c = 0.5*2 = 1, r_r = 0.5*-1 = -0.5.
    # delta 0: log(1+e^-1) + log(1+e^-0.5) = 0.3132617 + 0.4740770 = 0.7873386716983295
    assert losses.bco_pair_loss(HC, HR, BETA).item() == pytest.approx(0.7873386716983295, rel=1e-12)
    # delta 0.25: -log s(0.75) - log s(0.75) = 2 * 0.3868710 = 0.7737420122297999
    assert losses.bco_pair_loss(HC, HR, BETA, 0.25).item() == pytest.approx(0.7737420122297999, rel=1e-12)
    # zero rewards and zero delta: 2 ln 2
    assert losses.bco_pair_loss(t(0.0), t(0.0), 0.1).item() == pytest.approx(2 * LN2, rel=1e-12)


def test_sft_is_nll_per_token():
    # two chosen completions with summed log-probs -3 and -5 over 2 + 6 tokens: 8 / 8 = 1
    assert losses.sft_loss(t(-3.0, -5.0), 8).item() == pytest.approx(1.0)
    # a larger normaliser (tokens of the whole step) scales it down: 8 / 16
    assert losses.sft_loss(t(-3.0, -5.0), 16).item() == pytest.approx(0.5)


def test_ipo_summed_and_per_token():
    # summed: h = 2 - (-1) = 3, 1/(2*0.5) = 1 -> (3 - 1)^2 = 4
    assert losses.ipo_loss(HC, HR, BETA).item() == pytest.approx(4.0)
    # per token with 4 and 2 tokens: 2/4 - (-1/2) = 1 -> (1 - 1)^2 = 0
    assert losses.ipo_loss(HC, HR, BETA, t(4.0), t(2.0)).item() == pytest.approx(0.0, abs=1e-12)


def test_cdpo_and_robust():
    # eps = 0.1, logits 1.5: -log s(1.5) = 0.2014133, -log s(-1.5) = 1.7014133
    # cdpo: 0.9*0.2014133 + 0.1*1.7014133 = 0.35141327798275246
    assert losses.cdpo_loss(HC, HR, BETA, 0.1).item() == pytest.approx(0.35141327798275246, rel=1e-12)
    # robust: (0.9*0.2014133 - 0.1*1.7014133) / 0.8 = 0.013913277982752388
    assert losses.robust_loss(HC, HR, BETA, 0.1).item() == pytest.approx(0.013913277982752388, rel=1e-9)
    # eps = 0 reduces both to DPO
    assert losses.cdpo_loss(HC, HR, BETA, 0.0).item() == pytest.approx(0.2014132779827524)
    assert losses.robust_loss(HC, HR, BETA, 0.0).item() == pytest.approx(0.2014132779827524)


def test_hinge():
    # 1 - 1.5 < 0 -> 0; equal log-ratios -> 1
    assert losses.hinge_loss(HC, HR, BETA).item() == 0.0
    assert losses.hinge_loss(t(0.3), t(0.3), BETA).item() == pytest.approx(1.0)


def test_sppo_hard():
    # 1/(2 beta) = 1: (2 - 1)^2 + (-1 + 1)^2 = 1
    assert losses.sppo_hard_loss(HC, HR, BETA).item() == pytest.approx(1.0)


def test_aot_pair_sorts_margins_across_the_batch():
    # policy margins c - r: [1, -2] -> sorted [-2, 1]; reference margins [0, 3] -> sorted [0, 3].
    # deltas [-2, -2], beta 0.5 -> logits [-1, -1]: -log s(-1) = 1.3132616875182228 each
    out = losses.aot_pair_loss(t(1.0, 0.0), t(0.0, 2.0), t(0.0, 3.0), t(0.0, 0.0), BETA)
    assert out.tolist() == pytest.approx([1.3132616875182228] * 2, rel=1e-12)


def test_orpo_odds_ratio():
    # avg log-probs: chosen -1/2 (=-1 over 2 tokens), rejected -2 (=-6 over 3).
    # log odds(a) = a - log(1 - e^a): 0.43275 and -1.85457; -0.5 * log s(2.28732) = 0.04835293182469979
    out = losses.orpo_loss(t(-1.0), t(-6.0), t(2.0), t(3.0), BETA)
    assert out.item() == pytest.approx(0.04835293182469979, rel=1e-9)


def test_simpo():
    # same averages, gamma 0.25: -log s(0.5 * 1.5 - 0.25) = -log s(0.5) = 0.4740769841801067
    out = losses.simpo_loss(t(-1.0), t(-6.0), t(2.0), t(3.0), BETA, 0.25)
    assert out.item() == pytest.approx(0.4740769841801067, rel=1e-12)


def test_mpo_first_step_value():
    # at step 0 policy == reference: 0.8 ln2 + 0.2 * 2 ln2 + NLL = 0.83178 + NLL
    pc, pr = t(-4.0, -2.0), t(-3.0, -1.0)
    kw = dict(policy_chosen_logps=pc, policy_rejected_logps=pr, ref_chosen_logps=pc.clone(),
              ref_rejected_logps=pr.clone(), chosen_tokens=t(2.0, 1.0), rejected_tokens=t(1.0, 1.0), beta=0.1)
    total = sum(w * losses.compute_term(name, **kw).item()
                for name, w in (("sigmoid", 0.8), ("bco_pair", 0.2), ("sft", 1.0)))
    assert 0.8 * LN2 + 0.4 * LN2 == pytest.approx(0.8317766166719343)
    assert total == pytest.approx(0.8317766166719343 + 6.0 / 3.0, rel=1e-12)


def test_compute_term_dispatch_and_unknown():
    kw = dict(policy_chosen_logps=t(2.0), policy_rejected_logps=t(-1.0), ref_chosen_logps=t(0.0),
              ref_rejected_logps=t(0.0), chosen_tokens=t(4.0), rejected_tokens=t(2.0), beta=BETA)
    assert losses.compute_term("ipo", **kw).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.compute_term("ipo", ipo_per_token=False, **kw).item() == pytest.approx(4.0)
    assert losses.compute_term("bco_pair", delta=0.25, **kw).item() == pytest.approx(0.7737420122297999)
    with pytest.raises(ValueError, match="unknown loss type"):
        losses.compute_term("kto", **kw)


def test_reward_shift_running_mean_by_hand():
    shift = losses.RewardShift("running_mean")
    assert shift.value == 0.0
    # batch means 0.3, -0.1, 0.4 -> running means 0.3, 0.1, 0.2
    assert shift.update(torch.tensor(0.3)) == pytest.approx(0.3)
    assert shift.update(torch.tensor(-0.1)) == pytest.approx(0.1)
    assert shift.update(torch.tensor(0.4)) == pytest.approx(0.2)
    state = shift.state_dict()
    assert state == {"mode": "running_mean", "mean": pytest.approx(0.2), "count": 3}
    restored = losses.RewardShift("running_mean")
    restored.load_state_dict(state)
    # the next update continues the same mean: (0.2*3 + 1.0) / 4 = 0.4
    assert restored.update(torch.tensor(1.0)) == pytest.approx(0.4)


def test_reward_shift_none_and_bad_mode():
    shift = losses.RewardShift("none")
    assert shift.update(torch.tensor(5.0)) == 0.0 and shift.value == 0.0
    with pytest.raises(ValueError, match="bco_delta"):
        losses.RewardShift("ema")
    with pytest.raises(ValueError):
        losses.RewardShift().load_state_dict({"mean": float("nan"), "count": 1})
