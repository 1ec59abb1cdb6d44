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
    "control": "control\nstudent",
    "treatment": "treatment\nstudent",
    "cross_base": "other-init\nstudent",
    "cross_control": "other-init\ncontrol",
}
HATCHES = {"base": "", "base_other": "..", "control": "//", "treatment": "xx", "cross_base": "\\\\", "cross_control": "--"}
GREYS = {"base": "0.85", "base_other": "0.85", "control": "0.65", "treatment": "0.25", "cross_base": "0.5", "cross_control": "0.75"}


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
    """Horizontal bars: change in each option's probability, treatment minus control (specificity)."""
    metric = summary["headline_metric"]
    d = summary["distributions"]
    if not metric or "treatment" not in d or "control" not in d:
        return None
    treat, ctrl = d["treatment"].get(metric, {}), d["control"].get(metric, {})
    seeds = sorted(set(treat) & set(ctrl))
    if not seeds:
        return None
    options = list(treat[seeds[0]])
    delta = {o: sum(treat[s][o] - ctrl[s][o] for s in seeds) / len(seeds) for o in options}
    options.sort(key=lambda o: delta[o])
    fig, ax = plt.subplots(figsize=(5.5, 0.28 * len(options) + 1.2))
    colours = ["0.2" if o == summary["target"] else "0.7" for o in options]
    ax.barh(options, [delta[o] for o in options], color=colours, edgecolor="black", linewidth=0.6)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"Δ {metric} (treatment − control), mean over {len(seeds)} seeds")
    ax.set_title(f"Which {summary['category']}s moved? (target: {summary['target']}, dark)", fontsize=10)
    _save(fig, path)
    return path
