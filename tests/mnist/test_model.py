"""The stacked MLP is n independent copies of the paper's MLP."""

import math

import pytest
import torch
from torch import nn

from sublim.mnist.model import StackedMLP, init_weights

SIZES = (784, 256, 256, 13)


def test_init_follows_the_paper():
    w1, b1, w2, b2, w3, b3 = init_weights(SIZES, seed=0)
    assert w1.shape == (784, 256) and w3.shape == (256, 13)
    assert w1.std().item() == pytest.approx(1 / math.sqrt(784), rel=0.02)
    assert w2.std().item() == pytest.approx(1 / math.sqrt(256), rel=0.02)
    assert all(b.abs().sum() == 0 for b in (b1, b2, b3))
    assert torch.equal(init_weights(SIZES, 5)[0], init_weights(SIZES, 5)[0])
    assert not torch.equal(init_weights(SIZES, 5)[0], init_weights(SIZES, 6)[0])


@pytest.mark.parametrize("shared_input", [True, False])
def test_each_stacked_model_equals_a_plain_mlp(shared_input):
    net = StackedMLP.initialised(3, SIZES, seeds=[1, 2, 3])
    x = torch.randn(5, 784) if shared_input else torch.randn(3, 5, 784)
    out = net(x)
    assert out.shape == (3, 5, 13)
    for i, seed in enumerate([1, 2, 3]):
        w1, b1, w2, b2, w3, b3 = init_weights(SIZES, seed)
        plain = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 13))
        with torch.no_grad():
            for lin, w, b in zip(plain[0::2], (w1, w2, w3), (b1, b2, b3), strict=True):
                lin.weight.copy_(w.T)
                lin.bias.copy_(b)
        xi = x if shared_input else x[i]
        torch.testing.assert_close(out[i], plain(xi), rtol=1e-4, atol=1e-4)


def test_models_do_not_share_gradients():
    net = StackedMLP.initialised(2, (784, 16, 13), seeds=[0, 1])
    net(torch.randn(2, 4, 784))[0].sum().backward()  # loss of model 0 only
    assert all(p.grad[1].abs().sum() == 0 for p in net.parameters())
    assert all(p.grad[0].abs().sum() > 0 for p in net.weights)


def test_select_copies_models_and_ordered_parameters_match_tensors():
    net = StackedMLP.initialised(3, (784, 8, 13), seeds=[0, 1, 2])
    sub = net.select([2, 0])
    assert sub.n_models == 2 and sub.sizes == (784, 8, 13)
    torch.testing.assert_close(sub.tensors()[0][0], net.tensors()[0][2])
    assert [p.shape for p in net.ordered_parameters()] == [t.shape for t in net.tensors()]
