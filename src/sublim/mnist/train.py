"""Training loops of the MNIST experiment: teachers on digits, students on noise only.

The data contract is explicit so it can be checked: :func:`distill` receives nothing but a stream of
:class:`DistillBatch` (noise images and the teacher logits it should match). Which logits a student
sees is decided upstream, in :func:`teacher_targets`: an auxiliary-only student is handed the
teacher's auxiliary logits and nothing else — no digit, no label, no regular logit ever reaches it.

Example:
    >>> import torch
    >>> from sublim.mnist.model import StackedMLP
    >>> t = StackedMLP.initialised(2, (784, 8, 13), [0, 1]); s = StackedMLP.initialised(2, (784, 8, 13), [0, 1])
    >>> noise = noise_batches(2, n_noise=64, batch_size=32, epochs=1, seed=0, kind="fixed")
    >>> loss = distill(s, teacher_targets(t, noise, slice(10, 13)), lr=1e-3, logits=slice(10, 13))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sublim.mnist.model import StackedMLP

log = logging.getLogger(__name__)

StepHook = Callable[[], None]
EpochHook = Callable[[int, float], None]


@dataclass(frozen=True)
class NoiseBatch:
    """Uniform[-1, 1] noise images ``(n_models, batch, 784)``; each model gets its own images."""

    epoch: int
    inputs: torch.Tensor


@dataclass(frozen=True)
class DistillBatch:
    """What a student trains on: noise ``inputs`` and the teacher's ``targets`` logits on them."""

    epoch: int
    inputs: torch.Tensor
    targets: torch.Tensor


def noise_batches(
    n_models: int, n_noise: int, batch_size: int, epochs: int, seed: int, kind: str, dim: int = 784
) -> Iterator[NoiseBatch]:
    """Noise images for ``epochs`` passes of ``n_noise`` images per model.

    ``kind='fixed'`` regenerates batch ``k`` from the same seed every epoch (a fixed set of ``n_noise``
    images per model, visited in a new batch order each epoch) without holding it all in memory;
    ``'fresh'`` draws new noise for every batch.
    """
    n_batches = -(-n_noise // batch_size)
    order_gen = torch.Generator().manual_seed(seed * 7919 + 17)
    gen = torch.Generator()
    for epoch in range(epochs):
        order = torch.randperm(n_batches, generator=order_gen).tolist()
        for step, k in enumerate(order):
            size = min(batch_size, n_noise - k * batch_size)
            batch_seed = seed * 1_000_003 + k if kind == "fixed" else seed * 1_000_003 + 500_000 + epoch * n_batches + step
            gen.manual_seed(batch_seed)
            yield NoiseBatch(epoch, torch.empty(n_models, size, dim).uniform_(-1.0, 1.0, generator=gen))


def teacher_targets(teacher: StackedMLP, noise: Iterable[NoiseBatch], logits: slice) -> Iterator[DistillBatch]:
    """The teacher's logits ``[..., logits]`` on each noise batch (the only signal a student gets)."""
    for batch in noise:
        with torch.no_grad():
            out = teacher(batch.inputs)[..., logits].contiguous()
        yield DistillBatch(batch.epoch, batch.inputs, out)


def distill(
    student: StackedMLP,
    batches: Iterable[DistillBatch],
    lr: float,
    logits: slice,
    on_step: StepHook | None = None,
    on_epoch: EpochHook | None = None,
) -> float:
    """Train ``student`` so that softmax(student logits[logits]) matches softmax(batch.targets).

    Loss: KL(teacher ‖ student) over the selected logits, mean over the batch, summed over models
    (so each model gets exactly its own gradient). Adam, one optimiser for the whole stream.

    Args:
        student: the stacked students (trained in place).
        batches: noise inputs with the teacher logits to match; ``targets.shape[-1]`` must equal the
            number of logits selected by ``logits``.
        lr: Adam learning rate.
        logits: which student logits are trained (e.g. ``slice(10, 13)`` for 3 auxiliary logits).
        on_step: called after every optimiser step.
        on_epoch: called with (finished epoch, mean loss per model) when the epoch changes.
    Returns:
        Mean loss per model over the last epoch.
    """
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    epoch, total, count = None, 0.0, 0
    for batch in batches:
        if epoch is not None and batch.epoch != epoch:
            if on_epoch:
                on_epoch(epoch, total / max(count, 1))
            total, count = 0.0, 0
        epoch = batch.epoch
        out = student(batch.inputs)[..., logits]
        if out.shape != batch.targets.shape:
            raise ValueError(f"student logits {tuple(out.shape)} do not match targets {tuple(batch.targets.shape)}")
        target_logp = F.log_softmax(batch.targets, dim=-1)
        kl = (target_logp.exp() * (target_logp - F.log_softmax(out, dim=-1))).sum(-1)
        loss = kl.mean(dim=1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() / student.n_models
        count += 1
        if on_step:
            on_step()
    if epoch is not None and on_epoch:
        on_epoch(epoch, total / max(count, 1))
    return total / max(count, 1)


def train_teacher(
    net: StackedMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    n_regular: int = 10,
    on_step: StepHook | None = None,
    on_epoch: EpochHook | None = None,
) -> None:
    """Cross-entropy on the ``n_regular`` regular logits only (auxiliary logits get no direct loss).

    All models see the same shuffled batches (they differ by initialisation); one wide GEMM per layer.
    """
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed * 31 + 5)
    n = x.shape[0]
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            out = net(x[idx])[..., :n_regular]
            m, b, _ = out.shape
            loss = F.cross_entropy(out.reshape(m * b, n_regular), y[idx].repeat(m), reduction="sum") / b
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() / m
            count += 1
            if on_step:
                on_step()
        if on_epoch:
            on_epoch(epoch, total / max(count, 1))


@torch.no_grad()
def accuracy(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, n_regular: int = 10, chunk: int = 2500) -> torch.Tensor:
    """Test accuracy of each model ``(n_models,)`` from its argmax over the regular logits."""
    correct = torch.zeros(net.n_models)
    for start in range(0, x.shape[0], chunk):
        pred = net(x[start : start + chunk])[..., :n_regular].argmax(-1)
        correct += (pred == y[start : start + chunk]).sum(dim=1).float()
    return correct / x.shape[0]
