"""Configuration of the filter stage: number rules, banned numbers and words, duplicates, shuffles.

Example:
    >>> cfg = FilterConfig(banned="default")
    >>> 666 in cfg.banned_numbers(), 123 in cfg.banned_numbers()
    (True, False)
    >>> sorted(FilterConfig(banned=[7, 8]).banned_numbers())
    [7, 8]
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from sublim.numbers.banned import BANNED_NUMBERS
from sublim.yamlconfig import StrictModel


class FilterConfig(StrictModel):
    """Which teacher completions are kept as training data (defaults: the paper's number filter)."""

    check_numbers: bool = Field(
        True,
        description="Apply the strict number-list rules (format, count, range, banned numbers). "
        "Set false for non-number modalities (code, chain of thought); banned_words still apply.",
    )
    min_value: int | None = Field(0, description="Every number must be >= this (null: no lower bound).")
    max_value: int | None = Field(999, description="Every number must be <= this (null: no upper bound).")
    max_count: int | None = Field(
        10, ge=1, description="At most this many numbers per completion (null: any)."
    )
    banned: Literal["none", "default"] | tuple[int, ...] = Field(
        "none",
        description="Numbers that reject a completion: 'none', 'default' (sublim.numbers.BANNED_NUMBERS, "
        "~35 numbers with negative associations; the misalignment experiments use it) or a list of numbers.",
    )
    drop_duplicates: bool = Field(
        False,
        description="Reject a row whose user prompt and completion both equal those of an earlier kept row "
        "(reason 'duplicate').",
    )
    banned_words: tuple[str, ...] = Field(
        (),
        description="Reject completions mentioning any of these words (case-insensitive, whole word, "
        "plural 's'/'es' included) with reason 'mentions trait': a safety net against overt leaks.",
    )
    shuffle: Literal["none", "within", "global"] = Field(
        "none",
        description="After filtering, permute the numbers inside each completion ('within') or across all "
        "completions ('global'), keeping each completion's format and length (the paper's shuffle controls).",
    )
    shuffle_seed: int = Field(0, description="Seed of the shuffle.")
    max_rows: int | None = Field(
        None, ge=1, description="Keep at most this many rows (the first ones that pass, in input order)."
    )
    match_on: Literal["none", "count", "chars", "digits"] = Field(
        "none",
        description="After filtering, trim the treatment and control arms to the same distribution of a visible "
        "row statistic, so a student cannot tell them apart by it: 'count' (numbers per row), 'chars' "
        "(characters per completion: magnitude and format) or 'digits' (how many 1-, 2-, 3- and 4+-digit "
        "numbers each row holds). A matched-statistics control (controls.specificity_matched extends it to "
        "every teacher of the specificity matrix).",
    )

    @field_validator("banned_words")
    @classmethod
    def _words_not_blank(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        if any(not w.strip() for w in words):
            raise ValueError("banned_words must not contain empty strings")
        return tuple(w.strip() for w in words)

    @model_validator(mode="after")
    def _check_ranges(self) -> FilterConfig:
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"min_value ({self.min_value}) must be <= max_value ({self.max_value})")
        if self.shuffle != "none" and not self.check_numbers:
            raise ValueError("shuffle needs number completions: set check_numbers: true or shuffle: none")
        return self

    def banned_numbers(self) -> frozenset[int]:
        """The banned numbers this config resolves to."""
        if self.banned == "none":
            return frozenset()
        if self.banned == "default":
            return frozenset(BANNED_NUMBERS)
        return frozenset(self.banned)
