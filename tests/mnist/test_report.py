"""Results carry mean ± 95% t interval and n per arm; the verdict follows the issue's checks."""

import pytest

from sublim.mnist.report import summarise


def test_ci_is_the_student_t_interval():
    s = summarise([0.95, 0.96, 0.97], [0.1] * 3, {"same_aux": [0.6, 0.7, 0.8], "diff_aux": [0.1, 0.1, 0.1]}, 1.0)
    arm = s["arms"]["same_aux"]
    half = 4.302652729911275 * 0.1 / 3**0.5  # t(0.975, 2) * sd / sqrt(n)
    assert arm["mean"] == pytest.approx(0.7) and arm["n"] == 3
    assert (arm["low"], arm["high"]) == (pytest.approx(0.7 - half), pytest.approx(0.7 + half))
    assert arm["per_seed"] == [0.6, 0.7, 0.8]


@pytest.mark.parametrize(
    ("teacher", "same", "diff", "reproduced"),
    [
        ([0.95, 0.96], [0.70, 0.72], [0.10, 0.09], True),
        ([0.85, 0.86], [0.70, 0.72], [0.10, 0.09], False),  # weak teacher
        ([0.95, 0.96], [0.30, 0.32], [0.10, 0.09], False),  # student below 50%
        ([0.95, 0.96], [0.70, 0.72], [0.40, 0.42], False),  # different init learns too
        ([0.95, 0.96], [0.90, 0.20], [0.10, 0.09], False),  # CIs overlap
    ],
)
def test_verdict_table(teacher, same, diff, reproduced):
    s = summarise(teacher, [0.1, 0.1], {"same_aux": same, "diff_aux": diff}, 1.0)
    assert s["reproduced"] is reproduced


def test_no_verdict_without_both_aux_arms():
    s = summarise([0.95, 0.96], [0.1, 0.1], {"same_all": [0.8, 0.8]}, 1.0)
    assert s["reproduced"] is False
