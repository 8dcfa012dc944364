import numpy as np
import pytest

from mmpo.eval.stats import bootstrap_interval, paired_bootstrap, wilson_interval


def test_wilson_matches_hand_numbers():
    # 8/10 at 95%: z = 1.959964, z^2 = 3.841459; centre = (0.8 + z^2/20) / (1 + z^2/10)
    # = 0.992073 / 1.384146 = 0.716740; half = z * sqrt(0.016 + z^2/400) / 1.384146 = 0.226578.
    iv = wilson_interval(8, 10)
    assert iv.estimate == 0.8
    assert iv.low == pytest.approx(0.490162, abs=2e-6)
    assert iv.high == pytest.approx(0.943318, abs=2e-6)
    # 0/10: the low end is 0 and the high end is z^2 / (n + z^2) = 3.841459 / 13.841459.
    iv0 = wilson_interval(0, 10)
    assert iv0.low == pytest.approx(0.0, abs=1e-12)
    assert iv0.high == pytest.approx(0.277533, abs=1e-6)


def test_wilson_narrows_with_n_and_rejects_bad_counts():
    assert wilson_interval(80, 100).high - wilson_interval(80, 100).low < 0.2
    for k, n in [(3, 2), (-1, 5), (0, 0)]:
        with pytest.raises(ValueError):
            wilson_interval(k, n)


def _constructed():
    # 100 questions: both right on 60, only b right on 12, only a right on 2, both wrong on 26.
    # True difference mean(b) - mean(a) = (12 - 2) / 100 = 0.10.
    a = [1] * 60 + [0] * 12 + [1] * 2 + [0] * 26
    b = [1] * 60 + [1] * 12 + [0] * 2 + [0] * 26
    return a, b


def test_paired_bootstrap_contains_true_difference_and_excludes_zero():
    a, b = _constructed()
    iv = paired_bootstrap(a, b, n_boot=5000, seed=1)
    assert iv.estimate == pytest.approx(0.10)
    assert iv.contains(0.10)
    assert iv.low > 0.0  # 12 vs 2 discordant questions is a clear win
    # Pairing helps: the interval is narrower than treating the two accuracies as independent.
    ia, ib = bootstrap_interval(a, seed=1), bootstrap_interval(b, seed=2)
    independent_half = np.hypot((ia.high - ia.low) / 2, (ib.high - ib.low) / 2)
    assert (iv.high - iv.low) / 2 < 0.8 * independent_half
    # Swapping the roles flips the sign.
    rev = paired_bootstrap(b, a, n_boot=5000, seed=1)
    assert rev.estimate == pytest.approx(-0.10)
    assert rev.low == pytest.approx(-iv.high) and rev.high == pytest.approx(-iv.low)


def test_paired_bootstrap_is_deterministic_with_seed():
    a, b = _constructed()
    assert paired_bootstrap(a, b, n_boot=2000, seed=7) == paired_bootstrap(a, b, n_boot=2000, seed=7)
    # With few replicates the interpolated percentiles show the seed's effect.
    assert paired_bootstrap(a, b, n_boot=40, seed=0) != paired_bootstrap(a, b, n_boot=40, seed=1)


def test_paired_bootstrap_coverage_on_simulated_models():
    # Two correlated models with true accuracies 0.60 and 0.70: the 95% interval should cover 0.10
    # in roughly 95% of repeated benchmarks (a loose band: 200 repetitions).
    rng = np.random.default_rng(0)
    hits = 0
    reps = 200
    for r in range(reps):
        u = rng.random(200)
        a = (u < 0.60).astype(int)
        b = (u < 0.70).astype(int)
        flip = rng.random(200) < 0.2  # some independent noise so that b is not a superset of a
        b[flip] = (rng.random(flip.sum()) < 0.70).astype(int)
        true = 0.70 - 0.60
        hits += paired_bootstrap(a, b, n_boot=1000, seed=r).contains(true)
    assert 0.88 <= hits / reps <= 0.99


def test_bootstrap_interval_is_close_to_wilson_at_moderate_n():
    x = [1] * 70 + [0] * 30
    bi, wi = bootstrap_interval(x, n_boot=5000, seed=0), wilson_interval(70, 100)
    assert bi.estimate == 0.7
    assert abs(bi.low - wi.low) < 0.03 and abs(bi.high - wi.high) < 0.03


@pytest.mark.parametrize("a,b", [([1, 0], [1]), ([], []), ([1, 2], [0, 1]), ([[1]], [[0]])])
def test_paired_bootstrap_rejects_bad_input(a, b):
    with pytest.raises(ValueError):
        paired_bootstrap(a, b)
