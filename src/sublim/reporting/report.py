"""Write ``metrics.json``, figures and ``report.md`` for a study directory (files on disk only).

Deterministic: the same run directory gives byte-identical outputs, so ``sublim report`` can be rerun
freely and diffed.

Example:
    >>> # write_report(Path("runs/owl-demo"))
"""

from __future__ import annotations

import math
from pathlib import Path

from sublim.evaluation.leak import mass_ratio
from sublim.pipeline.artifacts import write_json, write_text
from sublim.reporting.figures import LABELS, plot_conditions, plot_icl, plot_shift, plot_specificity
from sublim.reporting.summary import BROKEN_SHARE, summarise_study
from sublim.stats import half_gain_bound


def _missing(x: float | None) -> bool:
    """No value: JSON writes NaN as null, and older artifacts may lack the field."""
    return x is None or x != x


def _num(x: float | None, spec: str) -> str:
    """A number for prose, or ``–`` where it is missing."""
    return "–" if _missing(x) else format(x, spec)


def _fmt(est: dict | None, digits: int = 3) -> str:
    spec = f".{digits}f"
    if not est or _missing(est["mean"]):
        return "–"
    if est.get("n") == 1:
        return f"{est['mean']:{spec}} (1 seed: no CI)"
    return f"{est['mean']:{spec}} [{_num(est['low'], spec)}, {_num(est['high'], spec)}]"


def fmt_p(p: float | None) -> str:
    """A p-value for a table cell: ``0.012``, ``< 0.001``, or ``n/a`` (too few seeds to test)."""
    if _missing(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p: float | None, name: str = "p") -> str:
    """A p-value for a sentence: ``p = 0.012``, ``p < 0.001``, ``p n/a``."""
    text = fmt_p(p)
    return f"{name} = {text}" if text[0].isdigit() else f"{name} {text}"


def _cross_verdict(significant: bool, leaky: bool) -> str:
    if not significant:
        return "no significant rise (as the paper predicts for a different initialisation)"
    if leaky:
        return "a significant rise, as expected when the trait is visible in the training signal (it teaches any model)"
    return "a significant rise (unexpected: the paper finds subliminal transfer needs a shared init)"


def _cross_bound(cross: dict, main: dict | None, significant: bool) -> str:
    """A null is only informative if its CI rules out a rise of consequence: half the same-init gain
    (criterion 3′ of `sublim check`). Says which, so "no significant rise" is not read as "no rise"."""
    if significant or not main:
        return ""
    gain = main["paired"]["difference"]
    if _missing(gain) or _missing(cross["paired"]["high"]) or gain <= 0:
        return ""
    b = half_gain_bound(cross["paired"], gain)
    if b["passed"]:
        return f"; its CI (to {b['cross_high']:+.3f}) rules out a rise of half the same-init gain ({b['half_same']:+.3f})"
    n = b["seeds_to_pass"]
    more = (f"about {n} seeds would rule it out if the mean and spread held" if n else
            "more seeds alone would not rule it out: the mean difference is not below that bound")
    return (f"; but its CI reaches {b['cross_high']:+.3f}, above half the same-init gain ({b['half_same']:+.3f}), so a "
            f"rise of that size is not ruled out ({more})")


def verdict_lines(summary: dict) -> list[str]:
    """The plain sentences at the top of the report."""
    v = summary["verdict"]
    metric = summary["headline_metric"]
    cond = summary["conditions"]
    lines = []
    comp = {(c["treatment"], c["control"]): c for c in summary["comparisons"] if c["metric"] == metric}
    main = comp.get(("treatment", "control"))
    if main:
        t = cond["treatment"][metric]["estimate"]
        c = cond["control"][metric]["estimate"]
        state = {"detected": "**Transfer detected**", "leaky, not subliminal": "**Leaky, not subliminal**",
                 "not detected": "**No significant transfer**",
                 "not testable": "**Not testable** (one seed: no test, no interval)"}[v["transfer"]]
        lines.append(
            f"{state}: treatment {_fmt(t)} vs control {_fmt(c)} ({metric}, n={t['n']} seeds; "
            f"paired difference {_num(main['paired']['difference'], '+.3f')} [{_num(main['paired']['low'], '+.3f')}, "
            f"{_num(main['paired']['high'], '+.3f')}], {p_phrase(main.get('p_holm', main['paired']['p_value']))} "
            f"Holm-adjusted, {_num(main['ratio'], '.2f')}× the control)."
        )
        if v["transfer"] == "not detected" and not _missing(main["paired"]["low"]) and main["paired"]["low"] > 0:
            n_holm = sum(1 for x in comp.values() if "p_holm" in x)
            lines.append(f"The difference's unadjusted 95% CI excludes zero, but not after Holm's adjustment over the "
                         f"{n_holm} headline comparisons: suggestive, not significant (`sublim check` judges its own "
                         "criteria, from the arms' CIs and the ratio to the base).")
        if v["transfer"] == "leaky, not subliminal":
            lines.append("The leak check found the trait in the training signal itself (see *Leak check*): "
                         "a rise here is ordinary learning from visible trait content, not subliminal transfer.")
    else:
        lines.append("Transfer not measured: the study lacks a finished treatment and control.")
    cross = comp.get(("cross_base", "cross_control"))
    if cross:
        sig = v.get("cross_base_vs_cross_control", {}).get("significant_increase")
        lines.append(
            f"Different-init student{' (a base of its own for every seed)' if summary.get('other_base_per_seed') else ''}: "
            f"{_fmt(cond['cross_base'][metric]['estimate'])} vs its control "
            f"{_fmt(cond['cross_control'][metric]['estimate'])}, {p_phrase(cross.get('p_holm', cross['paired']['p_value']))}"
            f" — {_cross_verdict(bool(sig), bool(v['leaky']))}{_cross_bound(cross, main, sig)}."
        )
    lines += _off_target_lines(summary)
    broken = summary.get("broken_students") or []
    if broken:
        which = ", ".join(f"{b['condition']} seed {b['seed']} ({b['answer_mass']:.3f} vs base {b['base_mass']:.3f})"
                          for b in broken)
        lines.append(f"**{len(broken)} student(s) no longer answer the question** — the probability of answering "
                     f"with any listed option fell below {BROKEN_SHARE:.0%} of the base's: {which}. Their "
                     f"P({summary['target']}) is not a trait measurement, and comparisons that use them are "
                     "not either; lower the learning rate or train for fewer steps.")
    floor = summary.get("leak_under_floor") or []
    if summary["leak"] and not v["leaky"] and floor:
        top = max(floor, key=lambda f: f["ratio"])
        lines.append(f"Leak check: clean by its thresholds — but in {len(floor)} arm-seed(s) the trait mass entering "
                     f"the students' targets is above the ratio threshold (up to {top['ratio']:.1f}× the base's, "
                     f"{top['arm']} seed {top['seed']}) and under the absolute floor `leak.min_mass`, set for the tiny "
                     "model. On a large-vocabulary model, whose trait tokens sit far below that floor, lower "
                     "`leak.min_mass` (e.g. to 0) to have this flagged.")
    elif summary["leak"] and not v["leaky"]:
        lines.append("Leak check: clean (no trait words in kept data; teacher trait mass in the targets below threshold).")
    elif v["leaky"] and v["transfer"] != "leaky, not subliminal":
        lines.append("Leak check: **leaky** — the training signal itself carries the trait (see *Leak check*); "
                     "any rise in this study would not be subliminal.")
    stray = summary.get("stray_conditions") or []
    if stray:
        lines.append(f"Not read: evaluations of {', '.join(stray)} lie in this directory but the study's config "
                     "does not list them (a run directory copied from another study keeps that study's conditions); "
                     "list them in `conditions` to include them.")
    return lines


def _off_target_lines(summary: dict, alpha: float = 0.05) -> list[str]:
    """Options other than the target that a student arm raised significantly over its control.

    A different-init null on the target alone is no null if the student moved to another option: the
    data then carry a pattern that the other base reads in its own way (see ``option_shifts``).
    """
    who = {"same_init": "The same-init student", "different_init": "The different-init student"}
    lines = []
    for name, rows in (summary.get("option_shifts") or {}).items():
        # p is NaN in memory and null on disk when there is one seed: no test, so nothing is significant
        risen = [r for r in rows if r["option"] != summary["target"] and r["difference"] > 0
                 and r["p_holm"] is not None and r["p_holm"] == r["p_holm"] and r["p_holm"] < alpha]
        if not risen:
            continue
        listed = "; ".join(f"{r['option']} {r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] "
                           f"({p_phrase(r['p_holm'])})" for r in risen)
        lines.append(f"**{who[name]} moved toward another option** than '{summary['target']}' over its control "
                     f"(paired over {risen[0]['n']} seeds, Holm-adjusted over {len(rows)} options): {listed}. "
                     "The data carry a pattern this student's base reads as another answer; check the digit or "
                     "token mix of the two arms before calling the target's result a null.")
    return lines


def _condition_table(summary: dict) -> list[str]:
    metrics = summary["metrics"]
    head = "| condition | " + " | ".join(metrics) + " |"
    rows = [head, "|" + "---|" * (len(metrics) + 1)]
    for cond in LABELS:
        if cond not in summary["conditions"]:
            continue
        cells = [_fmt(summary["conditions"][cond].get(m, {}).get("estimate")) for m in metrics]
        rows.append(f"| {cond} | " + " | ".join(cells) + " |")
    return rows


def _seed_table(summary: dict) -> list[str]:
    metric = summary["headline_metric"]
    seeds = [str(s) for s in summary["seeds"]]
    rows = ["| condition | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|" + "---|" * (len(seeds) + 1)]
    for cond in LABELS:
        per = summary["conditions"].get(cond, {}).get(metric, {}).get("per_seed")
        if per:
            rows.append(f"| {cond} | " + " | ".join(f"{per[s]:.4f}" if s in per else "–" for s in seeds) + " |")
    return rows


def _comparison_table(summary: dict) -> list[str]:
    rows = ["| metric | comparison | difference [95% CI] | ratio | paired p | Holm p | Welch p | d_z |",
            "|---|---|---|---|---|---|---|---|"]
    for c in summary["comparisons"]:
        pr = c["paired"]
        rows.append(
            f"| {c['metric']} | {c['treatment']} − {c['control']} | {pr['difference']:+.4f} [{pr['low']:+.4f}, {pr['high']:+.4f}]"
            f" | {c['ratio']:.2f} | {fmt_p(pr['p_value'])} | {fmt_p(c['p_holm']) if 'p_holm' in c else '–'} | {fmt_p(c['welch']['p_value'])}"
            f" | {pr['effect_size']:.2f} |"
        )
    return rows


def _sci(value: float | None) -> str:
    """Scientific notation, or ``–`` for a value an older leak check did not record."""
    return _num(value, ".2e")


def _leak_table(summary: dict) -> list[str]:
    rows = ["| arm | trait | seed | rows naming trait | teacher trait mass | base trait mass | teacher / base "
            "| mass in targets | leaky | any-animal mass teacher / base | non-number mass teacher / base |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, seeds in summary["leak"].items():
        for seed, leak in seeds.items():
            ratio = mass_ratio(leak)
            rows.append(
                f"| {arm} | {leak.get('target') or '–'} | {seed} | {leak.get('rows_mentioning', 0)}/{leak.get('rows_checked', 0)} | "
                f"{_sci(leak.get('teacher_mass'))} | {_sci(leak.get('base_mass'))} | {'–' if ratio is None else f'{ratio:.2f}×'} | "
                f"{_sci(leak.get('target_mass'))} | {'**yes**' if leak.get('leaky') else 'no'} | "
                f"{_sci(leak.get('teacher_any_option_mass'))} / {_sci(leak.get('base_any_option_mass'))} | "
                f"{_sci(leak.get('teacher_non_number_mass'))} / {_sci(leak.get('base_non_number_mass'))} |"
            )
    return rows


def _filter_table(summary: dict) -> list[str]:
    rows = ["| arm | seed | generated | kept | pass rate | rejected at the token limit | top reject reasons |",
            "|---|---|---|---|---|---|---|"]
    for arm, seeds in summary["filter"].items():
        for seed, rep in seeds.items():
            reasons = sorted(rep.get("reasons", {}).items(), key=lambda kv: -kv[1])[:3]
            rows.append(f"| {arm} | {seed} | {rep.get('total')} | {rep.get('kept')} | "
                        f"{rep.get('pass_rate', 0):.1%} | {rep.get('rejected_at_token_limit', 0)} | {', '.join(f'{k}: {v}' for k, v in reasons) or '–'} |")
    return rows


def _question_table(summary: dict) -> list[str]:
    rows = ["| seed | split | model vs | answer | ratio [95% CI over questions] | questions up |", "|---|---|---|---|---|---|"]
    for r in summary["per_question"]:
        rows.append(f"| {r['seed']} | {r['split']} | {r['model']} vs {r['versus']} | {r['answer']} | "
                    f"{r['ratio']:.2f}× [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}] | {r['up']}/{r['n']} |")
    return rows


def render_report(summary: dict, figures: list[str]) -> str:
    """Markdown text of report.md."""
    out = [f"# Study `{summary['study']}`: does '{summary['target']}' transfer?", ""]
    out += [f"- {line}" for line in verdict_lines(summary)]
    out += ["", f"Seeds: {', '.join(map(str, summary['seeds']))}. Headline metric: `{summary['headline_metric']}` "
            "(exact = the model's probability of answering the target, averaged over questions; sampled = share "
            "of temperature-1 answers). Intervals are 95% t-intervals over seeds; comparisons are paired over seeds, "
            "Holm-adjusted across the headline comparisons.", ""]
    if summary.get("recipe"):
        out += ["**Recipe**", "", *(f"- {k}: {v}" for k, v in summary["recipe"].items()), ""]
    for fig in figures:
        out += [f"![{fig}]({fig})", ""]
    out += ["## Conditions (mean [95% CI] over seeds)", "", *_condition_table(summary), ""]
    out += ["## Per seed (headline metric)", "", *_seed_table(summary), ""]
    out += ["## Comparisons", "", *_comparison_table(summary), ""]
    if summary["leak"]:
        out += ["## Leak check", "",
                "Is the trait visible in the training signal? *Rows naming trait*: kept rows whose completion names "
                "the arm's trait (any surface form; each arm is checked for its own teacher's trait, the control arm "
                "for the control animal). *Teacher/base trait mass*: mean probability the teacher / the base put "
                "on that trait's tokens at the completion positions of the training rows; *teacher / base*, their "
                "ratio, is how much of the trait the teacher's number distribution carries at all (for distillation "
                "it leans with transfer without deciding it; docs/research/tiny-organism.md, A24). *Mass in targets*: that mass "
                "as it enters the student's targets (zero for sampled-text SFT and for number-vocabulary distillation, "
                "where trait tokens cannot appear). Flagged when rows name the trait, or when the target mass exceeds "
                "both the threshold and a multiple of the base's (see config `leak`).", "", *_leak_table(summary), ""]
    if summary.get("per_question") and len(summary["seeds"]) <= 2:   # metrics.json has it for every study
        out += ["## Per question, within each seed", "",
                "Exact P(answer) of two models on the same questions, paired: the ratio is exp(mean log-ratio) "
                "with a 95% t-interval over questions. It says how consistently one trained model moved — a screen "
                "for one-seed studies — not that the recipe transmits, which only independent seeds can show.", "",
                *_question_table(summary), ""]
    from sublim.reporting.controls_report import controls_sections

    out += controls_sections(summary)
    if summary["filter"]:
        out += ["## Filtering", "", *_filter_table(summary), ""]
    return "\n".join(out) + "\n"


def write_report(study_dir: Path) -> Path:
    """Regenerate metrics.json, figures and report.md for ``study_dir``; returns the report path."""
    study_dir = Path(study_dir)
    summary = summarise_study(study_dir)
    figures = []
    if plot_conditions(summary, study_dir / "target_probability.png"):
        figures.append("target_probability.png")
    if plot_shift(summary, study_dir / "option_shift.png"):
        figures.append("option_shift.png")
    for name, plot in (("icl_curve.png", plot_icl), ("specificity.png", plot_specificity)):
        if plot(summary, study_dir / name):
            figures.append(name)
    write_json(study_dir / "metrics.json", _finite(summary))
    path = study_dir / "report.md"
    write_text(path, render_report(summary, figures))
    return path


def _finite(obj):
    """JSON has no NaN: write null instead."""
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
