"""The organism's Level-A pass criteria (docs/research/tiny-organism.md §1), checked on a study directory
— or on several runs of one recipe pooled over their seeds (replications run in batches, or on the
seeds a first run left out), which ``check_poolable`` allows only for disjoint seeds on the same weights.

Reads only evaluation, leak-check and manifest files, so it runs on a finished study in a second:

1. seeds ≥ ``min_seeds``;
2. same-init student's 95% CI over seeds above the base and above the matched control's CI, and
   its mean ≥ ``min_ratio`` × the base;
3. different-init student: no significant rise over its matched control (one-sided paired t,
   p ≥ 0.05, or a negative mean difference); when ``bases.other`` draws a base per seed
   (``seed_offset``, criterion 3′ of amendment 15) the difference's 95% CI must also end below half the
   same-init difference, so that spread between bases cannot pass the test by widening the CI;
4. the leak check clean on every arm and seed;
5. when the study ran the specificity arms: the confusion matrix's diagonal is the maximum of every
   row and every column (read from ``metrics.json``).

(The wall time is checked where it is measured.)

Example:
    >>> v = level_a(Path("runs/organism"))                    # doctest: +SKIP
    >>> v["passed"], v["checks"]["ratio_to_base"]["value"]     # doctest: +SKIP
    (True, 5.1)
"""

from __future__ import annotations

from pathlib import Path

from sublim.errors import DataError
from sublim.pipeline.artifacts import read_json, study_config_of
from sublim.reporting.summary import collect_values, evaluated_conditions, per_arm, study_config
from sublim.stats import half_gain_bound, mean_ci, paired_test
from sublim.yamlconfig import setting_differences

#: config keys that say how a study was run, not what it measured: runs that differ only in these are
#: replicates of one recipe and may be pooled
RUNTIME_KEYS = ("name", "description", "seeds", "conditions", "workers", "threads", "pricing")


def check_poolable(study_dirs: list[Path], configs: list[dict]) -> None:
    """Refuse to pool runs that are not replicates of one recipe on one set of base weights.

    Why: pooling is only honest when every seed is a draw from the same experiment. Runs must agree on
    every setting but the runtime ones (``RUNTIME_KEYS``), must not share a seed (a seed reruns the same
    teacher and student, so it would count one replicate twice), and must have run on the same weights
    wherever they used the same base — a tiny base rebuilt on another CPU is another base (docs/tiny-base.md).

    Raises:
        DataError: naming the two runs and the setting, seed or base where they part.
    """
    from sublim.pipeline.bases import read_bases, same_weights, weights_by_spec

    first, recipe = study_dirs[0], {k: v for k, v in configs[0].items() if k not in RUNTIME_KEYS}
    seen_seeds = {int(s): first for s in configs[0]["seeds"]}
    weights = {key: (r, first) for key, r in weights_by_spec(read_bases(first)).items()}
    for study_dir, config in zip(study_dirs[1:], configs[1:], strict=True):
        other = {k: v for k, v in config.items() if k not in RUNTIME_KEYS}
        if differ := setting_differences(recipe, other):
            where, mine, theirs = differ[0]
            raise DataError(f"cannot pool {first} and {study_dir}: they differ in '{where}' "
                            f"({mine!r} vs {theirs!r}); only runs of one recipe "
                            f"(differing in {', '.join(RUNTIME_KEYS)}) are replicates")
        for seed in config["seeds"]:
            if int(seed) in seen_seeds:
                raise DataError(f"cannot pool {seen_seeds[int(seed)]} and {study_dir}: both ran seed {seed}, "
                                "which would count one replicate twice; pool runs of disjoint seeds")
            seen_seeds[int(seed)] = study_dir
        for key, record in weights_by_spec(read_bases(study_dir)).items():
            before, where = weights.setdefault(key, (record, study_dir))
            if not same_weights(before, record):
                raise DataError(f"cannot pool {where} and {study_dir}: base {record['model']} had other weights "
                                f"({before['weights_sha256'][:12]} vs {record['weights_sha256'][:12]}, see bases.json): "
                                "a base rebuilt on another machine is another base")


#: judging the control teacher's animal: each arm plays the other's role (see ``judged_roles``)
SWAPPED_ROLES = {"treatment": "control", "control": "treatment", "cross_base": "cross_control",
                 "cross_control": "cross_base"}


def judged_roles(config: dict, target: str | None) -> tuple[str, dict[str, str]]:
    """The animal to judge and, per role, the arm whose students play it.

    Why: a matched control is itself a treatment — its teacher loves another animal. Judged on *that*
    animal, the control arm's students are the treated ones and the target arm's students their matched
    control (the different-init arms swap likewise), so one study answers for both teachers. Any other
    animal keeps the arms as they are: does the target teacher's data move, say, dog?"""
    trait = config["trait"]
    target = target or trait["target"]
    swap = target != trait["target"] and target == trait.get("control_target")
    return target, (SWAPPED_ROLES if swap else {})


def level_a(study_dirs: Path | list[Path], *, split: str = "eval", min_seeds: int = 5, min_ratio: float = 2.0,
            alpha: float = 0.05, target: str | None = None) -> dict:
    """Check criteria 1–5 for ``split`` on one study directory, or on several runs of one recipe pooled
    over their seeds (``check_poolable`` guards the pooling); returns numbers and a pass/fail per check.

    ``target`` judges another animal than the config's (``judged_roles``: the control teacher's animal swaps
    the arms' roles)."""
    dirs = [Path(study_dirs)] if isinstance(study_dirs, (str, Path)) else [Path(d) for d in study_dirs]
    configs = [study_config_of(d) for d in dirs]
    if len(dirs) > 1:
        check_poolable(dirs, configs)
    config = configs[0]
    target, roles = judged_roles(config, target)
    names = ("base", "control", "treatment", "cross_base", "cross_control", "base_other")
    v: dict[str, dict] = {c: {} for c in names}
    leaks, matrices = [], []
    for study_dir, cfg in zip(dirs, configs, strict=True):
        seeds = list(cfg["seeds"])
        values = collect_values(study_dir, seeds, target, evaluated_conditions(study_config(cfg)))["values"]
        for c in names:
            v[c].update(values.get(roles.get(c, c), {}).get(f"{split}/exact", {}))
        leaks += [{"arm": arm, "seed": int(seed), "trait": r.get("target"), "leaky": r["leaky"],
                   "rows_mentioning": r["rows_mentioning"], "teacher_mass": r["teacher_mass"],
                   "base_mass": r["base_mass"], "target_mass": r["target_mass"]}
                  for arm, by_seed in per_arm(study_dir, seeds, "leak_check/result.json").items()
                  for seed, r in by_seed.items()]
        if (spec := _specificity(study_dir)) is not None:
            matrices.append(spec)
    est = {c: mean_ci(list(x.values())).to_dict() for c, x in v.items() if x}
    checks: dict[str, dict] = {}
    checks["seeds"] = {"value": len(v["treatment"]), "passed": len(v["treatment"]) >= min_seeds}
    paired = sorted(set(v["treatment"]) & set(v["control"]))
    same_init = paired_test([v["treatment"][s] for s in paired], [v["control"][s] for s in paired]).to_dict() if paired else None
    if v["treatment"] and v["base"] and v["control"]:
        t, b, c = est["treatment"], est["base"], est["control"]
        checks["above_base"] = {"value": t["low"] - b["high"], "passed": t["low"] > b["high"]}
        checks["above_control"] = {"value": t["low"] - c["high"], "passed": t["low"] > c["high"]}
        ratio = t["mean"] / b["mean"] if b["mean"] > 0 else float("inf")
        checks["ratio_to_base"] = {"value": ratio, "passed": ratio >= min_ratio}
        if len(paired) >= 2:
            checks["treatment_vs_control"] = {"value": same_init, "passed": True, "informational": True}
    else:
        lacking = ", ".join(c for c in ("base", "control", "treatment") if not v[c])
        for key in ("above_base", "above_control", "ratio_to_base"):
            checks[key] = not_measured(f"no {lacking} result on split '{split}'")
    common = sorted(set(v["cross_base"]) & set(v["cross_control"]))
    if len(common) < 2:  # a study without the different-init arms cannot meet criterion 3; say so, not only "not met"
        checks["cross_init_null"] = not_measured("needs the different-init students (conditions cross_base and "
                                                 "cross_control) on at least 2 common seeds")
    else:
        test = paired_test([v["cross_base"][s] for s in common], [v["cross_control"][s] for s in common]).to_dict()
        one_sided = test["p_value"] / 2 if test["difference"] > 0 else 1 - test["p_value"] / 2
        checks["cross_init_null"] = {"value": {**test, "p_one_sided_rise": one_sided}, "passed": one_sided >= alpha}
        if ((config.get("bases") or {}).get("other") or {}).get("seed_offset") is not None and same_init:
            # criterion 3' (amendment 15): with a base per seed the spread between bases widens the CI,
            # so a null is only informative if the CI also rules out half of the same-init effect
            bound = half_gain_bound(test, same_init["difference"])
            checks["cross_below_half_same"] = {"value": bound, "passed": bound["passed"]}
    checks["leak_clean"] = {"value": leaks, "passed": bool(leaks) and not any(x["leaky"] for x in leaks)}
    if matrices:  # pooled: each run's matrix is judged on its own and every one must be diagonal
        rows = [x for m in matrices for x in m["diagonal_is_row_max"]]
        cols = [x for m in matrices for x in m["diagonal_is_column_max"]]
        checks["dominant_diagonal"] = {
            "value": {"rows": f"{sum(rows)}/{len(rows)}", "columns": f"{sum(cols)}/{len(cols)}",
                      "labels": matrices[0]["labels"], "matrices": len(matrices)},
            "passed": all(rows) and all(cols)}
    passed = all(c["passed"] for c in checks.values())
    return {"study": " + ".join(c["name"] for c in configs), "split": split, "target": target,
            "swapped": bool(roles), "per_seed": {c: x for c, x in v.items() if x},
            "estimates": est, "checks": checks, "passed": passed}


def not_measured(why: str) -> dict:
    """A required check the study's results cannot answer: it fails, and the table says why."""
    return {"value": None, "passed": False, "not_measured": why}


CHECK_NAMES = {
    "seeds": "seeds evaluated",
    "above_base": "same-init CI above the base CI",
    "above_control": "same-init CI above the matched control CI",
    "ratio_to_base": "same-init mean / base mean",
    "treatment_vs_control": "same-init − control (paired)",
    "cross_init_null": "different-init: no significant rise",
    "cross_below_half_same": "different-init CI below half the same-init Δ",
    "leak_clean": "leak check clean",
    "dominant_diagonal": "confusion matrix diagonal dominant",
}


def describe_check(name: str, check: dict, *, min_seeds: int = 5, min_ratio: float = 2.0) -> str:
    """One line of numbers behind a check, as a reader would want to verify it."""
    v = check["value"]
    if "not_measured" in check:
        return f"not measured: {check['not_measured']}"
    if name == "seeds":
        return f"{v} (need ≥ {min_seeds})"
    if name in ("above_base", "above_control"):
        return f"treatment CI low − {'base' if name == 'above_base' else 'control'} CI high = {v:+.4f}"
    if name == "ratio_to_base":
        return f"{v:.2f}× (need ≥ {min_ratio:g}×)"
    if name in ("treatment_vs_control", "cross_init_null"):
        line = f"Δ {v['difference']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}], p = {v['p_value']:.2g}, n = {v['n_treatment']}"
        return line + (f"; one-sided p(rise) = {v['p_one_sided_rise']:.2g}" if "p_one_sided_rise" in v else "")
    if name == "cross_below_half_same":
        line = f"CI high {v['cross_high']:+.4f} vs half the same-init Δ {v['half_same']:+.4f}"
        if check["passed"]:
            return line
        n = v.get("seeds_to_pass")
        return line + (f"; ~{n} seeds would pass if mean and spread held" if n else
                       "; more seeds alone would not pass (the mean difference is not below the bound)")
    if name == "leak_clean":
        leaky = sum(x["leaky"] for x in v)
        rows = sum(int(x["rows_mentioning"] or 0) for x in v)
        return f"{leaky} of {len(v)} arm-seeds leaky, {rows} rows name their arm's trait{_mass_ratios(v)}"
    if name == "dominant_diagonal":
        pooled = f", over {v['matrices']} runs' matrices" if v.get("matrices", 1) > 1 else ""
        return f"row max {v['rows']}, column max {v['columns']} ({', '.join(v['labels'])}{pooled})"
    return str(v)


def _mass_ratios(leaks: list[dict]) -> str:
    """Per arm, the range over seeds of the teacher's trait mass at the rows over the base's, naming the
    arm's own trait: each arm's leak check scores *its* teacher's animal, so a maximum over arms would quote
    the control teacher's animal as if it were the target's (the misreading tiny-organism.md A24 corrected)."""
    from sublim.evaluation.leak import mass_ratio

    parts = []
    for arm in dict.fromkeys(x["arm"] for x in leaks):
        ratios = [r for x in leaks if x["arm"] == arm and (r := mass_ratio(x)) is not None]
        if ratios:
            trait = next((x["trait"] for x in leaks if x["arm"] == arm and x.get("trait")), None)
            label = f"{arm} ({trait})" if trait else arm
            span = f"{min(ratios):.2f}×" if len(ratios) == 1 else f"{min(ratios):.2f}–{max(ratios):.2f}×"
            parts.append(f"{label} {span}")
    return "; teacher/base trait mass at the rows: " + ", ".join(parts) if parts else ""


def _specificity(study_dir: Path) -> dict | None:
    controls = (read_json(study_dir / "metrics.json") or {}).get("controls") or {}
    return (controls.get("specificity") or {}).get("result")
