"""Confidence intervals for accuracies measured on a benchmark.

- `wilson_interval(k, n)`: the Wilson score interval for one accuracy (good at small n and near 0 or 1,
  where the normal approximation leaves [0, 1]).
- `paired_bootstrap(a, b)`: the difference mean(b) - mean(a) of two 0/1 outcome vectors on the SAME
  questions, with a percentile interval from resampling questions (both models together). Pairing removes
  the question-difficulty variance that two independent intervals would count twice.
- `bootstrap_interval(x)`: the percentile interval for one accuracy, for symmetry with the paired case.
- `paired_bootstrap_statistic(a, b, statistic)`: the same pairing for any statistic of a list of
  per-question items (F1 over POPE's predictions, a benchmark's `summarize`): each replicate draws
  question indices once, applies them to both lists and recomputes `statistic` on each. A statistic
  may return a mapping of named values (the primary and each breakdown group's), one interval each.

Only numpy and the standard library; deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval [low, high] at `confidence`."""

    estimate: float
    low: float
    high: float
    confidence: float
    n: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict:
        return asdict(self)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _as_outcomes(values: Sequence, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of 0/1 outcomes")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold only 0/1 (or True/False) outcomes")
    return arr


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for k successes in n trials."""
    _check_confidence(confidence)
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, n], got k={k}, n={n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Clamp only float noise: mathematically the interval lies inside [0, 1].
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), confidence, n)


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_interval(outcomes: Sequence, *, n_boot: int = 10_000, seed: int = 0,
                       confidence: float = 0.95) -> Interval:
    """Percentile-bootstrap interval for the mean of 0/1 outcomes (one accuracy)."""
    _check_confidence(confidence)
    x = _as_outcomes(outcomes, "outcomes")
    if x.size == 0:
        raise ValueError("outcomes is empty")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    lo, hi = _percentiles(x[idx].mean(axis=1), confidence)
    return Interval(float(x.mean()), lo, hi, confidence, int(x.size))


def paired_bootstrap(a: Sequence, b: Sequence, *, n_boot: int = 10_000, seed: int = 0,
                     confidence: float = 0.95) -> Interval:
    """Interval for mean(b) - mean(a), where a[i] and b[i] are outcomes on the same question i.

    Each bootstrap replicate resamples question indices once and uses them for both a and b.
    Only the per-question differences matter, so they are resampled directly.
    """
    _check_confidence(confidence)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    xa, xb = _as_outcomes(a, "a"), _as_outcomes(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"paired outcomes must have equal length, got {xa.size} and {xb.size}")
    if xa.size == 0:
        raise ValueError("no paired outcomes")
    d = xb - xa
    rng = np.random.default_rng(seed)
    # Chunked so that n_boot x n indices never need more than ~8M entries at once.
    chunk = max(1, 8_000_000 // d.size)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    lo, hi = _percentiles(means, confidence)
    return Interval(float(d.mean()), lo, hi, confidence, int(d.size))


def paired_bootstrap_statistic(a: Sequence[Any], b: Sequence[Any],
                               statistic: Callable[[list[Any]], float | Mapping[str, float | None]], *,
                               n_boot: int = 10_000, seed: int = 0, confidence: float = 0.95,
                               clusters: Sequence[Any] | None = None,
                               relabel: Callable[[Any, int], Any] | None = None) -> Interval | dict[str, Interval]:
    """Interval for statistic(b) - statistic(a), where a[i] and b[i] are items of the same question i.

    Each replicate resamples question indices once (with replacement) and recomputes `statistic` on
    [a[j] for j in idx] and [b[j] for j in idx]. With a mapping-valued statistic, one interval per key
    of the full-sample value: a key missing (or None) in a replicate (a breakdown group no resampled
    question falls in) leaves that replicate out of its interval; its `n` stays the number of questions
    (of clusters, with `clusters`).
    Deterministic for a seed; the same seed draws the same indices as for any other statistic of
    equally many questions. `clusters[i]`: the unit item i is resampled with (CRPE's rotations of one
    question, scored together): whole clusters are drawn, their items kept together. `relabel(item, k)`:
    the k-th repeat (k >= 1) of an item drawn more than once, made distinct (a statistic that groups by
    pid or question would otherwise merge the copies and count a repeated question once).
    """
    _check_confidence(confidence)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"paired items must have equal length, got {len(a)} and {len(b)}")
    if not a:
        raise ValueError("no paired items")

    def as_map(v) -> dict[str, float | None]:
        return dict(v) if isinstance(v, Mapping) else {"": v}

    first = statistic(a)
    scalar = not isinstance(first, Mapping)
    full_a, full_b = as_map(first), as_map(statistic(b))
    keys = [k for k in full_b if k in full_a and full_a[k] is not None and full_b[k] is not None]
    reps = {k: np.full(n_boot, np.nan) for k in keys}
    rng = np.random.default_rng(seed)
    n = len(a)
    units: list[list[int]] | None = None
    if clusters is not None:
        if len(clusters) != n:
            raise ValueError(f"got {len(clusters)} cluster ids for {n} items")
        by: dict[Any, list[int]] = {}
        for i, c in enumerate(clusters):
            by.setdefault(c, []).append(i)
        units = list(by.values())
    for r in range(n_boot):
        if units is None:
            draws = [[int(i)] for i in rng.integers(0, n, size=n)]
        else:
            draws = [units[u] for u in rng.integers(0, len(units), size=len(units))]
        if relabel is None:
            idx = [i for d in draws for i in d]
            ra, rb = [a[j] for j in idx], [b[j] for j in idx]
        else:
            ra, rb, copies = [], [], {}
            for d in draws:
                k = copies[d[0]] = copies.get(d[0], -1) + 1   # this unit's k-th draw
                ra += [a[j] if k == 0 else relabel(a[j], k) for j in d]
                rb += [b[j] if k == 0 else relabel(b[j], k) for j in d]
        sa, sb = as_map(statistic(ra)), as_map(statistic(rb))
        for k in keys:
            va, vb = sa.get(k), sb.get(k)
            if va is not None and vb is not None:
                reps[k][r] = float(vb) - float(va)
    out = {}
    for k in keys:
        got = reps[k][~np.isnan(reps[k])]
        est = float(full_b[k]) - float(full_a[k])
        lo, hi = _percentiles(got, confidence) if got.size else (float("nan"), float("nan"))
        out[k] = Interval(est, lo, hi, confidence, n if units is None else len(units))
    if scalar:
        if "" not in out:
            raise ValueError("the statistic is None on the full sample")
        return out[""]
    return out


def paired_bootstrap_means(a: Sequence[float | None], b: Sequence[float | None], *,
                           groups: Mapping[str, Sequence[bool]] | None = None, n_boot: int = 10_000,
                           seed: int = 0, confidence: float = 0.95) -> dict[str, Interval]:
    """Vectorised `paired_bootstrap_statistic` for a statistic that is the mean of a per-question score
    (None: left out of that model's mean, as a judge's unparsed reply), overall ("") and within each
    group of `groups` (name -> a membership flag per question). Same draws as `paired_bootstrap`."""
    _check_confidence(confidence)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    xa = np.array([np.nan if v is None else float(v) for v in a])
    xb = np.array([np.nan if v is None else float(v) for v in b])
    if xa.size != xb.size or xa.size == 0:
        raise ValueError(f"paired scores must have equal, non-zero length, got {xa.size} and {xb.size}")
    n = xa.size
    masks = {"": np.ones(n, dtype=bool)}
    masks.update({k: np.asarray(v, dtype=bool) for k, v in (groups or {}).items()})
    okA, okB = ~np.isnan(xa), ~np.isnan(xb)
    va, vb = np.where(okA, xa, 0.0), np.where(okB, xb, 0.0)

    def means(idx):  # idx: (k, n) question indices -> {key: (k,) differences}
        out = {}
        for key, m in masks.items():
            wa, wb = (m & okA)[idx], (m & okB)[idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[key] = (vb[idx] * wb).sum(1) / wb.sum(1) - (va[idx] * wa).sum(1) / wa.sum(1)
        return out

    full = means(np.arange(n)[None, :])
    rng = np.random.default_rng(seed)
    chunk = max(1, 8_000_000 // (n * max(1, len(masks))))
    reps = {k: np.empty(n_boot) for k in masks}
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        got = means(rng.integers(0, n, size=(stop - start, n)))
        for k in masks:
            reps[k][start:stop] = got[k]
    out = {}
    for k in masks:
        est = float(full[k][0])
        if est != est:
            continue
        r = reps[k][~np.isnan(reps[k])]
        lo, hi = _percentiles(r, confidence) if r.size else (float("nan"), float("nan"))
        out[k] = Interval(est, lo, hi, confidence, n)
    return out
