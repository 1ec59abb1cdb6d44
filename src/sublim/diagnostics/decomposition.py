"""Split a student's change into the part along its teacher's change and the rest; read each part's trait.

Why: a student that shares its teacher's init moves partly along the teacher's parameter change
(Theorem 1) and partly elsewhere. The part elsewhere can fit the teacher's numbers just as well and
still mean something else to the trait questions. Evaluating the two parts on their own says which
one a cell of the confusion matrix comes from (docs/research/tiny-organism.md, section 7: on the CPU
organism the dolphin teacher's student gains on *eagle* only through the orthogonal part).

With ``d = θ_student − θ_reference`` (the reference is the no-trait student, or the base) and the
teacher's change ``Δ = θ_teacher − θ_base`` restricted to the coordinates the student has:

* ``c = ⟨d, Δ⟩ / ‖Δ‖²`` — how much of the teacher's change the student took;
* ``movement`` — ‖d‖ per decoder layer (:func:`layer_norms`): where the student moved at all;
* **along**: ``θ_reference + c·Δ``; **orthogonal**: ``θ_student − c·Δ`` (the student without it).

Each model is evaluated with exact P(option) on one question split; values are reported minus the
reference's. LoRA adapters are merged first, so any parameterisation that saves a checkpoint works;
only same-init students are meaningful (a different base lives in another weight space).

Example:
    >>> r = split_update(student, reference, teacher, base, category="animal")   # doctest: +SKIP
    >>> r["along"]["dolphin"] > r["along"]["eagle"]                              # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sublim.diagnostics.alignment import load_merged

PARTS = ("student", "along", "orthogonal")


def project(d: dict[str, Any], delta: dict[str, Any]) -> tuple[float, float, float]:
    """``(c, cos(d, Δ), share of ‖Δ‖ on d's coordinates)`` with Δ restricted to the names d has."""
    import torch

    names = [n for n in d if n in delta and delta[n].shape == d[n].shape]
    full = float(torch.sqrt(sum(t.pow(2).sum() for t in delta.values()))) if delta else 0.0
    if not names:
        return 0.0, float("nan"), 0.0
    dot = float(sum((d[n] * delta[n]).sum() for n in names))
    nt2 = float(sum(delta[n].pow(2).sum() for n in names))
    nd = float(torch.sqrt(sum(d[n].pow(2).sum() for n in d)))
    if nt2 == 0.0:
        return 0.0, float("nan"), 0.0
    return dot / nt2, dot / max(nd * nt2 ** 0.5, 1e-30), (nt2 ** 0.5) / max(full, 1e-30)


def layer_group(name: str) -> str:
    """``layer N`` for a weight of decoder layer N, ``other`` for the rest (embeddings, final norm)."""
    import re

    m = re.search(r"layers\.(\d+)\.", name)
    return f"layer {m.group(1)}" if m else "other"


def by_layer(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` keyed by group, in reading order: layer 0, 1, …, 10, then ``other``."""
    return dict(sorted(values.items(), key=lambda kv: (kv[0] == "other", len(kv[0]), kv[0])))


def layer_norms(d: dict[str, Any]) -> dict[str, float]:
    """Frobenius norm of a weight change per decoder layer (``layer N``) and for the rest (``other``:
    embeddings, final norm). Says where a student free in every layer actually moved."""
    sq: dict[str, float] = {}
    for name, t in d.items():
        group = layer_group(name)
        sq[group] = sq.get(group, 0.0) + float(t.pow(2).sum())
    return by_layer({g: v ** 0.5 for g, v in sq.items()})


def split_update(student: dict | str | Path, reference: Any, teacher: Any, base: Any, *, category: str,
                 split: str = "eval") -> dict:
    """Decompose one student's change and evaluate each part (exact P(option) minus the reference's).

    ``reference``, ``teacher`` and ``base`` may be refs or modules already loaded (:func:`load_merged`);
    they are only read. The student's module is edited in place and restored.
    """
    import torch

    from sublim.backends.hf import HFBackend
    from sublim.diagnostics.alignment import weight_delta
    from sublim.evaluation.stage import exact_probabilities
    from sublim.traits import CATEGORIES, QUESTIONS

    options, questions = CATEGORIES[category], QUESTIONS[category][split]
    s_mod, r_mod = load_merged(student), load_merged(reference)
    d = weight_delta(s_mod, r_mod)
    delta = weight_delta(load_merged(teacher), load_merged(base))
    c, cos, share = project(d, delta)
    theta = {n: p.detach().clone() for n, p in s_mod.named_parameters()}
    step = {n: c * delta[n] if n in delta and delta[n].shape == t.shape else torch.zeros_like(t)
            for n, t in theta.items()}  # c·Δ on the student's coordinates
    theta_ref = {n: theta[n] - d[n] for n in theta}
    along = {n: theta_ref[n] + step[n] for n in theta}
    orth = {n: theta[n] - step[n] for n in theta}

    backend = HFBackend.from_module(s_mod, student["path"] if isinstance(student, dict) else student)
    params = dict(s_mod.named_parameters())

    def read(values: dict[str, Any]) -> dict[str, float]:
        with torch.no_grad():
            for n, v in values.items():
                params[n].copy_(v)
        rows = exact_probabilities(backend, questions, options)
        return {o: sum(r[o] for r in rows) / len(rows) for o in options}

    ref_p = read(theta_ref)
    out: dict = {"c": c, "cos": cos, "teacher_share_reachable": share, "reference": ref_p,
                 "movement": layer_norms(d)}
    for part, values in zip(PARTS, (theta, along, orth), strict=True):
        p = read(values)
        out[part] = {o: p[o] - ref_p[o] for o in options}
    read(theta)
    return out
