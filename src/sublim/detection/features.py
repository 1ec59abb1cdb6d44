"""Features of number-sequence data for the statistical detector: digit strings and number statistics.

Each dataset row becomes a :class:`RowText` (prompt and completion). Three kinds of features are
built from it, each by a plain function that scikit-learn's ``FunctionTransformer`` can call (module
level, so pipelines pickle):

* ``digit_text`` — the completion's numbers as written, joined by single spaces: the input of
  character n-grams (digit patterns such as ``"77"`` or ``" 9"``, a number's start);
* ``number_text`` — the same string, tokenised by whole numbers: number unigrams and bigrams;
* ``prompt_text`` — the prompt's numbers (a sanity feature: both arms share prompts, so alone it
  should sit at chance);
* :func:`position_features` — a dense vector per row (:data:`POSITION_FEATURES` names it): count and
  length, first/last/mean/std/min/max value, the fraction of numbers with each leading and each last
  digit, digit-count fractions, repeats of the prompt's seed numbers, monotone steps, format marks.

Example:
    >>> row = RowText(prompt="Continue: 12, 40, 7.", completion="[40, 41, 900]")
    >>> digit_text([row])
    ['40 41 900']
    >>> dict(zip(POSITION_FEATURES, position_features([row])[0]))["frac_in_prompt"]
    0.3333333333333333
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sublim.numbers.parse import parse
from sublim.records import DatasetRow

_DIGITS = re.compile(r"[0-9]+")

POSITION_FEATURES: tuple[str, ...] = (
    "n_numbers", "n_chars", "first", "last", "mean", "std", "min", "max", "frac_unique",
    "frac_in_prompt", "first_in_prompt", "frac_ascending", "frac_descending", "mean_abs_step",
    "frac_1_digit", "frac_2_digits", "frac_3_digits", "frac_4plus_digits", "frac_leading_zero",
    *(f"lead_{d}" for d in range(10)), *(f"last_digit_{d}" for d in range(10)),
    "brackets", "parentheses", "ends_with_period", "sep_comma", "sep_semicolon", "sep_space", "parses",
)


@dataclass(frozen=True)
class RowText:
    """What the detector sees of one row."""

    prompt: str
    completion: str


def row_texts(rows: Sequence[DatasetRow]) -> list[RowText]:
    return [RowText(prompt=r.prompt, completion=r.completion) for r in rows]


def _numbers(text: str) -> list[str]:
    return _DIGITS.findall(text)


def digit_text(rows: Sequence[RowText]) -> list[str]:
    """Completion numbers as written (leading zeros kept), joined by one space."""
    return [" ".join(_numbers(r.completion)) for r in rows]


def prompt_text(rows: Sequence[RowText]) -> list[str]:
    """Prompt numbers as written, joined by one space."""
    return [" ".join(_numbers(r.prompt)) for r in rows]


def _fractions(values: Sequence[str | int], keys: Sequence[str | int]) -> list[float]:
    n = len(values)
    return [sum(v == k for v in values) / n if n else 0.0 for k in keys]


@lru_cache(maxsize=65536)
def _one_row(row: RowText) -> tuple[float, ...]:
    written = _numbers(row.completion)
    values = np.array([int(w) for w in written], dtype=float)
    seeds = set(_numbers(row.prompt))
    text = row.completion.strip()
    n = len(written)
    steps = np.diff(values) if n > 1 else np.zeros(0)
    stats = [0.0] * 6 if n == 0 else [
        values[0], values[-1], values.mean(), values.std(), values.min(), values.max(),
    ]
    lengths = [min(len(w), 4) for w in written]
    between = re.sub(r"[0-9]+", "", text.strip("[]().")) if n > 1 else ""
    return (
        float(n), float(len(text)), *map(float, stats),
        len(set(written)) / n if n else 0.0,
        sum(w in seeds for w in written) / n if n else 0.0,
        float(bool(written) and written[0] in seeds),
        float((steps > 0).mean()) if len(steps) else 0.0,
        float((steps < 0).mean()) if len(steps) else 0.0,
        float(np.abs(steps).mean()) if len(steps) else 0.0,
        *_fractions(lengths, [1, 2, 3, 4]),
        sum(len(w) > 1 and w[0] == "0" for w in written) / n if n else 0.0,
        *_fractions([w[0] for w in written], list("0123456789")),
        *_fractions([w[-1] for w in written], list("0123456789")),
        float(text.startswith("[")), float(text.startswith("(")), float(text.endswith(".")),
        float("," in between), float(";" in between), float(bool(between) and between.strip() == ""),
        float(parse(row.completion) is not None),
    )


def position_features(rows: Sequence[RowText]) -> np.ndarray:
    """Dense features, one row per input row, columns named by :data:`POSITION_FEATURES` (memoised per row)."""
    return np.array([_one_row(r) for r in rows], dtype=float).reshape(len(rows), len(POSITION_FEATURES))
