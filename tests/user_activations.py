"""A user module that registers an activation the package does not have (imported by the tests).

Squareplus (Barron, 2021, arXiv:2112.11687): ``0.5 * (x + sqrt(x^2 + b))``, a smooth ReLU made of
square roots. Written as a user would: ``keras.ops`` under Keras 3 (every backend), TensorFlow
ops under tf_keras. The tests import this module to register it, and unregister it afterwards so
that the rest of the suite sees the package's registry only.
"""

from __future__ import annotations

import numpy as np

import keras_acts

if keras_acts.FRONTEND == "keras3":
    from keras import ops as _ops

    _sqrt, _square = _ops.sqrt, _ops.square
else:  # tf_keras: TensorFlow ops
    import tensorflow as tf

    _sqrt, _square = tf.sqrt, tf.square


def squareplus_reference(x: np.ndarray, b: float = 4.0) -> np.ndarray:
    """Squareplus in float64 with NumPy."""
    x = np.asarray(x, np.float64)
    return 0.5 * (x + np.sqrt(x * x + b))


@keras_acts.register_activation(
    "squareplus",
    params={"b": 4.0},
    aliases=("square_plus",),
    reference=squareplus_reference,
    formula="0.5 * (x + sqrt(x^2 + b))",
    paper="Barron 2021 (arXiv:2112.11687)",
)
def squareplus(x, b=4.0):
    """0.5 * (x + sqrt(x^2 + b))"""
    return 0.5 * (x + _sqrt(_square(x) + b))
