"""Theorem 1's ingredients: imitation losses vanish at the teacher, and inner products are computed exactly."""

import pytest
import torch

from sublim.theorem.alignment import imitation_loss, inner_and_cosine, relative_norm


@pytest.mark.parametrize("kind", ["logits_mse", "softmax_kl"])
def test_losses_are_zero_at_the_teacher_and_positive_elsewhere(kind):
    t = torch.randn(4, 7, dtype=torch.float64)
    assert imitation_loss(t, t, kind).abs().max() < 1e-12
    assert (imitation_loss(t + torch.randn_like(t), t, kind) > 0).all()


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown imitation loss"):
        imitation_loss(torch.zeros(1, 2), torch.zeros(1, 2), "hinge")


def test_inner_product_and_cosine_per_model_and_pooled():
    a = [torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0], [1.0]])]
    b = [torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([[0.0], [0.0]])]
    dot, cos = inner_and_cosine(a, b, model_dim=True)
    assert dot.tolist() == [1.0, -1.0]
    assert cos[0].item() == pytest.approx(1.0) and cos[1].item() == pytest.approx(-1 / 3**0.5)
    dot, _ = inner_and_cosine(a, b, model_dim=False)
    assert dot.item() == 0.0
    assert relative_norm([torch.ones(2, 2)], [2 * torch.ones(2, 2)], model_dim=True).tolist() == [0.5, 0.5]


def test_linear_model_student_step_is_always_aligned():
    """For f(x) = Wx and squared error the student's step is J^T J Δ_T: ⟨Δ_S, Δ_T⟩ = ‖Δ_T x‖² ≥ 0."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        w0 = torch.randn(3, 5, generator=gen, dtype=torch.float64)
        delta_t = torch.randn(3, 5, generator=gen, dtype=torch.float64)
        x = torch.randn(20, 5, generator=gen, dtype=torch.float64)
        w = w0.clone().requires_grad_(True)
        loss = imitation_loss(x @ w.T, x @ (w0 + delta_t).T, "logits_mse").mean()
        (g,) = torch.autograd.grad(loss, w)
        dot, _ = inner_and_cosine([-g], [delta_t], model_dim=False)
        assert dot.item() >= 0
