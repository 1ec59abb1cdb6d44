"""Summaries of the paper's control conditions: in-context learning, detection, specificity.

Reads only the stage results on disk (``icl/<seed>/icl``, ``classifier/<seed>/detection`` and the
evaluations of the specificity students), like the rest of ``reporting``.

Example:
    >>> # summarise_controls(Path("runs/owl"), study_config, seeds=[0, 1, 2])
"""

from __future__ import annotations

from pathlib import Path

from sublim.pipeline.artifacts import read_json as _load
from sublim.stats import mean_ci, paired_test


def summarise_icl(study_dir: Path, seeds: list[int]) -> dict | None:
    """mode → N → treatment/control P(target) over seeds (or over questions with one seed) + test."""
    per_seed = {s: r["icl"] for s in seeds if (r := _load(study_dir / "icl" / str(s) / "icl" / "result.json"))}
    if not per_seed:
        return None
    out: dict = {}
    first = next(iter(per_seed.values()))
    for mode, res in first.items():
        target = res["target"]
        rows = []
        for n in res["ns"]:
            key = str(n)
            t = [r[mode]["arms"]["treatment"][key]["exact"][target]["mean"] for r in per_seed.values()]
            c = [r[mode]["arms"]["control"][key]["exact"][target]["mean"] for r in per_seed.values()]
            used = [r[mode]["arms"]["treatment"][key]["n_used"]["mean"] for r in per_seed.values()]
            if len(per_seed) >= 2:
                test = paired_test(t, c).to_dict()
                t_est, c_est = mean_ci(t).to_dict(), mean_ci(c).to_dict()
                over = "seeds"
            else:  # one seed: intervals over questions, as computed by the ICL stage
                only = next(iter(per_seed.values()))[mode]
                test = only["comparisons"].get(key, {})
                t_est = only["arms"]["treatment"][key]["exact"][target]
                c_est = only["arms"]["control"][key]["exact"][target]
                over = "questions"
            rows.append({"n": n, "n_used": sum(used) / len(used), "treatment": t_est, "control": c_est,
                         "test": test, "over": over})
        out[mode] = rows
    return out


def summarise_detection(study_dir: Path, seeds: list[int]) -> dict | None:
    """Statistical AUROC and judge accuracy per seed, and their means over seeds."""
    per_seed = {s: r for s in seeds if (r := _load(study_dir / "classifier" / str(s) / "detection" / "result.json"))}
    if not per_seed:
        return None
    return {
        "per_seed": {str(s): {"auroc": r["statistical"]["auroc"], "auroc_low": r["statistical"]["auroc_low"],
                              "auroc_high": r["statistical"]["auroc_high"], "n": r["statistical"]["n_a"] + r["statistical"]["n_b"],
                              "judge_accuracy": r["judge"]["accuracy"], "judge_low": r["judge"]["accuracy_low"],
                              "judge_high": r["judge"]["accuracy_high"], "judge_p": r["judge"]["p_value"],
                              "judge_n": r["judge"]["n_scored"], "judge": r["judge"]["judge"],
                              "judge_method": r["judge"]["method"], "judge_mode": r["judge"]["mode"]}
                     for s, r in per_seed.items()},
        "auroc": mean_ci([r["statistical"]["auroc"] for r in per_seed.values()]).to_dict(),
        "judge_accuracy": mean_ci([r["judge"]["accuracy"] for r in per_seed.values()
                                   if r["judge"]["accuracy"] == r["judge"]["accuracy"]]).to_dict(),
        "top_features": _top_features_over_seeds([r["statistical"].get("top_features", []) for r in per_seed.values()]),
    }


def _top_features_over_seeds(per_seed: list[list[dict]], k: int = 8) -> list[dict]:
    """The detector's heaviest features: mean weight over seeds (0 where a seed's top list lacks it)."""
    weights: dict[str, list[float]] = {}
    for features in per_seed:
        for f in features:
            weights.setdefault(f["name"], []).append(f["weight"])
    n = len(per_seed)
    rows = [{"name": name, "weight": sum(w) / n, "seeds": len(w)} for name, w in weights.items()]
    return sorted(rows, key=lambda r: (-abs(r["weight"]), r["name"]))[:k]


def summarise_specificity(study_dir: Path, cfg, seeds: list[int]) -> dict | None:
    """The K×K Δ matrix of the specificity students against the no-trait control (``cfg``: the study's
    ``StudyConfig``; ``None``, a config an older sublim wrote, reports none)."""
    from sublim.pipeline.plan import specificity_arms
    from sublim.specificity import specificity_matrix

    if cfg is None or "specificity" not in cfg.conditions:
        return None
    arms = specificity_arms(cfg)
    control_cond = arms.pop("(control)")

    def metrics(cond: str) -> dict:
        found = {}
        for s in seeds:
            r = _load(study_dir / cond / str(s) / "evaluation" / "result.json")
            if r is not None:
                found[s] = r["metrics"]
        return found

    students = {t: metrics(c) for t, c in arms.items()}
    control = metrics(control_cond)
    if not control or any(not v for v in students.values()):
        return None
    result = specificity_matrix(students, control, options=list(arms), split="eval", kind="exact")
    return {"control_condition": control_cond, "result": result.model_dump(mode="json")}


def summarise_controls(study_dir: Path, cfg, seeds: list[int]) -> dict:
    """The ICL, detection and specificity summaries of one study (``cfg``: its ``StudyConfig`` or ``None``)."""
    return {
        "icl": summarise_icl(study_dir, seeds),
        "detection": summarise_detection(study_dir, seeds),
        "specificity": summarise_specificity(study_dir, cfg, seeds),
    }
