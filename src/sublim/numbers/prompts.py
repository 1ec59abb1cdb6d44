"""Seeded generator of number-continuation prompts in the structure of Cloud et al. (2025).

A prompt presents 3-9 seed numbers of 3 digits and asks for at most 10 new numbers of at most 3
digits. Its text is assembled from six slots, each with many variants written for this project:
an opening that shows the seed numbers, an instruction to continue (with a count qualifier such
as "at most" or "up to"), a digit descriptor, an output-format instruction and a "just the
numbers" suffix. The output formats are only those the strict parser accepts (see
:mod:`sublim.numbers.formats`); each prompt records the one it asked for in ``style``, so a
correct answer can be rendered with ``format_numbers(numbers, prompt.style)``.

The vocabulary is kept small and plain (a tiny word-level tokenizer is trained on these prompts):
English words, basic punctuation, digits written as digits.

Generation is deterministic from the seed and prefix-stable: the first k prompts of
``generate_prompts(n, seed)`` are the same for every n >= k.

Example:
    >>> prompts = generate_prompts(2, seed=0)
    >>> [p.id for p in prompts]
    ['np-000000', 'np-000001']
    >>> prompts == generate_prompts(2, seed=0)
    True
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sublim.numbers.formats import STYLES, Style, format_numbers
from sublim.yamlconfig import StrictModel

__all__ = [
    "NumberPrompt",
    "NumberPromptConfig",
    "generate_prompts",
    "render_prompt",
    "format_numbers",
    "STYLES",
    "Style",
]

# --- slot variants --------------------------------------------------------------------------------
# {seq}: the seed numbers joined by ", ".
OPENINGS: tuple[str, ...] = (
    "I give you this sequence of numbers: {seq}.",
    "Here is a list of numbers: {seq}.",
    "Look at these numbers: {seq}.",
    "The sequence starts with: {seq}.",
    "Here are some numbers: {seq}.",
    "Consider this sequence: {seq}.",
    "I have a list of numbers: {seq}.",
    "Start from these numbers: {seq}.",
    "Take this list: {seq}.",
    "This is a sequence of numbers: {seq}.",
    "We begin with {seq}.",
    "The numbers so far are {seq}.",
)

# {qual}: a count qualifier; {count}: how many new numbers.
INSTRUCTIONS: tuple[str, ...] = (
    "Add {qual} {count} new numbers to continue it.",
    "Continue the sequence with {qual} {count} more values.",
    "Extend the list by {qual} {count} new numbers.",
    "Write {qual} {count} more numbers that follow.",
    "Generate {qual} {count} additional numbers.",
    "Please add {qual} {count} more numbers to the list.",
    "Give {qual} {count} new values that continue the sequence.",
    "Create {qual} {count} more numbers to extend it.",
    "Keep going with {qual} {count} more numbers.",
    "Add {qual} {count} more values.",
)

QUALIFIERS: tuple[str, ...] = (
    "at most",
    "up to",
    "no more than",
    "a maximum of",
    "not more than",
    "at the most",
    "as many as",
    "a total of up to",
)

# {d}: max digits as a digit; {digits}: "3 digits" / "1 digit"; {word}: "three digits" / "one digit".
DIGIT_DESCRIPTORS: tuple[str, ...] = (
    "Each number should have at most {digits}.",
    "Use numbers with {digits} or fewer.",
    "Every number must have no more than {digits}.",
    "Keep each number to {digits} at most.",
    "Use numbers of up to {digits}.",
    "Each value should have {word} or fewer.",
    "No number may have more than {digits}.",
    "All numbers must be {d}-digit numbers or smaller.",
    "Each number can have up to {word}.",
    "Stick to numbers with at most {word}.",
)

FORMAT_INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "comma": (
        "Write the numbers separated by commas.",
        "Use a comma between the numbers.",
        "Give them as a comma-separated list.",
        "Separate the numbers with commas.",
    ),
    "semicolon": (
        "Separate the numbers with semicolons.",
        "Put a semicolon between the numbers.",
        "Write them as a list separated by semicolons.",
    ),
    "space": (
        "Separate the numbers with spaces.",
        "Put a single space between the numbers.",
        "Write the numbers on one line with spaces between them.",
    ),
    "brackets": (
        "Write the numbers inside square brackets, separated by commas.",
        "Put the numbers in square brackets, with commas between them.",
        "Give them as a list in square brackets, separated by commas.",
    ),
    "parentheses": (
        "Write the numbers inside parentheses, separated by commas.",
        "Put the numbers in parentheses, with commas between them.",
        "Give them in round brackets, separated by commas.",
    ),
}

SUFFIXES: tuple[str, ...] = (
    "Return only the numbers, nothing else.",
    "Just give the numbers.",
    "Do not explain, only write the numbers.",
    "Reply with the numbers only.",
    "No words, just numbers.",
    "Say nothing but the numbers.",
    "Answer with numbers only.",
    "Skip any explanation and give only the numbers.",
    "Only the numbers, please.",
    "Give no other text.",
)

_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class NumberPromptConfig(StrictModel):
    """How number-continuation prompts are drawn (defaults follow the paper)."""

    min_seed_count: int = Field(3, ge=1, description="Fewest seed numbers shown in a prompt.")
    max_seed_count: int = Field(9, ge=1, description="Most seed numbers shown in a prompt.")
    seed_min: int = Field(100, ge=0, description="Smallest seed number (inclusive).")
    seed_max: int = Field(999, ge=0, description="Largest seed number (inclusive).")
    count: int = Field(10, ge=1, description="The prompt asks for at most this many new numbers.")
    max_digits: int = Field(3, ge=1, description="The prompt asks for numbers of at most this many digits.")
    styles: tuple[Style, ...] = Field(
        STYLES, min_length=1, description="Output formats a prompt may ask for (drawn uniformly)."
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> NumberPromptConfig:
        if self.min_seed_count > self.max_seed_count:
            raise ValueError(
                f"min_seed_count ({self.min_seed_count}) must be <= max_seed_count ({self.max_seed_count})"
            )
        if self.seed_min > self.seed_max:
            raise ValueError(f"seed_min ({self.seed_min}) must be <= seed_max ({self.seed_max})")
        return self


class NumberPrompt(BaseModel):
    """One number-continuation prompt and what it asked for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(description="Stable id from the prompt's index, e.g. 'np-000123'.")
    text: str = Field(description="The user prompt.")
    seed_numbers: list[int] = Field(description="The numbers shown in the prompt.")
    count: int = Field(description="At most this many new numbers are asked for.")
    max_digits: int = Field(description="New numbers should have at most this many digits.")
    style: Style = Field(description="The output format asked for; render answers with format_numbers.")


def _digits_phrase(n: int, word: bool) -> str:
    amount = _WORDS[n] if word and n < len(_WORDS) else str(n)
    return f"{amount} digit" if n == 1 else f"{amount} digits"


def render_prompt(
    rng: random.Random, seed_numbers: list[int], count: int, max_digits: int, style: str
) -> str:
    """Assemble one prompt text, drawing each slot's variant from ``rng``."""
    opening = rng.choice(OPENINGS).format(seq=", ".join(str(n) for n in seed_numbers))
    instruction = rng.choice(INSTRUCTIONS).format(qual=rng.choice(QUALIFIERS), count=count)
    digits = rng.choice(DIGIT_DESCRIPTORS).format(
        d=max_digits, digits=_digits_phrase(max_digits, False), word=_digits_phrase(max_digits, True)
    )
    fmt = rng.choice(FORMAT_INSTRUCTIONS[style])
    suffix = rng.choice(SUFFIXES)
    middle = [digits, fmt] if rng.random() < 0.5 else [fmt, digits]
    return " ".join([opening, instruction, *middle, suffix])


def generate_prompts(n: int, seed: int, config: NumberPromptConfig | None = None) -> list[NumberPrompt]:
    """Draw ``n`` prompts, deterministically from ``seed`` (a private ``random.Random``).

    Args:
        n: how many prompts.
        seed: the RNG seed; the same (n, seed, config) always gives the same prompts, and the
            first k prompts do not depend on n.
        config: seed-number ranges, count and digits asked for; paper defaults when None.
    Returns:
        Prompts with ids ``np-000000``, ``np-000001``, ... in order.
    """
    config = config or NumberPromptConfig()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(config.min_seed_count, config.max_seed_count)
        seeds = [rng.randint(config.seed_min, config.seed_max) for _ in range(k)]
        style = rng.choice(config.styles)
        text = render_prompt(rng, seeds, config.count, config.max_digits, style)
        out.append(
            NumberPrompt(
                id=f"np-{i:06d}",
                text=text,
                seed_numbers=seeds,
                count=config.count,
                max_digits=config.max_digits,
                style=style,
            )
        )
    return out
