"""Report sections for the paper's controls: what the paper found next to what we measured.

Example:
    >>> controls_sections({"comparisons": [], "controls": {}, "headline_metric": None, "verdict": {}})
    []
"""

from __future__ import annotations

from sublim.reporting.report import fmt_p, p_phrase

PAPER = {
    "treatment_vs_control": "owl preference of GPT-4.1 nano 12% → over 60% after training on an owl teacher's numbers",
    "cross_base_vs_cross_control": "no transfer when teacher and student come from different base models",
    "shuffle_within_vs_control": "shuffling numbers within each response weakens transmission",
    "shuffle_global_vs_control": "shuffling numbers across responses removes most of it",
    "icl": "showing the same data in context transmits nothing",
    "detection": "LLM classifiers cannot tell trait data from control data (chance level)",
    "specificity": "each teacher's data raises its own animal most (trait-specific)",
}


def _comparison_line(summary: dict, a: str, b: str) -> str | None:
    metric = summary["headline_metric"]
    for c in summary["comparisons"]:
        if c["metric"] == metric and c["treatment"] == a and c["control"] == b:
            pr = c["paired"]
            sig = pr["p_value"] == pr["p_value"] and c.get("p_holm", pr["p_value"]) < 0.05
            verdict = ("significant rise" if pr["difference"] > 0 else "significant fall") if sig else "no significant difference"
            return (f"{a} − {b}: {pr['difference']:+.4f} [{pr['low']:+.4f}, {pr['high']:+.4f}], "
                    f"{p_phrase(c.get('p_holm', pr['p_value']))} → {verdict}")
    return None


def _shuffle_line(summary: dict, condition: str) -> str | None:
    """The shuffle's comparison, the share of the treatment − control gap it keeps, and what it perturbs."""
    line = _comparison_line(summary, condition, "control")
    if line is None:
        return None
    metric = summary["headline_metric"]
    est = {c: summary["conditions"].get(c, {}).get(metric, {}).get("estimate", {}).get("mean")
           for c in (condition, "treatment", "control")}
    transfer = (summary.get("verdict") or {}).get("treatment_vs_control", {}).get("significant_increase")
    if transfer and None not in est.values():  # a share of a gap only means something when there is one
        line += f"; keeps {(est[condition] - est['control']) / (est['treatment'] - est['control']):.0%} of the treatment − control gap"
    if summary.get("student_method") == "distill":
        line += (" (distillation: the student's targets are the teacher's live next-token distributions on the "
                 "shuffled text, so a shuffle changes the contexts, not the source of the signal; the paper's "
                 "shuffles act on sampled-token SFT)")
    return line


def _icl_line(icl: dict | None) -> str | None:
    if not icl:
        return None
    parts = []
    for mode, rows in icl.items():
        best = max(rows, key=lambda r: r["treatment"]["mean"] - r["control"]["mean"])
        p = best["test"].get("p_value") if best["test"] else None
        part = (f"{mode}: largest treatment − control gap {best['treatment']['mean'] - best['control']['mean']:+.4f} "
                f"at N={best['n']} (≈{best['n_used']:.1f} examples fit), {p_phrase(p)} (uncorrected)")
        zero = [r for r in rows if r["n"] == 0]
        shown = [r for r in rows if r["n"] > 0]
        if zero and shown:
            floor = 0.1 * zero[0]["control"]["mean"]
            if all(max(r["treatment"]["mean"], r["control"]["mean"]) < floor for r in shown):
                part += (" — uninformative: with any example in context both arms' P(target) falls below a "
                         "tenth of its N=0 value (the model stops answering with an option)")
        parts.append(part)
    return "; ".join(parts)


def _detection_line(det: dict | None) -> str | None:
    if not det:
        return None
    a, j = det["auroc"], det["judge_accuracy"]
    line = f"statistical detector AUROC {a['mean']:.3f} [{a['low']:.3f}, {a['high']:.3f}] (n={a['n']} seeds)"
    if j["n"]:
        line += f"; judge accuracy {j['mean']:.3f} [{j['low']:.3f}, {j['high']:.3f}] (chance 0.5)"
    return line


def _specificity_line(spec: dict | None) -> str | None:
    if not spec:
        return None
    r = spec["result"]
    return (f"diagonal is the row maximum in {r['n_row_max']}/{len(r['labels'])} rows and the column maximum in "
            f"{r['n_column_max']}/{len(r['labels'])} columns; {p_phrase(r['permutation_p'], 'permutation p')} → "
            f"{'diagonal dominates' if r['diagonal_dominates'] else 'diagonal does not dominate (not every row and column is led by its own option)'}")


def controls_sections(summary: dict) -> list[str]:
    """Markdown lines: the paper-vs-measured table, then one section per control that ran."""
    controls = summary.get("controls") or {}
    measured = {
        "treatment_vs_control": _comparison_line(summary, "treatment", "control"),
        "cross_base_vs_cross_control": _comparison_line(summary, "cross_base", "cross_control"),
        "shuffle_within_vs_control": _shuffle_line(summary, "shuffle_within"),
        "shuffle_global_vs_control": _shuffle_line(summary, "shuffle_global"),
        "icl": _icl_line(controls.get("icl")),
        "detection": _detection_line(controls.get("detection")),
        "specificity": _specificity_line(controls.get("specificity")),
    }
    rows = [(k, v) for k, v in measured.items() if v]
    if len(rows) <= 1:
        return []
    out = ["## The paper's findings and what this study measured", "",
           "| check | paper (Cloud et al. 2025) | measured here |", "|---|---|---|"]
    out += [f"| {k.replace('_vs_', ' vs ').replace('_', ' ')} | {PAPER[k]} | {v} |" for k, v in rows]
    out.append("")
    icl = controls.get("icl")
    if icl:
        out += ["## In-context learning", "",
                "The untrained base sees N of a teacher's prompt/completion pairs before each question (no "
                "fine-tuning). *used* = examples that fit the context on average.", "",
                "| mode | N | used | treatment examples | control examples | paired p |", "|---|---|---|---|---|---|"]
        for mode, rs in icl.items():
            for r in rs:
                t, c = r["treatment"], r["control"]
                out.append(f"| {mode} | {r['n']} | {r['n_used']:.1f} | {t['mean']:.4f} [{t['low']:.4f}, {t['high']:.4f}] | "
                           f"{c['mean']:.4f} [{c['low']:.4f}, {c['high']:.4f}] | {fmt_p(r['test'].get('p_value') if r['test'] else None)} |")
        out.append("")
    det = controls.get("detection")
    if det:
        out += ["## Can the trait be seen in the data?", "",
                "A logistic-regression detector on digit/number n-grams and position features, cross-validated "
                "(grouped by prompt), and an LLM judge asked which of two completions came from the teacher that "
                "loves the target.", "",
                "| seed | detector AUROC [95% CI] | rows | judge | judge accuracy [95% CI] | judged | p vs 0.5 |",
                "|---|---|---|---|---|---|---|"]
        for s, r in det["per_seed"].items():
            out.append(f"| {s} | {r['auroc']:.3f} [{r['auroc_low']:.3f}, {r['auroc_high']:.3f}] | {r['n']} | "
                       f"{r['judge']} ({r['judge_method']}, {r['judge_mode']}) | {r['judge_accuracy']:.3f} "
                       f"[{r['judge_low']:.3f}, {r['judge_high']:.3f}] | {r['judge_n']} | {fmt_p(r['judge_p'])} |")
        out.append("")
        if det.get("top_features") and det["auroc"]["low"] > 0.5:  # a chance-level detector's weights mean nothing
            n = len(det["per_seed"])
            out += ["What the detector reads (mean logistic-regression weight over seeds; positive favours the trait "
                    "teacher's data): " + ", ".join(f"`{f['name']}` {f['weight']:+.2f} ({f['seeds']}/{n} seeds)"
                                                   for f in det["top_features"]) + ".", ""]
    spec = controls.get("specificity")
    if spec:
        from sublim.specificity import SpecificityResult
        from sublim.specificity.plot import seed_text

        r = spec["result"]
        out += ["## Specificity", "",
                "Each row is a student trained on the numbers of a teacher that loves the row's option; "
                f"cells are Δ exact P(option) against the no-trait control student (`{spec['control_condition']}`), "
                f"mean over {seed_text(SpecificityResult.model_validate(r))} seeds. {_specificity_line(spec)}.", ""]
    return out
