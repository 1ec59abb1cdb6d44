"""Shuffle controls move numbers but keep every completion's format (and, globally, every count)."""

from __future__ import annotations

import re
from collections import Counter

from sublim.filtering import shuffle_global, shuffle_within
from sublim.numbers import format_numbers, parse
from sublim.records import DatasetRow, Message


def make_row(completion: str, prompt: str = "Continue: 145, 267, 891.") -> DatasetRow:
    return DatasetRow(
        messages=[Message(role="user", content=prompt), Message(role="assistant", content=completion)]
    )


STYLES_CYCLE = ["comma", "semicolon", "space", "brackets", "parentheses"]


def _rows():
    rows = []
    for i in range(40):
        numbers = [(37 * i + 101 * j) % 1000 for j in range(1 + i % 10)]
        text = format_numbers(numbers, STYLES_CYCLE[i % 5]) + ("." if i % 3 == 0 else "")
        rows.append(make_row(text, prompt=f"prompt {i}"))
    rows.append(make_row("007, 12,  5"))  # does not parse: split on ", " leaves the part "12,  5"
    rows.append(make_row("not numbers at all"))
    rows.append(make_row("1,2 ,3"))  # irregular spacing, parses
    return rows


def skeleton(text: str) -> str:
    return re.sub(r"[0-9]+", "#", text)


def numbers(text: str) -> list[str]:
    return re.findall(r"[0-9]+", text)


def test_within_keeps_each_rows_numbers_and_exact_format():
    rows = _rows()
    out = shuffle_within(rows, seed=0)
    assert len(out) == len(rows)
    for before, after in zip(rows, out, strict=True):
        assert skeleton(after.completion) == skeleton(before.completion)
        assert Counter(numbers(after.completion)) == Counter(numbers(before.completion))
        assert after.prompt == before.prompt
    assert sum(a.completion != b.completion for a, b in zip(rows, out, strict=True)) > 20


def test_global_keeps_overall_numbers_and_each_rows_count_and_format():
    rows = _rows()
    out = shuffle_global(rows, seed=0)
    parsed = [r for r in rows if parse(r.completion) is not None]
    assert Counter(n for r in out if parse(r.completion) for n in numbers(r.completion)) == Counter(
        n for r in parsed for n in numbers(r.completion)
    )
    for before, after in zip(rows, out, strict=True):
        assert skeleton(after.completion) == skeleton(before.completion)
        assert len(numbers(after.completion)) == len(numbers(before.completion))
    # numbers really travel between rows: most rows no longer hold their own multiset
    moved = sum(
        Counter(numbers(a.completion)) != Counter(numbers(b.completion))
        for a, b in zip(rows, out, strict=True)
    )
    assert moved > 30


def test_shuffled_completions_still_parse():
    for out in (shuffle_within(_rows(), seed=3), shuffle_global(_rows(), seed=3)):
        for before, after in zip(_rows(), out, strict=True):
            assert (parse(after.completion) is None) == (parse(before.completion) is None)


def test_unparseable_rows_are_left_unchanged():
    rows = _rows()
    for out in (shuffle_within(rows, seed=1), shuffle_global(rows, seed=1)):
        for before, after in zip(rows, out, strict=True):
            if parse(before.completion) is None:
                assert after == before


def test_deterministic_from_seed_and_inputs_not_mutated():
    rows = _rows()
    snapshot = [r.completion for r in rows]
    for fn in (shuffle_within, shuffle_global):
        assert fn(rows, seed=5) == fn(rows, seed=5)
        assert [r.completion for r in fn(rows, seed=5)] != [r.completion for r in fn(rows, seed=6)]
    assert [r.completion for r in rows] == snapshot


def test_leading_zeros_travel_with_their_number():
    out = shuffle_within([make_row("007, 12, 5")], seed=0)[0].completion
    assert sorted(out.split(", ")) == ["007", "12", "5"]


def test_length_matching_leaves_both_arms_with_the_same_list_lengths():
    from sublim.filtering.transforms import match_rows

    long_arm = [make_row(", ".join(["5"] * (3 + i % 8)), prompt=f"a{i}") for i in range(60)]  # lengths 3..10
    short_arm = [make_row(", ".join(["7"] * (1 + i % 5)), prompt=f"b{i}") for i in range(50)]  # lengths 1..5
    a, b = match_rows(long_arm, short_arm, seed=0)

    def lengths(rows):
        return Counter(len(parse(r.completion)) for r in rows)

    assert lengths(a) == lengths(b) and set(lengths(a)) == {3, 4, 5}
    assert len(a) == len(b) == sum(min(lengths(long_arm)[k], lengths(short_arm)[k]) for k in (3, 4, 5))
    assert [r.prompt for r in a] == [r.prompt for r in long_arm if r in a]  # input order kept
    assert match_rows(long_arm, short_arm, seed=0) == (a, b)  # deterministic
    assert match_rows(long_arm, short_arm, seed=1) != (a, b)  # the seed picks which rows


def test_character_matching_equalises_completion_lengths_and_rejects_unknown_statistics():
    import pytest

    from sublim.filtering.transforms import match_rows

    big = [make_row(", ".join(["123"] * (2 + i % 4)), prompt=f"a{i}") for i in range(40)]  # 3-digit numbers
    small = [make_row(", ".join(["12"] * (2 + i % 6)), prompt=f"b{i}") for i in range(40)]  # 2-digit numbers
    a, b = match_rows(big, small, seed=0, on="chars")
    assert sorted(len(r.completion) for r in a) == sorted(len(r.completion) for r in b) and a
    with pytest.raises(ValueError, match="count"):
        match_rows(big, small, seed=0, on="letters")


def test_digit_matching_gives_both_arms_the_same_mix_of_number_sizes():
    from sublim.filtering.transforms import match_rows

    a_rows = [make_row(", ".join(["5", "12", "123"][: 1 + i % 3]), prompt=f"a{i}") for i in range(30)]
    b_rows = [make_row(", ".join(["7", "34", "34"][: 1 + i % 3]), prompt=f"b{i}") for i in range(30)]
    a, b = match_rows(a_rows, b_rows, seed=0, on="digits")

    def mix(rows):
        return Counter(tuple(sorted(len(n) for n in re.findall(r"[0-9]+", r.completion))) for r in rows)

    assert mix(a) == mix(b) == Counter({(1,): 10, (1, 2): 10})  # no 3-digit row in b, no (1, 2, 2) in a
