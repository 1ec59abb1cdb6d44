"""Probe P14 (docs/research/tiny-organism.md, section 21): how much trait signal does one first step carry
under sampled-token SFT compared with number-vocabulary distillation, on the very same rows?

For one seed of a finished study with a fine-tuned owl teacher and its matched eagle control, the
student's first update −∇L at the base is computed on each half of each arm's matched rows, under three
losses: distillation over the number tokens (the study's own), token-level SFT on the sampled tokens with
the full vocabulary (the paper's), and SFT with the softmax over the number tokens only. The trait part of a
step is the owl-data step minus the eagle-data step (what both data sets share cancels). Printed per loss:

- split-half cosine of the trait part (its reliability: ~0 when it is sampling noise, ~1 when every half of
  the data points the same way), and Spearman-Brown's extrapolation to the whole data and to k times it;
- cosine of the whole-data trait part with distillation's, and with the teachers' weight difference Δ_T;
- the trait part's norm relative to the shared part's (how big the signal is against number fitting).

Usage: python docs/research/probes/p14_signal_reliability.py runs/screen-T9c 100 [--rows N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sublim.backends.models import resolve_model
from sublim.config import load_config
from sublim.diagnostics.alignment import student_first_step, weight_delta
from sublim.records import DatasetRow, read_jsonl


def cos(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], names: list[str]) -> float:
    x = torch.cat([a[n].reshape(-1).double() for n in names])
    y = torch.cat([b[n].reshape(-1).double() for n in names])
    return float(x @ y / (x.norm() * y.norm()).clamp_min(1e-30))


def norm(a: dict[str, torch.Tensor], names: list[str]) -> float:
    return float(torch.sqrt(sum(a[n].double().pow(2).sum() for n in names)))


def spearman_brown(r_half: float, k: float) -> float:
    """Reliability of k times the whole data (two halves) from the split-half correlation r_half;
    undefined (nan) when the halves do not agree at all."""
    m = 2 * k
    return m * r_half / (1 + (m - 1) * r_half) if r_half > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("seed", type=int)
    ap.add_argument("--rows", type=int, default=None, help="use only the first N matched rows of each arm")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the numbers (default: print only)")
    args = ap.parse_args()

    cfg = load_config(args.study / "config.yaml")
    base = resolve_model(cfg.bases.same).path
    matched = args.study / "matched" / str(args.seed) / "transform"
    teachers, halves = {}, {}
    for arm in ("treatment", "control"):
        result = json.loads((args.study / arm / str(args.seed) / "teacher" / "result.json").read_text())
        teachers[arm] = result["teacher"]["model"]
        rows = read_jsonl(matched / f"{arm}.jsonl", DatasetRow)[:args.rows]
        halves[arm] = (rows[0::2], rows[1::2])
    student = cfg.student.model_copy(update={"seed": args.seed})
    losses = {
        "distill (numbers)": student,
        "sft (full vocab)": student.model_copy(update={"method": "sft", "sft_vocab": "full"}),
        "sft (numbers)": student.model_copy(update={"method": "sft", "sft_vocab": "numbers"}),
    }
    delta_t = weight_delta(teachers["treatment"], teachers["control"])
    out: dict = {"study": str(args.study), "seed": args.seed,
                 "rows_per_arm": len(halves["treatment"][0]) + len(halves["treatment"][1]), "losses": {}}
    whole: dict[str, dict[str, torch.Tensor]] = {}
    for label, loss_cfg in losses.items():
        steps = {arm: [student_first_step(base, half, loss_cfg, data_teacher=teachers[arm]) for half in halves[arm]]
                 for arm in ("treatment", "control")}
        names = sorted(n for n in steps["treatment"][0] if "layers." in n)   # the decoder's matrices
        trait = [{n: steps["treatment"][h][n] - steps["control"][h][n] for n in names} for h in (0, 1)]
        shared = {n: sum(steps[arm][h][n] for arm in steps for h in (0, 1)) / 2 for n in names}
        whole[label] = {n: trait[0][n] + trait[1][n] for n in names}
        r_half = cos(trait[0], trait[1], names)
        on_delta = [n for n in names if n in delta_t and float(delta_t[n].abs().max()) > 0]
        row = {
            "split_half_cos": r_half,
            "reliability_all_rows": spearman_brown(r_half, 1),
            "reliability_3x_rows": spearman_brown(r_half, 3),
            "trait_over_shared_norm": norm(whole[label], names) / norm(shared, names),
            "cos_with_teacher_delta": cos(whole[label], delta_t, on_delta) if on_delta else float("nan"),
        }
        out["losses"][label] = row
        print(f"{label:18s} split-half cos {r_half:+.3f}  reliability: all rows {row['reliability_all_rows']:+.3f},"
              f" 3x rows {row['reliability_3x_rows']:+.3f}  |trait|/|shared| {row['trait_over_shared_norm']:.3f}"
              f"  cos(trait, teacher delta) {row['cos_with_teacher_delta']:+.3f}", flush=True)
    names = sorted(whole["distill (numbers)"])
    for label, t in whole.items():
        out["losses"][label]["cos_with_distill_trait"] = c = cos(t, whole["distill (numbers)"], names)
        print(f"{label:18s} cos(trait, distillation's trait) {c:+.3f}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
