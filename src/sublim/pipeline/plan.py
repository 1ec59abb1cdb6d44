"""What a study will do, before it does it: the stages, and how much sampling and training they need.

Example:
    >>> # print(describe_plan(load_config("configs/organism.yaml"), Path("runs")))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sublim.config import CONDITION_ORDER, TRAINED, ModelSpec, StudyConfig


@dataclass(frozen=True)
class Step:
    """One thing a seed of the runner does, in order.

    ``kind``: ``evaluate`` (an untrained base), ``train`` (a student on a data arm, then its
    evaluation), ``teacher`` (evaluate the teacher of a data arm), ``icl`` or ``classifier`` (read the
    treatment and control arms, train nothing).
    """

    kind: Literal["evaluate", "train", "teacher", "icl", "classifier"]
    condition: str
    base: str = "same"
    arm: str | None = None

    def data_arms(self) -> tuple[str, ...]:
        """The teacher data arms this step reads."""
        if self.kind in ("train", "teacher"):
            return (self.arm,) if self.arm else ()
        return ("treatment", "control") if self.kind in ("icl", "classifier") else ()


def specificity_arms(config: StudyConfig) -> dict[str, str]:
    """Specificity: target → the condition whose student loves it, plus "(control)" → the no-trait one."""
    trait = config.trait
    out = {}
    for target in config.controls.specificity_targets:
        if target == trait.target:
            out[target] = "treatment"
        elif target == trait.control_target:
            out[target] = "control"
        else:
            out[target] = f"trait-{target}"
    out["(control)"] = "control" if trait.control_target is None else "neutral"
    return out


def matched_arms(config: StudyConfig) -> tuple[str, ...]:
    """Data arms trimmed together by ``filter.match_on``: treatment and control, or (with
    ``controls.specificity_matched`` and the specificity condition) every data arm of a seed."""
    if config.filter.match_on == "none":
        return ()
    if config.controls.specificity_matched and "specificity" in config.conditions:
        names = ["treatment", "control"] + [a for s in seed_steps(config) for a in s.data_arms()]
        return tuple(dict.fromkeys(names))
    return ("treatment", "control")


def needs_other_base(config: StudyConfig) -> bool:
    return any(c in config.conditions for c in ("cross_base", "cross_control"))


def study_bases(config: StudyConfig) -> list[ModelSpec]:
    """Every base a study loads: the same-init base, and the other base (one per seed when it draws one per
    seed) when a cross condition needs it."""
    if not needs_other_base(config):
        return [config.bases.same]
    return [config.bases.same, *(config.bases.other.for_seed(s) for s in config.seeds)]


def seed_steps(config: StudyConfig) -> list[Step]:
    """Everything one seed does, in order: the single source for the runner and for the plan's counts."""
    steps: list[Step] = []

    def add(step: Step) -> None:
        if all(s.condition != step.condition for s in steps):
            steps.append(step)

    for c in (c for c in CONDITION_ORDER if c in config.conditions):
        if c == "base":
            add(Step("evaluate", "base", "same"))
            if needs_other_base(config):
                add(Step("evaluate", "base_other", "other"))
        elif c in TRAINED:
            arm, base = TRAINED[c]
            add(Step("train", c, base, arm))
        elif c == "teacher":
            add(Step("teacher", "teacher", "same", "treatment"))
        elif c in ("icl", "classifier"):
            add(Step(c, c))
        elif c == "specificity":
            for arm in specificity_arms(config).values():
                add(Step("train", arm, "same", arm))
    return steps


def stage_dirs(config: StudyConfig, seed: int) -> list[str]:
    """Every stage directory one seed of the runner finishes, relative to the study directory
    (``<arm or condition>/<seed>/<stage>``), in the runner's order: what ``sublim status`` counts. The
    runner builds these paths as it goes; the end-to-end tests check this list against what it wrote."""
    steps = seed_steps(config)
    matched = matched_arms(config)
    arms: list[str] = []
    for step in steps:
        for arm in step.data_arms():  # one matched arm builds (and trims) every matched arm of the seed
            arms.extend(matched if arm in matched else (arm,))
    arms = list(dict.fromkeys(arms))
    data = ("generation", "filtering", "leak_check") if config.data else ("teacher", "generation", "filtering", "leak_check")
    out = [f"{arm}/{seed}/{stage}" for arm in arms for stage in data]
    if any(arm in matched for arm in arms):
        out.append(f"matched/{seed}/transform")
    for step in steps:
        where = f"{step.condition}/{seed}"
        if step.kind == "train":
            shuffled = step.condition in ("shuffle_within", "shuffle_global")
            out += [f"{where}/transform"] * shuffled + [f"{where}/finetuning", f"{where}/evaluation"]
        elif step.kind in ("evaluate", "teacher"):
            out.append(f"{where}/evaluation")
        else:
            out.append(f"{where}/{'icl' if step.kind == 'icl' else 'detection'}")
    return out


def planned_work(config: StudyConfig) -> dict[str, list]:
    """What one seed does, grouped: data arms, students (condition, base), evaluations (condition, base)."""
    steps = seed_steps(config)
    arms = list(dict.fromkeys(arm for step in steps for arm in step.data_arms()))
    trained = [(s.condition, s.base) for s in steps if s.kind == "train"]
    return {
        "conditions": [c for c in CONDITION_ORDER if c in config.conditions],
        "arms": arms,
        "students": trained,
        "evaluations": [(s.condition, s.base) for s in steps if s.kind in ("evaluate", "teacher")] + trained,
    }


def given_rows(config: StudyConfig) -> int | None:
    """Audit mode: the larger of the two data files' row counts (non-blank lines), or None when the study
    generates its rows or a file is not there yet."""
    if config.data is None:
        return None
    counts = []
    for path in (config.data.treatment, config.data.control):
        if not Path(path).is_file():
            return None
        with Path(path).open(encoding="utf-8") as f:
            counts.append(sum(1 for line in f if line.strip()))
    return max(counts)


def plan_counts(config: StudyConfig) -> dict:
    """Counts of generated samples, training rows and evaluation queries for the whole study."""
    from sublim.traits import CATEGORIES, QUESTIONS

    seeds = len(config.seeds)
    work = planned_work(config)
    splits = ["eval", "heldout"] if config.evaluation.question_split == "both" else [config.evaluation.question_split]
    n_questions = sum(len(QUESTIONS[config.trait.category][s]) for s in splits)
    evaluated = len(work["evaluations"])
    finetuned = config.teacher.kind == "finetuned" and config.data is None
    rows = given_rows(config) or config.generation.n_prompts
    teachers = [a for a in work["arms"] if a != "neutral" and not (a == "control" and config.trait.control_target is None)]

    def by_base(items: list[tuple[str, str]], base: str) -> int:
        return len([1 for _, b in items if b == base]) * seeds

    return {
        "seeds": seeds,
        "conditions": work["conditions"],
        "teachers_trained": len(teachers) * seeds if finetuned else 0,
        "teacher_rows_per_teacher": config.teacher.n_trait_rows + config.teacher.n_number_rows if finetuned else 0,
        "samples_generated": 0 if config.data else len(work["arms"]) * config.generation.n_prompts * seeds,
        "rows_per_arm": rows,
        "max_new_tokens": config.generation.sampling.max_new_tokens,
        "students_trained": len(work["students"]) * seeds,
        "training_rows_per_student_max": min(rows, config.filter.max_rows or rows),
        "students_by_base": {b: by_base(work["students"], b) for b in ("same", "other")},
        "models_evaluated_by_base": {b: by_base(work["evaluations"], b) for b in ("same", "other")},
        "eval_questions": n_questions,
        "epochs": config.student.epochs,
        "models_evaluated": evaluated * seeds,
        "eval_samples": evaluated * seeds * n_questions * config.evaluation.n_samples,
        "eval_scorings": evaluated * seeds * n_questions * len(CATEGORIES[config.trait.category]) if config.evaluation.exact else 0,
    }


def describe_plan(config: StudyConfig, out_root: Path) -> str:
    """Human-readable plan of a study (printed by ``sublim run --dry-run``)."""
    from sublim.pipeline.estimate import model_label

    c = plan_counts(config)
    lines = [
        f"study {config.name}: '{config.trait.target}' ({config.trait.category}), "
        + (f"your rows (data.treatment {config.data.treatment}, data.control {config.data.control}), "
           if config.data else f"teacher by {config.teacher.kind}, ")
        + f"student {config.student.method}/{config.student.params}",
        f"  bases: same={model_label(config.bases.same)}  "
        + (f"other={model_label(config.bases.other)}" if needs_other_base(config) else "other: unused (no cross_* condition)"),
        (f"  rows written by: {model_label(config.data.teacher) if config.data.teacher else 'not given'} (treatment), "
         f"{model_label(config.data.control_teacher) if config.data.control_teacher else 'the base'} (control)"
         if config.data else f"  control teacher: {config.trait.control_target or 'the base without a trait'}"),
        f"  seeds: {config.seeds}; conditions: {', '.join(c['conditions'])}",
        *([f"  matched on {config.filter.match_on}: {', '.join(matched_arms(config))} (trimmed to one distribution per seed)"]
          if matched_arms(config) else []),
        f"  teachers to fine-tune: {c['teachers_trained']} ({c['teacher_rows_per_teacher']} rows each)",
        f"  samples to generate: {c['samples_generated']} (≤ {c['max_new_tokens']} new tokens each)",
        f"  students to train: {c['students_trained']} (≤ {c['training_rows_per_student_max']} rows × {c['epochs']} epochs)",
        f"  evaluations: {c['models_evaluated']} models, {c['eval_samples']} samples, {c['eval_scorings']} exact scorings",
        f"  outputs: {out_root / config.name}/<condition>/<seed>/<stage>/",
    ]
    return "\n".join(lines)
