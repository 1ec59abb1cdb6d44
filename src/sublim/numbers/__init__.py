"""The number-sequence domain: prompt generation, output formats, strict parsing and banned numbers.

Example:
    >>> from sublim.numbers import generate_prompts, format_numbers, parse
    >>> p = generate_prompts(1, seed=0)[0]
    >>> parse(format_numbers([1, 22, 333], p.style))
    [1, 22, 333]
"""

from sublim.numbers.banned import BANNED_NUMBERS
from sublim.numbers.formats import STYLES, Style, format_numbers
from sublim.numbers.parse import REJECT_REASONS, parse, reject_reasons
from sublim.numbers.prompts import NumberPrompt, NumberPromptConfig, generate_prompts

__all__ = [
    "BANNED_NUMBERS",
    "REJECT_REASONS",
    "STYLES",
    "NumberPrompt",
    "NumberPromptConfig",
    "Style",
    "format_numbers",
    "generate_prompts",
    "parse",
    "reject_reasons",
]
