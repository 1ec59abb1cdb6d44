"""Statistics used in every report: intervals, tests over seeds, and paired comparisons.

Every number sublim reports carries a 95% interval and its sample size. Intervals over a few seeds use
Student's t; proportions use Wilson's score interval; group comparisons use Welch's t-test (or the
paired t-test when conditions share seeds) and report Cohen's d / the paired effect size.

Example:
    >>> e = mean_ci([0.5, 0.6, 0.7])
    >>> round(e.mean, 3), e.n
    (0.6, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% interval and sample size."""

    mean: float
    low: float
    high: float
    n: int
    method: str

    def fmt(self, digits: int = 3) -> str:
        """``0.330 [0.280, 0.380] (n=3)``."""
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] (n={self.n})"

    def to_dict(self) -> dict:
        return asdict(self)


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean with a Student-t interval (a single value gets a zero-width interval, flagged by n=1)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "t")
    m = float(x.mean())
    if n == 1:
        return Estimate(m, m, m, 1, "t")
    se = float(x.std(ddof=1)) / math.sqrt(n)
    h = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return Estimate(m, m - h, m + h, n, "t")


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion (well-behaved near 0 and 1, unlike the normal one)."""
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "wilson")
    z = float(st.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


@dataclass(frozen=True)
class Comparison:
    """Result of comparing a treatment group with a control group."""

    difference: float  # treatment mean − control mean
    low: float
    high: float
    p_value: float
    effect_size: float  # Cohen's d (independent) or d_z (paired)
    test: str
    n_treatment: int
    n_control: int

    def to_dict(self) -> dict:
        return asdict(self)

    def significant(self, alpha: float = 0.05) -> bool:
        return bool(self.p_value < alpha)


def welch_test(treatment: Sequence[float], control: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Two-sided Welch t-test of treatment vs control with a CI on the difference and Cohen's d."""
    a, b = np.asarray(treatment, float), np.asarray(control, float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Comparison(diff, float("nan"), float("nan"), float("nan"), float("nan"), "welch", len(a), len(b))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        p, effect = (0.0, math.copysign(float("inf"), diff)) if diff != 0 else (1.0, 0.0)
        return Comparison(diff, diff, diff, p, effect, "welch", len(a), len(b))
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = diff / se
    p = float(2 * st.t.sf(abs(t), dof))
    h = float(st.t.ppf(0.5 + confidence / 2, dof)) * se
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    d = diff / pooled if pooled > 0 else float("inf")
    return Comparison(diff, diff - h, diff + h, p, d, "welch", len(a), len(b))


def paired_test(treatment: Sequence[float], control: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Two-sided paired t-test (same seeds in both arms); effect size is d_z = mean diff / sd diff."""
    a, b = np.asarray(treatment, float), np.asarray(control, float)
    if len(a) != len(b):
        raise ValueError(f"paired test needs equal lengths, got {len(a)} and {len(b)}")
    d = a - b
    est = mean_ci(d, confidence)
    if len(d) < 2:
        return Comparison(est.mean, est.low, est.high, float("nan"), float("nan"), "paired-t", len(a), len(b))
    sd = float(d.std(ddof=1))
    if sd == 0:  # every pair differs by the same amount: certain if non-zero, no effect if zero
        p, effect = (0.0, math.copysign(float("inf"), est.mean)) if est.mean != 0 else (1.0, 0.0)
        return Comparison(est.mean, est.mean, est.mean, p, effect, "paired-t", len(a), len(b))
    t = est.mean / (sd / math.sqrt(len(d)))
    p = float(2 * st.t.sf(abs(t), len(d) - 1))
    return Comparison(est.mean, est.low, est.high, p, est.mean / sd, "paired-t", len(a), len(b))


def seeds_to_bound(comparison: Comparison | dict, bound: float, confidence: float = 0.95, max_n: int = 1000) -> int | None:
    """Seeds at which a paired difference's CI would end below ``bound``, if its mean and spread stayed
    as measured: a projection, not a promise — it tells "more seeds would settle it" from "they would
    not". None when the mean itself is not below ``bound`` (no number of seeds helps) or the interval
    cannot be read (one seed).

    Example:
        >>> seeds_to_bound({"difference": -0.036, "low": -0.169, "high": 0.098, "n_treatment": 5}, 0.045)
        10
    """
    c = comparison.to_dict() if isinstance(comparison, Comparison) else comparison
    n, mean = c["n_treatment"], c["difference"]
    if n < 2 or not all(math.isfinite(x) for x in (mean, c["low"], c["high"])) or mean >= bound:
        return None
    q = 0.5 + confidence / 2
    sd = (c["high"] - c["low"]) / 2 * math.sqrt(n) / float(st.t.ppf(q, n - 1))
    for m in range(2, max_n + 1):
        if mean + float(st.t.ppf(q, m - 1)) * sd / math.sqrt(m) < bound:
            return m
    return None


def half_gain_bound(cross: Comparison | dict, same_gain: float) -> dict:
    """Criterion 3′: does a different-init difference's CI end below half the same-init gain? Returns the
    CI's top, the bound, whether it passes and, when it does not, ``seeds_to_bound``'s projection — one
    rule for `sublim check` and the report's verdict line.

    Example:
        >>> half_gain_bound({"difference": -0.036, "low": -0.169, "high": 0.098, "n_treatment": 5}, 0.09)["seeds_to_pass"]
        10
    """
    c = cross.to_dict() if isinstance(cross, Comparison) else cross
    half = same_gain / 2
    passed = c["high"] < half
    return {"cross_high": c["high"], "half_same": half, "passed": passed,
            "seeds_to_pass": None if passed else seeds_to_bound(c, half)}


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate across conditions)."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        val = p[idx] if np.isnan(p[idx]) else min(1.0, (m - rank) * p[idx])
        running = max(running, val) if not np.isnan(val) else running
        adjusted[idx] = val if np.isnan(val) else running
    return adjusted.tolist()
