"""Heat map of the specificity matrix, readable in colour and in black and white.

Cells are shaded by ``|Δ|`` on a diverging map centred at 0 (``RdBu_r``: white at 0, darker with
size), so a grey print still shows magnitude; the sign survives printing because every cell is
annotated with its signed value and negative cells are hatched. Diagonal cells (a student on its own
trait) are outlined. Axes are labelled and the title gives the number of seeds. Saved with fixed
metadata so regenerating the figure is byte-stable.

Example:
    >>> # plot_confusion(result, result.labels, Path("runs/x/specificity.png"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from sublim.specificity.matrix import SpecificityResult  # noqa: E402


def plot_confusion(matrix: SpecificityResult | Sequence[Sequence[float]], labels: Sequence[str], path: Path, *,
                   options: Sequence[str] | None = None, n: int | str | None = None, title: str | None = None,
                   what: str = "Δ P(option), student − control") -> Path:
    """Draw the K×K (or K×M) Δ matrix as an annotated heat map.

    Args:
        matrix: a :class:`SpecificityResult` or rows of Δ values.
        labels: row labels (the trait each student's teacher loves).
        path: output file (.png or .svg); parent folders are created.
        options: column labels (default: ``matrix.options`` or ``labels``).
        n: seeds per cell shown in the title (default: from the result).
        title: title line (default: a description of the matrix).
        what: colour-bar label.
    Returns:
        ``path``.
    """
    if isinstance(matrix, SpecificityResult):
        values = np.array(matrix.means(), dtype=float)
        options = options or matrix.options
        n = n if n is not None else seed_text(matrix)
    else:
        values = np.array(matrix, dtype=float)
    options = list(options or labels)
    k, m = values.shape
    limit = float(np.nanmax(np.abs(values))) or 1.0
    cell = "{:+.3f}" if limit >= 0.01 else "{:+.1e}"  # tiny effects stay readable
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * m, 1.2 + 0.6 * k))
    image = ax.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit))
    for i in range(k):
        for j in range(m):
            v = values[i, j]
            dark = abs(v) > 0.55 * limit
            ax.text(j, i, cell.format(v), ha="center", va="center", fontsize=7, color="white" if dark else "black",
                    fontweight="bold" if i == j else "normal")
            if v < 0:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", linewidth=0,
                                       edgecolor="0.45"))
            if i == j:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, linewidth=2.0, edgecolor="black"))
    ax.set_xticks(range(m), options, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("option evaluated")
    ax.set_ylabel("student's teacher loves")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(what, fontsize=8)
    heading = title or "Specificity: change in each option's probability vs the control student"
    suffix = f"\n(n = {n} seeds per cell; hatched = negative; outlined = own trait)" if n is not None else ""
    ax.set_title(heading + suffix, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Software": None} if path.suffix == ".png" else {"Date": None, "Creator": None}
    fig.savefig(path, dpi=130, bbox_inches="tight", metadata=meta)
    plt.close(fig)
    return path


def seed_text(result: SpecificityResult) -> str:
    """Seeds per cell: one number, or a range when the students have different counts."""
    counts = sorted(set(result.n_seeds.values()))
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
