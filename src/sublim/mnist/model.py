"""Many MNIST MLPs stored as one stack of weights, trained in a single pass over the data.

The paper's MLP is 784 → 256 → 256 → (10 regular + m auxiliary logits) with ReLU, weights drawn from
N(0, 1/√fan_in) and zero biases. :class:`StackedMLP` holds ``n_models`` independent copies: every
weight has a leading model dimension and a layer is one batched matmul (``torch.baddbmm``), so ten
models cost about as much Python overhead as one. Model ``i`` never mixes with model ``j``: the loss
is a sum of per-model losses, so each model's gradient is exactly its own.

Example:
    >>> import torch
    >>> net = StackedMLP.initialised(n_models=3, sizes=(784, 256, 256, 13), seeds=[0, 1, 2])
    >>> net(torch.zeros(3, 5, 784)).shape
    torch.Size([3, 5, 13])
    >>> net(torch.zeros(5, 784)).shape          # one batch shared by every model
    torch.Size([3, 5, 13])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def init_weights(sizes: Sequence[int], seed: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Weights of ONE model, layer by layer: ``[W1 (in, out), b1 (out,), W2, b2, ...]``.

    Weights ~ N(0, 1/√fan_in) (standard deviation 1/√fan_in), biases zero; fully determined by ``seed``.
    """
    gen = torch.Generator().manual_seed(int(seed))
    out: list[torch.Tensor] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = torch.randn(fan_in, fan_out, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
        out += [w.to(dtype), torch.zeros(fan_out, dtype=dtype)]
    return out


class StackedMLP(nn.Module):
    """``n_models`` ReLU MLPs with identical shapes; parameters are ``(n_models, ...)`` tensors.

    Args:
        tensors: ``[W1, b1, W2, b2, ...]`` with ``W`` of shape ``(n_models, in, out)`` and ``b`` of
            shape ``(n_models, out)``; copied into parameters.
    """

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        super().__init__()
        if len(tensors) % 2 or not tensors:
            raise ValueError("expected alternating weights and biases")
        self.weights = nn.ParameterList(nn.Parameter(t.detach().clone()) for t in tensors[0::2])
        self.biases = nn.ParameterList(nn.Parameter(t.detach().clone()) for t in tensors[1::2])

    @classmethod
    def initialised(
        cls, n_models: int, sizes: Sequence[int], seeds: Sequence[int], dtype: torch.dtype = torch.float32
    ) -> StackedMLP:
        """A fresh stack where model ``i`` is initialised from ``seeds[i]`` (see :func:`init_weights`)."""
        if len(seeds) != n_models:
            raise ValueError(f"need one seed per model, got {len(seeds)} for {n_models}")
        per_model = [init_weights(sizes, s, dtype) for s in seeds]
        return cls([torch.stack(layer) for layer in zip(*per_model, strict=True)])

    @property
    def n_models(self) -> int:
        return self.weights[0].shape[0]

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1], *(w.shape[2] for w in self.weights))

    def ordered_parameters(self) -> list[nn.Parameter]:
        """The live parameters in :meth:`tensors` order ``[W1, b1, W2, b2, ...]``."""
        out: list[nn.Parameter] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w, b]
        return out

    def tensors(self) -> list[torch.Tensor]:
        """Detached copies ``[W1, b1, ...]`` (what :meth:`__init__` takes back)."""
        out: list[torch.Tensor] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w.detach().clone(), b.detach().clone()]
        return out

    def select(self, index: Sequence[int]) -> StackedMLP:
        """A new stack made of the models at ``index`` (copied)."""
        idx = torch.as_tensor(list(index), dtype=torch.long)
        return StackedMLP([t[idx] for t in self.tensors()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(n_models, batch, out)`` for inputs ``(n_models, batch, in)`` or shared ``(batch, in)``."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if h.dim() == 2:  # one batch for every model: a single wide GEMM, then split by model
                m, fan_in, fan_out = w.shape
                wide = w.permute(1, 0, 2).reshape(fan_in, m * fan_out)
                h = (h @ wide).view(h.shape[0], m, fan_out).permute(1, 0, 2) + b.unsqueeze(1)
            else:
                h = torch.baddbmm(b.unsqueeze(1), h, w)
            if i < last:
                h = torch.relu(h)
        return h
