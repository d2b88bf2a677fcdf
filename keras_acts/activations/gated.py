"""Self-gated activations ``x * gate(x)``: swish, hard_swish, mish, hard_mish, gelu, gelu_tanh."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts.activations._common import np_erfc, np_sigmoid, np_softplus, param_as
from keras_acts.lowering import activation_function
from keras_acts.registry import Activation, Builtin, EdgeTPU, Lowering, Param, register


@activation_function("swish")
def swish(x: Any, beta: float = 1.0) -> Any:
    """Swish / SiLU: ``x * sigmoid(beta * x)``.

    ``beta = 1`` is SiLU (Elfwing et al., 2018); a learnable ``beta`` is the Swish-β
    of Ramachandran et al., 2017, "Searching for Activation Functions"
    (arXiv:1710.05941); see :class:`keras_acts.layers.Swish`.
    """
    if isinstance(beta, float) and beta == 1.0:
        return x * tf.math.sigmoid(x)
    return x * tf.math.sigmoid(param_as(beta, x.dtype) * x)


@activation_function("hard_swish")
def hard_swish(x: Any) -> Any:
    """Hard swish: ``x * relu6(x + 3) / 6``.

    Written in the operand order that the TFLite converter fuses into one HARD_SWISH.

    Reference: Howard et al., 2019, "Searching for MobileNetV3" (arXiv:1905.02244).
    """
    return x * (tf.nn.relu6(x + 3.0) / 6.0)


@activation_function("mish")
def mish(x: Any) -> Any:
    """Mish: ``x * tanh(softplus(x))``.

    Reference: Misra, 2019, "Mish: A Self Regularized Non-Monotonic Activation
    Function" (arXiv:1908.08681).
    """
    return x * tf.math.tanh(tf.math.softplus(x))


@activation_function("hard_mish")
def hard_mish(x: Any) -> Any:
    """Hard mish: ``0.5 * x * clip(x + 2, 0, 2)``.

    Reference: Misra's piecewise-quadratic Mish approximation, as used in
    YOLO-family detectors (e.g. "H-Mish", 2020).
    """
    return 0.5 * x * tf.clip_by_value(x + 2.0, 0.0, 2.0)


@activation_function("gelu")
def gelu(x: Any, approximate: bool = False) -> Any:
    """Gaussian error linear unit: ``0.5 * x * (1 + erf(x / sqrt(2)))``.

    With ``approximate=True`` the tanh form of :func:`gelu_tanh`.

    Reference: Hendrycks & Gimpel, 2016, "Gaussian Error Linear Units (GELUs)"
    (arXiv:1606.08415).
    """
    if approximate:
        return gelu_tanh(x)
    if x.dtype == tf.float64:
        # 1 + erf(z) == erfc(-z), without cancellation in the negative tail.
        return 0.5 * x * tf.math.erfc(-x / tf.constant(math.sqrt(2.0), x.dtype))
    return tf.nn.gelu(x, approximate=False)


@activation_function("gelu_tanh")
def gelu_tanh(x: Any) -> Any:
    """GELU, tanh approximation: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Reference: Hendrycks & Gimpel, 2016 (arXiv:1606.08415).
    """
    # 0.5 * (1 + tanh(z)) == sigmoid(2 z), without the cancellation of 1 + tanh(z) in the
    # negative tail (tf.nn.gelu's float32 form returns 0 below x ~ -4.8 and is 20% off near
    # it). TFLite export traces tf.nn.gelu instead: the float lowering, one GELU op.
    c = 2.0 * math.sqrt(2.0 / math.pi)
    if x.dtype == tf.float16:
        # x**3 overflows float16 for |x| > ~40 (then inf * 0 = NaN gradients): gate in float32.
        x32 = tf.cast(x, tf.float32)
        return x * tf.cast(tf.math.sigmoid(c * (x32 + 0.044715 * x32 * x32 * x32)), x.dtype)
    return x * tf.math.sigmoid(tf.constant(c, x.dtype) * (x + 0.044715 * x * x * x))


def _gelu_tflite(x: Any, approximate: bool = False) -> Any:
    """Float lowering of gelu: tf.nn.gelu, which the TFLite converter turns into one GELU op."""
    return tf.nn.gelu(x, approximate=approximate)


def _gelu_tanh_tflite(x: Any) -> Any:
    """Float lowering of gelu_tanh: one GELU op (approximate=True)."""
    return tf.nn.gelu(x, approximate=True)


def _hard_swish_edgetpu(x: Any) -> Any:
    """Edge TPU form of hard swish: ``(x / 6) * relu6(x + 3)`` (ADD+RELU6, MUL, MUL).

    Exact. Scaling ``x`` before the product is an operand order that the TFLite
    converter does not fuse into HARD_SWISH, which the Edge TPU cannot run.
    """
    return (x * (1.0 / 6.0)) * tf.nn.relu6(x + 3.0)


def _hard_mish_edgetpu(x: Any) -> Any:
    """Edge TPU form of hard mish: ``(x / 2) * min(relu(x + 2), 2)`` (ADD+RELU, MINIMUM, MUL, MUL); exact."""
    return (x * 0.5) * tf.minimum(tf.nn.relu(x + 2.0), 2.0)


_GELU_SIGMOID_SLOPE = 1.702  # x * sigmoid(1.702 x), Hendrycks & Gimpel 2016, section 2


def _gelu_edgetpu(x: Any, approximate: bool = False) -> Any:
    """Edge TPU form of GELU: ``x * sigmoid(1.702 x)`` (MUL, LOGISTIC, MUL).

    The sigmoid approximation of Hendrycks & Gimpel (2016); GELU and its erf are not
    Edge TPU ops. With ``approximate=True`` the exact sigmoid form of :func:`gelu_tanh`.
    """
    if approximate:
        return _gelu_tanh_edgetpu(x)
    return x * tf.math.sigmoid(_GELU_SIGMOID_SLOPE * x)


def _gelu_tanh_edgetpu(x: Any) -> Any:
    """Edge TPU form of tanh-GELU: ``x * sigmoid(c x + 0.044715 c x^3)``, ``c = 2 sqrt(2/pi)``.

    Exactly tanh-GELU (``0.5 (1 + tanh(z)) = sigmoid(2 z)``) from MUL, ADD and LOGISTIC.
    Written this way the converter does not re-fuse it into GELU, as it does the tanh form.
    """
    c = 2.0 * math.sqrt(2.0 / math.pi)
    return x * tf.math.sigmoid(c * x + (c * 0.044715) * (x * x * x))


def _np_gelu(x, approximate=False):
    x = np.asarray(x, dtype=np.float64)
    if approximate:
        return _np_gelu_tanh(x)
    # 1 + erf(z) written as erfc(-z): identical, and exact in the negative tail.
    return 0.5 * x * np_erfc(-x / math.sqrt(2.0))


def _np_gelu_tanh(x):
    x = np.asarray(x, dtype=np.float64)
    # 0.5 * (1 + tanh(z)) written as sigmoid(2 z): identical, and exact in the negative tail.
    return x * np_sigmoid(2.0 * math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))


# Worst |x * sigmoid(1.702 x) - gelu(x)| in float64, from `python -m keras_acts.export.edgetpu.measure`.
GELU_EDGETPU_ERROR = 0.0203

register(
    Activation(
        name="swish",
        fn=swish,
        recompute_gradient=True,
        reference=lambda x, beta=1.0: np.asarray(x, np.float64) * np_sigmoid(beta * np.asarray(x, np.float64)),
        formula="x * sigmoid(beta * x)",
        paper="Ramachandran et al. 2017 (arXiv:1710.05941); Elfwing et al. 2018",
        aliases=("silu",),
        params=(Param("beta", 1.0, "gate sharpness"),),
        layer="Swish",
        builtins={"keras3": Builtin("silu", True), "tf_keras": Builtin("swish", True)},
        lowerings={
            "edgetpu": Lowering(None, ("LOGISTIC", "MUL"), "x * LOGISTIC(x); beta != 1 adds one MUL"),
        },
        edgetpu=EdgeTPU("native", "x * LOGISTIC(beta x): LOGISTIC and MUL are Edge TPU ops"),
    )
)

register(
    Activation(
        name="hard_swish",
        fn=hard_swish,
        recompute_gradient=True,
        reference=lambda x: np.asarray(x, np.float64) * np.clip(np.asarray(x, np.float64) + 3.0, 0.0, 6.0) / 6.0,
        formula="x * relu6(x + 3) / 6",
        paper="Howard et al. 2019 (arXiv:1905.02244)",
        aliases=("hard_silu", "hardswish", "h_swish"),
        layer="HardSwish",
        kinks=(-3.0, 3.0),
        dead_below=-3.0,
        builtins={"keras3": Builtin("hard_silu", True), "tf_keras": Builtin(None, False)},
        lowerings={
            "float": Lowering(None, ("HARD_SWISH",), "x * (relu6(x + 3) / 6) fuses into one HARD_SWISH"),
            "edgetpu": Lowering(
                _hard_swish_edgetpu,
                ("ADD", "MUL", "MUL"),
                "(x / 6) * relu6(x + 3): the converter does not fuse this order into HARD_SWISH; "
                "relu6 rides on the ADD as a fused activation",
            ),
        },
        edgetpu=EdgeTPU("lowered", "HARD_SWISH is not an Edge TPU op; exact rewrite (x / 6) * relu6(x + 3)"),
    )
)

register(
    Activation(
        name="mish",
        fn=mish,
        recompute_gradient=True,
        reference=lambda x: np.asarray(x, np.float64) * np.tanh(np_softplus(x)),
        formula="x * tanh(softplus(x))",
        paper="Misra 2019 (arXiv:1908.08681)",
        layer="Mish",
        builtins={"keras3": Builtin("mish", True), "tf_keras": Builtin("mish", True)},
        edgetpu=EdgeTPU("unsupported", "softplus needs EXP/LOG, not Edge TPU ops; use hard_mish or hard_swish"),
    )
)

register(
    Activation(
        name="hard_mish",
        fn=hard_mish,
        reference=lambda x: 0.5 * np.asarray(x, np.float64) * np.clip(np.asarray(x, np.float64) + 2.0, 0.0, 2.0),
        formula="0.5 * x * clip(x + 2, 0, 2)",
        paper="Misra 2019 (piecewise-quadratic Mish)",
        aliases=("hardmish", "h_mish"),
        layer="HardMish",
        kinks=(-2.0, 0.0),
        dead_below=-2.0,
        builtins={"keras3": Builtin(None, False), "tf_keras": Builtin(None, False)},
        lowerings={
            "edgetpu": Lowering(
                _hard_mish_edgetpu, ("ADD", "MINIMUM", "MUL", "MUL"), "(x / 2) * min(relu(x + 2), 2), exact"
            ),
        },
        edgetpu=EdgeTPU("lowered", "exact rewrite (x / 2) * min(relu(x + 2), 2): ADD+RELU, MINIMUM, MUL"),
    )
)

register(
    Activation(
        name="gelu",
        fn=gelu,
        recompute_gradient=True,
        reference=_np_gelu,
        formula="0.5 * x * (1 + erf(x / sqrt(2)))",
        paper="Hendrycks & Gimpel 2016 (arXiv:1606.08415)",
        params=(Param("approximate", False, "use the tanh approximation", kind="bool"),),
        layer="GELU",
        builtins={"keras3": Builtin("gelu", True), "tf_keras": Builtin("gelu", True)},
        lowerings={
            "float": Lowering(_gelu_tflite, ("GELU",), "tf.nn.gelu converts to one GELU (int8 lookup table)"),
            "edgetpu": Lowering(
                _gelu_edgetpu,
                ("MUL", "LOGISTIC", "MUL"),
                "x * sigmoid(1.702 x) (Hendrycks & Gimpel 2016); error measured by "
                "`python -m keras_acts.export.edgetpu.measure`",
                max_abs_error=GELU_EDGETPU_ERROR,
            ),
        },
        edgetpu=EdgeTPU(
            "approximate",
            f"GELU/erf are not Edge TPU ops; x * sigmoid(1.702 x), max abs error {GELU_EDGETPU_ERROR} in float",
        ),
    )
)

register(
    Activation(
        name="gelu_tanh",
        fn=gelu_tanh,
        recompute_gradient=True,
        reference=_np_gelu_tanh,
        formula="0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
        paper="Hendrycks & Gimpel 2016 (arXiv:1606.08415)",
        aliases=("gelu_approximate", "approximate_gelu"),
        layer="GELUTanh",
        builtins={"keras3": Builtin(None, False), "tf_keras": Builtin(None, False)},
        lowerings={
            "float": Lowering(_gelu_tanh_tflite, ("GELU",), "tf.nn.gelu(approximate=True) converts to one GELU"),
            "edgetpu": Lowering(
                _gelu_tanh_edgetpu,
                ("MUL", "MUL", "MUL", "MUL", "ADD", "LOGISTIC", "MUL"),
                "x * sigmoid(c x + 0.044715 c x^3), c = 2 sqrt(2/pi): exactly tanh-GELU, not re-fused into GELU",
            ),
        },
        edgetpu=EdgeTPU("lowered", "GELU is not an Edge TPU op; exact sigmoid form from MUL/ADD/LOGISTIC"),
    )
)
