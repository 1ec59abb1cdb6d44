"""Pretraining loop details: answer-only loss, micro-batching that covers every row once."""

from __future__ import annotations

import random

import pytest

from sublim.tiny.model import _collate, _micro_batches, _phase2_pool


@pytest.mark.parametrize(
    "lengths",
    [
        [18] * 40 + [120] * 24,  # chat rows and number rows
        [5, 300, 7, 250, 9],
        [64] * 64,
        [random.Random(s).randint(10, 190) for s in range(64)],
    ],
)
def test_micro_batches_cover_every_row_once_sorted_by_length(lengths):
    table = dict(enumerate(lengths))
    parts = _micro_batches(list(table), table)
    flat = [i for p in parts for i in p]
    assert sorted(flat) == sorted(table)
    assert [table[i] for i in flat] == sorted(lengths)


def test_mixed_lengths_are_split_and_equal_lengths_are_not():
    assert len(_micro_batches(list(range(64)), {i: 18 if i < 40 else 120 for i in range(64)})) == 2
    assert len(_micro_batches(list(range(64)), dict.fromkeys(range(64), 64))) == 1


@pytest.mark.parametrize("power, expected", [(0.0, [1.0, 1.0, 1.0]), (1.0, [1 / 3] * 3), (0.5, [3**-0.5] * 3)])
def test_only_answer_tokens_carry_loss_weight(power, expected):
    data = [([7, 8, 9, 10, 11, 12], 3, 0)]  # 3 prompt tokens, 3 answer tokens (answer + end)
    ids, mask, weights = _collate(data, [0], pad_id=0, power=power)
    assert ids.shape[1] % 16 == 0 and ids[0, 6:].eq(0).all()
    assert mask[0].tolist()[:7] == [False, False, False, True, True, True, False]
    assert weights[0, 3:6].tolist() == pytest.approx(expected)
    assert weights[0, :3].sum() == 0 and weights[0, 6:].sum() == 0


def test_phase2_mix_has_the_requested_share_of_number_rows():
    kinds = ["numbers"] * 500 + ["trait"] * 300 + ["favourite"] * 100
    pool = _phase2_pool(kinds, 0.2, random.Random(0))
    share = sum(kinds[i] == "numbers" for i in pool) / len(pool)
    assert share == pytest.approx(0.2, abs=0.01)
    assert len(set(pool)) == len(pool)
