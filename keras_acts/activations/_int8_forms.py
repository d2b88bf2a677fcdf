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

from typing import Any, Sequence

import tensorflow as tf


def split_sign(x: Any) -> tuple[Any, Any]:
    """Returns ``(relu(x), min(x, 0))``, with ``min(x, 0)`` computed as ``x - relu(x)``.

    ``x = relu(x) + min(x, 0)`` exactly; each part has its own int8 range, so the
    negative branch of an activation is computed on a narrow, well-used range.
    """
    p = tf.nn.relu(x)
    return p, x - p


def horner(t: Any, coeffs: Sequence[float]) -> Any:
    """``coeffs[0] + t * (coeffs[1] + t * (coeffs[2] + ...))`` (one MUL and ADD per degree)."""
    acc = None
    for c in reversed(coeffs):
        acc = tf.constant(c, t.dtype) if acc is None else c + t * acc
    return acc
