"""Calibration data as batches of model inputs (shared by both QAT paths)."""

from __future__ import annotations

from typing import Any, Iterator

import tensorflow as tf


def input_batches(data: Any, batch_size: int) -> Iterator[Any]:
    """Yields input batches of an array (N, ...) or a ``tf.data.Dataset`` (of inputs or
    (input, target) batches).

    Raises:
        TypeError: ``data`` is neither.
        ValueError: the array is empty.
    """
    if isinstance(data, tf.data.Dataset):
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
