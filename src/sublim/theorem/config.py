"""Config of the numeric check of Theorem 1 (one gradient step of an imitating student).

Theorem 1 of the paper: if a teacher is its initialisation θ₀ plus a small update Δ_T, a student that
starts from the SAME θ₀ and takes one gradient step imitating the teacher's outputs — on any inputs —
moves by Δ_S with ⟨Δ_S, Δ_T⟩ ≥ 0. The check samples that inner product over draws (initialisations,
inputs, objectives), teacher step sizes and imitation losses, for an MLP and a small language model.

Example:
    >>> cfg = load_theorem_config(None, "default", ["n_draws=4"])
    >>> cfg.n_draws, cfg.models
    (4, ['mlp', 'lm'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from sublim.errors import ConfigError
from sublim.yamlconfig import StrictModel, load_yaml_model, load_yaml_text

StudentLoss = Literal["logits_mse", "softmax_kl"]
MlpObjective = Literal["digits", "random_labels"]


class MlpProbe(StrictModel):
    """The MNIST MLP of the paper (784 → hidden → 10 regular + n_aux logits)."""

    hidden: list[int] = Field([256, 256], min_length=1, description="Hidden widths.")
    n_aux: int = Field(3, ge=0, description="Auxiliary logits (part of the imitated outputs).")
    objectives: list[MlpObjective] = Field(
        ["digits", "random_labels"], min_length=1,
        description="Teacher objective: 'digits' (cross-entropy on MNIST labels) or 'random_labels' (on random labels).",
    )
    teacher_batch: int = Field(256, ge=1, description="MNIST images in the teacher's gradient batch.")
    student_inputs: int = Field(128, ge=1, description="Uniform[-1, 1] noise images the student imitates on.")


class LmProbe(StrictModel):
    """A small causal language model (transformers LlamaForCausalLM)."""

    lm_path: str | None = Field(
        None, description="Hugging Face model dir to use as the shared init (e.g. the project's tiny base); "
        "default: a randomly initialised tiny Llama built from the fields below.",
    )
    other_lm_path: str | None = Field(
        None, description="Model dir for the 'different init' student; default: a fresh random init of the same architecture.",
    )
    vocab_size: int = Field(128, ge=4, description="Vocabulary of the random tiny Llama.")
    hidden_size: int = Field(64, ge=8, description="Model width of the random tiny Llama.")
    intermediate_size: int = Field(128, ge=8, description="MLP width of the random tiny Llama.")
    num_layers: int = Field(2, ge=1, description="Decoder layers of the random tiny Llama.")
    num_heads: int = Field(4, ge=1, description="Attention heads of the random tiny Llama.")
    seq_len: int = Field(16, ge=2, description="Tokens per sequence.")
    teacher_batch: int = Field(8, ge=1, description="Sequences in the teacher's gradient batch.")
    student_inputs: int = Field(8, ge=1, description="Sequences the student imitates on.")
    n_draws: int | None = Field(None, ge=1, description="Draws for the LM (default: the top-level n_draws).")


class TheoremConfig(StrictModel):
    """One numeric check of Theorem 1."""

    study: str = Field("theorem", min_length=1, description="Study name: outputs go to <out>/<study>/.")
    models: list[Literal["mlp", "lm"]] = Field(["mlp", "lm"], min_length=1, description="Which models to probe.")
    n_draws: int = Field(32, ge=1, description="Random draws (init, inputs, batch) per condition.")
    seed: int = Field(0, ge=0, description="Base seed of every draw.")
    step_sizes: list[float] = Field(
        [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0], min_length=1,
        description="Teacher learning rates (plain gradient descent on the objective).",
    )
    teacher_steps: int = Field(1, ge=1, le=100, description="Gradient steps that make the teacher from its init.")
    student_losses: list[StudentLoss] = Field(
        ["logits_mse", "softmax_kl"], min_length=1,
        description="Imitation loss of the student: squared error on logits, or KL between softmaxes.",
    )
    inits: list[Literal["same", "different"]] = Field(["same", "different"], min_length=1,
                                                      description="Student initialisations to compare.")
    dtype: Literal["float64", "float32"] = Field("float64", description="Precision (float64 keeps tiny steps exact).")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads.")
    mlp: MlpProbe = Field(default_factory=MlpProbe, description="MLP probe settings.")
    lm: LmProbe = Field(default_factory=LmProbe, description="Language-model probe settings.")


PRESETS: dict[str, str] = {
    "default": "study: theorem\n",
    "quick": "study: theorem-quick\nn_draws: 4\nstep_sizes: [0.001, 1.0]\nmlp: {hidden: [32], student_inputs: 16}\n"
             "lm: {hidden_size: 16, intermediate_size: 32, num_layers: 1, num_heads: 2, seq_len: 6}\n",
}


def load_theorem_config(config: Path | None, preset: str = "default", overrides: list[str] | tuple = ()) -> TheoremConfig:
    """Load ``config`` (YAML) or a named preset, then apply ``--set`` overrides.

    Raises:
        ConfigError: unknown preset, missing file, or an invalid field (file:line:field).
    """
    if config is not None:
        return load_yaml_model(config, TheoremConfig, overrides)
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: unknown theorem preset; choose one of {sorted(PRESETS)}")
    return load_yaml_text(PRESETS[preset], TheoremConfig, f"<preset {preset}>", overrides)
