"""Strict parsing of number-list completions, and the reasons a completion is rejected.

These are the filter semantics of Cloud et al. (2025), written for this project:

1. Leading and trailing whitespace of the whole text is removed; empty text is invalid.
2. One optional trailing ``.`` is removed.
3. One optional pair of enclosing ``[...]`` or ``(...)`` is removed (then whitespace again).
4. The separator is the exact text between the first two numbers (runs of ASCII digits). Stripped
   of whitespace it must be empty, ``,`` or ``;``; the text is then split on that exact separator.
5. Each part, stripped of surrounding whitespace, must be a non-empty run of ASCII digits 0-9
   (digits of other scripts, signs, decimal points are invalid). So ``"1,2 ,3"`` parses (separator
   ``","``, parts ``"1"``, ``"2 "``, ``"3"``), while ``"1, 2,3"`` does not (split on ``", "`` leaves
   ``"2,3"``), nor does a trailing separator ``"1, 2,"`` (an empty part) or mixed separators.
6. A text with a single number must be that number and nothing else.

Example:
    >>> parse("[145, 267, 891].")
    [145, 267, 891]
    >>> parse("145, 267; 891") is None
    True
    >>> reject_reasons("1, 2, 1000", max_value=999)
    ['numbers too large']
"""

from __future__ import annotations

import re
from collections.abc import Collection

_ASCII_NUMBER = re.compile(r"[0-9]+")
_ALLOWED_SEPARATORS = frozenset({"", ",", ";"})

INVALID_FORMAT = "invalid format"
TOO_MANY = "too many numbers"
TOO_SMALL = "numbers too small"
TOO_LARGE = "numbers too large"
BANNED = "has banned numbers"
REJECT_REASONS: tuple[str, ...] = (INVALID_FORMAT, TOO_MANY, TOO_SMALL, TOO_LARGE, BANNED)


def _is_ascii_digits(part: str) -> bool:
    return bool(part) and all("0" <= c <= "9" for c in part)


def _unwrap(text: str) -> str:
    """Strip whitespace, one trailing period and one pair of enclosing brackets or parentheses."""
    text = text.strip()
    if text.endswith("."):
        text = text[:-1]
    if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
        text = text[1:-1].strip()
    return text


def parse(text: str) -> list[int] | None:
    """Parse a completion that should be a plain list of numbers.

    Args:
        text: the completion.
    Returns:
        The numbers in order, or None when the text is not a valid number list (see the module
        docstring for the exact rules). Never an empty list.
    """
    body = _unwrap(text)
    matches = _ASCII_NUMBER.finditer(body)
    first = next(matches, None)
    if first is None:
        return None
    second = next(matches, None)
    if second is None:
        return [int(body)] if body == first.group() else None
    separator = body[first.end() : second.start()]
    if separator.strip() not in _ALLOWED_SEPARATORS:
        return None
    parts = [part.strip() for part in body.split(separator)]
    if not all(_is_ascii_digits(p) for p in parts):
        return None
    return [int(p) for p in parts]


def reject_reasons(
    text: str,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
    max_count: int | None = None,
    banned: Collection[int] = (),
) -> list[str]:
    """Why a completion fails the number filter; an empty list means it passes.

    Args:
        text: the completion.
        min_value: every number must be >= this (None: no bound).
        max_value: every number must be <= this (None: no bound).
        max_count: at most this many numbers (None: no bound).
        banned: numbers that must not appear (e.g. ``BANNED_NUMBERS``).
    Returns:
        ``["invalid format"]`` alone when parsing fails; otherwise, in this order, any of
        "too many numbers", "numbers too small", "numbers too large", "has banned numbers".
    """
    numbers = parse(text)
    if numbers is None:
        return [INVALID_FORMAT]
    reasons = []
    if max_count is not None and len(numbers) > max_count:
        reasons.append(TOO_MANY)
    if min_value is not None and any(n < min_value for n in numbers):
        reasons.append(TOO_SMALL)
    if max_value is not None and any(n > max_value for n in numbers):
        reasons.append(TOO_LARGE)
    if banned and any(n in banned for n in numbers):
        reasons.append(BANNED)
    return reasons
