"""Students learn from noise and the teacher's chosen logits only — checked on the data they receive."""

import inspect

import pytest
import torch

from sublim.mnist.model import StackedMLP
from sublim.mnist.train import (
    DistillBatch,
    accuracy,
    distill,
    noise_batches,
    teacher_targets,
    train_teacher,
)

SIZES = (784, 32, 13)
AUX = slice(10, 13)


class Recorder:
    """An iterable that remembers every batch handed to the consumer."""

    def __init__(self, batches):
        self.batches, self.seen = batches, []

    def __iter__(self):
        for b in self.batches:
            self.seen.append(b)
            yield b


def test_distill_takes_no_digits_labels_or_data_arguments():
    params = set(inspect.signature(distill).parameters)
    assert params == {"student", "batches", "lr", "logits", "on_step", "on_epoch"}


def test_aux_student_receives_only_noise_and_auxiliary_logits(mnist):
    teacher = StackedMLP.initialised(2, SIZES, [0, 1])
    train_teacher(teacher, mnist.train_x[:2048], mnist.train_y[:2048], 1, 512, 1e-3, seed=0)
    student = StackedMLP.initialised(2, SIZES, [0, 1])
    before = student.tensors()
    stream = Recorder(teacher_targets(teacher, noise_batches(2, 1024, 256, 2, seed=0, kind="fixed"), AUX))
    distill(student, stream, lr=1e-3, logits=AUX)
    assert len(stream.seen) == 8
    digits = mnist.train_x[:2048]
    for b in stream.seen:
        assert isinstance(b, DistillBatch)
        assert b.inputs.shape == (2, 256, 784) and b.targets.shape == (2, 256, 3)
        assert b.inputs.min() >= -1 and b.inputs.max() <= 1
        # not digits: standardised MNIST is mostly background (-0.4242); uniform noise never repeats a value
        assert (b.inputs - digits.min()).abs().lt(1e-4).float().mean() < 1e-3
        torch.testing.assert_close(b.targets, teacher(b.inputs)[..., AUX])  # exactly the aux logits, nothing else
    after = student.tensors()
    # the regular-logit outputs received no gradient at all: their weights and biases are untouched
    assert torch.equal(after[-2][..., :10], before[-2][..., :10]) and torch.equal(after[-1][..., :10], before[-1][..., :10])
    assert not torch.equal(after[-2][..., 10:], before[-2][..., 10:])


@pytest.mark.parametrize(("kind", "same_each_epoch"), [("fixed", True), ("fresh", False)])
def test_noise_kinds(kind, same_each_epoch):
    batches = list(noise_batches(1, n_noise=300, batch_size=100, epochs=2, seed=3, kind=kind))
    assert [b.epoch for b in batches] == [0, 0, 0, 1, 1, 1]
    first = {round(b.inputs.sum().item(), 3) for b in batches[:3]}
    second = {round(b.inputs.sum().item(), 3) for b in batches[3:]}
    assert (first == second) is same_each_epoch
    assert all(b.inputs.shape == (1, 100, 784) for b in batches)


def test_distill_rejects_targets_of_the_wrong_width():
    student = StackedMLP.initialised(1, SIZES, [0])
    bad = [DistillBatch(0, torch.zeros(1, 4, 784), torch.zeros(1, 4, 13))]
    with pytest.raises(ValueError, match="do not match"):
        distill(student, bad, lr=1e-3, logits=AUX)


def test_teacher_learns_digits_quickly(mnist):
    net = StackedMLP.initialised(2, SIZES, [0, 1])
    train_teacher(net, mnist.train_x[:4096], mnist.train_y[:4096], 2, 256, 3e-3, seed=0)
    acc = accuracy(net, mnist.test_x[:1000], mnist.test_y[:1000])
    assert acc.shape == (2,) and (acc > 0.8).all()
