"""Diagnose a finished study directory: per seed, the data's divergence and the students' alignment.

For every seed of ``runs/<study>``:

* per data arm (``treatment``, ``control``): :func:`~sublim.diagnostics.divergence.divergence_stats`
  of its teacher vs the base on its filtered rows;
* per trained condition (``treatment``, ``control``, ``cross_base``, ``cross_control``): the cosine of
  the student's first update with the trait direction ``θ_treatment-teacher − θ_control-teacher``
  (the matched design: a shared seeded init cancels; with a no-trait control it is the teacher's
  whole delta);
* for a same-init student that spans several decoder layers: per layer, the cosine between its first
  step on the treatment rows and on the control rows (:func:`~sublim.diagnostics.alignment.layer_contrast`)
  and the layer where they agree least — reported, not a rule: on the tiny organisms it did not locate the
  teacher's layer (tiny-organism.md, D34); and the same contrast between the two *trained* students'
  changes (:func:`trained_layer_contrast`), which did not either (D36: layer 0 for both organisms);
* per data arm, from its leak check: the teacher's and the base's probability mass on the arm's own
  trait tokens at the training rows' completion positions, and their ratio (:func:`trait_mass`);
* the measured effect: P(target) of the treatment student minus the control student (exact, eval
  split), and the same for the cross-init pair;
* per same-init student with a teacher (``treatment``, ``control``, each specificity arm):
  :func:`~sublim.diagnostics.decomposition.split_update`, its change split into the part along its
  teacher's change and the rest, each part's ΔP(option) vs the no-trait student (or the base).

``predictiveness`` then asks, across seeds (or across studies), how well each diagnostic ranks the
measured effect (Spearman ρ). Writes ``diagnostics.json`` (and ``decomposition.png``) into the study
directory; parts skipped this time are kept from the file it replaces (:func:`carry_over`).

Example:
    >>> out = diagnose_study(Path("runs/organism"), max_rows=128)                 # doctest: +SKIP
    >>> out["summary"]["treatment_minus_control"]["cos_student_space"]            # doctest: +SKIP
    0.42
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sublim.diagnostics.decomposition import PARTS
from sublim.errors import DataError
from sublim.pipeline.artifacts import read_json

log = logging.getLogger(__name__)
PAIRS = (("treatment", "control"), ("cross_base", "cross_control"))
# per-seed layer contrasts between the treatment and the control arm → their prefix in the summary, what
# they compare, and the tiny-organism.md section that says what they are worth
LAYER_CONTRASTS = {"first_step_layers": ("first_step", "first step", "D34"),
                   "trained_layers": ("trained", "trained student", "D36")}


def measured_effect(study_dir: Path, condition: str, seed: int, target: str, split: str = "eval") -> float | None:
    """Exact P(target) of one condition and seed (``None`` when not evaluated)."""
    result = read_json(study_dir / condition / str(seed) / "evaluation" / "result.json")
    if result is None:
        return None
    s = result["metrics"]["splits"].get(split, {})
    return s.get("exact", {}).get(target, {}).get("mean")


def diagnose_study(study_dir: Path, *, max_rows: int = 128, alignment: bool = True,
                   decomposition: bool = True) -> dict:
    """Compute the diagnostics of every seed; returns (and writes) ``diagnostics.json``."""
    from sublim.backends.models import resolve_model
    from sublim.config import load_config
    from sublim.diagnostics.alignment import OnDemand
    from sublim.pipeline.artifacts import study_config_of, write_json

    study_dir = Path(study_dir)
    study_config_of(study_dir)
    cfg = load_config(study_dir / "config.yaml")
    bases = {"same": resolve_model(cfg.bases.same).path}
    cross = any(c in cfg.conditions for c in ("cross_base", "cross_control"))
    # the same-init base is only read (divergence, deltas, decomposition): one module for the whole study,
    # loaded when first needed, instead of one load per use per seed; the first steps train their own copy
    same_base = OnDemand(bases["same"])
    per_seed: dict[str, dict] = {}
    for seed in cfg.seeds:
        if cross:  # a per-seed other base (``seed_offset``) differs from seed to seed
            bases["other"] = resolve_model(cfg.bases.spec("other", seed)).path
        per_seed[str(seed)] = diagnose_seed(study_dir, cfg, seed, bases, same_base, max_rows=max_rows,
                                            alignment=alignment, decomposition=decomposition)
        log.info("diagnostics: seed %s done", seed)
    kept = carry_over(study_dir, per_seed, max_rows, [part for part, ran in (("alignment", alignment),
                                                                         ("decomposition", decomposition)) if not ran])
    out = {"study": cfg.name, "target": cfg.trait.target, "max_rows": max_rows, "per_seed": per_seed,
           "summary": summarise(per_seed), "kept_from_earlier": kept}
    if decomposition or "decomposition" in kept:
        out["summary"]["decomposition"] = summarise_decomposition(per_seed)
    if decomposition:
        from sublim.reporting.figures import plot_decomposition

        plot_decomposition(out["summary"]["decomposition"], study_dir / "decomposition.png",
                           f"{cfg.name}: each student's change, split along its teacher's change and the rest")
    write_json(study_dir / "diagnostics.json", out)
    return out


def diagnose_seed(study_dir: Path, cfg, seed: int, bases: dict[str, Any], same_base: Any, *, max_rows: int,
                  alignment: bool, decomposition: bool) -> dict:
    """One seed's entry of ``diagnostics.json`` (``bases``: ``same`` and, with cross conditions, this seed's
    ``other`` base path; ``same_base``: the same-init base, loaded once for the study)."""
    from sublim.diagnostics.divergence import divergence_stats
    from sublim.records import DatasetRow, read_jsonl

    teachers, rows = {}, {}
    entry: dict = {"divergence": {}, "alignment": {}, "p_target": {}, "trait_mass": trait_mass(study_dir, seed)}
    for arm in ("treatment", "control"):
        t = read_json(study_dir / arm / str(seed) / "teacher" / "result.json")
        data = study_dir / arm / str(seed) / "filtering" / "filtered.jsonl"
        if t is None or not data.exists():
            continue
        teachers[arm] = t["teacher"]["model"]  # the recorded ref: path and adapter
        rows[arm] = read_jsonl(data, DatasetRow)[:max_rows]
        entry["divergence"][arm] = divergence_stats(teachers[arm], same_base, rows[arm]).to_dict()
    if alignment and "treatment" in teachers:
        entry.update(first_steps(cfg, seed, bases, same_base, teachers, rows))
    if trained := trained_layer_contrast(study_dir, seed, same_base):
        entry["trained_layers"] = trained
    for condition in ("base", "treatment", "control", "cross_base", "cross_control"):
        value = measured_effect(study_dir, condition, seed, cfg.trait.target)
        if value is not None:
            entry["p_target"][condition] = value
    if decomposition:
        entry["decomposition"] = decompose_seed(study_dir, cfg, seed, same_base)
    return entry


def first_steps(cfg, seed: int, bases: dict[str, Any], same_base: Any, teachers: dict, rows: dict) -> dict:
    """``alignment``: each trained condition's first step against the teacher's change (Theorem 1), and
    ``first_step_layers``: where the two same-init arms' first steps part, layer by layer (D34; only for
    students that span several layers)."""
    from sublim.config import TRAINED
    from sublim.diagnostics.alignment import (
        alignment,
        layer_contrast,
        least_agreeing_layer,
        student_first_step,
        weight_delta,
    )

    direction = weight_delta(teachers["treatment"], teachers.get("control", same_base))
    out: dict = {"alignment": {}}
    same_init_steps = {}
    for condition in ("treatment", "control", "cross_base", "cross_control"):
        arm, which = TRAINED[condition]
        if condition not in cfg.conditions or arm not in rows or which not in bases:
            continue
        s_cfg = cfg.student.model_copy(update={"seed": seed})
        step = student_first_step(bases[which], rows[arm], s_cfg, data_teacher=teachers[arm])
        out["alignment"][condition] = alignment(step, direction)
        if which == "same":
            same_init_steps[arm] = step
    if len(same_init_steps) == 2:
        contrast = layer_contrast(same_init_steps["treatment"], same_init_steps["control"])
        if least_agreeing_layer(contrast) is not None:
            out["first_step_layers"] = contrast
    return out


# the parts a run may skip → the per-seed keys each one writes
SKIPPABLE = {"alignment": ("alignment", "first_step_layers"), "decomposition": ("decomposition",)}


def is_current(study_dir: Path) -> bool:
    """Whether the study's diagnostics.json is at least as new as its metrics.json (the report rewrites
    metrics.json whenever a stage finished again, so an older diagnostics.json may describe other students)."""
    done, metrics = Path(study_dir) / "diagnostics.json", Path(study_dir) / "metrics.json"
    return done.is_file() and (not metrics.is_file() or done.stat().st_mtime >= metrics.stat().st_mtime)


def carry_over(study_dir: Path, per_seed: dict[str, dict], max_rows: int, skipped: list[str]) -> list[str]:
    """Copy the ``skipped`` parts of each seed from the study's current diagnostics.json into ``per_seed``;
    returns the parts that were found.

    Why: one diagnostics.json per study, so a run that skips a costly part (``--no-alignment``,
    ``--no-decomposition``) to compute another would otherwise erase what an earlier run computed for the
    same students. Nothing is kept from a file older than metrics.json, nor alignment scored on another
    ``max_rows``."""
    previous = read_json(Path(study_dir) / "diagnostics.json") if skipped and is_current(study_dir) else None
    if previous is None:
        return []
    kept = []
    for part in skipped:
        if part == "alignment" and previous.get("max_rows") != max_rows:
            continue
        found = False
        for seed, entry in per_seed.items():
            old = previous.get("per_seed", {}).get(seed, {})
            for key in SKIPPABLE[part]:
                if key in old:
                    entry[key], found = old[key], True
        if found:
            kept.append(part)
    return kept


def trait_mass(study_dir: Path, seed: int) -> dict[str, dict]:
    """Per data arm with a leak check: the teacher's and the base's mass on the arm's trait tokens at the
    training positions and ``ratio`` = teacher / base. The completion positions are where a distilled
    student reads its teacher, so the ratio says how much of the trait the teacher's number distribution
    carries at all (read from the leak check: every kept row, no model is loaded). Arms whose leak check
    could not score masses (an API teacher) are left out."""
    from sublim.evaluation.leak import mass_ratio
    from sublim.reporting.summary import per_arm

    out = {}
    for arm, by_seed in per_arm(study_dir, [seed], "leak_check/result.json").items():
        r = by_seed[str(seed)]
        ratio = mass_ratio(r)
        if ratio is not None:
            out[arm] = {"target": r["target"], "teacher": r["teacher_mass"], "base": r["base_mass"], "ratio": ratio}
    return out


def trained_layer_contrast(study_dir: Path, seed: int, base) -> dict[str, dict[str, float]] | None:
    """Per decoder layer, the cosine between the same-init students' trained changes θ − θ_base on the
    treatment and on the control rows (``None`` when either student or its checkpoint is missing, or it spans
    one layer).

    Why: D34's first steps did not say which layer of an all-layer student holds the rows' teacher-specific
    part; a trained student has taken the whole fit, so where its two arms' changes part was the next
    data-only guess at which layer to slow. Measured on the tiny organisms (tiny-organism.md, D36) it does
    not locate the teacher either: the two arms' students part most in layer 0 on 14 of 15 seeds, for a
    teacher whose change is in layer 1 and for one whose vector sits after layer 0. Reported, not a rule.
    """
    from sublim.diagnostics.alignment import layer_contrast, least_agreeing_layer, load_merged, weight_delta

    refs = {}
    for arm in ("treatment", "control"):
        r = read_json(study_dir / arm / str(seed) / "finetuning" / "result.json")
        if r is None or r["model"].get("path") is None:
            return None
        refs[arm] = r["model"]
    base = load_merged(base)  # a path is loaded once for both students; a module is reused
    contrast = layer_contrast(weight_delta(refs["treatment"], base), weight_delta(refs["control"], base))
    return contrast if least_agreeing_layer(contrast) is not None else None


def arm_targets(cfg) -> dict[str, str]:
    """Same-init data arm → the animal (or other option) its teacher loves, for arms with a teacher."""
    from sublim.pipeline.plan import specificity_arms

    out = {"treatment": cfg.trait.target}
    if cfg.trait.control_target is not None:
        out["control"] = cfg.trait.control_target
    if "specificity" in cfg.conditions:
        out.update({arm: t for t, arm in specificity_arms(cfg).items() if t != "(control)"})
    return out


def decompose_seed(study_dir: Path, cfg, seed: int, base: Any) -> dict[str, dict]:
    """:func:`split_update` for every same-init student of one seed that has a teacher and a checkpoint."""
    from sublim.diagnostics.alignment import load_merged
    from sublim.diagnostics.decomposition import split_update

    def model(arm: str, stage: str) -> dict | None:
        r = read_json(study_dir / arm / str(seed) / stage / "result.json")
        if r is None:
            return None
        return (r["teacher"] if stage == "teacher" else r)["model"]

    neutral = model("neutral", "finetuning")
    base_module = load_merged(base)  # read by every arm of the seed: a path is loaded once, a module reused
    reference = load_merged(neutral) if neutral else base_module
    against = "the no-trait student" if neutral else "the base"
    out = {}
    for arm, animal in arm_targets(cfg).items():
        teacher, student = model(arm, "teacher"), model(arm, "finetuning")
        if teacher is None or student is None or student.get("path") is None:
            continue
        out[arm] = {"target": animal, "against": against,
                    **split_update(student, reference, teacher, base_module, category=cfg.trait.category)}
    return out


def summarise_decomposition(per_seed: dict[str, dict]) -> dict[str, dict]:
    """Per arm: seed means of c, cos, each part's ΔP(option) and ‖Δθ‖ per layer."""
    arms: dict[str, list[dict]] = {}
    for entry in per_seed.values():
        for arm, r in entry.get("decomposition", {}).items():
            arms.setdefault(arm, []).append(r)
    out = {}
    for arm, rs in arms.items():
        out[arm] = {"target": rs[0]["target"], "against": rs[0]["against"], "n_seeds": len(rs),
                    "c": _mean([r["c"] for r in rs]),
                    "cos": _mean([r["cos"] for r in rs])}
        for part in PARTS:
            out[arm][part] = {o: _mean([r[part][o] for r in rs]) for o in rs[0][part]}
        if all("movement" in r for r in rs):  # diagnostics.json written before the field existed lack it
            out[arm]["movement"] = {g: _mean([r["movement"][g] for r in rs]) for g in rs[0]["movement"]}
    return out


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def summarise(per_seed: dict[str, dict]) -> dict:
    """Means over seeds of each diagnostic and of the measured effects, and their seed-level Spearman ρ."""
    rows = []
    for entry in per_seed.values():
        p, d, a = entry["p_target"], entry["divergence"], entry["alignment"]
        row: dict = {}
        if "treatment" in p and "control" in p:
            row["effect"] = p["treatment"] - p["control"]
        if "cross_base" in p and "cross_control" in p:
            row["cross_effect"] = p["cross_base"] - p["cross_control"]
        for key in ("divergence_rate", "mean_kl", "mean_ll_shift"):
            if "treatment" in d:
                row[f"treatment_{key}"] = d["treatment"][key]
            if "treatment" in d and "control" in d:
                row[f"diff_{key}"] = d["treatment"][key] - d["control"][key]
        for condition, values in a.items():
            row[f"cos_{condition}"] = values["cos_student_space"]
        for arm, values in entry.get("trait_mass", {}).items():  # absent from diagnostics.json written before it
            row[f"{arm}_trait_mass_ratio"] = values["ratio"]
        for key, (prefix, *_) in LAYER_CONTRASTS.items():
            for group, values in entry.get(key, {}).items():
                row[f"{prefix}_cos_{group.replace(' ', '_')}"] = values["cos"]
        rows.append(row)
    keys = sorted({k for r in rows for k in r})
    means = {k: _mean([r[k] for r in rows if k in r]) for k in keys}
    out = {"means": means, "spearman_vs_effect": predictiveness(rows, "effect")}
    from sublim.diagnostics.alignment import least_agreeing_layer

    for key, (prefix, *_) in LAYER_CONTRASTS.items():
        picks = [least_agreeing_layer(e[key]) for e in per_seed.values() if key in e]
        if picks:
            out[f"{prefix}_least_agreeing_layer"] = {layer: picks.count(layer) for layer in sorted(set(picks))}
    return out


def predictiveness(rows: list[dict], outcome: str) -> dict[str, dict]:
    """Spearman ρ (with its two-sided p and the number of rows n) between each numeric field and
    ``outcome``, over rows that have both (≥ 3 rows, neither side constant)."""
    from scipy.stats import spearmanr

    out = {}
    for key in sorted({k for r in rows for k in r} - {outcome}):
        pairs = [(r[key], r[outcome]) for r in rows if key in r and outcome in r]
        if len(pairs) >= 3 and len({x for x, _ in pairs}) > 1 and len({y for _, y in pairs}) > 1:
            result = spearmanr([x for x, _ in pairs], [y for _, y in pairs])
            out[key] = {"rho": float(result.statistic), "p": float(result.pvalue), "n": len(pairs)}
    return out


def across_studies(study_dirs: list[Path]) -> dict:
    """Per study, the seed-mean diagnostics and effect (from each ``diagnostics.json``), and how well each
    diagnostic ranks the effect across studies (Spearman ρ, p, n).

    Adds two study-level fields: ``diff_cos`` (first-step cosine of the treatment student minus the
    control student: Theorem 1's prediction for the matched design) and ``c`` (the share of its teacher's
    change the treatment student took, when the decomposition ran).
    """
    rows = []
    for d in study_dirs:
        data = read_json(Path(d) / "diagnostics.json")
        if data is None:
            raise DataError(f"{d}: no diagnostics.json (run `sublim diagnose {d}` first)")
        row = {"study": data["study"], **data["summary"]["means"]}
        if "cos_treatment" in row and "cos_control" in row:
            row["diff_cos"] = row["cos_treatment"] - row["cos_control"]
        treated = data["summary"].get("decomposition", {}).get("treatment")
        if treated:
            row["c"] = treated["c"]
        rows.append(row)
    numeric = [{k: v for k, v in r.items() if k != "study"} for r in rows]
    return {"rows": rows, "spearman_vs_effect": predictiveness(numeric, "effect")}
