"""Piecewise-linear rectifiers: relu, relu6, leaky_relu, hard_tanh and the learnable prelu."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts import _ops as K
from keras_acts.activations._common import param_as
from keras_acts.activations._qat import QATForm
from keras_acts.lowering import export_form
from keras_acts.registration import register_activation
from keras_acts.registry import Builtin, EdgeTPU, Lowering, Param


def relu(x: Any) -> Any:
    """Rectified linear unit: ``max(x, 0)``.

    Reference: Nair & Hinton, 2010, "Rectified Linear Units Improve Restricted
    Boltzmann Machines".
    """
    return K.relu(x)


def relu6(x: Any) -> Any:
    """ReLU capped at 6: ``min(max(x, 0), 6)``.

    Reference: Krizhevsky, 2010, "Convolutional Deep Belief Networks on CIFAR-10";
    used by MobileNets (Howard et al., 2017).
    """
    return K.relu6(x)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """Leaky ReLU: ``x`` if ``x >= 0`` else ``negative_slope * x``.

    The default slope 0.01 is the one of Maas et al., 2013, "Rectifier Nonlinearities
    Improve Neural Network Acoustic Models" (and PyTorch). Keras's own defaults differ
    (0.2 for the Keras 3 function, 0.3 for the Keras layers).
    """
    if K.dtype_name(x) == "float64" or not isinstance(negative_slope, float):
        # tf.nn.leaky_relu keeps its slope as a float32 attribute.
        return K.where(x >= 0, x, x * K.as_dtype_of(negative_slope, x))
    return K.leaky_relu(x, negative_slope)


def hard_tanh(x: Any) -> Any:
    """Hard tanh: ``clip(x, -1, 1)``.

    The derivative is 1 on ``[-1, 1]`` (both bounds included, as ``tf.clip_by_value`` gives) and
    0 outside, 0 at +-inf. On torch in eager mode one ATen kernel computes it (``K.FUSED``).

    Reference: Collobert, 2004, "Large Scale Machine Learning" (PhD thesis).
    """
    if "hard_tanh" in K.FUSED:
        return K.FUSED["hard_tanh"](x)  # torch: hardtanh_backward with the bounds included
    return K.clip(x, -1.0, 1.0)


def prelu(x: Any, alpha: Any) -> Any:
    """Parametric ReLU: ``x`` if ``x >= 0`` else ``alpha * x``, alpha learned.

    Written as ``max(x, 0) + (-alpha) * relu(-x)``: negating the small alpha rather than
    the product was the fastest backward pass under XLA (benchmarks/bench_activations.py,
    measured with ``relu(x)`` in place of ``max(x, 0)``); ``max(x, 0)`` passes the gradient
    at exactly ``x = 0`` (TensorFlow's maximum gives ties to its first input), so the
    derivative there is 1, inside the subdifferential ``[alpha, 1]``, where
    ``relu(x) + ...`` gave 0. Export traces ``relu(x) + (-alpha) * relu(-x)``, the form the
    TFLite converter fuses into a single PRELU op. ``alpha`` broadcasts against ``x``.

    Reference: He et al., 2015, "Delving Deep into Rectifiers" (arXiv:1502.01852).
    """
    if not K.is_tensor(x):
        x = K.convert_to_tensor(x)
    lowered = export_form("prelu")
    if lowered is not None:
        return lowered(x, alpha)
    alpha = K.as_dtype_of(alpha, x)
    if "prelu" in K.FUSED:  # torch eager: one ATen kernel forward, three passes backward
        y = K.FUSED["prelu"](x, alpha)
        if y is not None:
            return y
    return K.maximum(x, 0.0) + (-alpha) * K.relu(-x)


def _prelu_fused(x: Any, alpha: Any) -> Any:
    """Float export form of PReLU: ``relu(x) + (-alpha) * relu(-x)``, which converts to one PRELU."""
    alpha = param_as(alpha, x.dtype)
    return tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x)


def _prelu_cpu(x: Any, alpha: Any) -> Any:
    """int8 LiteRT-CPU form of PReLU: ``x + (1 - alpha) * relu(-1 * x)`` (MUL+RELU, MUL, ADD).

    Exact for every alpha (``relu(-x) = -min(x, 0)``). XNNPACK's delegate refuses int8 PRELU
    (and a lone RELU), which split the graph; MUL with a fused RELU, MUL and ADD stay inside
    it. ``-1 * x`` is written as a MUL because NEG has no int8 quantization; ``1 - alpha`` is
    folded into a constant of alpha's shape. Measured 0.90 LSB on a -8..8 grid.
    """
    alpha = param_as(alpha, x.dtype)
    return x + (1.0 - alpha) * tf.nn.relu(x * -1.0)


def _leaky_relu_edgetpu(x: Any, negative_slope: float = 0.01) -> Any:
    """Edge TPU form of leaky ReLU: one PRELU with a constant per-channel (1-D) alpha.

    ``relu(x) + (-slope) * relu(-x)`` with a constant alpha of shape ``(1, ..., 1, C)``
    fuses into PRELU, an Edge TPU op. ``max(x, slope * x)`` would become LEAKY_RELU
    (not an Edge TPU op), and users report internal compiler errors with it
    (google-coral/edgetpu#165, #185).
    """
    if x.shape.rank is None or x.shape.rank < 2 or not isinstance(negative_slope, float):
        return tf.nn.relu(x) - param_as(negative_slope, x.dtype) * tf.nn.relu(-x)
    channels = x.shape[-1] or 1
    alpha = np.full([1] * (x.shape.rank - 2) + [channels], -negative_slope, dtype=x.dtype.as_numpy_dtype)
    return tf.nn.relu(x) + tf.constant(alpha) * tf.nn.relu(-x)


def _relu_options(config: Any) -> tuple[float, float, float | None]:
    """``(negative_slope, threshold, max_value)`` of a Keras ``ReLU`` layer config (both frontends)."""
    top = config.get("max_value")
    return float(config.get("negative_slope") or 0.0), float(config.get("threshold") or 0.0), (
        None if top is None else float(top)
    )


def _keras_relu(config: Any) -> dict[str, Any] | None:
    slope, threshold, top = _relu_options(config)
    return {} if slope == 0.0 and threshold == 0.0 and top is None else None


def _keras_relu6(config: Any) -> dict[str, Any] | None:
    slope, threshold, top = _relu_options(config)
    return {} if slope == 0.0 and threshold == 0.0 and top is not None and math.isclose(top, 6.0) else None


def _keras_relu_leaky(config: Any) -> dict[str, Any] | None:
    slope, threshold, top = _relu_options(config)
    return {"negative_slope": slope} if slope != 0.0 and threshold == 0.0 and top is None else None


def _keras_leaky_relu(config: Any) -> dict[str, Any] | None:
    slope = config.get("negative_slope", config.get("alpha"))  # Keras 3 / tf_keras
    return None if slope is None else {"negative_slope": float(slope)}


def _keras_prelu(config: Any) -> dict[str, Any]:
    return {
        k: config.get(k) for k in ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes")
    }


_same = Builtin  # readability below

relu = register_activation(
    "relu",
    relu,
    reference=lambda x: np.maximum(x, 0.0),
    formula="max(x, 0)",
    paper="Nair & Hinton 2010",
    layer="ReLU",
    kinks=(0.0,),
    dead_below=0.0,
    output_range=(0.0, None),
    builtins={"keras3": _same("relu", True), "tf_keras": _same("relu", True)},
    lowerings={"float": Lowering(None, ("RELU",), "fused into the preceding CONV_2D/FULLY_CONNECTED when there is one")},
    edgetpu=EdgeTPU("RELU, usually fused into the preceding convolution"),
    keras_layers={"ReLU": _keras_relu},
)

relu6 = register_activation(
    "relu6",
    relu6,
    reference=lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    formula="min(max(x, 0), 6)",
    paper="Krizhevsky 2010; Howard et al. 2017 (MobileNets)",
    layer="ReLU6",
    kinks=(0.0, 6.0),
    dead_below=0.0,
    output_range=(0.0, 6.0),
    builtins={
        "keras3": _same("relu6", True),
        "tf_keras": _same(None, False, note="tf_keras has no relu6 activation string"),
    },
    lowerings={"float": Lowering(None, ("RELU6",), "fused into the preceding op when there is one")},
    edgetpu=EdgeTPU("RELU6"),
    keras_layers={"ReLU": _keras_relu6},
)

leaky_relu = register_activation(
    "leaky_relu",
    leaky_relu,
    reference=lambda x, negative_slope=0.01: np.where(x >= 0, x, negative_slope * x),
    formula="x if x >= 0 else negative_slope * x",
    paper="Maas et al. 2013",
    aliases=("leakyrelu", "lrelu"),
    params=(Param("negative_slope", 0.01, "slope for x < 0", minimum=0.0),),
    layer="LeakyReLU",
    kinks=(0.0,),
    builtins={
        "keras3": _same(
            "leaky_relu",
            False,
            params={"negative_slope": 0.2},
            note="the Keras 3 string uses negative_slope=0.2; keras_acts uses 0.01",
        ),
        "tf_keras": _same(None, False),
    },
    lowerings={
        "float": Lowering(None, ("LEAKY_RELU",), "tf.nn.leaky_relu converts to one LEAKY_RELU"),
        "edgetpu": Lowering(
            _leaky_relu_edgetpu,
            ("PRELU",),
            "relu(x) - slope * relu(-x) with a constant 1-D alpha fuses into PRELU; exact",
        ),
    },
    edgetpu=EdgeTPU(
        "LEAKY_RELU is not an Edge TPU op; exported as PRELU with a constant per-channel alpha "
        "(avoids max(x, a*x), which hit internal compiler errors)",
    ),
    keras_layers={"LeakyReLU": _keras_leaky_relu, "ReLU": _keras_relu_leaky},
)

hard_tanh = register_activation(
    "hard_tanh",
    hard_tanh,
    reference=lambda x: np.clip(x, -1.0, 1.0),
    formula="clip(x, -1, 1)",
    paper="Collobert 2004",
    aliases=("hardtanh",),
    layer="HardTanh",
    kinks=(-1.0, 1.0),
    output_range=(-1.0, 1.0),
    builtins={"keras3": _same("hard_tanh", True), "tf_keras": _same(None, False)},
    lowerings={"float": Lowering(None, ("RELU_N1_TO_1",), "clip(x, -1, 1) converts to RELU_N1_TO_1")},
    edgetpu=EdgeTPU("RELU_N1_TO_1"),
)

def _qat_prelu(x: Any, point: Any, gain: Any) -> Any:
    """``x + (1 - alpha) * relu(-1 * x)`` with ``gain = 1 - alpha``: the ``cpu`` form of PReLU, for QAT.

    MUL with fused RELU, MUL, ADD: ops LiteRT's XNNPACK delegate takes (int8 PRELU splits its
    graph). ``gain`` arrives fake-quantized as the converter quantizes the constant
    (:func:`keras_acts.quantization.formulations.prelu_gain`).
    """
    return x + point(gain * point(K.relu(x * -1.0), "negative"), "scaled")


prelu = register_activation(
    "prelu",
    prelu,
    reference=lambda x, alpha=0.25: np.where(x >= 0, x, alpha * x),
    formula="x if x >= 0 else alpha * x (alpha learned)",
    paper="He et al. 2015 (arXiv:1502.01852)",
    aliases=("parametric_relu",),
    params=(),
    layer="PReLU",
    kinks=(0.0,),
    builtins={"keras3": _same(None, False), "tf_keras": _same(None, False)},
    qat="prelu",
    qat_form=QATForm(_qat_prelu, moving=("negative", "scaled"), ops=("MUL", "MUL", "ADD")),
    lowerings={
        "float": Lowering(_prelu_fused, ("PRELU",), "relu(x) + (-alpha)*relu(-x) fuses into one PRELU (relu(x) - alpha*relu(-x) does not)"),
        "cpu": Lowering(
            _prelu_cpu,
            ("MUL", "MUL", "ADD"),
            "x + (1 - alpha) relu(-1 x): MUL with fused RELU, MUL, ADD stay in XNNPACK's graph; "
            "int8 PRELU splits it",
        ),
    },
    edgetpu=EdgeTPU(
        "PRELU with a 1-D alpha: on 4-D inputs use PReLU(shared_axes=[1, 2]); per-element alpha is refused",
    ),
    learnable=True,
    weights=("alpha",),
    keras_layers={"PReLU": _keras_prelu},
)
