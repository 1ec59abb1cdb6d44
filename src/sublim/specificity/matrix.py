"""Specificity of transfer: a K×K matrix of how much each trait student moves each option.

Row ``i`` is the student trained on data from a teacher that loves trait ``i``; column ``j`` is an
option it is evaluated on. The cell is ``Δ P(j) = P_student_i(j) − P_control(j)``, averaged over
seeds with a t interval (paired by seed when the control has that seed, else against the control's
mean over seeds). Transfer is *specific* when the diagonal dominates:

* per row: is ``Δ_ii`` the largest entry of row ``i`` (the student's own trait moved most)?
* per column: is ``Δ_jj`` the largest entry of column ``j`` (option j moved most for its own
  teacher; this one is robust to options that every student drifts toward);
* counts of both against chance ``1/K`` (binomial upper tail; rows are treated as independent);
* mean diagonal vs mean off-diagonal: a paired t-test over rows (``Δ_ii`` vs the row's off-diagonal
  mean), and an exact permutation test of the trace over all K! assignments of options to rows
  (Monte Carlo with 20,000 draws above K = 8), one-sided: is the diagonal larger than chance?

Inputs are the evaluation ``metrics.json`` dicts the runner writes,
``{"splits": {"eval": {"exact": {option: {"mean": p, ...}}}}}``, keyed by seed.

Example:
    >>> m = lambda **p: {"splits": {"eval": {"exact": {k: {"mean": v} for k, v in p.items()}}}}
    >>> r = specificity_matrix({"owl": {0: m(owl=0.5, cat=0.1)}, "cat": {0: m(owl=0.1, cat=0.4)}},
    ...                        {0: m(owl=0.1, cat=0.1)})
    >>> r.means()
    [[0.4, 0.0], [0.0, 0.30000000000000004]]
    >>> r.n_row_max, r.n_column_max
    (2, 2)
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats as st

from sublim.errors import DataError
from sublim.stats import mean_ci, paired_test


class Cell(BaseModel):
    mean: float
    low: float
    high: float
    n: int


class SpecificityResult(BaseModel):
    """The Δ matrix and its diagonal-dominance statistics."""

    labels: list[str] = Field(description="row i: student of the teacher that loves labels[i]")
    options: list[str] = Field(description="column j: the option evaluated (labels first, then any extras)")
    split: str
    kind: str
    delta: list[list[Cell]] = Field(description="delta[i][j] = mean over seeds of P_i(j) - P_control(j), t CI")
    n_seeds: dict[str, int]
    control_seeds: int
    paired_by_seed: bool = Field(description="every student seed had a control of the same seed")
    diagonal_is_row_max: list[bool]
    diagonal_is_column_max: list[bool]
    n_row_max: int
    n_column_max: int
    p_row_max: float = Field(description="P(at least n_row_max of K rows by chance 1/K), binomial")
    p_column_max: float
    mean_diagonal: float
    mean_off_diagonal: float
    diagonal_vs_off: dict = Field(description="paired t-test over rows: diagonal vs the row's off-diagonal mean")
    permutation_p: float = Field(description="one-sided: share of option→row assignments with a trace >= observed")
    n_permutations: int
    diagonal_dominates: bool = Field(description="every diagonal entry is the largest of its row and its column")

    def means(self) -> list[list[float]]:
        return [[c.mean for c in row] for row in self.delta]


def option_probabilities(metrics: Mapping[str, Any], split: str = "eval", kind: str = "exact") -> dict[str, float]:
    """``{option: P}`` from an evaluation metrics dict (or a flat ``{option: P or {"mean": P}}``)."""
    table = metrics
    if "splits" in metrics:
        try:
            table = metrics["splits"][split][kind]
        except KeyError:
            raise DataError(f"metrics have no splits.{split}.{kind}; evaluate with that split and "
                            f"{'exact=true' if kind == 'exact' else 'n_samples > 0'}") from None
    return {o: float(v["mean"] if isinstance(v, Mapping) else v) for o, v in table.items() if o != "(other)"}


def _by_seed(runs: Mapping[Any, Mapping] | Sequence[Mapping], split: str, kind: str) -> dict[Any, dict[str, float]]:
    items = runs.items() if isinstance(runs, Mapping) else enumerate(runs)
    return {seed: option_probabilities(m, split, kind) for seed, m in items}


def _binomial_tail(count: int, k: int) -> float:
    return float(st.binom.sf(count - 1, k, 1.0 / k))


def _permutation_p(d: np.ndarray, seed: int = 0) -> tuple[float, int]:
    k = len(d)
    observed = float(np.trace(d))
    rows = np.arange(k)
    if k <= 8:
        perms = itertools.permutations(range(k))
        traces = [d[rows, list(p)].sum() for p in perms]
    else:
        rng = random.Random(seed)
        traces = [observed] + [d[rows, rng.sample(range(k), k)].sum() for _ in range(19_999)]
    traces = np.asarray(traces)
    return float((traces >= observed - 1e-12).mean()), len(traces)


def specificity_matrix(
    students: Mapping[str, Mapping[Any, Mapping] | Sequence[Mapping]],
    control: Mapping[Any, Mapping] | Sequence[Mapping],
    *,
    options: Sequence[str] | None = None,
    split: str = "eval",
    kind: str = "exact",
) -> SpecificityResult:
    """Δ P(option) of each trait student over the control student, and whether the diagonal dominates.

    Args:
        students: trait → seed → evaluation metrics dict (a list is read as seeds 0, 1, ...).
        control: seed → metrics dict of the control student (trained on the control teacher's data).
        options: extra columns after the K trait labels (default: just the K labels).
        split: question split (``eval`` / ``heldout``).
        kind: ``exact`` (log-prob) or ``sampled``.
    Returns:
        The matrix with per-cell t intervals over seeds and the dominance statistics.
    Raises:
        DataError: fewer than two traits, no control, or an option missing from some metrics.
    """
    labels = list(students)
    if len(labels) < 2:
        raise DataError(f"a specificity matrix needs at least two trait students; got {labels}")
    columns = labels + [o for o in (options or []) if o not in labels]
    ctrl = _by_seed(control, split, kind)
    if not ctrl:
        raise DataError("no control student metrics given")
    ctrl_mean = {o: float(np.mean([p[o] for p in ctrl.values()])) for o in columns if all(o in p for p in ctrl.values())}
    missing = [o for o in columns if o not in ctrl_mean]
    if missing:
        raise DataError(f"the control's metrics lack options {missing}")
    delta, n_seeds, paired = [], {}, True
    for label in labels:
        runs = _by_seed(students[label], split, kind)
        if not runs:
            raise DataError(f"no metrics for the {label!r} student")
        paired &= all(s in ctrl for s in runs)
        row = []
        for o in columns:
            if any(o not in p for p in runs.values()):
                raise DataError(f"the {label!r} student's metrics lack option {o!r}")
            diffs = [p[o] - (ctrl[s][o] if s in ctrl else ctrl_mean[o]) for s, p in runs.items()]
            est = mean_ci(diffs)
            row.append(Cell(mean=est.mean, low=est.low, high=est.high, n=est.n))
        delta.append(row)
        n_seeds[label] = len(runs)
    return _dominance(labels, columns, split, kind, delta, n_seeds, len(ctrl), paired)


def _dominance(labels: list[str], columns: list[str], split: str, kind: str, delta: list[list[Cell]],
               n_seeds: dict[str, int], control_seeds: int, paired: bool) -> SpecificityResult:
    k = len(labels)
    d = np.array([[c.mean for c in row[:k]] for row in delta])
    off = ~np.eye(k, dtype=bool)
    row_max = [bool(all(d[i, i] > d[i, j] for j in range(k) if j != i)) for i in range(k)]
    col_max = [bool(all(d[j, j] > d[i, j] for i in range(k) if i != j)) for j in range(k)]
    row_off = [float(d[i][off[i]].mean()) for i in range(k)]
    comparison = paired_test(np.diag(d).tolist(), row_off)
    perm_p, n_perm = _permutation_p(d)
    return SpecificityResult(
        labels=labels, options=columns, split=split, kind=kind, delta=delta, n_seeds=n_seeds,
        control_seeds=control_seeds, paired_by_seed=paired, diagonal_is_row_max=row_max,
        diagonal_is_column_max=col_max, n_row_max=sum(row_max), n_column_max=sum(col_max),
        p_row_max=_binomial_tail(sum(row_max), k), p_column_max=_binomial_tail(sum(col_max), k),
        mean_diagonal=float(np.diag(d).mean()), mean_off_diagonal=float(d[off].mean()),
        diagonal_vs_off=_finite(comparison.to_dict()), permutation_p=perm_p, n_permutations=n_perm,
        diagonal_dominates=all(row_max) and all(col_max),
    )


def _finite(values: dict) -> dict:
    """NaN/inf → None so the dict is valid JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
