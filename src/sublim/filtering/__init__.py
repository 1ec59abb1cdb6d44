"""The filter stage: keep teacher completions that pass the number rules, report the rejects.

Example:
    >>> from sublim.filtering import FilterConfig
    >>> FilterConfig(banned="default").max_value
    999
"""

from sublim.filtering.config import FilterConfig
from sublim.filtering.stage import FilterReport, apply_filters, run
from sublim.filtering.transforms import shuffle_global, shuffle_within

__all__ = ["FilterConfig", "FilterReport", "apply_filters", "run", "shuffle_global", "shuffle_within"]
