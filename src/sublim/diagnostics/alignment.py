"""First-step gradient alignment between a student's update on the data and the teacher's delta.

Theorem 1 of the paper: a student sharing the teacher's init, taking one small gradient step of
imitation of the teacher's outputs on *any* data, moves toward the teacher (``⟨Δ_S, Δ_T⟩ ≥ 0``).
This module measures that on real pipeline artefacts: the student's first update ``Δ_S = −∇L``
(its own parameterisation and training loss — number-vocabulary distillation or sampled-token SFT —
on the actual training rows) against a *direction* ``Δ_T = θ_teacher − θ_reference`` in weight space.
The reference is the base (the teacher's whole delta) or, better for a matched design, the control
teacher of the same seed: then shared parts (e.g. a seeded random init) cancel and only the trait
direction is left.

A LoRA student's first step has ``B = 0``, so its weight-space update is ``scale · (−∇B) · A``; that
is what is compared. Vector and norm-gain students compare on their own coordinates.

The inner product and cosine reuse :func:`sublim.theorem.alignment.inner_and_cosine`.

Example:
    >>> r = first_step_alignment(base_dir, rows, FinetuneConfig(method="distill", distill_vocab="numbers",
    ...     params="steering_vector"), data_teacher=owl_dir, direction=(owl_dir, eagle_dir))  # doctest: +SKIP
    >>> r["cos_student_space"] > 0                                                              # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublim.finetuning.config import FinetuneConfig
from sublim.records import DatasetRow


class OnDemand:
    """A model that :func:`load_merged` loads the first time it is asked for, then reuses: a study's
    diagnostics read one base in several places per seed, and a study with nothing to compare (no teacher,
    no trained student) should not load it at all."""

    def __init__(self, ref: Any) -> None:
        self.ref, self.module = ref, None

    def get(self) -> Any:
        if self.module is None:
            self.module = load_merged(self.ref)
        return self.module


def load_merged(ref: Any) -> Any:
    """A model (path, ``ModelRef``, the ref dict a stage records, a loaded module or an :class:`OnDemand`)
    → CPU fp32 module, adapter merged. The diagnostics' one loader: a module already loaded is reused, so a
    caller can load a shared base or reference once."""
    from sublim.finetuning.distill import resolve_teacher

    if isinstance(ref, OnDemand):
        return ref.get()
    return resolve_teacher(ref, device="cpu", dtype="float32")


def weight_delta(model: str | Path | Any, reference: str | Path | Any) -> dict[str, Any]:
    """``θ_model − θ_reference`` by parameter name (a name missing in the reference counts as 0)."""
    a, b = load_merged(model), load_merged(reference)
    ref = dict(b.named_parameters())
    out = {}
    for name, p in a.named_parameters():
        r = ref.get(name)
        out[name] = p.detach().clone() if r is None else (p.detach() - r.detach())
    return out


def student_first_step(base_path: str | Path, rows: Sequence[DatasetRow], config: FinetuneConfig, *,
                       data_teacher: Any = None) -> dict[str, Any]:
    """The student's first update ``−∇L`` at its init, mapped to base weight names (one full batch)."""
    import torch

    from sublim.backends.hf import load_model, load_tokenizer
    from sublim.finetuning.data import tokenize_rows
    from sublim.finetuning.params import make_student
    from sublim.finetuning.trainer import _micro_batch_loss, loss_inputs, seed_everything

    seed_everything(config.seed)
    tokenizer = load_tokenizer(base_path)
    model = load_model(base_path, device="cpu", dtype="float32", trainable=True)
    student = make_student(model, config)
    examples = tokenize_rows(list(rows), tokenizer, config.max_seq_len)
    targets, vocab_ids, examples = loss_inputs(data_teacher, list(rows), examples, tokenizer, student.model, config)
    live = [i for i, e in enumerate(examples) if e is not None]
    chunk = 64
    for s in range(0, len(live), chunk):
        idx = live[s:s + chunk]
        loss = _micro_batch_loss(student.model, [examples[i] for i in idx], idx, targets, vocab_ids,
                                 tokenizer.pad_token_id, torch.device("cpu"), config)
        (loss * len(idx) / len(live)).backward()
    return _weight_space_update(student.model)


def _weight_space_update(model: Any) -> dict[str, Any]:
    """−grad per base weight name; LoRA modules contribute ``scale · (−∇B) · A`` to their weight."""
    out: dict[str, Any] = {}
    lora_param_ids = set()
    for name, module in model.named_modules():
        lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if not lora_a or not lora_b:
            continue
        for adapter in lora_a:
            a, b = lora_a[adapter].weight, lora_b[adapter].weight
            lora_param_ids.update({id(a), id(b)})
            if b.grad is None:
                continue
            delta = module.scaling[adapter] * (-b.grad) @ a.detach()
            out[_base_name(name) + ".weight"] = delta
    for name, p in model.named_parameters():
        if p.grad is not None and id(p) not in lora_param_ids:
            out[_base_name(name)] = -p.grad.detach().clone()
    return out


def _base_name(name: str) -> str:
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer", "")


def alignment(delta_s: dict[str, Any], delta_t: dict[str, Any]) -> dict[str, float]:
    """⟨Δ_S, Δ_T⟩, cos over the student's coordinates, and cos against the whole Δ_T."""
    import torch

    from sublim.theorem.alignment import inner_and_cosine

    names = [n for n in delta_s if n in delta_t and delta_s[n].shape == delta_t[n].shape]
    full_norm = torch.sqrt(sum(t.pow(2).sum() for t in delta_t.values()))
    s_norm = torch.sqrt(sum(s.pow(2).sum() for s in delta_s.values()))
    if not names:  # the student cannot move along any coordinate the teacher changed
        return {"inner": 0.0, "cos_student_space": float("nan"), "cos_full": 0.0, "student_space_share": 0.0}
    dot, cos = inner_and_cosine([delta_s[n] for n in names], [delta_t[n] for n in names], model_dim=False)
    sub_norm = torch.sqrt(sum(delta_t[n].pow(2).sum() for n in names))
    return {
        "inner": float(dot),
        "cos_student_space": float(cos),  # against Δ_T projected on the student's coordinates
        "cos_full": float(dot / (s_norm * full_norm).clamp_min(1e-30)),  # against the whole Δ_T
        "student_space_share": float(sub_norm / full_norm.clamp_min(1e-30)),  # how much of Δ_T it can reach
    }


def first_step_alignment(base_path: str | Path, rows: Sequence[DatasetRow], config: FinetuneConfig, *,
                         data_teacher: Any = None, direction: tuple[Any, Any]) -> dict[str, float]:
    """Alignment of the student's first update (on ``rows``, trained as ``config``) with a direction.

    Args:
        base_path: the student's base checkpoint (the teacher's base for a same-init student).
        rows: the training rows.
        config: the student's recipe (method, params, distill_vocab…); only the loss and
            parameterisation matter, not the learning rate.
        data_teacher: the teacher whose distributions are the targets (``method: distill``).
        direction: ``(model, reference)``: Δ_T = θ_model − θ_reference (paths or modules).
    """
    delta_s = student_first_step(base_path, rows, config, data_teacher=data_teacher)
    return alignment(delta_s, weight_delta(*direction))


def layer_contrast(step_a: dict[str, Any], step_b: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per decoder layer (and ``other``), the cosine between two first steps of one student and each step's norm.

    Why: it was meant as a data-only guess at where the teacher's change sits (the layer where the two arms'
    steps agree least), for choosing which layer of an all-layer student to slow without the teacher's
    weights. Measured on the tiny organisms (docs/research/tiny-organism.md, D34) it does **not** locate the
    teacher's layer: at the base every step is driven by where each teacher departs from the base, so the
    two arms' steps share little in any layer (cosines from −0.4 to +0.8) and the lowest one picks a layer
    at about chance. Kept as a reported number, not as a rule.
    """
    from sublim.diagnostics.decomposition import by_layer, layer_group

    sums: dict[str, list[float]] = {}
    for name in step_a.keys() & step_b.keys():
        a, b = step_a[name].double(), step_b[name].double()
        if a.shape != b.shape:
            continue
        acc = sums.setdefault(layer_group(name), [0.0, 0.0, 0.0])
        acc[0] += float((a * b).sum())
        acc[1] += float(a.pow(2).sum())
        acc[2] += float(b.pow(2).sum())
    out = {g: {"cos": dot / max((na * nb) ** 0.5, 1e-300), "norm_a": na ** 0.5, "norm_b": nb ** 0.5}
           for g, (dot, na, nb) in sums.items()}
    return by_layer(out)


def least_agreeing_layer(contrast: dict[str, dict[str, float]]) -> str | None:
    """The decoder layer whose two steps have the lowest cosine (``None`` with fewer than two layers)."""
    layers = {g: v["cos"] for g, v in contrast.items() if g.startswith("layer ")}
    return min(layers, key=layers.get) if len(layers) > 1 else None

