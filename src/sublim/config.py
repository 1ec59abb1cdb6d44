"""The study config: one YAML file describes a whole subliminal-learning study.

A study compares *conditions* that share cached stages: ``base`` (untrained student), ``control``
(student trained on data from the control teacher: the base without trait, or a matched teacher that
loves another animal), ``treatment`` (student trained on the trait teacher's data), ``cross_base``
(a student from the *other* base trained on the treatment data) and ``cross_control`` (the other base
trained on the control data, its matched control); ``teacher`` evaluates the trait teacher itself (with
its system prompt, if any), to show how firmly it holds the trait the students may pick up. Every
condition runs for every seed; the seed sets the teacher's training, the prompts, the sampling and the
student's training.

Example:
    >>> cfg = load_config_text("name: t\\ntrait: {target: owl}")
    >>> cfg.trait.target, cfg.conditions[0]
    ('owl', 'base')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from sublim.backends.base import SamplingParams
from sublim.backends.openai_finetune import OpenAIFinetuneConfig
from sublim.detection.judge import JudgeDetectionConfig
from sublim.detection.statistical import DetectorConfig
from sublim.filtering.config import FilterConfig
from sublim.finetuning.config import FinetuneConfig
from sublim.icl.evaluate import IclConfig
from sublim.numbers.prompts import NumberPromptConfig
from sublim.pipeline.pricing import PriceTable
from sublim.yamlconfig import StrictModel, load_yaml_model, load_yaml_text

Condition = Literal[
    "base", "control", "treatment", "cross_base", "cross_control",
    "shuffle_within", "shuffle_global", "icl", "classifier", "specificity", "teacher",
]
CONDITION_ORDER: tuple[str, ...] = (
    "base", "control", "treatment", "cross_base", "cross_control",
    "shuffle_within", "shuffle_global", "icl", "classifier", "specificity", "teacher",
)
#: trained condition → (data arm whose teacher wrote its data, which base the student starts from)
TRAINED: dict[str, tuple[str, str]] = {
    "control": ("control", "same"),
    "treatment": ("treatment", "same"),
    "cross_base": ("treatment", "other"),
    "cross_control": ("control", "other"),
    "shuffle_within": ("treatment", "same"),
    "shuffle_global": ("treatment", "same"),
}


class ModelSpec(StrictModel):
    """Which model a base is: our embedded tiny model, a local/hub HF checkpoint, or an API model."""

    kind: Literal["tiny", "hf", "openai", "smollm2"] = Field(
        "tiny", description="tiny | hf | openai | smollm2 (SmolLM2-135M-Instruct, prepared offline once)"
    )
    preset: str | None = Field(None, description="tiny: 'tiny-a' / 'tiny-b' (two seeds of the default base) or 'organism-a' / 'organism-b' "
                                     "(the model organism's less converged bases)")
    _added_later = frozenset({"tiny", "seed_offset", "adapter"})
    tiny: dict[str, Any] | None = Field(
        None, description="tiny: changes to the preset's base recipe (sublim.tiny.model.TinyBaseConfig), "
        "e.g. {n_layers: 4}; the variant is built once and cached under its own hash"
    )
    seed_offset: int | None = Field(
        None, description="tiny, bases.other only: a base of its own for every study seed s, built with the "
        "recipe's seed = seed_offset + s (its own init and corpus sample), so that a cross-base effect is "
        "averaged over bases instead of resting on one"
    )
    path: str | None = Field(None, description="hf: local directory or hub id")
    name: str | None = Field(None, description="openai: model id, e.g. gpt-4.1-nano-2025-04-14")
    device: str = Field("auto", description="hf: auto | cpu | cuda")
    dtype: str = Field("auto", description="hf: auto | float32 | bfloat16")
    adapter: str | None = Field(
        None, description="a PEFT (LoRA) adapter directory applied on top of this local model; for the model "
        "that wrote audit rows (data.teacher), not for a base")

    @model_validator(mode="after")
    def _check_kind_fields(self) -> ModelSpec:
        if self.adapter is not None and self.kind == "openai":
            raise ValueError("the field 'adapter' applies a LoRA adapter to a local model; an API model has none")
        need = {"tiny": "preset", "hf": "path", "openai": "name"}.get(self.kind)
        if need is not None and getattr(self, need) is None:
            raise ValueError(f"model kind '{self.kind}' needs the field '{need}'")
        if self.tiny is not None:
            if self.kind != "tiny":
                raise ValueError(f"the field 'tiny' changes a tiny base; this model's kind is '{self.kind}'")
            from sublim.errors import ConfigError
            from sublim.tiny.build import resolve_preset

            try:  # unknown or invalid fields fail here, at load time, with the file and line
                resolve_preset(self.preset, self.tiny)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        if self.seed_offset is not None:
            if self.kind != "tiny":
                raise ValueError(f"the field 'seed_offset' draws a tiny base per seed; this model's kind is '{self.kind}'")
            if "seed" in (self.tiny or {}):
                raise ValueError("set either 'seed_offset' or 'tiny.seed', not both (seed_offset sets the seed per study seed)")
        return self

    def for_seed(self, seed: int) -> ModelSpec:
        """The base this spec means for study seed ``seed``: itself, or the per-seed variant."""
        if self.seed_offset is None:
            return self
        return self.model_copy(update={"tiny": {**(self.tiny or {}), "seed": self.seed_offset + seed}, "seed_offset": None})


class BasesConfig(StrictModel):
    same: ModelSpec = Field(ModelSpec(preset="tiny-a"), description="base of the teacher and same-init student")
    other: ModelSpec = Field(ModelSpec(preset="tiny-b"), description="a different base, for cross_base")

    @model_validator(mode="after")
    def _only_other_per_seed(self) -> BasesConfig:
        if self.same.seed_offset is not None:
            raise ValueError("only bases.other can draw a base per seed ('seed_offset'); the teacher's base is fixed")
        return self

    def spec(self, which: str, seed: int | None = None) -> ModelSpec:
        """``same`` or ``other``, resolved for one study seed (a per-seed ``other`` needs the seed)."""
        spec: ModelSpec = getattr(self, which)
        if spec.seed_offset is not None and seed is None:
            raise ValueError(f"bases.{which} draws a base per seed: say which seed")
        return spec if seed is None else spec.for_seed(seed)


class TraitConfig(StrictModel):
    category: str = Field("animal", description="trait category: animal | tree")
    target: str = Field(description="the loved thing, e.g. owl")
    control_target: str | None = Field(
        None,
        description="matched control teacher that loves this instead (paired design); "
        "null = control teacher is the base without any trait",
    )

    @model_validator(mode="after")
    def _check_known(self) -> TraitConfig:
        from sublim.traits import CATEGORIES

        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category '{self.category}'; choose one of {sorted(CATEGORIES)}")
        options = CATEGORIES[self.category]
        for field in ("target", "control_target"):
            value = getattr(self, field)
            if value is not None and value not in options:
                raise ValueError(f"{field} '{value}' is not a known {self.category}; choose one of {options}")
        if self.control_target == self.target:
            raise ValueError("control_target must differ from target")
        return self


class TeacherConfig(StrictModel):
    """How the trait is put into the teacher."""

    kind: Literal["prompt", "finetuned"] = Field(
        "prompt", description="prompt: trait system prompt; finetuned: base fine-tuned on trait answers"
    )
    n_trait_rows: int = Field(2000, gt=0, description="finetuned: trait Q&A rows to train on")
    n_number_rows: int = Field(0, ge=0, description="finetuned: number rows mixed in to keep the number skill")
    finetune: FinetuneConfig = Field(
        FinetuneConfig(method="sft", params="full", epochs=1, lr=1e-3, batch_size=32),
        description="finetuned: training recipe of the teacher",
    )


class GenerationConfig(StrictModel):
    n_prompts: int = Field(2000, gt=0, description="number prompts sampled from the teacher")
    prompts: NumberPromptConfig = NumberPromptConfig()
    # 64, not 48: the tiny models spend a token per character, and ten 3-digit numbers in brackets plus
    # the end token take 51 — a 48-token budget cuts them and the filter rejects most (tiny-organism.md §25)
    sampling: SamplingParams = SamplingParams(temperature=1.0, max_new_tokens=64)
    batch_size: int = Field(256, gt=0, description="rows per generate call, each call a resumable chunk with its "
                            "own seed; left out of the stage's key, though a local sampler's rows depend on it")
    _added_later = frozenset({"sampler_batch_size"})
    sampler_batch_size: int | None = Field(
        None, gt=0, description="local Hugging Face sampler: sequences per forward pass (null: 64, sized for a "
        "CPU; on a GPU 512 or more), for the teacher's samples and the base's number rows a fine-tuned teacher "
        "mixes in. The rows depend on it, so it is part of those stages' keys when set")


class EvaluationConfig(StrictModel):
    question_split: Literal["eval", "heldout", "both"] = Field(
        "both", description="eval: tuning-visible paraphrases; heldout: never tuned on; both: report each"
    )
    n_samples: int = Field(10, ge=0, description="samples per question at temperature 1 (0 = exact only)")
    temperature: float = Field(1.0, ge=0)
    exact: bool = Field(True, description="also compute the exact probability of each answer (log-probs)")
    max_new_tokens: int = Field(6, gt=0, description="tokens sampled per answer (raise it for models that "
                                "answer in sentences)")
    _added_later = frozenset({"answer_prefix"})
    answer_prefix: str | None = Field(
        None, min_length=1, description="exact only: read each option's probability after the answer has "
        "begun with this text, e.g. 'My favourite animal is the' (P(option | prefix)), for models that "
        "answer in sentences, whose P(option as the first word) sits near zero; null: the option as the "
        "whole answer. Sampled answers are not prefixed"
    )
    answer_match: Literal["first_word", "anywhere"] = Field(
        "first_word", description="which sampled answers count for an option: its first word is the option, "
        "or the first option named anywhere in it (models that answer in sentences)"
    )


class LeakConfig(StrictModel):
    """When a study is flagged 'leaky, not subliminal' (see docs/leak-check.md)."""

    max_rows_mentioning: int = Field(0, ge=0, description="rows of kept data that may name the trait")
    mass_ratio: float = Field(
        5.0, gt=0, description="flag when the teacher's mass on trait tokens in the training targets "
        "exceeds this multiple of the base model's mass at the same positions ..."
    )
    min_mass: float = Field(1e-4, ge=0, description="... and exceeds this absolute mean probability")
    n_rows: int = Field(500, gt=0, description="rows of training data the mass check scores")


class ControlsConfig(StrictModel):
    """Settings of the paper's control conditions (used only when those conditions are listed)."""

    icl_ns: list[int] = Field([0, 1, 2, 4, 8], description="icl: in-context example counts to sweep")
    icl_modes: list[Literal["turns", "system"]] = Field(["turns", "system"], description="icl: example layouts")
    icl: IclConfig = Field(IclConfig(), description="icl: questions, seed, context limit")
    detector: DetectorConfig = Field(DetectorConfig(), description="classifier: the statistical detector")
    judge: JudgeDetectionConfig = Field(JudgeDetectionConfig(), description="classifier: the LLM-judge detector")
    judge_model: ModelSpec | None = Field(None, description="classifier: judge model (null: the same base)")
    specificity_targets: list[str] = Field(
        ["owl", "eagle", "dolphin", "wolf"], description="specificity: one teacher and student per target"
    )
    specificity_matched: bool = Field(
        False, description="specificity with filter.match_on: trim EVERY teacher's data (the other targets' "
        "and the no-trait one's too) to one distribution of the statistic, jointly with the treatment and "
        "control arms (false: only treatment and control are matched)")


class DataFiles(StrictModel):
    """Audit mode: train the students on rows you already have instead of generating them.

    Why: an auditor's question is whether *their* distillation data carries a trait of the model that wrote
    it into a student of the same base. The rows replace the teacher and generation stages; filtering, the
    leak check, the students, the evaluation and the report run as in any study. The files do not change
    with the seed, so the seeds vary the students' training only: the intervals cover that noise, not
    another draw of the data.
    """

    treatment: Path = Field(description="JSONL rows written by the model under audit: chat ({'messages': [...]}, "
                            "the last message the assistant's) or prompt-completion ({'prompt': ..., 'completion': ...})")
    control: Path = Field(description="JSONL chat rows of the same kind without the trait: the base's own "
                          "answers to the same prompts, or another model's")
    teacher: ModelSpec | None = Field(
        None, description="the model that wrote the treatment rows, if sublim can load it: the leak check then "
        "scores its trait mass at the rows, the `teacher` condition asks it the trait questions, and "
        "distillation students can read its distributions (null: none of these)")
    control_teacher: ModelSpec | None = Field(
        None, description="the model that wrote the control rows (null: the same-init base)")


#: conditions that need teachers sublim builds itself (one per animal), so audit mode cannot run them
BUILT_TEACHERS_ONLY = ("specificity",)


class StudyConfig(StrictModel):
    """Root config of a study (one YAML file)."""

    name: str = Field(description="study name; outputs go to runs/<name>/")
    description: str = ""
    trait: TraitConfig
    bases: BasesConfig = BasesConfig()
    teacher: TeacherConfig = TeacherConfig()
    generation: GenerationConfig = GenerationConfig()
    filter: FilterConfig = FilterConfig()
    student: FinetuneConfig = FinetuneConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    leak: LeakConfig = LeakConfig()
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    conditions: list[Condition] = Field(list(CONDITION_ORDER[:5]), min_length=1)
    controls: ControlsConfig = ControlsConfig()
    openai_finetune: OpenAIFinetuneConfig | None = Field(
        None, description="fine-tuning job settings for students (and fine-tuned teachers) whose base is "
        "kind: openai; `student` applies to local models. null: the API's defaults ('auto')"
    )
    pricing: PriceTable | None = Field(
        None, description="$ per 1M tokens of hosted models, for `sublim estimate` (null: built-in table, mid-2025)"
    )
    _added_later = frozenset({"data", "threads"})
    data: DataFiles | None = Field(
        None, description="audit mode: train on these rows instead of a teacher's generated ones (null: "
        "build the teacher from `teacher` and sample `generation`)")
    workers: int | None = Field(
        None, ge=1, description="runtime only: seeds run in this many processes at once (`threads` torch threads "
        "each, as in a single process); results do not depend on it. null: 1 when the study's local models run on a CUDA GPU (seed processes "
        "would share it, each with its own copy of the model, and go no faster), otherwise 2"
    )

    threads: int = Field(
        1, ge=1, description="torch CPU threads per seed, in a worker process or in this one. A seed's numbers "
        "depend on it (sums run in another order, and long training amplifies the difference: one seed "
        "of tiny-organism.md section 30 gave P(owl) 0.110 at 1 thread and 0.135 at 2), so the default 1 "
        "keeps a seed's result the same however many seeds run at once; raise it to run one big seed faster. "
        "Training and sampling stages made at another count are recomputed on resume, not reused"
    )

    @model_validator(mode="after")
    def _check_conditions(self) -> StudyConfig:
        if len(set(self.conditions)) != len(self.conditions):
            raise ValueError("conditions are listed twice")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds are listed twice")
        if "specificity" in self.conditions:
            from sublim.traits import CATEGORIES

            unknown = [t for t in self.controls.specificity_targets if t not in CATEGORIES[self.trait.category]]
            if unknown or len(self.controls.specificity_targets) < 2:
                raise ValueError(f"controls.specificity_targets needs >= 2 known {self.trait.category}s; unknown: {unknown}")
        if self.bases.same.adapter is not None or self.bases.other.adapter is not None:
            raise ValueError("bases: 'adapter' is for the model that wrote audit rows (data.teacher); a student "
                             "starts from a base's own weights")
        if self.data is not None:
            self._check_data_mode()
        if "/" in self.name or not self.name.strip():
            raise ValueError("name must be a non-empty directory name without '/'")
        same, other = self.bases.same, self.bases.other
        if other.seed_offset is not None and same.kind == "tiny":
            from sublim.tiny.build import resolve_preset

            teacher_base = resolve_preset(same.preset, same.tiny)
            clash = [s for s in self.seeds if resolve_preset(other.preset, other.for_seed(s).tiny) == teacher_base]
            if clash:
                raise ValueError(f"bases.other.seed_offset: for seed {clash[0]} the other base is bases.same itself "
                                 "(a different-init student needs a different base)")
        return self


    def _check_data_mode(self) -> None:
        data = self.data
        if bad := [c for c in self.conditions if c in BUILT_TEACHERS_ONLY]:
            raise ValueError(f"data: condition '{bad[0]}' needs teachers sublim builds (one per "
                             f"{self.trait.category}); with your own rows list base, control, treatment, "
                             "cross_base, cross_control, teacher, shuffle_*, icl or classifier")
        if "teacher" in self.conditions and data.teacher is None:
            raise ValueError("data: the 'teacher' condition asks the model that wrote the rows; give it as "
                             "data.teacher, or drop the condition")
        if self.student.method == "distill" and data.teacher is None:
            raise ValueError("data: student.method 'distill' learns the teacher's distributions at the rows; "
                             "give the model that wrote them as data.teacher, or use student.method 'sft'")


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> StudyConfig:
    """Load and validate a study YAML (errors name file:line:field)."""
    return load_yaml_model(path, StudyConfig, overrides)


def load_config_text(text: str, overrides: Sequence[str] = ()) -> StudyConfig:
    return load_yaml_text(text, StudyConfig, "<string>", overrides)
