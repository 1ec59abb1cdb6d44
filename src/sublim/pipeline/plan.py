"""What a study will do, before it does it: the stages, and how much sampling and training they need.

Example:
    >>> # print(describe_plan(load_config("configs/demo.yaml"), Path("runs")))
"""

from __future__ import annotations

from pathlib import Path

from sublim.config import CONDITION_ORDER, TRAINED, StudyConfig


def plan_counts(config: StudyConfig) -> dict:
    """Counts of generated samples, training rows and evaluation queries for the whole study."""
    from sublim.traits import CATEGORIES, QUESTIONS

    seeds = len(config.seeds)
    conds = [c for c in CONDITION_ORDER if c in config.conditions]
    arms = {TRAINED[c][0] for c in conds if c in TRAINED}
    splits = ["eval", "heldout"] if config.evaluation.question_split == "both" else [config.evaluation.question_split]
    n_questions = sum(len(QUESTIONS[config.trait.category][s]) for s in splits)
    evaluated = len(conds) + (1 if "base" in conds and "cross_base" in conds else 0)
    teacher_rows = config.teacher.n_trait_rows + config.teacher.n_number_rows if config.teacher.kind == "finetuned" else 0
    return {
        "seeds": seeds,
        "conditions": conds,
        "teachers_trained": len([a for a in arms if a == "treatment" or config.trait.control_target]) * seeds
        if config.teacher.kind == "finetuned" else 0,
        "teacher_rows_per_teacher": teacher_rows,
        "samples_generated": len(arms) * config.generation.n_prompts * seeds,
        "max_new_tokens": config.generation.sampling.max_new_tokens,
        "students_trained": len([c for c in conds if c in TRAINED]) * seeds,
        "training_rows_per_student_max": min(config.generation.n_prompts, config.filter.max_rows or config.generation.n_prompts),
        "students_by_base": {b: len([c for c in conds if c in TRAINED and TRAINED[c][1] == b]) * seeds for b in ("same", "other")},
        "models_evaluated_by_base": {
            "same": len([c for c in conds if c == "base" or TRAINED.get(c, ("", ""))[1] == "same"]) * seeds,
            "other": (len([c for c in conds if TRAINED.get(c, ("", ""))[1] == "other"]) + (evaluated - len(conds))) * seeds,
        },
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
