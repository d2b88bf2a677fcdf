"""A user module registering two activations the package does not have (tests/test_user_activation_matrix.py).

* ``user_erf_gate`` -- self-gated, gate from erf: ``x * (1 + erf(scale * x)) / 2`` (``scale = 1/sqrt(2)`` is
  GELU; the default 0.5 is a wider gate).
* ``user_smelu`` -- piecewise polynomial, SmeLU (Shamir et al. 2020, arXiv:2010.10054 / 2202.06499):
  0 for ``x <= -beta``, ``(x + beta)^2 / (4 beta)`` on ``|x| < beta``, ``x`` for ``x >= beta``.

Written as a user would: ``keras.ops`` under Keras 3 (every backend), TensorFlow ops under tf_keras; no
hand-written lowerings, so int8 export and QAT use the automatic lowering. Imported by the matrix test
(registering them) and by the fresh process that loads a saved model.
"""

from __future__ import annotations

import math

import numpy as np

import keras_acts

if keras_acts.FRONTEND == "keras3":
    from keras import ops as _ops

    _erf, _where, _square = _ops.erf, _ops.where, _ops.square
else:  # tf_keras: TensorFlow ops
    import tensorflow as tf

    _erf, _where, _square = tf.math.erf, tf.where, tf.square

_np_erf = np.vectorize(math.erf, otypes=[np.float64])

NAMES = ("user_erf_gate", "user_smelu")


def erf_gate_reference(x: np.ndarray, scale: float = 0.5) -> np.ndarray:
    """``x (1 + erf(scale x)) / 2`` in float64."""
    x = np.asarray(x, np.float64)
    return x * 0.5 * (1.0 + _np_erf(scale * x))


def smelu_reference(x: np.ndarray, beta: float = 2.0) -> np.ndarray:
    """SmeLU from its piecewise definition, in float64."""
    x = np.asarray(x, np.float64)
    return np.where(x >= beta, x, np.where(x <= -beta, 0.0, (x + beta) ** 2 / (4.0 * beta)))


@keras_acts.register_activation(
    "user_erf_gate", params={"scale": 0.5}, reference=erf_gate_reference,
    formula="x * (1 + erf(scale * x)) / 2", paper="test: self-gated, erf gate",
)
def user_erf_gate(x, scale=0.5):
    """x (1 + erf(scale x)) / 2"""
    return x * 0.5 * (1.0 + _erf(x * scale))


@keras_acts.register_activation(
    "user_smelu", params={"beta": 2.0}, reference=smelu_reference,
    formula="0 below -beta, (x + beta)^2 / (4 beta) on [-beta, beta], x above", paper="Shamir et al. 2020",
)
def user_smelu(x, beta=2.0):
    """SmeLU: a quadratic joining 0 and the identity."""
    return _where(x >= beta, x, _where(x <= -beta, 0.0 * x, _square(x + beta) / (4.0 * beta)))
