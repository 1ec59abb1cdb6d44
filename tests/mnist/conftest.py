"""Shared fixtures: real MNIST is loaded once per test session (about 2 s)."""

import pytest
import torch


@pytest.fixture(scope="session")
def mnist():
    from sublim.mnist.data import load_mnist

    return load_mnist()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
