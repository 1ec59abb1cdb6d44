"""Specificity matrix: a diagonal-dominant design is recognised as specific, a shared drift is not,
cells are paired by seed with t intervals, and the heat map is byte-stable and prints as greys."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sublim.errors import DataError
from sublim.specificity import plot_confusion, specificity_matrix

TRAITS = ["owl", "eagle", "dolphin", "wolf", "cat"]
BASE = {"owl": 0.07, "eagle": 0.05, "dolphin": 0.09, "wolf": 0.04, "cat": 0.06, "dog": 0.08}


def metrics(probs: dict[str, float]) -> dict:
    """The evaluation metrics.json layout the runner reads."""
    return {"splits": {"eval": {"exact": {o: {"mean": p, "low": p, "high": p, "n": 20} for o, p in probs.items()}}}}


def study(shift, seeds=(0, 1, 2), noise=0.004, rng_seed=0):
    """students[i][seed] and control[seed]; ``shift(i, option)`` is the true Δ."""
    rng = random.Random(rng_seed)
    control = {s: metrics({o: p + rng.gauss(0, noise) for o, p in BASE.items()}) for s in seeds}
    students = {t: {s: metrics({o: p + shift(t, o) + rng.gauss(0, noise) for o, p in BASE.items()}) for s in seeds}
                for t in TRAITS}
    return students, control


def test_own_trait_shifts_make_the_diagonal_dominate():
    students, control = study(lambda t, o: (0.2 if t == o else 0.0) - 0.01)
    r = specificity_matrix(students, control)
    assert r.labels == r.options == TRAITS and r.paired_by_seed and r.n_seeds == dict.fromkeys(TRAITS, 3)
    assert r.diagonal_dominates and r.n_row_max == r.n_column_max == 5
    assert r.permutation_p == pytest.approx(1 / 120) and r.n_permutations == 120
    assert r.p_row_max == pytest.approx(0.2**5)
    assert r.mean_diagonal == pytest.approx(0.19, abs=0.01) and r.mean_off_diagonal == pytest.approx(-0.01, abs=0.01)
    assert r.diagonal_vs_off["p_value"] < 0.001
    owl = r.delta[0][0]
    assert owl.n == 3 and owl.low < owl.mean < owl.high and owl.low > 0.15


def test_a_drift_every_student_shares_is_not_specific():
    students, control = study(lambda t, o: 0.15 if o == "cat" else -0.01)
    r = specificity_matrix(students, control)
    assert not r.diagonal_dominates
    assert r.n_row_max == 1 and r.diagonal_is_row_max == [False, False, False, False, True]
    assert r.permutation_p > 0.1 and r.diagonal_vs_off["p_value"] > 0.05


def test_columns_see_specificity_that_a_susceptible_option_hides_from_rows():
    # Every student drifts toward 'wolf'; each still moves its own option most *relative to the others*.
    students, control = study(lambda t, o: (0.1 if t == o else 0.0) + (0.12 if o == "wolf" else 0.0))
    r = specificity_matrix(students, control)
    assert r.n_column_max == 5 and r.n_row_max == 1 and not r.diagonal_dominates
    assert r.permutation_p == pytest.approx(1 / 120)


def test_extra_option_columns_and_unpaired_controls():
    students, control = study(lambda t, o: 0.2 if t == o else 0.0)
    other_seeds = {s + 10: m for s, m in control.items()}
    r = specificity_matrix(students, other_seeds, options=["dog", "owl"])
    assert r.options == [*TRAITS, "dog"] and len(r.delta[0]) == 6
    assert not r.paired_by_seed and r.diagonal_dominates  # compared with the control's mean over seeds


def test_cells_are_the_mean_over_seeds_of_paired_differences():
    students = {"owl": [metrics({"owl": 0.30, "cat": 0.05}), metrics({"owl": 0.40, "cat": 0.07})],
                "cat": [metrics({"owl": 0.10, "cat": 0.20}), metrics({"owl": 0.12, "cat": 0.30})]}
    control = [metrics({"owl": 0.10, "cat": 0.05}), metrics({"owl": 0.20, "cat": 0.05})]
    r = specificity_matrix(students, control)
    assert np.allclose(r.means(), [[0.2, 0.01], [-0.04, 0.2]])
    assert r.delta[0][0].low == pytest.approx(0.2) == r.delta[0][0].high  # same difference on both seeds


@pytest.mark.parametrize(("students", "control", "message"), [
    ({"owl": [metrics({"owl": 0.1})]}, [metrics({"owl": 0.1})], "at least two"),
    ({"owl": [metrics({"owl": 0.1, "cat": 0.1})], "cat": [metrics({"owl": 0.1})]},
     [metrics({"owl": 0.1, "cat": 0.1})], "lack option 'cat'"),
    ({"owl": [metrics({"owl": 0.1, "cat": 0.1})], "cat": [metrics({"owl": 0.1, "cat": 0.1})]},
     [{"splits": {"heldout": {}}}], "splits.eval.exact"),
])
def test_bad_inputs_name_the_problem(students, control, message):
    with pytest.raises(DataError, match=message):
        specificity_matrix(students, control)


def test_heat_map_is_written_byte_stable(tmp_path):
    students, control = study(lambda t, o: 0.2 if t == o else -0.02)
    r = specificity_matrix(students, control)
    first = plot_confusion(r, r.labels, tmp_path / "a" / "specificity.png")
    second = plot_confusion(r, r.labels, tmp_path / "b" / "specificity.png")
    assert first.read_bytes() == second.read_bytes() and first.stat().st_size > 5000
    plain = plot_confusion([[0.1, -0.1], [0.0, 0.2]], ["owl", "cat"], tmp_path / "plain.png", n=3)
    assert plain.exists()


def test_the_colour_map_prints_magnitude_as_darkness():
    from matplotlib import colormaps

    def luminance(x: float) -> float:
        r, g, b, _ = colormaps["RdBu_r"](x)
        return 0.299 * r + 0.587 * g + 0.114 * b

    assert luminance(0.5) > 0.9 and luminance(0.0) < 0.5 and luminance(1.0) < 0.5
