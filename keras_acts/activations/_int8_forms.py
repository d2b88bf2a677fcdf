"""Building blocks of the int8 lowerings (export-time formulations; see :mod:`keras_acts.lowering`).

Facts these forms are designed around (TFLite int8, measured with
:func:`keras_acts.export.fidelity.measure_int8_fidelity`):

* ADD, SUB and MUL compute exactly and round once, to their own output scale; every
  intermediate tensor gets its own calibrated range. So an intermediate should have a
  narrow range, and a quantized factor should never be multiplied by a large one.
* EXP, LOGISTIC, TANH, LOG and GELU run as 256-entry lookup tables: ``f`` of the
  dequantized input, rounded once. LOG has an int8 kernel in TF 2.21.
* MINIMUM/MAXIMUM require equal input and output scales; the converter satisfies that
  by giving the *model input* the output's range when ``tf.minimum(x, 0)`` is applied to
  the input directly, so positive inputs are clipped to 0. ``x - relu(x)`` computes the
  same ``min(x, 0)`` with a SUB, which may rescale.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf


def split_sign(x: Any) -> tuple[Any, Any]:
    """Returns ``(relu(x), min(x, 0))``, with ``min(x, 0)`` computed as ``x - relu(x)``.

    ``x = relu(x) + min(x, 0)`` exactly; each part has its own int8 range, so the
    negative branch of an activation is computed on a narrow, well-used range.
    """
    p = tf.nn.relu(x)
    return p, x - p


def horner(t: Any, coeffs: Sequence[float]) -> Any:
    """``coeffs[0] + t * (coeffs[1] + t * (coeffs[2] + ...))`` (one MUL and ADD per degree; no ADD for a zero term)."""
    acc = None
    for c in reversed(coeffs):
        if acc is None:
            acc = tf.constant(c, t.dtype)
        else:
            acc = t * acc if c == 0.0 else c + t * acc
    return acc


def split_sign_delegable(x: Any) -> tuple[Any, Any]:
    """Returns ``(relu(x), relu(-x))`` with ops LiteRT's XNNPACK delegate takes.

    ``relu(-x)`` is one MUL by -1 with a fused RELU and ``relu(x) = x + relu(-x)`` one ADD; a
    RELU that is not fused into the op before it would run outside XNNPACK and split the graph.
    """
    q = tf.nn.relu(x * -1.0)
    return x + q, q


@functools.lru_cache(maxsize=None)
def fit_polynomial(
    name: str, f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, degree: int,
    through_zero: bool = False, weight: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, ...]:
    """Least-squares polynomial coefficients (constant term first) of ``f`` on ``[lo, hi]``.

    Used to write a smooth gate as a polynomial of a LOGISTIC or TANH output, whose int8 range
    is fixed and bounded. Deterministic (4001 equispaced points), computed once per ``name``.
    ``through_zero`` forces a zero constant term (``f(0) = 0``), which saves an ADD.
    ``weight(v)``, if given, weights the fit (e.g. by the factor the polynomial is multiplied by).
    """
    v = np.linspace(lo, hi, 4001)[1:-1]
    w = np.ones_like(v) if weight is None else weight(v)
    if through_zero:
        c = np.polynomial.polynomial.polyfit(v, f(v) / v, degree - 1, w=w * np.abs(v))
        return (0.0, *map(float, c))
    return tuple(map(float, np.polynomial.polynomial.polyfit(v, f(v), degree, w=w)))
