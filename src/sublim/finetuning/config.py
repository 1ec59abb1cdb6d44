"""Configuration of student fine-tuning (one stage config, shared by the tiny model and a 7B model).

Example:
    >>> FinetuneConfig(method="distill", distill_vocab="numbers", params="lora").lora.rank
    8
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from sublim.yamlconfig import StrictModel

QWEN_STYLE_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LoraSettings(StrictModel):
    """LoRA adapter settings (used when ``params: lora``)."""

    rank: int = Field(8, gt=0, description="LoRA rank r")
    alpha: float = Field(8.0, gt=0, description="LoRA scaling alpha (update scaled by alpha / rank)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the LoRA branch")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: list(QWEN_STYLE_TARGETS),
        description="module names to adapt (Llama/Qwen projections by default) or 'all-linear'",
    )
    layers: list[int] | None = Field(
        None, description="adapt only these decoder layers (0 = the first); null: every layer")

    @field_validator("layers")
    @classmethod
    def _layers_not_empty(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(i < 0 for i in v)):
            raise ValueError("give at least one layer index, each >= 0 (or null for every layer)")
        return v


class GaloreSettings(StrictModel):
    """GaLore (Zhao et al., 2024) for a full fine-tune: every weight trains, but each step of a targeted
    matrix lies in a rank-r subspace of its gradient — a LoRA-like low-rank bias without adapters."""

    rank: int = Field(4, gt=0, description="rank r of each step's subspace")
    update_proj_gap: int = Field(200, gt=0, description="optimiser steps between refreshes of a matrix's "
                                 "subspace (the top-r singular vectors of its current gradient)")
    scale: float = Field(1.0, gt=0, description="factor on the projected update")
    target_modules: list[str] = Field(
        default_factory=lambda: list(QWEN_STYLE_TARGETS),
        description="projected matrices (names ending in '<module>.weight'); other parameters train by plain "
        "AdamW",
    )


class FinetuneConfig(StrictModel):
    """How a student is trained on a chat JSONL dataset.

    ``method: sft`` trains on the completion tokens only (prompt tokens masked out of the loss).
    ``method: distill`` matches the teacher's next-token distribution, KL(teacher || student), at
    every completion position (positions whose next token belongs to the assistant reply, its
    end-of-turn/EOS included), optionally restricted to the number-format tokens and renormalised.
    """

    method: Literal["sft", "distill"] = Field("sft", description="sft (completion-only loss) or distill (KL)")
    params: str = Field("full", description="student parameterisation: 'full', 'lora' or a registered one")
    params_options: dict[str, float | int | str | bool | list[int] | list[str]] = Field(
        default_factory=dict, description="options for custom parameterisations (see finetuning/params.py)"
    )
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA settings (params: lora)")
    merge: bool = Field(False, description="LoRA: also save merged full weights")
    epochs: int = Field(3, gt=0, description="passes over the dataset")
    lr: float = Field(2e-4, gt=0, description="peak learning rate")
    batch_size: int = Field(16, gt=0, description="rows per micro-batch")
    grad_accum: int = Field(1, gt=0, description="micro-batches per optimiser step")
    warmup_steps: int = Field(5, ge=0, description="linear warm-up steps")
    lr_schedule: Literal["linear", "constant", "cosine"] = Field("linear", description="decay after warm-up")
    weight_decay: float = Field(0.0, ge=0, description="weight decay (decoupled for AdamW, "
                                 "an L2 term for SGD)")
    _added_later = frozenset({"weight_decay_to", "lr_scale", "galore", "optimizer", "momentum", "sft_vocab"})
    optimizer: Literal["adamw", "sgd"] = Field(
        "adamw", description="adamw, or sgd: plain gradient steps (with ``momentum``), the optimiser of the paper's "
        "Theorem 1 — Adam rescales each coordinate, so its step need not point along the gradient"
    )
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="optimizer: sgd only: heavy-ball momentum")
    weight_decay_to: Literal["zero", "init"] = Field(
        "zero", description="what weight decay pulls toward: zero (AdamW) or init, the student's starting "
        "weights (L2-SP; the base for a full fine-tune; keeps a copy of the trained weights in memory)"
    )
    lr_scale: dict[str, float] | None = Field(
        None, description="learning-rate factor per group of trained parameters: {glob pattern on the "
        "parameter name: factor}, e.g. {'*layers.1.*': 0.1} trains decoder layer 1 ten times slower; the first "
        "matching pattern wins, unmatched parameters keep factor 1, factor 0 freezes (null: one rate for all)"
    )
    galore: GaloreSettings | None = Field(
        None, description="params: full only: GaLore low-rank steps for the targeted matrices (needs "
        "pip install 'sublim[galore]'; null: plain AdamW)"
    )
    max_grad_norm: float | None = Field(1.0, gt=0, description="clip the gradient norm (null: no clipping)")
    max_seq_len: int = Field(500, gt=1, description="longer rows are truncated (completion end dropped)")
    seed: int = Field(0, description="seeds data order, init of adapters and dropout")
    device: str = Field("auto", description="auto (CUDA when available), cpu, cuda, cuda:N")
    dtype: str = Field("auto", description="auto (the checkpoint's precision on CUDA, fp32 on CPU), float32, bfloat16; "
                       "for full fine-tunes on GPU prefer float32 weights (AdamW in pure bf16 loses updates)")
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward (large models)")
    length_grouping: bool = Field(True, description="batch rows of similar length (less padding)")
    distill_vocab: Literal["full", "numbers"] = Field(
        "full", description="distill: full vocabulary, or only number-format tokens (digits, separators, "
        "brackets, period, whitespace, EOS/end-of-turn), both distributions renormalised on that subset"
    )
    sft_vocab: Literal["full", "numbers"] = Field(
        "full", description="sft: cross-entropy over the full vocabulary, or over the number-format tokens only "
        "(the sampled-token estimate of number-vocabulary distillation; positions whose token is outside the "
        "subset are skipped)"
    )
    distill_positions: Literal["completion"] = Field(
        "completion", description="distill: every completion position of the teacher's sampled rows"
    )
    distill_temperature: float = Field(1.0, gt=0, description="distill: softmax temperature of both models")
    teacher_system_prompt: str | None = Field(
        None, description="distill: system prompt the teacher sees (the student sees the rows as stored)"
    )
    log_every: int = Field(10, gt=0, description="optimiser steps between training_log.jsonl entries")

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: str) -> str:
        from sublim.finetuning.params import parameterisation_names

        known = parameterisation_names()
        if value not in known:
            raise ValueError(f"unknown parameterisation {value!r}; known: {', '.join(known)}")
        return value

    @field_validator("lr_scale")
    @classmethod
    def _factors_not_negative(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and (not v or any(f < 0 for f in v.values())):
            raise ValueError("give at least one {pattern: factor}, each factor >= 0 (or null)")
        return v

    @model_validator(mode="after")
    def _fields_fit_together(self) -> FinetuneConfig:
        if self.method != "distill" and self.teacher_system_prompt is not None:
            raise ValueError("teacher_system_prompt is only used with method: distill")
        if self.method != "sft" and self.sft_vocab != "full":
            raise ValueError("sft_vocab is only used with method: sft (distillation has distill_vocab)")
        if self.optimizer != "sgd" and self.momentum:
            raise ValueError("momentum is only used with optimizer: sgd")
        if self.galore is not None and self.optimizer != "adamw":
            raise ValueError("galore is an AdamW variant; it cannot be used with optimizer: sgd")
        if self.galore is not None and self.params != "full":
            raise ValueError(f"galore projects the steps of a full fine-tune; it cannot be used with params: "
                             f"{self.params}")
        return self
