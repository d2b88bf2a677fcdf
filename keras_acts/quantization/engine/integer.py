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
integers (float64 for the accumulators, exact below 2**53):

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
    """(scale, zero point as an int8 value) of the range [lo, hi], as the converter stores them.

    TensorFlow's FakeQuantWithMinMaxVars (8 bits, full range) and the converter both take
    ``scale = (hi - lo) / 255`` and move the zero point onto the nearest integer; the
    converter computes in double and stores the scale as float32.
    """
    scale = scale64(lo, hi)
    zero = tf.clip_by_value(round_half_away(-tf.cast(lo, tf.float64) / scale), 0.0, 255.0)  # uint8 grid
    return tf.cast(scale, tf.float32), tf.cast(zero - 128.0, tf.float32)


def scale64(lo: Any, hi: Any) -> Any:
    """The scale of the range [lo, hi] in double, as the converter computes it before storing it."""
    return (tf.cast(hi, tf.float64) - tf.cast(lo, tf.float64)) / 255.0


def levels(x: Any, scale: Any) -> Any:
    """``q - z`` of a tensor fake-quantized with ``scale`` (exact integers in float32)."""
    return tf.round(x / scale)


def weight_scale(kernel: Any, axis: int | None) -> Any:
    """Symmetric narrow-range scale ``max|w| / 127`` in double, per index of ``axis`` (None: per tensor).

    The converter stores it as float32; the int32 bias is rounded on the double
    product ``s_in * s_w`` (measured: with the float32 product 1 bias in ~100 channels is off by one).
    """
    from keras_acts.quantization.engine.fake_quant import _MIN_WEIGHT

    if axis is None:
        m = tf.maximum(tf.reduce_max(tf.abs(kernel)), _MIN_WEIGHT)
    else:
        reduce = [i for i in range(len(kernel.shape)) if i != axis % len(kernel.shape)]
        m = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=reduce), _MIN_WEIGHT)
    return tf.cast(m, tf.float64) / 127.0


def round_half_away(x: Any) -> Any:
    """Rounding with ties away from zero (the converter's rounding of weights and biases)."""
    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def requantize(acc: Any, multiplier: Any, out_zero: Any, qmin: Any, qmax: Any) -> Any:
    """``clamp(round_half_even(acc * multiplier) + out_zero, qmin, qmax)`` in float32
    (XNNPACK's fp32 requantization of an int32 accumulator)."""
    y = tf.round(tf.cast(acc, tf.float32) * multiplier)  # float32 as XNNPACK; tf.round: half to even
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


def _exponent(x: Any) -> Any:
    """floor(log2(x)) of positive float64 values, exactly."""
    e = tf.floor(tf.math.log(x) / tf.math.log(tf.constant(2.0, tf.float64)))
    e = tf.where(tf.pow(tf.constant(2.0, tf.float64), e + 1.0) <= x, e + 1.0, e)
    return tf.where(tf.pow(tf.constant(2.0, tf.float64), e) > x, e - 1.0, e)


def add(a: Any, b: Any, a_grid: Any, b_grid: Any, out_grid: Any, qmin: Any, qmax: Any) -> Any:
    """int8 ADD as XNNPACK computes it; returns the output's ``q - z`` levels (float32).

    Both inputs are rescaled to the output scale with 21-bit fixed-point multipliers
    (``round(s_x / s_out * 2**shift)``, ``shift = 20 - floor(log2(max ratio))``), summed with
    a rounding term ``2**(shift - 1)`` and shifted right (floor), then clamped. Computed in
    float64, where every intermediate is an exact integer.
    """
    (s_a, _), (s_b, _), (s_o, z_o) = a_grid, b_grid, out_grid
    da = tf.cast(levels(a, s_a), tf.float64)
    db = tf.cast(levels(b, s_b), tf.float64)
    a_os = tf.cast(s_a / s_o, tf.float64)  # float32 ratios, as XNNPACK computes them
    b_os = tf.cast(s_b / s_o, tf.float64)
    shift = 20.0 - _exponent(tf.maximum(a_os, b_os))
    two_shift = tf.pow(tf.constant(2.0, tf.float64), shift)
    a_mult = tf.round(a_os * two_shift)  # lrintf: half to even
    b_mult = tf.round(b_os * two_shift)
    acc = two_shift / 2.0 + a_mult * da + b_mult * db
    q = tf.floor(acc / two_shift) + tf.cast(z_o, tf.float64)
    return tf.cast(tf.clip_by_value(q, tf.cast(qmin, tf.float64), tf.cast(qmax, tf.float64)), tf.float32) - z_o


def mul(a: Any, b: Any, a_grid: Any, b_grid: Any, out_grid: Any, qmin: Any, qmax: Any) -> Any:
    """int8 MUL as XNNPACK computes it (fp32 requantization); returns the output's ``q - z`` levels."""
    (s_a, _), (s_b, _), (s_o, z_o) = a_grid, b_grid, out_grid
    product = levels(a, s_a) * levels(b, s_b)  # |.| <= 2**16: exact in float32
    return requantize(product, (s_a * s_b) / s_o, z_o, qmin, qmax) - z_o


def mean(x: Any, axes: list[int], keepdims: bool, in_grid: Any, out_grid: Any) -> Any:
    """int8 MEAN as XNNPACK computes it; returns the output's ``q - z`` levels (float32).

    XNNPACK sums the raw int8 values into int32 and converts the sum with one float32
    multiply-add, ``nearbyint(sum * m + z')``, where ``m = (s_in / s_out) * (1 / N)`` and
    ``z' = z_out - N * z_in * m`` fold the input zero point into the output's.
    """
    (s_i, z_i), (s_o, z_o) = in_grid, out_grid
    n = 1
    for a in axes:
        n *= int(x.shape[a])
    raw = tf.cast(levels(x, s_i), tf.float64) + tf.cast(z_i, tf.float64)
    total = tf.cast(tf.reduce_sum(raw, axis=axes, keepdims=keepdims), tf.float32)  # |sum| < 2**24 here
    m = (s_i / s_o) * tf.constant(1.0 / n, tf.float32)
    z = z_o - tf.constant(float(n), tf.float32) * z_i * m
    q = tf.round(total * m + z)
    return tf.clip_by_value(q, -128.0, 127.0) - z_o


def leaky_relu(x: Any, slope: float, in_grid: Any, out_grid: Any) -> Any:
    """int8 LEAKY_RELU as XNNPACK computes it; returns the output's ``q - z`` levels.

    Each side is rescaled with an 8-bit fixed-point multiplier, ``round(256 * s_in / s_out)``
    and ``round(256 * slope * s_in / s_out)``, with rounding ``+128`` and a right shift by 8.
    """
    (s_i, _), (s_o, z_o) = in_grid, out_grid
    d = tf.cast(levels(x, s_i), tf.float64)
    positive = s_i / s_o
    negative = positive * tf.constant(slope, tf.float32)
    p_mult = tf.cast(tf.round(256.0 * positive), tf.float64)
    n_mult = tf.cast(tf.round(256.0 * negative), tf.float64)
    acc = tf.cast(z_o, tf.float64) * 256.0 + 128.0 + d * tf.where(d >= 0, p_mult, n_mult)
    q = tf.clip_by_value(tf.floor(acc / 256.0), -128.0, 127.0)
    return tf.cast(q, tf.float32) - z_o


def constant_grid(c: float) -> tuple[Any, Any]:
    """The grid the converter quantizes a scalar constant operand on: [min(c, 0), max(c, 0)]."""
    return grid(min(c, 0.0), max(c, 0.0))
