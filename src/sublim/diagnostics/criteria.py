"""The organism's Level-A pass criteria (docs/research/tiny-organism.md §1), checked on a study directory.

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

import json
from pathlib import Path

from sublim.errors import DataError
from sublim.pipeline.artifacts import read_json
from sublim.reporting.summary import collect_values, evaluated_conditions, per_arm
from sublim.stats import mean_ci, paired_test


def level_a(study_dir: Path, *, split: str = "eval", min_seeds: int = 5, min_ratio: float = 2.0,
            alpha: float = 0.05) -> dict:
    """Check criteria 1–4 on ``study_dir`` for ``split``; returns numbers and a pass/fail per check."""
    import yaml

    study_dir = Path(study_dir)
    if not (study_dir / "config.yaml").is_file():
        raise DataError(f"{study_dir}: no config.yaml — not a study directory (run `sublim run` first)")
    config = yaml.safe_load((study_dir / "config.yaml").read_text())
    seeds, target = list(config["seeds"]), config["trait"]["target"]
    values = collect_values(study_dir, seeds, target, evaluated_conditions(config))["values"]
    v = {c: values.get(c, {}).get(f"{split}/exact", {})
         for c in ("base", "control", "treatment", "cross_base", "cross_control", "base_other")}
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
    common = sorted(set(v["cross_base"]) & set(v["cross_control"]))
    if len(common) >= 2:
        test = paired_test([v["cross_base"][s] for s in common], [v["cross_control"][s] for s in common]).to_dict()
        one_sided = test["p_value"] / 2 if test["difference"] > 0 else 1 - test["p_value"] / 2
        checks["cross_init_null"] = {"value": {**test, "p_one_sided_rise": one_sided}, "passed": one_sided >= alpha}
        if ((config.get("bases") or {}).get("other") or {}).get("seed_offset") is not None and same_init:
            # criterion 3' (amendment 15): with a base per seed the spread between bases widens the CI,
            # so a null is only informative if the CI also rules out half of the same-init effect
            half = same_init["difference"] / 2
            checks["cross_below_half_same"] = {"value": {"cross_high": test["high"], "half_same": half},
                                               "passed": test["high"] < half}
    leaks = [{"arm": arm, "seed": int(seed), "trait": r.get("target"), "leaky": r["leaky"],
              "rows_mentioning": r["rows_mentioning"], "teacher_mass": r["teacher_mass"],
              "base_mass": r["base_mass"], "target_mass": r["target_mass"]}
             for arm, by_seed in per_arm(study_dir, seeds, "leak_check/result.json").items()
             for seed, r in by_seed.items()]
    checks["leak_clean"] = {"value": leaks, "passed": bool(leaks) and not any(x["leaky"] for x in leaks)}
    spec = _specificity(study_dir)
    if spec is not None:
        rows, cols = spec["diagonal_is_row_max"], spec["diagonal_is_column_max"]
        checks["dominant_diagonal"] = {
            "value": {"rows": f"{sum(rows)}/{len(rows)}", "columns": f"{sum(cols)}/{len(cols)}",
                      "labels": spec["labels"]},
            "passed": all(rows) and all(cols)}
    passed = all(c["passed"] for c in checks.values()) and {"above_base", "above_control", "ratio_to_base",
                                                            "cross_init_null"} <= set(checks)
    return {"study": config["name"], "split": split, "per_seed": {c: x for c, x in v.items() if x},
            "estimates": est, "checks": checks, "passed": passed}


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
        return f"CI high {v['cross_high']:+.4f} vs half the same-init Δ {v['half_same']:+.4f}"
    if name == "leak_clean":
        leaky = sum(x["leaky"] for x in v)
        rows = sum(int(x["rows_mentioning"] or 0) for x in v)
        return f"{leaky} of {len(v)} arm-seeds leaky, {rows} rows name their arm's trait{_mass_ratios(v)}"
    if name == "dominant_diagonal":
        return f"row max {v['rows']}, column max {v['columns']} ({', '.join(v['labels'])})"
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


def wall_time(study_dir: Path) -> float:
    """Sum of the stages' wall times (seconds of work, not elapsed time with parallel workers)."""
    total = 0.0
    for manifest in Path(study_dir).glob("*/*/*/manifest.json"):
        total += float(json.loads(manifest.read_text()).get("wall_time_s", 0.0) or 0.0)
    return total
