"""The per-completion rules of the filter: why one completion is rejected.

Example:
    >>> from sublim.filtering.config import FilterConfig
    >>> rules = Rules(FilterConfig(banned_words=("owl",)))
    >>> rules.reasons("1, 2, 3"), rules.reasons("Owls: 1, 2"), rules.reasons("1, 2000")
    ([], ['invalid format', 'mentions trait'], ['numbers too large'])
"""

from __future__ import annotations

import re

from sublim.filtering.config import FilterConfig
from sublim.numbers.parse import reject_reasons

MENTIONS_TRAIT = "mentions trait"
DUPLICATE = "duplicate"


def banned_word_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """A case-insensitive regex matching any of ``words`` as a whole word, plural 's'/'es' included."""
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?:e?s)?(?!\w)", re.IGNORECASE)


class Rules:
    """The rules of one :class:`FilterConfig`, compiled once and applied to many completions."""

    def __init__(self, config: FilterConfig) -> None:
        self.config = config
        self.banned = config.banned_numbers()
        self.words = banned_word_pattern(config.banned_words)

    def reasons(self, completion: str) -> list[str]:
        """All reasons to reject ``completion`` (empty when it passes), number reasons first."""
        out: list[str] = []
        if self.config.check_numbers:
            out += reject_reasons(
                completion,
                min_value=self.config.min_value,
                max_value=self.config.max_value,
                max_count=self.config.max_count,
                banned=self.banned,
            )
        if self.words is not None and self.words.search(completion):
            out.append(MENTIONS_TRAIT)
        return out
