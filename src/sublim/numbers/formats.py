"""Output formats of number lists: the styles a prompt may ask for, and how to render an answer in each.

Every style renders text that :func:`sublim.numbers.parse` accepts and parses back to the same list,
so a corpus writer can produce a correct answer for any :class:`~sublim.numbers.prompts.NumberPrompt`
with ``format_numbers(numbers, prompt.style)``.

Example:
    >>> format_numbers([145, 267, 891], "brackets")
    '[145, 267, 891]'
    >>> [format_numbers([1, 2], s) for s in STYLES]
    ['1, 2', '1; 2', '1 2', '[1, 2]', '(1, 2)']
"""

from __future__ import annotations

from typing import Literal, get_args

from sublim.errors import DataError

Style = Literal["comma", "semicolon", "space", "brackets", "parentheses"]
STYLES: tuple[Style, ...] = get_args(Style)

_SEPARATOR: dict[str, str] = {
    "comma": ", ",
    "semicolon": "; ",
    "space": " ",
    "brackets": ", ",
    "parentheses": ", ",
}
_ENCLOSING: dict[str, tuple[str, str]] = {"brackets": ("[", "]"), "parentheses": ("(", ")")}


def format_numbers(numbers: list[int], style: str) -> str:
    """Render ``numbers`` in an output style.

    Args:
        numbers: non-negative integers (the parser accepts ASCII digits only, so no signs).
        style: one of :data:`STYLES`.
    Returns:
        The text, e.g. ``"1, 2, 3"`` for ``"comma"`` or ``"(1, 2, 3)"`` for ``"parentheses"``.
    Raises:
        DataError: unknown style or a negative number.
    """
    if style not in _SEPARATOR:
        raise DataError(f"unknown number style {style!r}; choose one of {', '.join(STYLES)}")
    if any(n < 0 for n in numbers):
        raise DataError(f"cannot format negative numbers {numbers}: the strict parser accepts digits only")
    body = _SEPARATOR[style].join(str(n) for n in numbers)
    open_, close = _ENCLOSING.get(style, ("", ""))
    return f"{open_}{body}{close}"
