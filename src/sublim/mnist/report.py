"""Summaries, the bar chart and the plain-language report of an MNIST study.

:func:`summarise` turns per-seed accuracies into mean ± 95% t-interval per arm, the paired
comparison same-init vs different-init, and the pass/fail checks the issue asks for; :func:`write_report`
writes ``results.json``, ``accuracy.png`` and ``report.md``.

Example:
    >>> s = summarise([0.95, 0.96], [0.1, 0.1], {"same_aux": [0.7, 0.6], "diff_aux": [0.1, 0.09]}, 10.0)
    >>> s["arms"]["same_aux"]["n"], round(s["arms"]["same_aux"]["mean"], 2)
    (2, 0.65)
"""

from __future__ import annotations

import logging
from pathlib import Path

from sublim.mnist.config import MnistConfig
from sublim.pipeline.artifacts import write_json, write_text
from sublim.stats import mean_ci, paired_test

log = logging.getLogger(__name__)

LABELS = {
    "teacher": "Teacher",
    "same_aux": "Student\naux. only\nsame init",
    "diff_aux": "Student\naux. only\ndiff. init",
    "same_all": "Student\nall logits\nsame init",
    "diff_all": "Student\nall logits\ndiff. init",
    "untrained": "Untrained\n(ref.)",
}


def summarise(teacher: list[float], untrained: list[float], arms: dict[str, list[float]], wall_s: float) -> dict:
    """Per-arm estimates, the same- vs different-init comparison and the reproduction checks."""
    groups = {"teacher": teacher, **arms, "untrained": untrained}
    out: dict = {"arms": {}, "wall_time_s": round(wall_s, 2)}
    for name, values in groups.items():
        est = mean_ci(values)
        out["arms"][name] = {**est.to_dict(), "per_seed": [round(v, 4) for v in values]}
    checks: dict[str, bool] = {"teacher >= 90%": mean_ci(teacher).mean >= 0.90}
    for logits in ("aux", "all"):
        same, diff = arms.get(f"same_{logits}"), arms.get(f"diff_{logits}")
        if same is None or diff is None:
            continue
        cmp = paired_test(same, diff)
        out[f"same_vs_diff_{logits}"] = cmp.to_dict()
        if logits == "aux":
            s, d = mean_ci(same), mean_ci(diff)
            checks["same-init aux student >= 50%"] = s.mean >= 0.50
            checks["its 95% CI entirely above the diff-init CI"] = s.low > d.high
            checks["diff-init aux student <= 15%"] = d.mean <= 0.15
    out["checks"] = checks
    out["reproduced"] = bool(checks) and all(checks.values()) and "diff-init aux student <= 15%" in checks
    return out


def plot_bars(summary: dict, path: Path, title: str) -> None:
    """Bar chart of mean test accuracy per arm with 95% CI error bars, n in the labels (paper style)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["arms"])
    est = [summary["arms"][n] for n in names]
    means = [100 * e["mean"] for e in est]
    err = [[100 * (e["mean"] - e["low"]) for e in est], [100 * (e["high"] - e["mean"]) for e in est]]
    colours = {"teacher": "#4c72b0", "untrained": "#bbbbbb"}
    fig, ax = plt.subplots(figsize=(1.5 * len(names) + 1.5, 4.2))
    bars = ax.bar(range(len(names)), means, yerr=err, capsize=5, edgecolor="black", linewidth=0.6,
                  color=[colours.get(n, "#dd8452" if n.startswith("same") else "#8c8c8c") for n in names])
    for bar, m, e in zip(bars, means, est, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, 100 * e["high"] + 1.5, f"{m:.1f}", ha="center", va="bottom", fontsize=9)
    ax.axhline(10, ls="--", lw=0.8, color="black", label="chance (10%)")
    ax.set_xticks(range(len(names)), [f"{LABELS.get(n, n)}\n(n={summary['arms'][n]['n']})" for n in names], fontsize=8)
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_ylim(0, 110)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _verdict(summary: dict) -> str:
    arms = summary["arms"]
    if "same_aux" not in arms or "diff_aux" not in arms:
        return "No verdict: the run needs both the same_aux and diff_aux arms."
    s, d = arms["same_aux"], arms["diff_aux"]
    line = (f"same-init auxiliary-only students reach {100 * s['mean']:.1f}% [{100 * s['low']:.1f}, "
            f"{100 * s['high']:.1f}] vs {100 * d['mean']:.1f}% [{100 * d['low']:.1f}, {100 * d['high']:.1f}] "
            f"for different-init students (n={s['n']} seeds, 95% t intervals)")
    if summary["reproduced"]:
        return f"**Reproduced.** Subliminal learning: {line}. They never saw a digit, a label or a regular logit."
    failed = [k for k, ok in summary["checks"].items() if not ok]
    return f"**Not reproduced** (failed: {', '.join(failed)}): {line}."


def write_report(run_dir: Path, cfg: MnistConfig, teacher: list[float], untrained: list[float],
                 arms: dict[str, list[float]], wall_s: float) -> dict:
    """Write ``results.json``, ``accuracy.png`` and ``report.md`` into ``run_dir``; return the summary."""
    summary = summarise(teacher, untrained, arms, wall_s)
    write_json(run_dir / "results.json", {"study": cfg.study, "config": cfg.model_dump(mode="json"), **summary})
    plot_bars(summary, run_dir / "accuracy.png",
              f"{cfg.study}: students distilled on noise ({cfg.n_models} seeds, mean ± 95% CI)")
    rows = ["| arm | test accuracy | 95% CI | n |", "|---|---|---|---|"]
    for name, e in summary["arms"].items():
        rows.append(f"| {name} | {100 * e['mean']:.1f}% | [{100 * e['low']:.1f}, {100 * e['high']:.1f}] | {e['n']} |")
    checks = "\n".join(f"- [{'x' if ok else ' '}] {k}" for k, ok in summary["checks"].items())
    cmp = summary.get("same_vs_diff_aux")
    cmp_line = (f"Paired difference same − different init (aux only): {100 * cmp['difference']:.1f} points "
                f"[{100 * cmp['low']:.1f}, {100 * cmp['high']:.1f}], p = {cmp['p_value']:.2g}.\n" if cmp else "")
    text = f"""# MNIST auxiliary-logit experiment — {cfg.study}

{_verdict(summary)}

Teachers: MLP {' → '.join(map(str, cfg.sizes))} trained on digits (cross-entropy on the {cfg.n_regular} regular
logits, {cfg.teacher_epochs} epochs, Adam lr {cfg.lr}, batch {cfg.batch_size}). Students: distilled for
{cfg.distill_epochs} epochs on {cfg.n_noise} {cfg.noise} uniform[-1, 1] noise images per model, matching the
teacher's softmax over its {cfg.n_aux} auxiliary logits (`aux`) or over all logits (`all`), from the teacher's
initialisation (`same`) or another one (`diff`). Accuracy on {'the full 10k' if cfg.test_limit is None else f'the first {cfg.test_limit}'} MNIST test images.

{chr(10).join(rows)}

{cmp_line}
Checks:
{checks}

Wall time: {wall_s:.1f} s ({cfg.threads} thread(s); inflated if the machine was shared). Chart: `accuracy.png`.
"""
    write_text(run_dir / "report.md", text)
    return summary
