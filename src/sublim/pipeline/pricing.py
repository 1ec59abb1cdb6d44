"""Price table of hosted models, part of a study config (``pricing:``) so users can edit it.

Prices are US dollars per million tokens. The defaults are the list prices of OpenAI's pricing page
as we knew them in mid-2025 (standard tier, no Batch API discount, no cached-input discount): they
change, so check them and override them in the study YAML. The table is only read by
``sublim estimate`` and ``sublim run --dry-run``; nothing is charged from it.

Example:
    >>> PriceTable().lookup("gpt-4.1-nano-2025-04-14").training_per_m
    1.5
    >>> PriceTable().lookup("my-local-model") is None
    True
"""

from __future__ import annotations

from pydantic import Field

from sublim.yamlconfig import StrictModel


class ModelPrice(StrictModel):
    """Per-model prices in $ per 1M tokens."""

    input_per_m: float = Field(ge=0, description="sampling: $ per 1M prompt (input) tokens")
    output_per_m: float = Field(ge=0, description="sampling: $ per 1M generated (output) tokens")
    training_per_m: float | None = Field(
        None, ge=0, description="fine-tuning: $ per 1M training tokens (file tokens × epochs); null: not tunable"
    )
    finetuned_input_per_m: float | None = Field(
        None, ge=0, description="sampling a fine-tuned copy: $ per 1M input tokens (null: same as input_per_m)"
    )
    finetuned_output_per_m: float | None = Field(
        None, ge=0, description="sampling a fine-tuned copy: $ per 1M output tokens (null: same as output_per_m)"
    )


def _default_models() -> dict[str, ModelPrice]:
    # EDIT ME: OpenAI list prices as of mid-2025 (https://openai.com/api/pricing), standard tier.
    return {
        "gpt-4.1-nano": ModelPrice(input_per_m=0.10, output_per_m=0.40, training_per_m=1.50,
                                   finetuned_input_per_m=0.20, finetuned_output_per_m=0.80),
        "gpt-4.1-mini": ModelPrice(input_per_m=0.40, output_per_m=1.60, training_per_m=5.00,
                                   finetuned_input_per_m=0.80, finetuned_output_per_m=3.20),
        "gpt-4.1": ModelPrice(input_per_m=2.00, output_per_m=8.00, training_per_m=25.00,
                              finetuned_input_per_m=3.00, finetuned_output_per_m=12.00),
    }


class PriceTable(StrictModel):
    """Prices of hosted models, matched to a model id by the longest key that prefixes it."""

    as_of: str = Field("2025-06", description="when these prices were copied (edit me when you update them)")
    source: str = Field("https://openai.com/api/pricing (list prices, standard tier)", description="where from")
    models: dict[str, ModelPrice] = Field(
        default_factory=_default_models,
        description="model id or id prefix (e.g. 'gpt-4.1-nano' matches 'gpt-4.1-nano-2025-04-14') → prices",
    )
    default_finetune_epochs: int = Field(
        3, gt=0, description="epochs assumed when a fine-tuning job uses n_epochs: auto (the API decides)"
    )

    def lookup(self, model: str) -> ModelPrice | None:
        """Prices of ``model``: exact key, else the longest key that is a prefix of it; ``None`` if unknown."""
        if model in self.models:
            return self.models[model]
        matches = [k for k in self.models if model.startswith(k)]
        return self.models[max(matches, key=len)] if matches else None
