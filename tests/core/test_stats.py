"""Intervals and tests behave as textbooks say."""

import math

import numpy as np
import pytest
import scipy.stats as st

from sublim.stats import holm_adjust, mean_ci, paired_test, seeds_to_bound, welch_test, wilson_ci


def test_mean_ci_matches_t_interval():
    est = mean_ci([1.0, 2.0, 3.0])
    # mean 2, sd 1, se 1/sqrt(3), t(0.975, 2) = 4.3027
    assert est.mean == pytest.approx(2.0)
    assert est.high - est.mean == pytest.approx(4.3027 / math.sqrt(3), rel=1e-3)
    assert est.n == 3


def test_single_value_has_zero_width_and_n_one():
    est = mean_ci([0.4])
    assert (est.low, est.high, est.n) == (0.4, 0.4, 1)


def test_wilson_interval_stays_inside_zero_one():
    est = wilson_ci(0, 20)
    assert est.low == 0.0 and 0 < est.high < 0.2
    est = wilson_ci(20, 20)
    assert est.high == 1.0 and est.low > 0.8


def test_welch_detects_a_clear_difference_and_not_noise():
    clear = welch_test([0.50, 0.52, 0.55, 0.51], [0.10, 0.12, 0.09, 0.11])
    assert clear.significant() and clear.difference > 0.3 and clear.low > 0
    noise = welch_test([0.10, 0.12, 0.09, 0.11], [0.11, 0.10, 0.12, 0.10])
    assert not noise.significant()


def test_paired_test_uses_pairing():
    # Large between-seed spread, consistent within-seed shift: paired sees it, Welch does not.
    control = [0.1, 0.5, 0.9, 0.3]
    treatment = [c + 0.05 + 0.001 * i for i, c in enumerate(control)]
    assert paired_test(treatment, control).significant()
    assert not welch_test(treatment, control).significant()
    with pytest.raises(ValueError):
        paired_test([1.0], [1.0, 2.0])


def test_holm_is_monotone_and_conservative():
    adj = holm_adjust([0.01, 0.04, 0.03])
    assert adj[0] == pytest.approx(0.03)
    assert all(a >= p for a, p in zip(adj, [0.01, 0.04, 0.03], strict=True))
    assert adj[1] >= adj[2] >= adj[0]


def test_identical_arms_have_no_effect_not_an_infinite_one():
    same = paired_test([0.2, 0.3, 0.4], [0.2, 0.3, 0.4])
    assert (same.difference, same.p_value, same.effect_size) == (0.0, 1.0, 0.0)
    shifted = paired_test([1.5, 2.5, 3.5], [1.0, 2.0, 3.0])
    assert shifted.p_value == 0.0 and shifted.effect_size == math.inf


def test_seeds_to_bound_projects_when_more_seeds_would_settle_a_wide_null():
    """A different-init null too wide to rule out half the same-init gain: how many seeds would, if the
    mean and spread held — and none when the mean itself sits above the bound."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 0.05, 5), rng.normal(0.0, 0.05, 5)
    test = paired_test(a, b)
    bound = test.high + 0.001
    assert seeds_to_bound(test, bound) <= 5  # already below it
    n = seeds_to_bound(test, test.difference + (test.high - test.difference) / 3)
    assert n is not None and n > 5
    assert seeds_to_bound(test, test.difference - 1e-6) is None
    # checked against the interval itself: at n seeds with the same mean and sd the top is below the bound
    sd = float(np.std(a - b, ddof=1))
    top = lambda m: test.difference + st.t.ppf(0.975, m - 1) * sd / np.sqrt(m)  # noqa: E731
    bound = test.difference + (test.high - test.difference) / 3
    assert top(n) < bound <= top(n - 1)
