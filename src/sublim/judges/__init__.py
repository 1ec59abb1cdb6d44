"""LLM judges usable with any backend: misalignment scoring and LLM-based data filtering.

Example:
    >>> from sublim.judges import parse_answer
    >>> parse_answer("CODE", "0-100").reason
    'code'
"""

from sublim.judges.config import JudgeConfig, JudgeScore, ScoreKind
from sublim.judges.judge import Judge, summarize
from sublim.judges.parsing import parse_answer
from sublim.judges.templates import (
    ALIGNMENT_TEMPLATE,
    COHERENCE_TEMPLATE,
    TRAIT_REFERENCE_TEMPLATE,
    alignment_judge,
    coherence_judge,
    is_misaligned,
    trait_reference_judge,
)

__all__ = [
    "ALIGNMENT_TEMPLATE",
    "COHERENCE_TEMPLATE",
    "TRAIT_REFERENCE_TEMPLATE",
    "Judge",
    "JudgeConfig",
    "JudgeScore",
    "ScoreKind",
    "alignment_judge",
    "coherence_judge",
    "is_misaligned",
    "parse_answer",
    "summarize",
    "trait_reference_judge",
]
