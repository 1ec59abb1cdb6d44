"""Figures of a study: condition bars with 95% CIs, and the per-option shift (specificity).

Readable in black and white: hatches distinguish conditions, every bar carries its n.

Example:
    >>> # plot_conditions(summary, Path("runs/x/target_probability.png"))
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "base": "base\n(untrained)",
    "base_other": "other base\n(untrained)",
    "teacher": "trait\nteacher",
    "control": "control\nstudent",
    "treatment": "treatment\nstudent",
    "cross_base": "other-init\nstudent",
    "cross_control": "other-init\ncontrol",
    "shuffle_within": "shuffled\nwithin rows",
    "shuffle_global": "shuffled\nacross rows",
}
HATCHES = {"base": "", "base_other": "..", "teacher": "**", "control": "//", "treatment": "xx", "cross_base": "\\\\", "cross_control": "--",
           "shuffle_within": "++", "shuffle_global": "oo"}
GREYS = {"base": "0.85", "base_other": "0.85", "teacher": "0.1", "control": "0.65", "treatment": "0.25", "cross_base": "0.5",
         "cross_control": "0.75", "shuffle_within": "0.4", "shuffle_global": "0.6"}


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata keeps regenerated PNGs byte-stable.
    fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def plot_conditions(summary: dict, path: Path) -> Path | None:
    """Bar chart: condition × target metric (one panel per metric), mean with 95% CI and n."""
    metrics = summary["metrics"]
    if not metrics:
        return None
    order = [c for c in LABELS if c in summary["conditions"]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(4.5, 1.3 * len(order)) * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        xs, means, errs = [], [], [[], []]
        for i, cond in enumerate(order):
            est = summary["conditions"][cond].get(metric, {}).get("estimate")
            if not est:
                continue
            xs.append(i)
            means.append(est["mean"])
            errs[0].append(est["mean"] - est["low"])
            errs[1].append(est["high"] - est["mean"])
            ax.text(i, est["high"], f"n={est['n']}", ha="center", va="bottom", fontsize=7)
        bars = ax.bar(xs, means, yerr=errs, capsize=4, edgecolor="black", linewidth=0.8,
                      color=[GREYS[order[x]] for x in xs])
        for bar, x in zip(bars, xs, strict=True):
            bar.set_hatch(HATCHES[order[x]])
        ax.set_xticks(range(len(order)), [LABELS[c] for c in order], fontsize=8)
        split, kind = metric.split("/")
        what = "exact P(answer = {t})" if kind == "exact" else "sampled rate of '{t}'"
        ax.set_ylabel(what.format(t=summary["target"]))
        ax.set_title(f"{split} questions, {kind}", fontsize=10)
        ax.set_ylim(bottom=0)
    fig.suptitle(f"{summary['study']}: preference for '{summary['target']}' (mean and 95% CI over seeds)", fontsize=10)
    _save(fig, path)
    return path


def plot_shift(summary: dict, path: Path) -> Path | None:
    """Horizontal bars: each option's paired Δ P over the matched control, one panel per student arm.

    One panel for the same-init student (specificity) and, when it was run, one for the different-init
    student: a null on the target means little if that student moved to another option.
    """
    shifts = summary.get("option_shifts") or {}
    panels = [(title, shifts[name]) for name, title in (("same_init", "same-init student: treatment − control"),
                                                         ("different_init", "different-init student: its treatment − its control"))
              if shifts.get(name)]
    if "same_init" not in shifts:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 0.28 * len(panels[0][1]) + 1.2), squeeze=False)
    for ax, (title, rows) in zip(axes[0], panels, strict=True):
        rows = sorted(rows, key=lambda r: r["difference"])
        ax.barh([r["option"] for r in rows], [r["difference"] for r in rows], edgecolor="black", linewidth=0.6,
                color=["0.2" if r["option"] == summary["target"] else "0.7" for r in rows])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"Δ {summary['headline_metric']}, mean over {rows[0]['n']} seeds")
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"Which {summary['category']}s moved? (target: {summary['target']}, dark)", fontsize=10)
    _save(fig, path)
    return path


def plot_icl(summary: dict, path: Path) -> Path | None:
    """P(target) against the number of in-context examples, treatment vs control, one panel per mode."""
    icl = (summary.get("controls") or {}).get("icl")
    if not icl:
        return None
    fig, axes = plt.subplots(1, len(icl), figsize=(4.6 * len(icl), 3.6), squeeze=False)
    for ax, (mode, rows) in zip(axes[0], icl.items(), strict=True):
        xs = [r["n"] for r in rows]
        for arm, style in (("treatment", dict(color="0.1", marker="o", linestyle="-")),
                           ("control", dict(color="0.55", marker="s", linestyle="--"))):
            means = [r[arm]["mean"] for r in rows]
            errs = [[r[arm]["mean"] - r[arm]["low"] for r in rows], [r[arm]["high"] - r[arm]["mean"] for r in rows]]
            ax.errorbar(xs, means, yerr=errs, capsize=3, label=f"{arm} teacher's examples", **style)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("in-context examples requested (N)")
        ax.set_ylabel(f"exact P(answer = {summary['target']})")
        over = rows[0]["over"]
        ax.set_title(f"mode: {mode} (95% CI over {over})", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(f"{summary['study']}: in-context learning (no fine-tuning)", fontsize=10)
    _save(fig, path)
    return path


def plot_specificity(summary: dict, path: Path) -> Path | None:
    """Heat map of Δ P(option) for each specificity student (rows) against the no-trait control."""
    spec = (summary.get("controls") or {}).get("specificity")
    if not spec:
        return None
    from sublim.specificity import SpecificityResult, plot_confusion

    result = SpecificityResult.model_validate(spec["result"])
    plot_confusion(result, result.labels, path, options=result.options,
                   title=f"{summary['study']}: which preference does each teacher's data move?")
    return path


def plot_decomposition(decomposition: dict[str, dict], path: Path, title: str = "") -> Path | None:
    """One panel per teacher: each option's ΔP for the whole student, its along-teacher part and the rest.

    The picture answers "which part of the student's change carries which trait" at a glance
    (``sublim diagnose``; seed means, n in each panel's title).
    """
    if not decomposition:
        return None
    arms = list(decomposition.values())
    options = [a["target"] for a in arms]
    from sublim.diagnostics.decomposition import PARTS

    style = {"student": ("whole student", "0.3", ""), "along": ("along its teacher", "0.6", "//"),
             "orthogonal": ("the rest", "0.9", "..")}
    parts = [(part, *style[part]) for part in PARTS]
    fig, axes = plt.subplots(1, len(arms), figsize=(3.0 * len(arms) + 0.5, 3.6), squeeze=False, sharey=True)
    width = 0.27
    for ax, arm in zip(axes[0], arms, strict=True):
        for k, (part, label, grey, hatch) in enumerate(parts):
            xs = [i + (k - 1) * width for i in range(len(options))]
            ax.bar(xs, [arm[part][o] for o in options], width, color=grey, hatch=hatch, edgecolor="black",
                   linewidth=0.6, label=label)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(options)), options, fontsize=8)
        ax.set_title(f"{arm['target']} teacher (c = {arm['c']:.2f}, n = {arm['n_seeds']})", fontsize=9)
    axes[0][0].set_ylabel(f"ΔP(option) vs {arms[0].get('against', 'the reference')}")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(title or "Each student's change, split along its teacher's change and the rest", fontsize=10)
    _save(fig, path)
    return path
