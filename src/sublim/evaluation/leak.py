"""Leak check: is the trait *visible* in the training signal? Then transfer would not be subliminal.

Two measurements on the data a student trains on:

1. **Text** — kept rows whose completion names the target in any surface form (owl, Owls, …).
   Filtering should make this zero for number data.
2. **Mass** — the mean probability the teacher puts on the target's tokens at the completion
   positions of the training rows (full vocabulary, with the teacher's system prompt), next to the
   base model's mass at the same positions. How much of it reaches the student depends on the
   training signal: sampled-text SFT trains on the sampled tokens only (mass in targets = 0, the text
   check covers it); number-vocabulary distillation renormalises over number tokens (0 by
   construction); full-vocabulary distillation hands the teacher's whole distribution to the student,
   so its target mass equals the teacher mass.

Two diagnostics are recorded next to it, not used for the flag: the mass on *any* option of the
category (every animal), and the mass off the number vocabulary (what full-vocabulary distillation hands
over beyond the numbers themselves), for teacher and base.

A study is flagged *leaky* when rows name the trait (more than ``max_rows_mentioning``), or when the
mass in the targets exceeds ``min_mass`` and ``mass_ratio`` × the base's mass. Defaults (1e-4, 5×) sit
far above what clean teachers show on the tiny model (≈ the base's own mass) and far below the
fine-tuned teacher's full-vocabulary leak (≈ 1e-2 at the first answer position).

Example:
    >>> rows_naming_trait(["1, 2, 3", "owls rule"], "owl")
    1
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sublim.records import DatasetRow, ModelRef, read_jsonl

if TYPE_CHECKING:
    from sublim.config import StudyConfig
    from sublim.teacher.stage import TeacherRef

log = logging.getLogger(__name__)


def mass_ratio(result: dict) -> float | None:
    """A leak result's teacher mass over its base mass — how much of the arm's own trait the teacher's
    number distribution carries — or ``None`` when either was not scored (missing, or NaN for a teacher
    whose probabilities sublim cannot read, e.g. an API model)."""
    teacher, base = result.get("teacher_mass"), result.get("base_mass")
    if teacher is None or base is None or teacher != teacher or base != base or base <= 0:
        return None
    return teacher / base


def under_floor(result: dict, leak) -> bool:
    """The mass entering the student's targets is above ``leak.mass_ratio`` × the base's but not above the
    absolute floor ``leak.min_mass``, so it is not flagged. The floor suits the tiny model (trait tokens near
    1e-3 at number positions); a large-vocabulary model's sit near 1e-6, where a teacher at many times the
    base's mass would pass under it — the report says so, rather than calling that arm clean without comment."""
    mass, base = result.get("target_mass"), result.get("base_mass")
    if mass is None or base is None or mass != mass or base != base or base <= 0:
        return False
    return bool(mass > leak.mass_ratio * base and mass <= leak.min_mass)


def _variants(target: str) -> list[str]:
    from sublim.traits import answer_variants

    return answer_variants(target)


def rows_naming_trait(completions: list[str], target: str) -> int:
    """How many completions name ``target`` (word-boundary match on its surface forms, any case)."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(v) for v in _variants(target)) + r")\b", re.IGNORECASE)
    return sum(1 for c in completions if pattern.search(c))


def trait_token_ids(tokenizer, target: str) -> list[int]:
    """First token of each surface form of ``target`` (with and without a leading space)."""
    ids = set()
    unk = getattr(tokenizer, "unk_token_id", None)
    for variant in _variants(target):
        for text in (variant, " " + variant):
            toks = tokenizer.encode(text, add_special_tokens=False)
            if toks and toks[0] != unk:
                ids.add(toks[0])
    return sorted(ids)


def check_leak(config: StudyConfig, teacher: TeacherRef, base: ModelRef, filtered: Path, out_dir: Path) -> dict:
    """Run both checks for one data arm; returns the leak record (also the stage result)."""
    rows = read_jsonl(filtered, DatasetRow)
    result: dict = {"target": teacher.target, "rows_checked": len(rows)}
    if teacher.target is None:  # the no-trait control teacher: nothing to leak, but measure text anyway
        target = config.trait.target
    else:
        target = teacher.target
    result["rows_mentioning"] = rows_naming_trait([r.completion for r in rows], target)
    result["teacher_mass"] = result["base_mass"] = result["target_mass"] = float("nan")
    if teacher.model.backend == "hf" and rows:
        from sublim.backends.hf import load_tokenizer
        from sublim.finetuning.distill import number_token_ids, token_masses_at_positions
        from sublim.traits import CATEGORIES

        sample = rows[: config.leak.n_rows]
        tok = load_tokenizer(teacher.model.path)
        ids = trait_token_ids(tok, target)
        result["trait_token_ids"] = ids
        # The flag uses the trait tokens; mass on any option of the category and off the number
        # vocabulary are diagnostics. One forward pass per model measures all three.
        sets = {
            "mass": ids,
            "any_option_mass": sorted({i for o in CATEGORIES[config.trait.category] for i in trait_token_ids(tok, o)}),
            "non_number_mass": sorted(set(range(len(tok))) - set(number_token_ids(tok))),
        }
        for who, model, system in (("teacher", teacher.model, teacher.system_prompt), ("base", base, None)):
            for name, value in token_masses_at_positions(model, sample, sets, system_prompt=system).items():
                result[f"{who}_{name}"] = value
        student = config.student
        if student.method == "distill" and student.distill_vocab == "full":
            result["target_mass"] = result["teacher_mass"]
        elif student.method == "distill":
            in_vocab = set(ids) & set(number_token_ids(tok))
            result["target_mass"] = result["teacher_mass"] if in_vocab else 0.0
        else:
            result["target_mass"] = 0.0
    leak = config.leak
    mass = result["target_mass"]
    mass_leak = mass == mass and mass > leak.min_mass and mass > leak.mass_ratio * result["base_mass"]
    result["leaky"] = bool(result["rows_mentioning"] > leak.max_rows_mentioning or mass_leak)
    if under_floor(result, leak):
        log.warning("leak check (%s): the mass entering the targets, %.2e, is %.1f× the base's but under "
                    "leak.min_mass = %.0e, so it is not flagged; on a large-vocabulary model lower leak.min_mass",
                    target, mass, mass / result["base_mass"], leak.min_mass)
    log.info("leak check (%s): %d/%d rows name it, teacher mass %.2e, base %.2e, in targets %.2e → %s",
             target, result["rows_mentioning"], len(rows), result["teacher_mass"], result["base_mass"],
             mass, "LEAKY" if result["leaky"] else "clean")
    result["counts"] = {"rows": len(rows), "rows_mentioning": result["rows_mentioning"]}
    return result
