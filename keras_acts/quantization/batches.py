"""Calibration data as batches of model inputs (shared by both QAT paths)."""

from __future__ import annotations

from typing import Any, Iterator

import sys

import numpy as np

from keras_acts import _ops


def input_batches(data: Any, batch_size: int) -> Iterator[Any]:
    """Yields input batches of an array (N, ...) or a ``tf.data.Dataset`` (of inputs or
    (input, target) batches).

    Raises:
        TypeError: ``data`` is neither.
        ValueError: the array is empty.
    """
    if _is_tf_dataset(data):
        for item in data:
            yield item[0] if isinstance(item, (tuple, list)) else item
        return
    if isinstance(data, (list, tuple)) or not hasattr(data, "shape"):
        raise TypeError(
            f"calibration_data must be an array of model inputs (N, ...) or a tf.data.Dataset of input batches, "
            f"got {type(data).__name__}. Pass e.g. x_train[:500]."
        )
    n = int(data.shape[0])
    if n == 0:
        raise ValueError("calibration_data is empty; pass a few hundred representative inputs, e.g. x_train[:500].")
    for i in range(0, n, batch_size):
        yield data[i : i + batch_size]


def _is_tf_dataset(data: Any) -> bool:
    """True for a ``tf.data.Dataset`` (checked without importing TensorFlow when it is not loaded)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def checked_batch(batch: Any, input_shape: tuple) -> Any:
    """One calibration batch as a float32 tensor, after checking it fits the model.

    Args:
        batch: an array-like batch of model inputs.
        input_shape: the model's input shape, batch dimension first (``model.inputs[0].shape``).

    Raises:
        QuantizationError: the batch is not numeric, has the wrong shape, or holds NaN/inf.
    """
    from keras_acts.quantization.errors import QuantizationError

    dtype = getattr(batch, "dtype", None)
    if dtype is None or not np.issubdtype(np.dtype(getattr(dtype, "as_numpy_dtype", dtype)), np.number):
        raise QuantizationError(
            f"calibration_data must be numeric model inputs, got dtype {dtype}; convert it, e.g. x.astype('float32')."
        )
    if hasattr(batch, "detach"):  # a torch tensor (possibly requiring grad)
        batch = batch.detach().cpu().numpy()
    x = np.asarray(batch, dtype=np.float32)
    want = tuple(input_shape[1:])
    if x.ndim != len(input_shape) or any(w is not None and w != g for w, g in zip(want, x.shape[1:])):
        raise QuantizationError(
            f"calibration_data batches have shape {x.shape}, but the model takes inputs of shape "
            f"(batch, {', '.join(str(d) for d in want)}); pass inputs shaped like the training inputs."
        )
    if not np.all(np.isfinite(x)):
        raise QuantizationError("calibration_data contains NaN or inf; pass finite inputs scaled like the training inputs.")
    return _ops.convert_to_tensor(x)


def model_batches(model: Any, data: Any, batch_size: int) -> Iterator[Any]:
    """The checked float32 input batches of ``data`` for ``model`` (see :func:`checked_batch`)."""
    shape = tuple(model.inputs[0].shape)
    for batch in input_batches(data, batch_size):
        yield checked_batch(batch, shape)
