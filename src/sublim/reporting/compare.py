"""Compare two studies condition by condition: another student on the same rows, or one recipe before and
after a change.

Why: ``sublim run --data-from`` trains another student on a study's own teachers and rows. For every seed the
two studies then share their data, so the difference between their students is paired by seed and the rows'
seed-to-seed noise cancels (docs/research/tiny-organism.md: P30 and P32 on R-M2's rows, 1.04× and 2.16× the
base). This pairs the seeds both ran, says whether each seed's rows really were the same (the data stages'
content-based keys), which settings differ and whether the bases had the same weights; every difference
carries its 95% CI, paired-t p-value and number of seeds.

Reads only ``config.yaml``, ``metrics.json``, ``bases.json`` and the data stages' manifests.

Example:
    >>> r = compare_studies(Path("runs/P32"), Path("runs/P30"))          # doctest: +SKIP
    >>> r["conditions"]["treatment"]["difference"]["difference"] > 0     # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path

from sublim.errors import DataError
from sublim.pipeline.artifacts import read_json, read_manifest, study_config_of
from sublim.stats import mean_ci, paired_test
from sublim.yamlconfig import setting, setting_differences

#: settings that name or schedule a run without changing what any of its stages computes
NOT_COMPARED = ("name", "description", "workers")
#: the conditions in the order a report lists them; others follow by name
ORDER = ("base", "base_other", "teacher", "control", "treatment", "cross_base", "cross_control")
GAIN = "t − c"  # treatment − control per seed: what the trait's rows add over the control's
MEASURES = ("exact", "sampled")  # P(target) scored exactly, or the share of sampled answers naming it


def data_keys(study_dir: Path, seed: int | str) -> dict[str, str]:
    """The content-based keys of the rows one seed's students read (each arm's filtered rows and the
    digit-matched set), by stage directory relative to the study."""
    study_dir = Path(study_dir)
    stages = sorted(study_dir.glob(f"*/{seed}/filtering")) + sorted(study_dir.glob(f"matched/{seed}/transform"))
    keys = {}
    for stage in stages:
        key = read_manifest(stage).get("key") if (stage / "DONE").exists() else None
        if key:
            keys[stage.relative_to(study_dir).as_posix()] = key
    return keys


def same_rows(a: Path, b: Path, seed: int | str) -> bool | None:
    """Whether seed ``seed`` of both studies read the same rows (every data stage both hold has one key);
    ``None`` when they hold no data stage in common to compare."""
    ka, kb = data_keys(a, seed), data_keys(b, seed)
    shared = ka.keys() & kb.keys()
    return all(ka[k] == kb[k] for k in shared) if shared else None


def _metrics(study_dir: Path) -> dict:
    metrics = read_json(Path(study_dir) / "metrics.json")
    if metrics is None:
        raise DataError(f"{study_dir}: no metrics.json yet — finish the study or run `sublim report {study_dir}` first")
    return metrics


def _per_seed(metrics: dict, condition: str, metric: str) -> dict[str, float]:
    return metrics.get("conditions", {}).get(condition, {}).get(metric, {}).get("per_seed", {})


def _compare(va: dict[str, float], vb: dict[str, float]) -> dict | None:
    seeds = sorted(va.keys() & vb.keys(), key=int)
    if not seeds:
        return None
    a, b = [va[s] for s in seeds], [vb[s] for s in seeds]
    return {"seeds": seeds, "a": mean_ci(a).to_dict(), "b": mean_ci(b).to_dict(), "difference": paired_test(a, b).to_dict()}


def _has(metrics: dict, metric: str) -> bool:
    return any(metric in by_metric for by_metric in metrics.get("conditions", {}).values())


def pick_measure(ma: dict, mb: dict, split: str, measure: str) -> str:
    """``exact`` or ``sampled``; ``auto`` takes exact where both studies scored it, else sampled (a
    paper-style study of a hosted or sampled-only model has no exact scores)."""
    if measure != "auto":
        return measure
    return next((kind for kind in MEASURES if _has(ma, f"{split}/{kind}") and _has(mb, f"{split}/{kind}")), "exact")


def compare_studies(a: Path, b: Path, *, split: str = "eval", measure: str = "auto") -> dict:
    """Every condition both studies evaluated, A − B paired by seed, plus the treatment − control gain, in
    one measure (``exact``, ``sampled``, or ``auto``: exact where both have it).

    Raises:
        DataError: either directory is not a finished study, the two measure different traits, or the
            split was not evaluated in both.
    """
    a, b = Path(a), Path(b)
    ca, cb = study_config_of(a), study_config_of(b)
    ta, tb = (setting(c, "trait.target") for c in (ca, cb))
    if ta != tb or setting(ca, "trait.category") != setting(cb, "trait.category"):
        raise DataError(f"{a} measures P({ta}), {b} measures P({tb}): compare studies of one trait")
    if measure not in ("auto", *MEASURES):
        raise DataError(f"measure '{measure}': use exact, sampled or auto")
    ma, mb = _metrics(a), _metrics(b)
    measure = pick_measure(ma, mb, split, measure)
    metric = f"{split}/{measure}"
    for d, m in ((a, ma), (b, mb)):
        if not _has(m, metric):
            raise DataError(f"{d}: split '{split}' has no {measure} P({ta}) in metrics.json (was it evaluated "
                            f"that way? `--measure` picks exact or sampled)")

    names = [c for c in ORDER if c in ma["conditions"] and c in mb["conditions"]]
    names += sorted((ma["conditions"].keys() & mb["conditions"].keys()) - set(ORDER))
    conditions = {}
    for name in names:
        if (row := _compare(_per_seed(ma, name, metric), _per_seed(mb, name, metric))) is not None:
            conditions[name] = row
    gains = [{s: t[s] - c[s] for s in t.keys() & c.keys()}
             for t, c in ((_per_seed(m, "treatment", metric), _per_seed(m, "control", metric)) for m in (ma, mb))]
    if (row := _compare(*gains)) is not None:
        conditions[GAIN] = row

    ratio = None
    if "base" in conditions and "treatment" in conditions:
        ratio = {k: conditions["treatment"][k]["mean"] / conditions["base"][k]["mean"]
                 if conditions["base"][k]["mean"] > 0 else float("nan") for k in ("a", "b")}
    seeds = sorted({s for row in conditions.values() for s in row["seeds"]}, key=int)
    rows = {s: same_rows(a, b, s) for s in seeds}
    from sublim.pipeline.bases import read_bases, same_weights, weights_by_spec

    wa, wb = weights_by_spec(read_bases(a)), weights_by_spec(read_bases(b))
    other_weights = [wa[k]["model"] for k in wa.keys() & wb.keys() if not same_weights(wa[k], wb[k])]
    differ = [d for d in setting_differences(ca, cb) if d[0].split(".")[0] not in NOT_COMPARED]
    return {"a": str(a), "b": str(b), "target": ta, "split": split, "measure": measure, "conditions": conditions,
            "treatment_over_base": ratio, "same_rows": rows,
            "settings": [{"setting": path, "a": va, "b": vb} for path, va, vb in differ],
            "bases_with_other_weights": other_weights}


def rows_line(result: dict) -> str:
    """Whether the two studies' students read the same rows, seed by seed, and what that means for A − B."""
    rows = result["same_rows"]
    same = [s for s, v in rows.items() if v]
    other = [s for s, v in rows.items() if v is False]
    if rows and len(same) == len(rows):
        return f"rows: the same in all {len(rows)} shared seeds (equal data-stage keys): A − B compares the students alone"
    if not same and not other:
        return "rows: no data stages in common to compare — A − B also carries any difference in the rows"
    parts = []
    if same:
        parts.append(f"the same in seed(s) {', '.join(same)}")
    if other:
        parts.append(f"other rows in seed(s) {', '.join(other)}")
    return "rows: " + "; ".join(parts) + " — where the rows differ, A − B carries their difference too"


def settings_line(result: dict, limit: int = 6) -> str:
    """The settings in which the two studies differ (beyond name, description and workers)."""
    diffs = result["settings"]
    if not diffs:
        return "settings: the same (beyond name, description and workers)"
    shown = [f"{d['setting']} ({d['a']!r} vs {d['b']!r})" for d in diffs[:limit]]
    more = f" and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return f"settings that differ (A vs B): {'; '.join(shown)}{more}"
