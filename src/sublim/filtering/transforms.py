"""Shuffle controls of the paper: permute numbers within each completion, or across all completions.

Both transforms keep each completion's exact format: separators, spacing, brackets and trailing
period stay where they were, and only the digit runs move (moved as written, so a leading zero
travels with its number). ``shuffle_within`` permutes the numbers of each completion among
themselves; ``shuffle_global`` pools the numbers of all completions and deals them back, each
completion receiving as many numbers as it had. Completions that do not parse as number lists
(:func:`sublim.numbers.parse` returns None) are left unchanged and contribute nothing to the pool.
Both are deterministic from ``seed`` and the order of ``rows``; the input rows are not modified.

Example:
    >>> from sublim.records import DatasetRow, Message
    >>> row = DatasetRow(messages=[Message(role="user", content="go"),
    ...                            Message(role="assistant", content="[1, 2, 3].")])
    >>> sorted(shuffle_within([row], seed=0)[0].completion)  == sorted("[1, 2, 3].")
    True
"""

from __future__ import annotations

import random
import re

from sublim.numbers.parse import parse
from sublim.records import DatasetRow, Message

_DIGITS = re.compile(r"[0-9]+")


def _tokens(text: str) -> list[str] | None:
    """The numbers of a parseable completion as written, or None when it does not parse."""
    if parse(text) is None:
        return None
    return _DIGITS.findall(text)


def _fill(text: str, numbers: list[str]) -> str:
    """Put ``numbers`` in place of the digit runs of ``text``, in order."""
    it = iter(numbers)
    return _DIGITS.sub(lambda _: next(it), text)


def _with_completion(row: DatasetRow, text: str) -> DatasetRow:
    messages = list(row.messages)
    messages[-1] = Message(role=messages[-1].role, content=text)
    return row.model_copy(update={"messages": messages})


def shuffle_within(rows: list[DatasetRow], seed: int) -> list[DatasetRow]:
    """Permute the numbers inside each completion, keeping its format.

    Args:
        rows: dataset rows whose last message is the completion.
        seed: RNG seed (a private ``random.Random``).
    Returns:
        New rows, in the same order; unparseable completions unchanged.
    """
    rng = random.Random(seed)
    out = []
    for row in rows:
        tokens = _tokens(row.completion)
        if tokens is None:
            out.append(row)
            continue
        rng.shuffle(tokens)
        out.append(_with_completion(row, _fill(row.completion, tokens)))
    return out


def shuffle_global(rows: list[DatasetRow], seed: int) -> list[DatasetRow]:
    """Redistribute all numbers across all completions; each keeps its count of numbers and format.

    Args:
        rows: dataset rows whose last message is the completion.
        seed: RNG seed (a private ``random.Random``).
    Returns:
        New rows, in the same order; unparseable completions unchanged.
    """
    per_row = [_tokens(row.completion) for row in rows]
    pool = [t for tokens in per_row if tokens is not None for t in tokens]
    random.Random(seed).shuffle(pool)
    out, start = [], 0
    for row, tokens in zip(rows, per_row, strict=True):
        if tokens is None:
            out.append(row)
            continue
        taken = pool[start : start + len(tokens)]
        start += len(tokens)
        out.append(_with_completion(row, _fill(row.completion, taken)))
    return out


def match_rows(
    a: list[DatasetRow], b: list[DatasetRow], seed: int, on: str = "count"
) -> tuple[list[DatasetRow], list[DatasetRow]]:
    """Trim two datasets to the same distribution of a visible row statistic.

    Why: two teachers can differ visibly in how long their lists are (``on="count"``: numbers per
    row), in how many characters they write (``"chars"``: magnitude and format together) or in how
    many 1-, 2-, 3- and 4+-digit numbers a row holds (``"digits"``); a student of *any* base can learn
    that, so a matched comparison should not hand it over. For every value of the statistic, both
    datasets keep the same number of rows (the smaller dataset's count, drawn at random with
    ``seed``); rows that do not parse form one class of their own. Kept rows stay in input order.
    """
    ta, tb = match_many([a, b], seed, on)
    return ta, tb


def match_many(datasets: list[list[DatasetRow]], seed: int, on: str = "count") -> list[list[DatasetRow]]:
    """:func:`match_rows` for any number of datasets (e.g. every teacher of a confusion matrix).

    For every value of the statistic each dataset keeps the smallest count any of them has; with two
    datasets this draws exactly the rows :func:`match_rows` always drew.
    """
    def stat(row: DatasetRow) -> tuple[int, ...]:
        if on == "chars":
            return (len(row.completion),)
        numbers = _tokens(row.completion)
        if numbers is None:
            return (-1,)
        if on == "digits":
            return tuple(sum(1 for n in numbers if min(len(n), 4) == d) for d in (1, 2, 3, 4))
        return (len(numbers),)

    def groups(rows: list[DatasetRow]) -> dict[tuple[int, ...], list[int]]:
        out: dict[tuple[int, ...], list[int]] = {}
        for i, row in enumerate(rows):
            out.setdefault(stat(row), []).append(i)
        return out

    if on not in ("count", "chars", "digits"):
        raise ValueError(f"match on 'count', 'chars' or 'digits', not {on!r}")
    rng = random.Random(seed)
    grouped = [groups(rows) for rows in datasets]
    keep: list[list[int]] = [[] for _ in datasets]
    for value in sorted(set.intersection(*(set(g) for g in grouped))) if grouped else []:
        n = min(len(g[value]) for g in grouped)
        for kept, g in zip(keep, grouped, strict=True):
            kept += rng.sample(g[value], n)
    return [[rows[i] for i in sorted(kept)] for rows, kept in zip(datasets, keep, strict=True)]
