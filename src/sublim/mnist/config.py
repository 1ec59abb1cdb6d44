"""Config of the MNIST auxiliary-logit experiment, and its named presets.

Two presets ship: ``cpu`` (default; a couple of minutes on one CPU core) and ``reference`` (the
paper's settings: Adam lr 3e-4, batch 1024, 5 + 5 epochs, 60k fixed noise images per model, all four
student arms). ``configs/mnist/*.yaml`` hold the same values as files.

Example:
    >>> cfg = load_mnist_config(None, "cpu", ["n_models=3"])
    >>> cfg.n_models, cfg.n_regular + cfg.n_aux
    (3, 13)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from sublim.errors import ConfigError
from sublim.yamlconfig import StrictModel, load_yaml_model, load_yaml_text

Arm = Literal["same_aux", "diff_aux", "same_all", "diff_all"]

#: What each student arm is: (initialisation, logits distilled).
ARMS: dict[str, tuple[str, str]] = {
    "same_aux": ("same", "aux"),
    "diff_aux": ("different", "aux"),
    "same_all": ("same", "all"),
    "diff_all": ("different", "all"),
}


class MnistConfig(StrictModel):
    """One MNIST subliminal-learning study: teachers, students and how they are trained."""

    study: str = Field("mnist-cpu", description="Study name: outputs go to <out>/<study>/.", min_length=1)
    n_models: int = Field(10, ge=1, le=1000, description="Seeds: independent teacher/student sets, trained stacked.")
    seed: int = Field(0, ge=0, description="Base seed; model i is initialised from seed*100003 + i.")
    hidden: list[int] = Field([256, 256], min_length=1, description="Hidden layer widths of the MLP.")
    n_regular: int = Field(10, ge=10, le=10, description="Regular logits (one per digit; fixed at 10).")
    n_aux: int = Field(3, ge=1, le=1000, description="Auxiliary logits, never trained on digits by the teacher.")
    lr: float = Field(1e-3, gt=0, le=1.0, description="Adam learning rate (teacher and students).")
    batch_size: int = Field(1024, ge=1, description="Batch size (images per model per step).")
    teacher_epochs: int = Field(2, ge=1, description="Epochs of cross-entropy on the 10 regular logits.")
    distill_epochs: int = Field(3, ge=1, description="Epochs of student distillation on noise.")
    n_noise: int = Field(60_000, ge=1, description="Noise images per model per epoch.")
    noise: Literal["fixed", "fresh"] = Field(
        "fixed", description="'fixed': the same n_noise images every epoch (the paper); 'fresh': new noise per batch."
    )
    arms: list[Arm] = Field(
        ["same_aux", "diff_aux"],
        min_length=1,
        description="Student arms: same_/diff_ init × _aux (auxiliary logits only) / _all (all logits).",
    )
    train_limit: int | None = Field(None, ge=1, description="Use only the first N training images (tests).")
    test_limit: int | None = Field(None, ge=1, description="Evaluate on the first N test images (default: all 10k).")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads (1 is fastest on a shared 2-core box).")

    @model_validator(mode="after")
    def _check(self) -> MnistConfig:
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms lists an arm twice: {self.arms}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be >= 1, got {self.hidden}")
        return self

    @property
    def sizes(self) -> tuple[int, ...]:
        return (784, *self.hidden, self.n_regular + self.n_aux)

    def model_seeds(self, offset: int = 0) -> list[int]:
        """Init seeds of the stacked models; ``offset`` gives an independent family (different init)."""
        return [self.seed * 100_003 + offset * 10_007 + i for i in range(self.n_models)]


PRESETS: dict[str, str] = {
    "cpu": """
study: mnist-cpu
lr: 0.001
teacher_epochs: 2
distill_epochs: 3
arms: [same_aux, diff_aux]
""",
    "reference": """
study: mnist-reference
lr: 0.0003
teacher_epochs: 5
distill_epochs: 5
noise: fixed
n_noise: 60000
arms: [same_aux, diff_aux, same_all, diff_all]
""",
}


def load_mnist_config(config: Path | None, preset: str = "cpu", overrides: list[str] | tuple = ()) -> MnistConfig:
    """Load ``config`` (YAML) or the named preset, then apply ``--set`` overrides.

    Raises:
        ConfigError: unknown preset, missing file, or a field that fails validation (file:line:field).
    """
    if config is not None:
        return load_yaml_model(config, MnistConfig, overrides)
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: unknown MNIST preset; choose one of {sorted(PRESETS)}")
    return load_yaml_text(PRESETS[preset], MnistConfig, f"<preset {preset}>", overrides)
