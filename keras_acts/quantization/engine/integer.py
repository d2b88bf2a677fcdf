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

This module does the int8 kernel's arithmetic instead, with tensors holding exact integers:

    acc   = conv(q_in - z_in, q_w) + round(b / (s_in * s_w))
    q_out = clamp(round_half_even(acc * float32(s_in * s_w / s_out)) + z_out, qmin, qmax)

with ``qmin``/``qmax`` the int8 bounds narrowed by a fused ReLU/ReLU6. Weighted layers use
it in inference (``training=False``) when they can find the range their input was
quantized on; training keeps the float fake quantization and its straight-through gradient.
While a model is traced for conversion (:func:`exporting`) the float form is used, so the
converter sees FakeQuant ops only.

Backends: the convolution accumulators are float64 (exact below 2**53) where the backend
computes in float64 (tensorflow, tf_keras, torch); on jax, which computes in float32 unless
``jax_enable_x64`` is set, the int8 kernel is split into bit-planes small enough that every
float32 partial sum is an exact integer below 2**24, and the planes are combined in int32
(:func:`integer_conv`). ADD, MUL, MEAN and LEAKY_RELU requantize in int32 everywhere. The
converter's scale arithmetic (scale and zero point of a range, the int32 bias) is done in
double where the backend has it; on jax without x64 it is float32, which can move a bias or
a zero point by one step in rare ties.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

from keras_acts import _ops

WIDE = _ops.WIDE_FLOAT
"""The dtype of the converter's double-precision scale arithmetic and of exact accumulators."""

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


def _wide(x: Any) -> Any:
    return _ops.cast(x, WIDE)


def _div(x: Any, y: Any) -> Any:
    """Correctly rounded division (XLA's CPU compiler otherwise multiplies by a rounded
    reciprocal when the divisor is a scalar; see :func:`keras_acts._ops.divide_exact`)."""
    return _ops.divide_exact(x, y)


def grid(lo: Any, hi: Any) -> tuple[Any, Any]:
    """(scale, zero point as an int8 value) of the range [lo, hi], as the converter stores them.

    TensorFlow's FakeQuantWithMinMaxVars (8 bits, full range) and the converter both take
    ``scale = (hi - lo) / 255`` and move the zero point onto the nearest integer; the
    converter computes in double and stores the scale as float32.
    """
    scale = scale64(lo, hi)
    zero = _ops.clip(round_half_away(_div(-_wide(lo), scale)), 0.0, 255.0)  # uint8 grid
    return _ops.cast(scale, "float32"), _ops.cast(zero - 128.0, "float32")


def scale64(lo: Any, hi: Any) -> Any:
    """The scale of the range [lo, hi] in double (:data:`WIDE`), as the converter computes it before storing it."""
    return _div(_wide(hi) - _wide(lo), 255.0)


def levels(x: Any, scale: Any) -> Any:
    """``q - z`` of a tensor fake-quantized with ``scale`` (exact integers in float32)."""
    return _ops.round(_div(x, scale))


def weight_scale(kernel: Any, axis: int | None) -> Any:
    """Symmetric narrow-range scale ``max|w| / 127`` in double, per index of ``axis`` (None: per tensor).

    The converter stores it as float32; the int32 bias is rounded on the double
    product ``s_in * s_w`` (measured: with the float32 product 1 bias in ~100 channels is off by one).
    """
    from keras_acts.quantization.engine.fake_quant import _MIN_WEIGHT

    if axis is None:
        m = _ops.maximum(_ops.reduce_max(_ops.abs(kernel)), _MIN_WEIGHT)
    else:
        reduce = tuple(i for i in range(len(kernel.shape)) if i != axis % len(kernel.shape))
        m = _ops.maximum(_ops.reduce_max(_ops.abs(kernel), axis=reduce), _MIN_WEIGHT)
    return _div(_wide(m), 127.0)


def round_half_away(x: Any) -> Any:
    """Rounding with ties away from zero (the converter's rounding of weights and biases)."""
    return _ops.sign(x) * _ops.floor(_ops.abs(x) + 0.5)


def integer_conv(op: Callable[[Any, Any], Any], x_int: Any, w_int: Any, reduction: int) -> Any:
    """``op(x_int, w_int)`` (a convolution or matmul) computed exactly; returns :data:`WIDE` floats
    (float64) or, on float32-only backends, int32.

    ``x_int`` holds input levels (``|x| <= 255``), ``w_int`` int8 weight levels (``|w| <= 127``),
    ``reduction`` is the number of products each output sums. In float64 every partial sum is an
    exact integer. In float32 the offset weights ``w + 128`` (0..255) are split into bit-planes of
    ``b`` bits, ``b`` chosen so that ``255 * (2**b - 1) * reduction < 2**24``: every float32
    partial sum of a plane is then exact whatever the summation order, the planes are converted to
    int32 and combined there, and the offset is removed with one more exact pass over ones.
    """
    if WIDE == "float64":
        return op(_ops.cast(x_int, "float64"), _ops.cast(w_int, "float64"))
    limit = 2**24
    if 255 * 255 * reduction > 2**31 or 255 * reduction >= limit:
        raise ValueError(
            f"an int8 layer sums {reduction} products, too many for exact int32 inference on this backend; "
            "enable float64 (jax: jax.config.update('jax_enable_x64', True)) or split the layer."
        )
    bits = 8
    while bits > 1 and 255 * (2**bits - 1) * reduction >= limit:
        bits //= 2
    x = _ops.cast(x_int, "float32")
    offset = _ops.cast(w_int, "float32") + 128.0  # 0..255
    acc = None
    base = float(2**bits)
    for i in range(8 // bits):
        step = float(2 ** (bits * i))
        plane = _ops.floor(offset / step) - base * _ops.floor(offset / (step * base))  # digit i, exact
        part = _ops.cast(_ops.round(op(x, plane)), "int32") * int(step)
        acc = part if acc is None else acc + part
    ones = _ops.cast(_ops.round(op(x, _ops.ones_like(offset))), "int32")
    return acc - ones * 128


def requantize(acc: Any, multiplier: Any, out_zero: Any, qmin: Any, qmax: Any) -> Any:
    """``clamp(round_half_even(acc * multiplier) + out_zero, qmin, qmax)`` in float32
    (XNNPACK's fp32 requantization of an int32 accumulator)."""
    y = _ops.round(_ops.cast(acc, "float32") * multiplier)  # float32 as XNNPACK; round: half to even
    return _ops.clip(y + out_zero, qmin, qmax)


def output_bounds(fused: str, scale: Any, zero: Any) -> tuple[Any, Any]:
    """The int8 clamp of an op's output with a fused activation (RELU, RELU6, RELU_N1_TO_1)."""
    qmin, qmax = _ops.convert_to_tensor(-128.0, "float32"), _ops.convert_to_tensor(127.0, "float32")
    if fused == "relu":
        qmin = _ops.maximum(qmin, zero)
    elif fused == "relu6":
        qmin = _ops.maximum(qmin, zero)
        qmax = _ops.minimum(qmax, zero + _ops.round(_div(6.0, scale)))
    elif fused == "hard_tanh":
        qmin = _ops.maximum(qmin, zero + _ops.round(_div(-1.0, scale)))
        qmax = _ops.minimum(qmax, zero + _ops.round(_div(1.0, scale)))
    return qmin, qmax


def _exponent(x: Any) -> Any:
    """floor(log2(x)) of positive float32 values, exactly (powers of two are exact in float32)."""
    e = _ops.floor(_div(_ops.log(x), _ops.log(_ops.convert_to_tensor(2.0, "float32"))))
    e = _ops.where(_ops.power(2.0, e + 1.0) <= x, e + 1.0, e)
    return _ops.where(_ops.power(2.0, e) > x, e - 1.0, e)


def _int(x: Any) -> Any:
    return _ops.cast(x, "int32")


def add(a: Any, b: Any, a_grid: Any, b_grid: Any, out_grid: Any, qmin: Any, qmax: Any) -> Any:
    """int8 ADD as XNNPACK computes it; returns the output's ``q - z`` levels (float32).

    Both inputs are rescaled to the output scale with 21-bit fixed-point multipliers
    (``round(s_x / s_out * 2**shift)``, ``shift = 20 - floor(log2(max ratio))``), summed with
    a rounding term ``2**(shift - 1)`` and shifted right (floor), then clamped. Computed in
    float64 where the backend has it, else in int32 (``|multiplier * level| < 2**21 * 256``):
    every intermediate is an exact integer.
    """
    (s_a, _), (s_b, _), (s_o, z_o) = a_grid, b_grid, out_grid
    da = _int(levels(a, s_a))
    db = _int(levels(b, s_b))
    a_os = _div(s_a, s_o)  # float32 ratios, as XNNPACK computes them
    b_os = _div(s_b, s_o)
    shift = 20.0 - _exponent(_ops.maximum(a_os, b_os))
    two_shift = _ops.power(2.0, shift)  # exact in float32
    a_mult = _ops.round(a_os * two_shift)  # lrintf: half to even; the product is exact
    b_mult = _ops.round(b_os * two_shift)
    if WIDE == "float64":  # every intermediate an exact integer below 2**53
        acc = _wide(two_shift) / 2.0 + _wide(a_mult) * _wide(da) + _wide(b_mult) * _wide(db)
        q = _ops.floor(_div(acc, _wide(two_shift))) + _wide(z_o)
        q = _ops.clip(q, _wide(qmin), _wide(qmax))
    else:  # int32: exact while shift <= 30 (input/output scale ratios above 2**-10)
        acc = _int(two_shift / 2.0) + _int(a_mult) * da + _int(b_mult) * db
        q = _ops.floor_divide(acc, _int(two_shift)) + _int(z_o)
        q = _ops.clip(q, _int(qmin), _int(qmax))
    return _ops.cast(q, "float32") - z_o


def mul(a: Any, b: Any, a_grid: Any, b_grid: Any, out_grid: Any, qmin: Any, qmax: Any) -> Any:
    """int8 MUL as XNNPACK computes it (fp32 requantization); returns the output's ``q - z`` levels."""
    (s_a, _), (s_b, _), (s_o, z_o) = a_grid, b_grid, out_grid
    product = levels(a, s_a) * levels(b, s_b)  # |.| <= 2**16: exact in float32
    return requantize(product, _div(s_a * s_b, s_o), z_o, qmin, qmax) - z_o


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
    raw = _int(levels(x, s_i)) + _int(z_i)
    total = _ops.cast(_ops.reduce_sum(raw, axis=tuple(axes), keepdims=keepdims), "float32")  # |sum| < 2**24 here
    m = _div(s_i, s_o) * _ops.convert_to_tensor(1.0 / n, "float32")
    z = z_o - _ops.convert_to_tensor(float(n), "float32") * z_i * m
    q = _ops.round(total * m + z)
    return _ops.clip(q, -128.0, 127.0) - z_o


def leaky_relu(x: Any, slope: float, in_grid: Any, out_grid: Any) -> Any:
    """int8 LEAKY_RELU as XNNPACK computes it; returns the output's ``q - z`` levels.

    Each side is rescaled with an 8-bit fixed-point multiplier, ``round(256 * s_in / s_out)``
    and ``round(256 * slope * s_in / s_out)``, with rounding ``+128`` and a right shift by 8
    (in int32).
    """
    (s_i, _), (s_o, z_o) = in_grid, out_grid
    d = _int(levels(x, s_i))
    positive = _div(s_i, s_o)
    negative = positive * _ops.convert_to_tensor(slope, "float32")
    p_mult = _int(_ops.round(256.0 * positive))
    n_mult = _int(_ops.round(256.0 * negative))
    acc = _int(z_o) * 256 + 128 + d * _ops.where(d >= 0, p_mult, n_mult)
    q = _ops.clip(_ops.floor_divide(acc, 256), -128, 127)
    return _ops.cast(q, "float32") - z_o


def constant_grid(c: float) -> tuple[Any, Any]:
    """The grid the converter quantizes a scalar constant operand on: [min(c, 0), max(c, 0)]."""
    return grid(min(c, 0.0), max(c, 0.0))
