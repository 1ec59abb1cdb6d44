"""What a study will do, before it does it: the stages, and how much sampling and training they need.

Example:
    >>> # print(describe_plan(load_config("configs/demo.yaml"), Path("runs")))
"""

from __future__ import annotations

from pathlib import Path

from sublim.config import CONDITION_ORDER, TRAINED, StudyConfig


def planned_work(config: StudyConfig) -> dict[str, list]:
    """What one seed of the runner does: data arms, students (condition, base), evaluations (condition, base)."""
    from sublim.pipeline.runner import specificity_arms

    conds = [c for c in CONDITION_ORDER if c in config.conditions]
    arms: list[str] = []
    students: list[tuple[str, str]] = []
    evaluations: list[tuple[str, str]] = []

    def add(seq: list, item) -> None:
        if item not in seq:
            seq.append(item)

    for c in conds:
        if c == "base":
            add(evaluations, ("base", "same"))
            if any(x in conds for x in ("cross_base", "cross_control")):
                add(evaluations, ("base_other", "other"))
        elif c in TRAINED:
            add(arms, TRAINED[c][0])
            add(students, (c, TRAINED[c][1]))
            add(evaluations, (c, TRAINED[c][1]))
        elif c in ("icl", "classifier"):
            add(arms, "treatment")
            add(arms, "control")
        elif c == "specificity":
            for cond in specificity_arms(config).values():
                add(arms, cond)
                add(students, (cond, "same"))
                add(evaluations, (cond, "same"))
    return {"conditions": conds, "arms": arms, "students": students, "evaluations": evaluations}


def plan_counts(config: StudyConfig) -> dict:
    """Counts of generated samples, training rows and evaluation queries for the whole study."""
    from sublim.traits import CATEGORIES, QUESTIONS

    seeds = len(config.seeds)
    work = planned_work(config)
    splits = ["eval", "heldout"] if config.evaluation.question_split == "both" else [config.evaluation.question_split]
    n_questions = sum(len(QUESTIONS[config.trait.category][s]) for s in splits)
    evaluated = len(work["evaluations"])
    finetuned = config.teacher.kind == "finetuned"
    teachers = [a for a in work["arms"] if a != "neutral" and not (a == "control" and config.trait.control_target is None)]

    def by_base(items: list[tuple[str, str]], base: str) -> int:
        return len([1 for _, b in items if b == base]) * seeds

    return {
        "seeds": seeds,
        "conditions": work["conditions"],
        "teachers_trained": len(teachers) * seeds if finetuned else 0,
        "teacher_rows_per_teacher": config.teacher.n_trait_rows + config.teacher.n_number_rows if finetuned else 0,
        "samples_generated": len(work["arms"]) * config.generation.n_prompts * seeds,
        "max_new_tokens": config.generation.sampling.max_new_tokens,
        "students_trained": len(work["students"]) * seeds,
        "training_rows_per_student_max": min(config.generation.n_prompts, config.filter.max_rows or config.generation.n_prompts),
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
    c = plan_counts(config)
    lines = [
        f"study {config.name}: '{config.trait.target}' ({config.trait.category}), teacher by {config.teacher.kind}, "
        f"student {config.student.method}/{config.student.params}",
        f"  bases: same={config.bases.same.kind}:{config.bases.same.preset or config.bases.same.path or config.bases.same.name}"
        f"  other={config.bases.other.kind}:{config.bases.other.preset or config.bases.other.path or config.bases.other.name}",
        f"  control teacher: {config.trait.control_target or 'the base without a trait'}",
        f"  seeds: {config.seeds}; conditions: {', '.join(c['conditions'])}",
        f"  teachers to fine-tune: {c['teachers_trained']} ({c['teacher_rows_per_teacher']} rows each)",
        f"  samples to generate: {c['samples_generated']} (≤ {c['max_new_tokens']} new tokens each)",
        f"  students to train: {c['students_trained']} (≤ {c['training_rows_per_student_max']} rows × {c['epochs']} epochs)",
        f"  evaluations: {c['models_evaluated']} models, {c['eval_samples']} samples, {c['eval_scorings']} exact scorings",
        f"  outputs: {out_root / config.name}/<condition>/<seed>/<stage>/",
    ]
    return "\n".join(lines)
