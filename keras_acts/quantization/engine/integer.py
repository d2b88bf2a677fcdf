"""Inference that computes what LiteRT's int8 kernels compute, integer for integer.

Float fake quantization (:mod:`.fake_quant`) reproduces an int8 convolution up to its last
rounding: the int8 kernel adds an int32 bias (the float bias rounded to the grid
``s_in * s_w``) to an exact integer accumulator and requantizes it with one float32
multiply and round-half-to-even (XNNPACK's fp32 requantization, LiteRT's default CPU path),
while float fake quantization adds the unrounded bias and rounds ``(y - min) / s_out`` half
up. The two disagree by one output step on about 1 % of the outputs of a layer, and in a
deep network each such step travels into every later layer: measured on a trained
MobileNetV3Small, the mean difference grows 0.01 -> 0.8 output LSB over its first ten
layers.

This module does the int8 kernel's arithmetic instead, in float32 tensors holding exact
integers (every partial sum of int8 x int8 products below 2**24 is exact):

    acc   = conv(q_in - z_in, q_w) + round(b / (s_in * s_w))
    q_out = clamp(round_half_even(acc * float32(s_in * s_w / s_out)) + z_out, qmin, qmax)

with ``qmin``/``qmax`` the int8 bounds narrowed by a fused ReLU/ReLU6. Weighted layers use
it in inference (``training=False``) when they can find the range their input was
quantized on; training keeps the float fake quantization and its straight-through gradient.
While a model is traced for conversion (:func:`exporting`) the float form is used, so the
converter sees FakeQuant ops only.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import tensorflow as tf

_state = threading.local()


@contextlib.contextmanager
def exporting() -> Iterator[None]:
    """Inside the block QAT layers compute their float fake-quant form (for the converter)."""
    previous = getattr(_state, "exporting", False)
    _state.exporting = True
    try:
        yield
    finally:
        _state.exporting = previous


def is_exporting() -> bool:
    """True inside :func:`exporting`."""
    return getattr(_state, "exporting", False)


def grid(lo: Any, hi: Any) -> tuple[Any, Any]:
    """(scale, zero point as an int8 value) of the range [lo, hi], nudged as FakeQuant nudges it.

    TensorFlow's FakeQuantWithMinMaxVars (8 bits, full range) and the converter both take
    ``scale = (hi - lo) / 255`` and move the zero point onto the nearest integer.
    """
    lo = tf.cast(lo, tf.float32)
    hi = tf.cast(hi, tf.float32)
    scale = (hi - lo) / 255.0
    zero = tf.clip_by_value(tf.round(-lo / scale), 0.0, 255.0)  # on the uint8 grid [0, 255]
    return scale, zero - 128.0


def weight_scale(kernel: Any, axis: int | None) -> Any:
    """Symmetric narrow-range scale ``max|w| / 127``, per index of ``axis`` (None: per tensor)."""
    from keras_acts.quantization.engine.fake_quant import _MIN_WEIGHT

    if axis is None:
        return tf.maximum(tf.reduce_max(tf.abs(kernel)), _MIN_WEIGHT) / 127.0
    reduce = [i for i in range(len(kernel.shape)) if i != axis % len(kernel.shape)]
    return tf.maximum(tf.reduce_max(tf.abs(kernel), axis=reduce), _MIN_WEIGHT) / 127.0


def round_half_away(x: Any) -> Any:
    """Rounding with ties away from zero (the converter's rounding of weights and biases)."""
    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def requantize(acc: Any, multiplier: Any, out_zero: Any, qmin: Any, qmax: Any) -> Any:
    """``clamp(round_half_even(acc * multiplier) + out_zero, qmin, qmax)`` in float32
    (XNNPACK's fp32 requantization of an int32 accumulator)."""
    y = tf.round(tf.cast(acc, tf.float32) * multiplier)  # tf.round: half to even
    return tf.clip_by_value(y + out_zero, qmin, qmax)


def output_bounds(fused: str, scale: Any, zero: Any) -> tuple[Any, Any]:
    """The int8 clamp of an op's output with a fused activation (RELU, RELU6, RELU_N1_TO_1)."""
    qmin, qmax = tf.constant(-128.0), tf.constant(127.0)
    if fused == "relu":
        qmin = tf.maximum(qmin, zero)
    elif fused == "relu6":
        qmin = tf.maximum(qmin, zero)
        qmax = tf.minimum(qmax, zero + tf.round(6.0 / scale))
    elif fused == "hard_tanh":
        qmin = tf.maximum(qmin, zero + tf.round(-1.0 / scale))
        qmax = tf.minimum(qmax, zero + tf.round(1.0 / scale))
    return qmin, qmax
