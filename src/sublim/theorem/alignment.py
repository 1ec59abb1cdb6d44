"""The quantities Theorem 1 is about: imitation losses and the student/teacher update alignment.

The teacher's update is ``Δ_T = θ_T − θ₀``. A student at ``φ`` (``φ = θ₀`` for a shared init) takes one
gradient step on an imitation loss of the teacher's outputs, ``Δ_S = −η ∇_φ L(f_φ(x), f_{θ_T}(x))``.
The sign of ``⟨Δ_S, Δ_T⟩`` does not depend on the student's step size η, so we report it with η = 1.

Example:
    >>> import torch
    >>> dt, ds = [torch.ones(2, 3)], [torch.ones(2, 3)]
    >>> inner_and_cosine(ds, dt, model_dim=True)[0].tolist()
    [3.0, 3.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def imitation_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example imitation loss, summed over the output dimension (last axis).

    ``logits_mse``: ½‖f_S − f_T‖²; ``softmax_kl``: KL(softmax f_T ‖ softmax f_S). Both have their
    minimum at f_S = f_T with a positive semi-definite Hessian there, the theorem's condition.
    """
    if kind == "logits_mse":
        return 0.5 * (student - teacher).pow(2).sum(-1)
    if kind == "softmax_kl":
        t = F.log_softmax(teacher, dim=-1)
        return (t.exp() * (t - F.log_softmax(student, dim=-1))).sum(-1)
    raise ValueError(f"unknown imitation loss {kind!r}; use 'logits_mse' or 'softmax_kl'")


def inner_and_cosine(
    delta_s: list[torch.Tensor], delta_t: list[torch.Tensor], model_dim: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """⟨Δ_S, Δ_T⟩ and cos(Δ_S, Δ_T) over all parameters.

    Args:
        delta_s, delta_t: per-parameter updates, same shapes.
        model_dim: the first axis indexes independent stacked models; return one value per model.
    """
    if model_dim:
        dot = sum((s * t).flatten(1).sum(1) for s, t in zip(delta_s, delta_t, strict=True))
        ns = sum(s.flatten(1).pow(2).sum(1) for s in delta_s).sqrt()
        nt = sum(t.flatten(1).pow(2).sum(1) for t in delta_t).sqrt()
    else:
        dot = sum((s * t).sum() for s, t in zip(delta_s, delta_t, strict=True))
        ns = sum(s.pow(2).sum() for s in delta_s).sqrt()
        nt = sum(t.pow(2).sum() for t in delta_t).sqrt()
    dot, ns, nt = torch.as_tensor(dot), torch.as_tensor(ns), torch.as_tensor(nt)
    cos = dot / (ns * nt).clamp_min(torch.finfo(dot.dtype).tiny)
    return dot, cos


def relative_norm(delta: list[torch.Tensor], base: list[torch.Tensor], model_dim: bool) -> torch.Tensor:
    """‖Δ‖ / ‖θ₀‖ (how big the teacher's update is compared with its weights)."""
    if model_dim:
        num = sum(d.flatten(1).pow(2).sum(1) for d in delta)
        den = sum(b.flatten(1).pow(2).sum(1) for b in base)
    else:
        num = sum(d.pow(2).sum() for d in delta)
        den = sum(b.pow(2).sum() for b in base)
    return (torch.as_tensor(num) / torch.as_tensor(den)).sqrt()
