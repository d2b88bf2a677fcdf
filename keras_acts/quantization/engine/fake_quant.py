"""Fake quantization as the TFLite int8 kernels quantize, on every backend (:mod:`keras_acts._ops`).

* Weights: per output channel, symmetric, narrow range ([-127, 127], zero point 0,
  scale ``max|w| / 127``), recomputed from the weights at every step -- what the TFLite
  converter stores for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.
* Activations: per tensor, asymmetric, full range ([-128, 127]) on a range
  ``[lo, hi]`` that contains 0 (TensorFlow's FakeQuant nudges the zero point onto the
  integer grid exactly like the converter does).

Both straight-through: the gradient passes unchanged inside the range. On the TensorFlow
backend (and tf_keras) these are TensorFlow's FakeQuant ops, which the TFLite converter reads;
on jax and torch the same arithmetic in ``keras.ops``, bit for bit.
"""

from __future__ import annotations

from typing import Any

from keras_acts import _ops

# Smallest width of a range: a tensor that is constant 0 (a dead ReLU, all-zero weights)
# would otherwise get lo == hi == 0, which FakeQuant cannot represent.
MIN_WIDTH = 1e-3
_MIN_WEIGHT = 1e-8


def per_channel_weights(w: Any, axis: int = -1) -> Any:
    """``w`` fake-quantized to symmetric narrow-range int8, one scale per index of ``axis``.

    Args:
        w: a kernel tensor.
        axis: the output-channel axis (the last one for Conv2D and Dense kernels).
    """
    axis = axis % len(w.shape)
    if axis != len(w.shape) - 1:
        perm = [i for i in range(len(w.shape)) if i != axis] + [axis]
        inverse = [perm.index(i) for i in range(len(perm))]
        return _ops.transpose(per_channel_weights(_ops.transpose(w, perm)), inverse)
    reduce = list(range(len(w.shape) - 1))
    m = _ops.maximum(_ops.reduce_max(_ops.abs(w), axis=reduce), _MIN_WEIGHT)
    return _ops.fake_quant_per_channel(w, -m, m, narrow_range=True)


def per_tensor_weight(w: Any) -> Any:
    """``w`` fake-quantized to symmetric narrow-range int8 with one scale (``max|w| / 127``).

    This is how the converter quantizes a constant operand such as PReLU's alpha.
    """
    m = _ops.maximum(_ops.reduce_max(_ops.abs(w)), _MIN_WEIGHT)
    return _ops.fake_quant(w, -m, m, narrow_range=True)


def constant(c: Any) -> Any:
    """A constant operand of an elementwise op (MUL, ADD) as the converter stores it:
    int8 per tensor, asymmetric on [min(c, 0), max(c, 0)]."""
    lo, hi = observed_range(c)
    return activation(c, lo, hi)


def activation(x: Any, lo: Any, hi: Any) -> Any:
    """``x`` fake-quantized per tensor, asymmetric int8, on the range [lo, hi]."""
    return _ops.fake_quant(x, lo, hi, narrow_range=False)


def observed_range(x: Any) -> tuple[Any, Any]:
    """The range [min(x, 0), max(x, 0)] of a tensor, widened to at least :data:`MIN_WIDTH`."""
    lo = _ops.minimum(_ops.reduce_min(x), 0.0)
    hi = _ops.maximum(_ops.reduce_max(x), 0.0)
    return lo, _ops.maximum(hi, lo + MIN_WIDTH)


def moving_average(old: Any, new: Any, decay: float) -> Any:
    """``decay * old + (1 - decay) * new``: the moving-average step of a range bound."""
    return decay * old + (1.0 - decay) * new
