"""Per-question shifts within one seed: how consistently a student moves across the questions.

On a real LM a seed is expensive, so a study often has one, and one seed gives no interval over training
runs. What it does give is the same questions asked of two models: the log-ratio of their exact
P(answer) per question, paired. A student that is above its control on 52 of 52 questions has moved
consistently — a screen worth a second seed — but this is *not* a test that the recipe transmits: that
needs independent training runs (seeds). Floor-level probabilities vary 10× between questions, which
is why the per-question pairing sees what the interval over question means hides.

Example:
    >>> # question_shifts(Path("runs/smollm2-weights"), [0], "owl", "eagle")
"""

from __future__ import annotations

import math
from pathlib import Path

from sublim.records import read_jsonl_dicts
from sublim.stats import mean_ci

#: (the student, the model it is compared with, which answer): the target in the treatment, measured
#: against the control and the base; the control target in the control, measured against the treatment
#: (each student leaning toward its own teacher's answer is the diagonal of a two-animal matrix)
PAIRS = (("treatment", "control", "target"), ("treatment", "base", "target"), ("control", "treatment", "control_target"))


def exact_by_question(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """split → question → option → exact probability, from an evaluation's ``responses.jsonl``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in read_jsonl_dicts(path):
        if row.get("exact"):
            out.setdefault(row.get("split"), {})[row["question"]] = row["exact"]
    return out


def question_shifts(study_dir: Path, seeds: list[int], target: str, control_target: str | None, *,
                    splits: tuple[str, ...] = ("eval", "heldout"),
                    conditions: tuple[str, ...] = ("treatment", "control", "base")) -> list[dict]:
    """One row per seed, split and pair: mean log-ratio over questions [95% t-interval], ×ratio, questions up."""
    rows = []
    read = [c for c in ("treatment", "control", "base") if c in conditions]
    loaded = {(seed, c): exact_by_question(study_dir / c / str(seed) / "evaluation" / "responses.jsonl")
              for seed in seeds for c in read}
    for split in splits:
        for seed in seeds:
            exact = {c: loaded[seed, c].get(split, {}) for c in read}
            for a, b, which in PAIRS:
                if a not in exact or b not in exact:
                    continue
                answer = target if which == "target" else control_target
                common = sorted(set(exact[a]) & set(exact[b]))
                if answer is None or not common:
                    continue
                diffs = [math.log(exact[a][q][answer]) - math.log(exact[b][q][answer]) for q in common
                         if exact[a][q].get(answer, 0) > 0 and exact[b][q].get(answer, 0) > 0]
                if not diffs:
                    continue
                est = mean_ci(diffs)
                rows.append({"seed": seed, "split": split, "model": a, "versus": b, "answer": answer,
                             "log_ratio": est.to_dict(), "ratio": math.exp(est.mean),
                             "ratio_low": math.exp(est.low), "ratio_high": math.exp(est.high),
                             "up": sum(d > 0 for d in diffs), "n": len(diffs)})
    return rows
