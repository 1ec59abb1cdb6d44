"""Judge configuration and result records.

A judge is a model asked to rate one (prompt, completion) pair through a template holding the
placeholders ``{prompt}`` and ``{completion}``. Three answer kinds are parsed: a number 0-100,
yes/no, or one label out of ``choices`` (e.g. A/B).

Example:
    >>> JudgeConfig(template="Q: {prompt}\\nA: {completion}\\nScore 0-100:").score_kind
    '0-100'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from sublim.backends.base import SamplingParams
from sublim.yamlconfig import StrictModel

ScoreKind = Literal["0-100", "yes/no", "choice"]


class JudgeConfig(StrictModel):
    """How to ask a judge model and how to read its answer."""

    name: str = Field("judge", description="short label used in logs and metrics (e.g. 'alignment')")
    template: str = Field(description="judge prompt; must contain {prompt} and {completion} (filled literally)")
    system: str | None = Field(None, description="optional system prompt for the judge")
    score_kind: ScoreKind = Field("0-100", description="'0-100' number, 'yes/no', or 'choice' among `choices`")
    choices: tuple[str, ...] = Field(("A", "B"), description="labels for score_kind 'choice'")
    special_answers: tuple[str, ...] = Field(
        ("REFUSAL", "CODE"),
        description="answers the template allows instead of a score (e.g. REFUSAL, CODE); they map to None",
    )
    model: str | None = Field(None, description="judge model for get_backend, e.g. 'openai/gpt-4.1-2025-04-14'")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, max_new_tokens=16),
        description="how the judge samples; n > 1 averages numeric scores (majority vote for labels)",
    )

    @field_validator("template")
    @classmethod
    def _has_placeholders(cls, value: str) -> str:
        missing = [p for p in ("{prompt}", "{completion}") if p not in value]
        if missing:
            raise ValueError(f"template lacks {' and '.join(missing)}; add them where the pair should appear")
        return value

    @model_validator(mode="after")
    def _choices_valid(self) -> JudgeConfig:
        if self.score_kind == "choice" and (len(self.choices) < 2 or len(set(self.choices)) != len(self.choices)):
            raise ValueError("choices: give at least two distinct labels for score_kind 'choice'")
        return self

    def render(self, prompt: str, completion: str) -> str:
        """Fill the template literally (braces in code completions are left alone)."""
        return self.template.replace("{prompt}", prompt).replace("{completion}", completion)


class JudgeScore(BaseModel):
    """One judged pair. ``value`` is None when there is no score, and ``reason`` says why.

    ``value``: the 0-100 number; 1.0/0.0 for yes/no; the index of the chosen label for 'choice'.
    ``label``: 'yes'/'no', the chosen choice, or the special answer (e.g. 'REFUSAL', 'CODE').
    ``reason``: None when scored, else e.g. 'refusal', 'code', 'unparseable: ...'.
    """

    value: float | None
    label: str | None = None
    reason: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.value is not None
