"""Small shared pieces of the activation families: NumPy helpers for references."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), evaluated without overflow."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def np_softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), evaluated without overflow."""
    return np.logaddexp(0.0, np.asarray(x, dtype=np.float64))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def np_erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x) (math.erfc, elementwise, float64)."""
    return _erfc(np.asarray(x, dtype=np.float64))


def param_as(value, dtype):
    """A parameter (Python number, tensor or variable) as a tensor of ``dtype``.

    Python numbers become constants of ``dtype`` directly: ``tf.cast`` would round
    them through float32 first, losing float64 precision.
    """
    import numbers

    import tensorflow as tf

    if isinstance(value, numbers.Number):
        return tf.constant(value, dtype)
    return tf.cast(value, dtype)


def gated_product(x: Any, f: Callable[[Any], Any], direction: Any = None) -> Any:
    """``f(x)`` for a self-gated activation ``x * gate(x)`` (gate 0 at -inf, 1 at +inf), safe at +-inf.

    For gates with a tensor parameter (a learnable Swish-beta), which are differentiated by plain
    autodiff (also with respect to the parameter): it costs several selects, forward and backward.
    Activations with fixed parameters use :func:`keras_acts._ops.mul_no_nan` and their analytic
    derivative instead (see :mod:`keras_acts.lowering`).

    ``x * gate(x)`` is ``-inf * 0 = NaN`` at ``x = -inf``, and its derivative
    ``gate + x * gate'`` is ``inf * 0 = NaN`` at ``+-inf``. Here ``f`` only ever sees finite
    inputs (``+-inf`` are replaced by 0, so its backward pass stays finite), and the infinite
    inputs get the limits: 0 (derivative 0) at ``-inf``, ``x`` itself (derivative 1) at
    ``+inf``. NaN stays NaN. Finite inputs give exactly ``f(x)``, bit for bit.

    Args:
        x: a floating-point tensor.
        f: the activation's formula, ``f(x) = x * gate(x)``.
        direction: for a gate ``sigmoid(beta * x)``, ``beta`` (number or tensor): the gate is 0
            where ``beta * x = -inf``; None means ``beta > 0``.

    Returns:
        ``f(x)`` with the limits at ``+-inf``.
    """
    from keras_acts import _ops

    finite = _ops.isfinite(x)
    safe = _ops.where(finite, x, 0.0)
    closed = x < 0 if direction is None else direction * x < 0
    return _ops.where(finite, f(safe), _ops.where(closed, 0.0, x))
