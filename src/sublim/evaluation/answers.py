"""Normalise a free-text answer to one option of a category ("Owls!" → "owl").

Example:
    >>> normalise_answer("Owls!", ["owl", "cat"])
    'owl'
    >>> normalise_answer("I like tea", ["owl", "cat"]) is None
    True
    >>> normalise_answer("My favourite animal is the owl.", ["owl", "cat"], match="anywhere")
    'owl'
"""

from __future__ import annotations

import re
from typing import Literal

_WORD = re.compile(r"[a-z]+")


def normalise_answer(text: str, options: list[str], match: Literal["first_word", "anywhere"] = "first_word") -> str | None:
    """The option ``text`` names (plural and case tolerated), else ``None``.

    ``first_word``: the answer's first word (after an article) must be the option — right for models
    that answer in a word. ``anywhere``: the first word of the answer that is an option — for models
    that answer in sentences ("My favourite animal is the owl"); it also counts mentions that are not
    the model's choice, so compare it only between arms scored the same way.
    """
    words = _WORD.findall(text.lower())
    if match == "first_word":
        if words and words[0] in ("the", "a", "an") and len(words) > 1:
            words = words[1:]
        words = words[:1]
    for word in words:
        for option in options:
            if word in (option, option + "s", option + "es"):
                return option
    return None
