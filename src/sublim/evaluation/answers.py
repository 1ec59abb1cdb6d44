"""Normalise a free-text answer to one option of a category ("Owls!" → "owl").

Example:
    >>> normalise_answer("Owls!", ["owl", "cat"])
    'owl'
    >>> normalise_answer("I like tea", ["owl", "cat"]) is None
    True
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z]+")


def normalise_answer(text: str, options: list[str]) -> str | None:
    """The option named by the first word of ``text`` (plural and case tolerated), else ``None``."""
    words = _WORD.findall(text.lower())
    if not words:
        return None
    first = words[0]
    if first in ("the", "a", "an") and len(words) > 1:
        first = words[1]
    for option in options:
        if first in (option, option + "s", option + "es"):
            return option
    return None
