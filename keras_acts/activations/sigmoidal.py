"""Sigmoid-shaped activations: sigmoid, hard_sigmoid, tanh and softsign."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts import _ops as K
from keras_acts.activations._common import np_sigmoid, param_as
from keras_acts.activations._qat import LOGISTIC_RANGE, TANH_RANGE, QATForm, fixed
from keras_acts.registration import register_activation
from keras_acts.registry import Builtin, EdgeTPU, Lowering, Param

MOBILENET_SLOPE = 1.0 / 6.0  # relu6(x + 3) / 6
TF_KERAS_SLOPE = 0.2  # tf_keras's hard_sigmoid: clip(0.2 x + 0.5, 0, 1)


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid: ``1 / (1 + exp(-x))``.

    Reference: e.g. Rumelhart, Hinton & Williams, 1986.
    """
    return K.sigmoid(x)


def hard_sigmoid(x: Any, slope: float = MOBILENET_SLOPE) -> Any:
    """Hard sigmoid: ``clip(slope * x + 0.5, 0, 1)``; by default MobileNetV3's ``relu6(x + 3) / 6``.

    ``slope=1/6`` (default) is the hard sigmoid of MobileNetV3, PyTorch and Keras 3;
    ``slope=0.2`` is tf_keras's built-in ``hard_sigmoid``, which keras_acts maps onto this
    entry so that models carrying it export and train quantization-aware like any other.

    Not tf_keras's ``clip(0.2 * x + 0.5, 0, 1)``. In tf_keras the bare string
    ``"hard_sigmoid"`` still means tf_keras's own function; use
    ``keras_acts.get("hard_sigmoid")`` or the alias ``"hardsigmoid"``.
    (The function's ``__name__`` is ``hard_sigmoid_relu6`` so that tf_keras never
    serializes it as its own, different, ``hard_sigmoid``.)

    Reference: Howard et al., 2019, "Searching for MobileNetV3" (arXiv:1905.02244);
    Courbariaux et al., 2015 (BinaryConnect) for the 0.2 slope.
    """
    if isinstance(slope, float) and slope == MOBILENET_SLOPE:
        if "hard_sigmoid" in K.FUSED:
            return K.FUSED["hard_sigmoid"](x)  # torch: one ATen kernel (keras_acts._ops.FUSED)
        return K.relu6(x + 3.0) / 6.0
    six_slope = 6.0 * slope if isinstance(slope, float) else K.as_dtype_of(slope, x) * 6.0
    return K.relu6(x * six_slope + 3.0) / 6.0


def _hard_sigmoid_edgetpu(x: Any, slope: float = MOBILENET_SLOPE) -> Any:
    """Edge TPU form of hard sigmoid: ``min(relu6(x + 3) / 6, 1)`` (ADD+RELU6, MUL, MINIMUM).

    The MINIMUM changes nothing numerically; it keeps ``x * hard_sigmoid(x)`` (a
    hand-written hard swish) from being fused into HARD_SWISH, which the Edge TPU
    cannot run.
    """
    if not (isinstance(slope, float) and slope == MOBILENET_SLOPE):
        x = x * param_as(6.0 * slope, x.dtype)
    return tf.minimum(tf.nn.relu6(x + 3.0) * (1.0 / 6.0), 1.0)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent ``(exp(x) - exp(-x)) / (exp(x) + exp(-x))``.

    Under tf_keras it is evaluated as ``-tanh(-x)`` (exact: tanh is odd). TensorFlow
    2.21's CPU graph optimizer fuses tf_keras's FusedBatchNorm with a Tanh that reads
    its output into an op that has no kernel ("Fusion is not implemented:
    [FusedBatchNorm,Tanh]"), so BatchNormalization -> tanh fails at evaluate/predict
    time; the negation keeps the two apart. Export uses the plain TANH.
    """
    return K.bn_safe_tanh(x)


def _tanh_tflite(x: Any) -> Any:
    """TANH as one op (the tf_keras workaround above is not needed in TFLite)."""
    return tf.math.tanh(x)


def softsign(x: Any) -> Any:
    """Softsign: ``x / (1 + |x|)``.

    At ``x = +-inf`` it returns the limits ``+-1`` (``inf / inf`` would be NaN, as it is in
    ``tf.nn.softsign`` and PyTorch); the derivative ``1 / (1 + |x|)^2`` is 0 there.

    Reference: Turian, Bergstra & Bengio, 2009, "Quadratic Features and Deep Architectures
    for Chunking"; studied by Glorot & Bengio, 2010.
    """
    # softsign(+-largest finite) is exactly +-1 in every dtype: the limits at +-inf, at the cost of
    # one clip (one kernel on TensorFlow); the analytic derivative (0 at +-inf) keeps nothing but x
    # for the backward pass.
    if "softsign" in K.FUSED:
        return K.FUSED["softsign"](x)  # torch: in one buffer, guarded by a read of the output
    return K.softsign(K.clip_to_finite(x))


def _softsign_derivative(x: Any) -> Any:
    """``1 / (1 + |x|)^2``: 0 at +-inf."""
    return 1.0 / K.square(K.abs(x) + 1.0)


def _softsign_gradient(upstream: Any, x: Any) -> Any:
    """``upstream / (1 + |x|)^2``: TensorFlow's one ``SoftsignGrad`` kernel there (0 at +-inf)."""
    return K.softsign_gradient(upstream, x)


def _softsign_plain(x: Any) -> Any:
    """Export form of softsign: ``tf.nn.softsign``, which converts to ABS, ADD, DIV (all int8)."""
    return tf.nn.softsign(x)


# QAT formulations (keras_acts.activations._qat).


def _qat_softsign(x: Any, point: Any) -> Any:
    """``x / (1 + |x|)``: ABS and the ADD each get a moving range, then DIV (int8 kernels all three)."""
    a = point(K.abs(x), "abs")
    return x / point(1.0 + a, "denominator")


def _qat_hard_sigmoid(x: Any, point: Any, slope: float = 1.0 / 6.0) -> Any:
    """QAT hard_sigmoid: ``relu6(x + 3) / 6`` (the saturating fake-quant is the relu6)."""
    if float(slope) != 1.0 / 6.0:  # tf_keras's 0.2: one more MUL, whose output needs a range
        x = point(x * (6.0 * float(slope)), "scaled")
    return fixed(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)


def _qat_sigmoid(x: Any, point: Any) -> Any:
    """QAT sigmoid: LOGISTIC, whose fixed output range is the form's ``output_range``."""
    return K.sigmoid(x)


def _qat_tanh(x: Any, point: Any) -> Any:
    """QAT tanh: TANH, whose fixed output range is the form's ``output_range``."""
    return K.tanh(x)


softsign = register_activation(
    "softsign",
    softsign,
    derivative=_softsign_derivative,
    gradient=_softsign_gradient,
    reference=lambda x: np.asarray(x, np.float64) / (1.0 + np.abs(np.asarray(x, np.float64))),
    formula="x / (1 + |x|)",
    paper="Turian, Bergstra & Bengio 2009; Glorot & Bengio 2010",
    layer="Softsign",
    output_range=(-1.0, 1.0),
    builtins={"keras3": Builtin("softsign", True), "tf_keras": Builtin("softsign", True)},
    lowerings={
        "float": Lowering(
            _softsign_plain,
            ("ABS", "ADD", "DIV"),
            "x / (1 + |x|): ABS, ADD, DIV, each with an int8 kernel (1.4 LSB on a -8..8 grid). XNNPACK "
            "refuses int8 ABS and has no DIV, so on LiteRT's CPU runtime these run outside its graph",
        ),
    },
    edgetpu=EdgeTPU(
        "ABS and DIV are not Edge TPU ops, and the Coral-only form tried, rsqrt(1 + relu(-x))^2 - "
        "rsqrt(1 + relu(x))^2, is over the 1.5 LSB budget (python -m keras_acts.export.edgetpu.measure); "
        "use tanh (TANH) or hard_tanh instead"
    ),
    qat_form=QATForm(_qat_softsign, moving=("abs", "denominator"), ops=("ABS", "ADD", "DIV")),
)

sigmoid = register_activation(
    "sigmoid",
    sigmoid,
    reference=np_sigmoid,
    formula="1 / (1 + exp(-x))",
    paper="Rumelhart, Hinton & Williams 1986",
    aliases=("logistic",),
    layer="Sigmoid",
    output_range=(0.0, 1.0),
    builtins={"keras3": Builtin("sigmoid", True), "tf_keras": Builtin("sigmoid", True)},
    lowerings={"float": Lowering(None, ("LOGISTIC",), "LOGISTIC runs in int8 as a lookup table")},
    edgetpu=EdgeTPU("LOGISTIC"),
    qat_form=QATForm(_qat_sigmoid, output_range=LOGISTIC_RANGE, ops=("LOGISTIC",)),
)

hard_sigmoid = register_activation(
    "hard_sigmoid",
    hard_sigmoid,
    reference=lambda x, slope=MOBILENET_SLOPE: np.clip(slope * np.asarray(x, np.float64) + 0.5, 0.0, 1.0),
    formula="clip(slope * x + 0.5, 0, 1); slope 1/6: relu6(x + 3) / 6",
    paper="Howard et al. 2019 (arXiv:1905.02244); slope 0.2: Courbariaux et al. 2015",
    aliases=("hardsigmoid", "h_sigmoid"),
    params=(Param("slope", MOBILENET_SLOPE, "slope of the linear part (0.2 is tf_keras's hard_sigmoid)", minimum=0.0),),
    layer="HardSigmoid",
    kinks=(-3.0, 3.0),
    dead_below=-3.0,
    output_range=(0.0, 1.0),
    lowerings={
        "int8": Lowering(
            None,
            ("ADD", "MUL"),
            "relu6(x + 3) / 6 as trained: ADD with RELU6 fused, MUL; 0.5 LSB on a -8..8 grid; a slope "
            "other than 1/6 adds one MUL",
        ),
        "edgetpu": Lowering(
            _hard_sigmoid_edgetpu,
            ("ADD", "MUL", "MINIMUM"),
            "min(relu6(x + 3) / 6, 1): exact, and x * hard_sigmoid(x) does not fuse into HARD_SWISH",
        ),
    },
    edgetpu=EdgeTPU("exact: ADD+RELU6, MUL, MINIMUM (never fused into HARD_SWISH)"),
    # relu6(x + 3) / 6 is exactly on the [0, 1] grid: a fixed output range adds no rounding, and the
    # exporter can fold the 1/6 into the scales of the layer the gate multiplies.
    qat_form=QATForm(_qat_hard_sigmoid, moving=("scaled",), output_range=(0.0, 1.0), ops=("ADD",)),
    qat_form_versions={1: QATForm(_qat_hard_sigmoid, moving=("scaled",), ops=("ADD", "MUL"))},
    builtins={
        "keras3": Builtin("hard_sigmoid", True),
        "tf_keras": Builtin(
            "hard_sigmoid",
            False,
            params={"slope": TF_KERAS_SLOPE},
            note="tf_keras's hard_sigmoid is clip(0.2x + 0.5, 0, 1), this entry with slope=0.2; the bare "
            "string keeps that meaning there, use 'hardsigmoid' or keras_acts.get('hard_sigmoid')",
        ),
    },
    function_name="hard_sigmoid_relu6",
)

tanh = register_activation(
    "tanh",
    tanh,
    reference=lambda x: np.tanh(np.asarray(x, np.float64)),
    formula="tanh(x)",
    paper="LeCun et al. 1998 (Efficient BackProp)",
    layer="Tanh",
    output_range=(-1.0, 1.0),
    builtins={"keras3": Builtin("tanh", True), "tf_keras": Builtin("tanh", True)},
    lowerings={"float": Lowering(_tanh_tflite, ("TANH",), "TANH runs in int8 as a lookup table")},
    edgetpu=EdgeTPU("TANH"),
    qat_form=QATForm(_qat_tanh, output_range=TANH_RANGE, ops=("TANH",)),
)
