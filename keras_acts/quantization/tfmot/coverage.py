"""QAT for the non-activation layers real architectures use that tfmot 0.8.1 refuses.

keras.applications MobileNetV3 and EfficientNet contain three such layers:

* ``Rescaling`` and ``Normalization`` at the input (``x * scale + offset`` and
  ``(x - mean) / sqrt(var)``, per channel or scalar). Both are a per-channel affine map,
  which :func:`affine_as_depthwise` rewrites as the *same* map computed by a 1x1
  ``DepthwiseConv2D`` with kernel ``a`` and bias ``b``: tfmot quantizes it natively (one
  int8 weight per channel, so ``a`` is exact at 127 steps; an int32 bias) and the
  converter emits one int8 ``DEPTHWISE_CONV_2D`` instead of float ``MUL``/``ADD`` islands.
* ``Multiply`` (squeeze-and-excitation gates ``x * s`` with ``s`` broadcast over H, W):
  annotated with tfmot's own output-only config (``Default8BitOutputQuantizeConfig``, the
  scheme tfmot uses for ``Add``), which converts to one int8 ``MUL``.

Everything else these models contain (Conv2D/DepthwiseConv2D with BatchNorm, ReLU, Add,
ZeroPadding2D, GlobalAveragePooling2D, Reshape, Flatten, Dropout, Dense) tfmot covers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_acts.backend import keras


class AffineRewriteError(ValueError):
    """A Rescaling/Normalization layer that cannot be written as a 1x1 DepthwiseConv2D."""


def is_affine_preprocessing(layer: Any) -> bool:
    """True for ``Rescaling`` and ``Normalization`` layers."""
    return isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization))


def needs_output_config(layer: Any) -> bool:
    """Layers keras_acts annotates with tfmot's output-only QuantizeConfig."""
    return isinstance(layer, keras.layers.Multiply)


def output_config() -> Any:
    """tfmot's output-only QuantizeConfig (serializable inside ``quantize_scope``)."""
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_configs as configs,
    )

    return configs.Default8BitOutputQuantizeConfig()


def _channels(layer: Any) -> int:
    shape = tuple(layer.input_shape)
    if len(shape) != 4 or shape[-1] is None:
        raise AffineRewriteError(
            f"{layer.name} ({type(layer).__name__}) acts on inputs of shape {shape}; keras_acts QAT makes "
            "Rescaling/Normalization quantization-aware as a 1x1 DepthwiseConv2D, which needs 4-D NHWC inputs "
            "with a known channel count. Apply the scaling to the data before the model instead (and drop the layer)."
        )
    return int(shape[-1])


def affine_coefficients(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` per channel such that the layer computes ``a * x + b``."""
    c = _channels(layer)
    if isinstance(layer, keras.layers.Rescaling):
        a = np.broadcast_to(np.asarray(layer.scale, np.float64), (c,))
        b = np.broadcast_to(np.asarray(layer.offset, np.float64), (c,))
        return a.astype(np.float32), b.astype(np.float32)
    axis = layer.axis if isinstance(layer.axis, (tuple, list)) else (layer.axis,)
    if tuple(int(v) % 4 for v in axis) != (3,):
        raise AffineRewriteError(
            f"{layer.name} (Normalization) normalizes over axis {layer.axis}; keras_acts QAT handles per-channel "
            "normalization (axis=-1) of NHWC images. Normalize the data before the model instead."
        )
    mean = np.broadcast_to(np.asarray(keras.backend.get_value(layer.mean), np.float64).reshape(-1), (c,))
    var = np.broadcast_to(np.asarray(keras.backend.get_value(layer.variance), np.float64).reshape(-1), (c,))
    std = np.maximum(np.sqrt(var), keras.backend.epsilon())
    if getattr(layer, "invert", False):
        a, b = std, mean
    else:
        a, b = 1.0 / std, -mean / std
    return a.astype(np.float32), b.astype(np.float32)


def affine_as_depthwise(layer: Any) -> tuple[dict, list[np.ndarray]]:
    """The serialized 1x1 DepthwiseConv2D computing ``layer`` and its weights [kernel, bias]."""
    a, b = affine_coefficients(layer)
    conv = keras.layers.DepthwiseConv2D(1, use_bias=True, name=layer.name, dtype=layer.dtype)
    cfg = keras.layers.serialize(conv)
    kernel = a.reshape(1, 1, -1, 1)
    return cfg, [kernel, b]
