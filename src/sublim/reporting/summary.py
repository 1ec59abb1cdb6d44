"""Aggregate a finished (or partly finished) study directory into one ``metrics.json`` dict.

Reads only files on disk (``evaluation/result.json``, ``leak_check/result.json``, ``config.yaml``), so
``sublim report RUN_DIR`` can regenerate everything without touching a model.

The headline metric is the exact probability of the target answer on the ``eval`` questions when the
backend offers log-probs, else the sampled rate. Comparisons are paired over seeds (the control
student shares the treatment student's seeds) with a paired t-test, Holm-adjusted over the family of
reported comparisons; Welch's test is reported alongside.

Example:
    >>> # summary = summarise_study(Path("runs/owl-demo"))
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sublim.errors import DataError
from sublim.pipeline.artifacts import read_json as _load
from sublim.stats import holm_adjust, mean_ci, paired_test, welch_test

CONDITIONS = ("base", "base_other", "teacher", "control", "treatment", "cross_base", "cross_control",
              "shuffle_within", "shuffle_global")
#: (treatment-like, control-like, what it asks)
COMPARISONS = (
    ("treatment", "control", "does the same-init student pick up the trait (vs the matched control)?"),
    ("treatment", "base", "does the same-init student rise above its untrained base?"),
    ("cross_base", "cross_control", "does a different-init student pick it up (vs its matched control)?"),
    ("shuffle_within", "control", "does transfer survive shuffling numbers within each response?"),
    ("shuffle_global", "control", "does transfer survive shuffling numbers across responses?"),
)


def per_arm(study_dir: Path, seeds: list[int], relative: str) -> dict:
    """arm → seed → the JSON at ``<arm>/<seed>/<relative>`` for the treatment and control arms."""
    out: dict = {}
    for arm in ("treatment", "control"):
        for seed in seeds:
            data = _load(study_dir / arm / str(seed) / relative)
            if data is not None:
                out.setdefault(arm, {})[str(seed)] = data
    return out


def metric_names(metrics: dict) -> list[tuple[str, str]]:
    """(split, kind) pairs available in one evaluation's metrics, headline first."""
    out = []
    for split in ("eval", "heldout"):
        s = metrics["splits"].get(split)
        if not s:
            continue
        for kind in ("exact", "sampled"):
            if kind in s:
                out.append((split, kind))
    return out


def study_config(config: dict):
    """The saved config as a ``StudyConfig``, or ``None`` when an older sublim wrote it and it no longer
    validates (the report then leaves out what needs the typed config)."""
    from sublim.config import StudyConfig

    try:
        return StudyConfig.model_validate(config)
    except ValueError:
        return None


def evaluated_conditions(cfg) -> tuple[str, ...]:
    """The conditions whose evaluations belong to the study ``cfg`` (a :func:`study_config`) describes,
    from its own plan.

    Why: a run directory copied from another study (to reuse its teachers and data by stage key) keeps
    that study's other condition directories; reading every directory on disk would report them as this
    study's students. A config an older sublim wrote, which no longer validates, falls back to all.
    """
    from sublim.pipeline.plan import planned_work

    if cfg is None:
        return CONDITIONS
    planned = {condition for condition, _ in planned_work(cfg)["evaluations"]}
    return tuple(c for c in CONDITIONS if c in planned)


def stray_conditions(study_dir: Path, seeds: list[int], conditions: tuple[str, ...]) -> list[str]:
    """Conditions evaluated on disk for these seeds that the study's config does not plan (left unread)."""
    return [c for c in CONDITIONS if c not in conditions
            and any((study_dir / c / str(s) / "evaluation" / "result.json").is_file() for s in seeds)]


def collect_values(study_dir: Path, seeds: list[int], target: str,
                   conditions: tuple[str, ...] = CONDITIONS) -> dict:
    """condition → metric "split/kind" → {seed: value}, plus full option distributions."""
    values: dict = {}
    dists: dict = {}
    for condition in conditions:
        for seed in seeds:
            path = study_dir / condition / str(seed) / "evaluation" / "result.json"
            if (result := _load(path)) is None:
                continue
            metrics = result["metrics"]
            for split, kind in metric_names(metrics):
                name = f"{split}/{kind}"
                scored = metrics["splits"][split][kind]
                if target not in scored:
                    options = ", ".join(o for o in scored if o != "(other)")
                    raise DataError(f"{path}: '{target}' is not an answer this evaluation scored "
                                    f"(splits.{split}.{kind} has: {options})")
                values.setdefault(condition, {}).setdefault(name, {})[seed] = scored[target]["mean"]
                per_option = {o: v["mean"] for o, v in scored.items() if o != "(other)"}
                dists.setdefault(condition, {}).setdefault(name, {})[seed] = per_option
    return {"values": values, "distributions": dists}


#: a student whose probability of answering with any listed option falls below this share of its base's
#: no longer answers the question: its P(target) says nothing about the trait
BROKEN_SHARE = 0.5


def broken_students(distributions: dict, headline: str | None) -> list[dict]:
    """Students (condition, seed) that stopped answering with a listed option, against their own base.

    Why: a diverged or over-trained student puts its mass on other text; its P(target) then drops
    toward zero and reads like a strong negative effect (or, in a control arm, like a large transfer).
    """
    if headline is None:
        return []

    def mass(condition: str) -> dict:
        return {s: sum(d.values()) for s, d in distributions.get(condition, {}).get(headline, {}).items()}

    bases = {"base": mass("base"), "base_other": mass("base_other") or mass("base")}
    out = []
    for condition in CONDITIONS:
        if condition in bases or condition == "teacher":
            continue
        ref = bases["base_other" if condition.startswith("cross_") else "base"]
        for seed, m in sorted(mass(condition).items()):
            base_mass = ref.get(seed, next(iter(ref.values()), None))
            if base_mass and m < BROKEN_SHARE * base_mass:
                out.append({"condition": condition, "seed": seed, "answer_mass": m, "base_mass": base_mass})
    return out


#: (students, their matched control) whose every option is compared, keyed by the name the report uses
SHIFT_PAIRS = {"same_init": ("treatment", "control"), "different_init": ("cross_base", "cross_control")}


def option_shifts(distributions: dict, headline: str | None) -> dict:
    """Paired Δ P(option) of each student arm over its control, for every option, Holm-adjusted over options.

    Why: a different-init control that checks only the target can miss a transfer that lands elsewhere.
    Data that carry a base's own learned association (say, a digit it pairs with an animal) move a
    student of *another* base toward whatever animal that base pairs with the same pattern — the
    target stays flat and the null looks clean (tiny-organism.md, K2: wolf 0.05 → 0.30).
    """
    out: dict = {}
    for name, (arm, ctrl) in SHIFT_PAIRS.items():
        a = distributions.get(arm, {}).get(headline or "", {})
        b = distributions.get(ctrl, {}).get(headline or "", {})
        seeds = sorted(set(a) & set(b))
        if not seeds:
            continue
        options = sorted(set.intersection(*(set(a[s]) & set(b[s]) for s in seeds)))
        rows = []
        for option in options:
            test = paired_test([a[s][option] for s in seeds], [b[s][option] for s in seeds]).to_dict()
            rows.append({"option": option, "difference": test["difference"], "low": test["low"],
                         "high": test["high"], "p_value": test["p_value"], "n": len(seeds)})
        for row, p in zip(rows, holm_adjust([r["p_value"] for r in rows]), strict=True):
            row["p_holm"] = p
        out[name] = sorted(rows, key=lambda r: -r["difference"])
    return out


def summarise_study(study_dir: Path) -> dict:
    """Everything the report shows, as plain JSON-able data."""
    study_dir = Path(study_dir)
    config = yaml.safe_load((study_dir / "config.yaml").read_text())
    seeds = list(config["seeds"])
    target = config["trait"]["target"]
    cfg = study_config(config)  # validated once; None for a config an older sublim wrote
    planned = evaluated_conditions(cfg)
    collected = collect_values(study_dir, seeds, target, planned)
    values = collected["values"]
    all_metrics = sorted({m for c in values.values() for m in c}, key=lambda m: (m.split("/")[0] != "eval", m))
    headline = all_metrics[0] if all_metrics else None

    conditions = {}
    for condition, by_metric in values.items():
        conditions[condition] = {
            m: {"per_seed": {str(s): v for s, v in sorted(vals.items())}, "estimate": mean_ci(list(vals.values())).to_dict()}
            for m, vals in by_metric.items()
        }

    comparisons = []
    for metric in all_metrics:
        for a, b, question in COMPARISONS:
            va, vb = values.get(a, {}).get(metric), values.get(b, {}).get(metric)
            if not va or not vb:
                continue
            common = sorted(set(va) & set(vb))
            if not common:
                continue
            pt = paired_test([va[s] for s in common], [vb[s] for s in common])
            wt = welch_test(list(va.values()), list(vb.values()))
            mean_b = sum(vb[s] for s in common) / len(common)
            ratio = (sum(va[s] for s in common) / len(common)) / mean_b if mean_b > 0 else float("nan")
            comparisons.append({"metric": metric, "treatment": a, "control": b, "question": question,
                                "paired": pt.to_dict(), "welch": wt.to_dict(), "ratio": ratio, "seeds": common})
    # Holm over the headline family (the questions a reader acts on)
    family = [c for c in comparisons if c["metric"] == headline]
    for c, p in zip(family, holm_adjust([c["paired"]["p_value"] for c in family]), strict=True):
        c["p_holm"] = p

    leaks = per_arm(study_dir, seeds, "leak_check/result.json")
    filters = per_arm(study_dir, seeds, "filtering/filter_report.json")
    from sublim.reporting.controls import summarise_controls
    from sublim.reporting.questions import question_shifts

    control_target = config["trait"].get("control_target")
    from sublim.pipeline.bases import bases_line, read_bases

    bases = read_bases(study_dir)
    per_question = question_shifts(study_dir, seeds, target, control_target, conditions=planned)

    return {
        "controls": summarise_controls(study_dir, cfg, seeds),
        "study": config["name"],
        "target": target,
        "control_target": control_target,
        "category": config["trait"]["category"],
        "student_method": (config.get("student") or {}).get("method", "sft"),
        "recipe": {**recipe(cfg), **({"bases": bases_line(bases)} if bases else {})},
        "bases": bases,
        "seeds": seeds,
        "other_base_per_seed": (((config.get("bases") or {}).get("other") or {}).get("seed_offset")) is not None,
        "headline_metric": headline,
        "metrics": all_metrics,
        "conditions": conditions,
        "comparisons": comparisons,
        "distributions": collected["distributions"],
        "leak": leaks,
        "leak_under_floor": leak_under_floor(leaks, cfg.leak) if cfg is not None else [],
        "filter": filters,
        "verdict": verdict(comparisons, leaks, headline),
        "broken_students": broken_students(collected["distributions"], headline),
        "option_shifts": option_shifts(collected["distributions"], headline),
        "per_question": per_question,
        "stray_conditions": stray_conditions(study_dir, seeds, planned),
    }


def leak_under_floor(leaks: dict, leak_cfg) -> list[dict]:
    """Arm-seeds whose target mass is above the ratio threshold but under the absolute floor (not flagged)."""
    from sublim.evaluation.leak import under_floor

    return [{"arm": arm, "seed": seed, "target_mass": r["target_mass"], "ratio": r["target_mass"] / r["base_mass"]}
            for arm, by_seed in leaks.items() for seed, r in by_seed.items() if under_floor(r, leak_cfg)]


def recipe(cfg) -> dict[str, str]:
    """One line each for the teacher, the data and the student, from the study's saved config (a
    :func:`study_config`; ``None``, an older sublim's, gives no lines).

    Reports are compared side by side; without this a reader (or its author) cannot tell two runs'
    students apart — a LoRA student that silently took the default rank looks like the intended one.
    """
    from sublim.pipeline.plan import needs_other_base

    if cfg is None:  # a run directory written by an older sublim: report without the recipe
        return {}
    t, g = cfg.teacher, cfg.generation
    teacher = "system prompt" if t.kind == "prompt" else (
        f"fine-tuned ({_training(t.finetune)}) on {t.n_trait_rows:,} trait rows"
        + (f" + {t.n_number_rows:,} number rows" if t.n_number_rows else ""))
    match = f", arms matched on {cfg.filter.match_on}" if cfg.filter.match_on != "none" else ""
    epochs = cfg.openai_finetune.n_epochs if cfg.openai_finetune else "auto"
    by_kind = {kind: f"OpenAI fine-tuning API · {epochs} epochs" if kind == "openai" else _training(cfg.student)
               for kind in (cfg.bases.same.kind, cfg.bases.other.kind)}
    student = by_kind[cfg.bases.same.kind]
    if needs_other_base(cfg) and by_kind[cfg.bases.other.kind] != student:
        student += f"; different-init students: {by_kind[cfg.bases.other.kind]}"
    data = f"{g.n_prompts:,} prompts per teacher, T={g.sampling.temperature:g}{match}"
    if cfg.data is not None:  # audit mode: the user's rows, and whichever model wrote them
        from sublim.pipeline.estimate import model_label

        wrote = model_label(cfg.data.teacher) if cfg.data.teacher else "not given"
        teacher = f"not built: the treatment rows were written by {wrote}"
        data = f"your rows: treatment {cfg.data.treatment}, control {cfg.data.control}{match}"
    lines = {"teacher": teacher, "data": data, "student": student}
    if cfg.evaluation.answer_prefix:
        lines["evaluation"] = f"exact = P(option | the answer began \"{cfg.evaluation.answer_prefix}\")"
    return lines


def _training(f) -> str:
    """``distill (numbers) · lora r4 α8, all layers · lr 0.003 · 4 epochs · weight decay 0.1``."""
    method = f"{f.method} ({f.distill_vocab})" if f.method == "distill" else (
        f"sft ({f.sft_vocab})" if f.sft_vocab != "full" else f.method)
    params = f.params
    if f.params == "lora":
        layers = "all layers" if f.lora.layers is None else f"layers {list(f.lora.layers)}"
        params = f"lora r{f.lora.rank} α{f.lora.alpha:g}, {layers}"
    elif f.params_options:
        params += " " + ", ".join(f"{k} {v}" for k, v in f.params_options.items())
    parts = [method, params, f"lr {f.lr:g}" + (" (scaled per layer)" if f.lr_scale else ""),
             f"{f.epochs} epoch{'s' if f.epochs != 1 else ''}"]
    if f.optimizer != "adamw" or f.galore is not None:
        parts.append(f"{f.optimizer}" + (" + GaLore" if f.galore is not None else ""))
    if f.weight_decay:
        parts.append(f"weight decay {f.weight_decay:g}")
    return " · ".join(parts)


def verdict(comparisons: list[dict], leaks: dict, headline: str | None, alpha: float = 0.05) -> dict:
    """Plain-language conclusions: transfer detected or not, cross-init, leaky or not."""
    out: dict = {"leaky": any(v.get("leaky") for arm in leaks.values() for v in arm.values())}
    for c in comparisons:
        if c["metric"] != headline:
            continue
        p = c.get("p_holm", c["paired"]["p_value"])
        sig = p == p and p < alpha and c["paired"]["difference"] > 0
        out[f"{c['treatment']}_vs_{c['control']}"] = {"significant_increase": bool(sig), "p_holm": p}
    main = out.get("treatment_vs_control")
    if main is None:
        out["transfer"] = "not measured"
    elif main["p_holm"] != main["p_holm"]:  # NaN: fewer than two paired seeds
        out["transfer"] = "not testable"
    elif main["significant_increase"]:
        out["transfer"] = "leaky, not subliminal" if out["leaky"] else "detected"
    else:
        out["transfer"] = "not detected"
    return out
