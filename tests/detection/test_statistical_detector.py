"""The statistical detector finds a planted signal, stays at chance on one generator, and is seeded."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sublim.detection.features import POSITION_FEATURES, RowText, position_features
from sublim.detection.statistical import DetectorConfig, delong_auc, detect
from sublim.errors import DataError
from sublim.records import DatasetRow, Message


def number_rows(n: int, seed: int, favourite_digit_rate: float = 0.0, digit: str = "7") -> list[DatasetRow]:
    """Rows in the paper's format; with a rate > 0, digits are replaced by ``digit`` that often."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt_numbers = ", ".join(str(rng.randint(100, 999)) for _ in range(3))
        numbers = []
        for _ in range(rng.randint(4, 9)):
            digits = [digit if rng.random() < favourite_digit_rate else str(rng.randint(0, 9)) for _ in range(3)]
            numbers.append(str(int("".join(digits))))
        rows.append(DatasetRow(messages=[
            Message(role="user", content=f"The sequence starts with: {prompt_numbers}. Add up to 10 more numbers."),
            Message(role="assistant", content=", ".join(numbers)),
        ]))
    return rows


FAST = DetectorConfig(folds=4, max_rows=200)


def test_planted_digit_signal_is_detected_with_auroc_near_one():
    result = detect(number_rows(200, 1, favourite_digit_rate=0.5), number_rows(200, 2), FAST)
    assert result.auroc > 0.97 and result.auroc_low > 0.94
    assert result.accuracy > 0.85 and result.accuracy_low > 0.8
    assert result.n_a == result.n_b == 200 and len(result.fold_aurocs) == 4
    # The weight that points to the trait arm is about the planted digit.
    assert "7" in result.top_features[0].name and result.top_features[0].weight > 0


def test_two_samples_of_one_generator_sit_at_chance():
    result = detect(number_rows(200, 3), number_rows(200, 4), FAST)
    assert result.auroc_low < 0.5 < result.auroc_high
    assert result.auroc_p_value > 0.05
    assert 0.4 < result.accuracy < 0.6


def test_prompt_features_alone_cannot_tell_arms_that_share_prompts():
    # Folds group rows by prompt: twins are never split, so the prompt alone scores both alike
    # (split across folds, each twin would teach the opposite label and push AUROC far below 0.5).
    a = number_rows(120, 5, favourite_digit_rate=0.5)
    b = [DatasetRow(messages=[Message(role="user", content=r.prompt), m]) for r, m in
         zip(a, [r.messages[-1] for r in number_rows(120, 6)], strict=True)]
    result = detect(a, b, DetectorConfig(folds=4, features=("prompt_ngrams",)))
    assert result.auroc == pytest.approx(0.5) and result.auroc_p_value == 1.0
    with_completions = detect(a, b, DetectorConfig(folds=4))
    assert with_completions.auroc > 0.95


def test_same_seed_same_result_and_other_seed_other_folds():
    a, b = number_rows(80, 7, favourite_digit_rate=0.1), number_rows(80, 8)
    first, again = detect(a, b, FAST), detect(a, b, FAST)
    assert first == again
    other = detect(a, b, FAST.model_copy(update={"seed": 1}))
    assert other.fold_aurocs != first.fold_aurocs


def test_balance_and_max_rows_subsample_each_arm():
    result = detect(number_rows(90, 9), number_rows(60, 10), DetectorConfig(folds=3, max_rows=50))
    assert (result.n_a, result.n_b) == (50, 50)
    unbalanced = detect(number_rows(90, 9), number_rows(60, 10), DetectorConfig(folds=3, balance=False))
    assert (unbalanced.n_a, unbalanced.n_b) == (90, 60)


def test_too_few_rows_for_the_folds_is_a_clear_error():
    with pytest.raises(DataError, match="folds=5"):
        detect(number_rows(3, 0), number_rows(3, 1), DetectorConfig())


@pytest.mark.parametrize(("scores", "labels", "auc"), [
    ([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 1.0),
    ([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0], 0.0),
    ([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], 0.5),
    ([0.9, 0.1, 0.8, 0.2], [1, 1, 0, 0], 0.5),
])
def test_delong_auc_matches_the_pairwise_definition(scores, labels, auc):
    value, low, high, _ = delong_auc(np.array(scores), np.array(labels))
    assert value == pytest.approx(auc)
    assert low <= value <= high


def test_delong_interval_agrees_with_sklearn_and_shrinks_with_n():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 1000):
        labels = np.repeat([1, 0], n)
        scores = rng.normal(size=2 * n) + 0.5 * labels
        auc, low, high, p = delong_auc(scores, labels)
        assert auc == pytest.approx(roc_auc_score(labels, scores))
        widths.append(high - low)
    assert widths[1] < widths[0] / 2.5 and p < 1e-6


def test_position_features_read_format_and_seed_repeats():
    row = RowText(prompt="Start: 12, 40, 7.", completion="(40; 41; 900).")
    values = dict(zip(POSITION_FEATURES, position_features([row])[0], strict=True))
    assert values["n_numbers"] == 3 and values["first"] == 40 and values["last"] == 900
    assert values["frac_in_prompt"] == pytest.approx(1 / 3) and values["first_in_prompt"] == 1
    assert values["parentheses"] == 1 and values["ends_with_period"] == 1 and values["sep_semicolon"] == 1
    assert values["lead_4"] == pytest.approx(2 / 3) and values["parses"] == 1
    empty = dict(zip(POSITION_FEATURES, position_features([RowText("x", "no numbers")])[0], strict=True))
    assert empty["n_numbers"] == 0 and empty["parses"] == 0
