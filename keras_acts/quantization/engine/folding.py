"""BatchNorm folding, as the TFLite converter folds an inference-mode BatchNorm into a conv.

For ``y = gamma * (conv(x, w) + b - mean) / sqrt(var + eps) + beta`` the converter stores
``w' = w * s`` and ``b' = beta + (b - mean) * s`` with ``s = gamma / sqrt(var + eps)``,
scaled per output channel. QAT must quantize ``w'`` (not ``w``), or training sees other
weights than the int8 model.
"""

from __future__ import annotations

from typing import Any

from keras_acts import _ops


def bn_scale(gamma: Any, variance: Any, epsilon: float) -> Any:
    """``gamma / sqrt(variance + epsilon)`` per channel (``gamma`` None means 1)."""
    s = _ops.rsqrt(variance + epsilon)
    return s if gamma is None else gamma * s


def fold_kernel(kernel: Any, scale: Any, depthwise: bool = False) -> Any:
    """The kernel with each output channel multiplied by ``scale``.

    Conv2D/Dense kernels have their output channels on the last axis; a depthwise kernel
    (kh, kw, in, multiplier) has them on ``in * multiplier``.
    """
    if depthwise:
        kh, kw, cin, mult = kernel.shape
        return kernel * _ops.reshape(scale, (1, 1, cin, mult))
    return kernel * scale


def fold_bias(bias: Any, scale: Any, beta: Any, mean: Any) -> Any:
    """``beta + (bias - mean) * scale`` (``bias``/``beta`` None mean 0)."""
    b = -mean if bias is None else bias - mean
    out = b * scale
    return out if beta is None else out + beta


def batch_moments(y: Any) -> tuple[Any, Any]:
    """Per-channel (last axis) mean and variance of a conv output batch."""
    axes = list(range(len(y.shape) - 1))
    return _ops.moments(y, axes)
