"""Exponential-family activations: exponential, elu, celu, selu and softplus."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts import _ops as K
from keras_acts.activations._common import SELU_ALPHA, SELU_SCALE, np_softplus, param_as
from keras_acts.activations._int8_forms import fit_polynomial, horner, split_sign, split_sign_delegable
from keras_acts.activations._qat import LOGISTIC_RANGE, TANH_RANGE, QATForm, fixed, horner_points
from keras_acts.activations._qat import horner as qat_horner
from keras_acts.activations._qat import split_sign as qat_split_sign
from keras_acts.registration import register_activation
from keras_acts.registry import Builtin, EdgeTPU, Lowering, Param


def elu(x: Any, alpha: float = 1.0) -> Any:
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    The negative branch is evaluated on ``min(x, 0)`` so that neither the value nor
    the gradient overflows for large positive inputs.

    Reference: Clevert et al., 2016, "Fast and Accurate Deep Network Learning by
    Exponential Linear Units (ELUs)" (arXiv:1511.07289).
    """
    if isinstance(alpha, float) and alpha == 1.0 and K.dtype_name(x) != "float64":
        return K.elu(x)  # one ELU op in TFLite; its kernel uses exp(x) - 1
    negative = K.expm1(K.minimum(x, 0.0)) * K.as_dtype_of(alpha, x)
    return K.where(x > 0, x, negative)


def celu(x: Any, alpha: float = 1.0) -> Any:
    """Continuously differentiable ELU: ``x`` if ``x > 0`` else ``alpha * (exp(x / alpha) - 1)``.

    ``alpha > 0``; unlike elu's, its derivative is 1 at 0 for every ``alpha`` (C1), and
    ``celu(x, alpha) = alpha * elu(x / alpha)``. The negative branch is evaluated on
    ``min(x, 0)`` so that neither the value nor the gradient overflows for large positive inputs.

    Reference: Barron, 2017, "Continuously Differentiable Exponential Linear Units"
    (arXiv:1704.07483).
    """
    if "celu" in K.FUSED and isinstance(alpha, float):
        return K.FUSED["celu"](x, alpha)
    a = K.as_dtype_of(alpha, x)
    return K.where(x > 0, x, K.expm1(K.minimum(x, 0.0) / a) * a)


def _celu_derivative(x: Any, alpha: float = 1.0) -> Any:
    """``1`` for ``x > 0``, else ``exp(x / alpha)`` (1 at 0: the two branches meet)."""
    return K.where(x > 0, 1.0, K.exp(K.minimum(x, 0.0) / K.as_dtype_of(alpha, x)))


def _celu_gradient(upstream: Any, x: Any, alpha: float = 1.0) -> Any:
    """``upstream * celu'(x)``: one ATen kernel on torch for an all-finite input."""
    if "celu_backward" in K.FUSED and isinstance(alpha, float):
        fused = K.FUSED["celu_backward"](upstream, x, alpha)
        if fused is not None:
            return fused
    return upstream * _celu_derivative(x, alpha)


def selu(x: Any) -> Any:
    """Scaled ELU: ``scale * (x if x > 0 else alpha * (exp(x) - 1))``.

    ``alpha = 1.6732632423543772``, ``scale = 1.0507009873554805``, the fixed point
    that makes activations self-normalizing under LeCun-normal initialization.

    Reference: Klambauer et al., 2017, "Self-Normalizing Neural Networks"
    (arXiv:1706.02515).
    """
    if K.dtype_name(x) not in ("float64", "bfloat16"):
        # The backend's selu (TF's fused kernel: 2.8x faster than the composite below and keeps
        # nothing but its output for the backward pass, benchmarks/bench_activations.py).
        return K.selu(x)
    # float64: expm1 keeps full relative precision for tiny negative x. bfloat16: TF 2.21's
    # SeluGrad takes the positive branch for small negative bfloat16 inputs (derivative 1.05
    # instead of 1.76 at x = -0.001, tests/test_edge_values.py).
    negative = K.expm1(K.minimum(x, 0.0)) * SELU_ALPHA
    return K.where(x > 0, x, negative) * SELU_SCALE


def softplus(x: Any) -> Any:
    """Softplus: ``log(1 + exp(x))``, evaluated stably for large ``|x|``.

    Reference: Dugas et al., 2001, "Incorporating Second-Order Functional Knowledge
    for Better Option Pricing"; Glorot et al., 2011.
    """
    return K.softplus(x)


def exponential(x: Any) -> Any:
    """Exponential: ``exp(x)``, the built-in ``"exponential"`` activation of Keras and tf_keras.

    Used as the output activation of models that predict a positive rate (e.g. Poisson
    regression, the exponential-family GLM's log link).

    Reference: the natural exponential; as a neural-network output link, McCullagh &
    Nelder, 1989, "Generalized Linear Models".
    """
    return K.exp(x)


def _is_one(value: Any) -> bool:
    return isinstance(value, float) and value == 1.0


def _exp_branch_int8(x: Any, gain: Any = 1.0, inner: Any = 1.0) -> Any:
    """int8 lowering of ``relu(x) + gain * (exp(inner * min(x, 0)) - 1)`` (elu: inner 1; celu: 1/alpha).

    TFLite's ELU op has an int8 kernel but the converter leaves it in float
    (DEQUANTIZE, ELU, QUANTIZE). Here EXP (an int8 lookup table) sees only the negative
    part ``m = x - relu(x)``, so its output ``(0, 1]`` uses the full int8 range; the
    ``- 1`` and the final ADD each round once. ``min(x, 0)`` is written as a SUB, not a
    MINIMUM, which would clip the model input to ``[lo, 0]`` (see ``_int8_forms``).
    Ops (gain = inner = 1): RELU, SUB, EXP, SUB, ADD; each factor other than 1 adds one MUL.
    """
    p, m = split_sign(x)
    if not _is_one(inner):
        m = m * param_as(inner, x.dtype)
    negative = tf.exp(m) - 1.0
    if not _is_one(gain):
        negative = param_as(gain, x.dtype) * negative
    return p + negative


def _expm1_of_half_tanh(v: np.ndarray) -> np.ndarray:
    """``e^m - 1`` as a function of ``v = tanh(m / 2)`` (exact: ``2 v / (1 - v)``)."""
    return 2.0 * v / (1.0 - v)


# e^m - 1 for m <= 0 as a cubic in v = tanh(m / 2) in [-1, 0] (max fit error 0.005).
_EXPM1_TANH = fit_polynomial("expm1(tanh)", _expm1_of_half_tanh, -1.0, 0.0, 3, through_zero=True)


def _negative_elu_cpu(q: Any, gain: Any, inner: float = 1.0) -> Any:
    """``gain * (exp(-inner * q) - 1)`` for ``q = relu(-x) >= 0`` from MUL, TANH and a cubic (MUL/ADD only).

    EXP is refused by XNNPACK in int8; TANH is taken and has a fixed, bounded output scale
    (1/128), and ``e^m - 1 = 2v / (1 - v)`` with ``v = tanh(m / 2)`` is a smooth function of
    ``v`` on [-1, 0] that a cubic fits within 0.005 (``gain`` folds into its coefficients,
    ``inner`` into the MUL before TANH).
    """
    coeffs = [c * gain for c in _EXPM1_TANH]
    return horner(tf.math.tanh(q * (-0.5 * inner)), coeffs)


def _exp_branch_cpu(x: Any, gain: Any = 1.0, inner: Any = 1.0) -> Any:
    """int8 LiteRT-CPU form of :func:`_exp_branch_int8`: ``relu(x) + gain * P(tanh(inner * min(x, 0) / 2))``.

    P is a cubic ~ ``e^m - 1``. Only ops XNNPACK's delegate takes (MUL+RELU, ADD, MUL, TANH,
    MUL/ADD): one partition, where the int8 form's RELU and EXP each split the graph
    (measured 2.8x the float time in a 6-conv CNN; this form 0.48x). Learned (tensor)
    factors fall back to the int8 form.
    """
    if not (isinstance(gain, float) and isinstance(inner, float)):
        return _exp_branch_int8(x, gain, inner)
    p, q = split_sign_delegable(x)
    return p + _negative_elu_cpu(q, gain, inner)


def _exp_branch_float(x: Any, gain: Any = 1.0, inner: Any = 1.0) -> Any:
    """Float lowering: one ELU op when both factors are 1, else the int8 form (EXPM1 is no TFLite op)."""
    if _is_one(gain) and _is_one(inner) and x.dtype != tf.float64:
        return tf.nn.elu(x)
    return _exp_branch_int8(x, gain, inner)


def _elu_int8(x: Any, alpha: float = 1.0) -> Any:
    """int8 lowering of elu: ``relu(x) + alpha * (exp(min(x, 0)) - 1)``."""
    return _exp_branch_int8(x, alpha)


def _elu_cpu(x: Any, alpha: float = 1.0) -> Any:
    """int8 LiteRT-CPU form of elu: ``relu(x) + alpha * P(tanh(min(x, 0) / 2))``."""
    return _exp_branch_cpu(x, alpha)


def _elu_float(x: Any, alpha: float = 1.0) -> Any:
    """Float lowering of elu: one ELU op for alpha = 1."""
    return _exp_branch_float(x, alpha)


def _celu_int8(x: Any, alpha: float = 1.0) -> Any:
    """int8 lowering of celu: ``relu(x) + alpha * (exp(min(x, 0) / alpha) - 1)``."""
    return _exp_branch_int8(x, alpha, 1.0 / alpha)


def _celu_cpu(x: Any, alpha: float = 1.0) -> Any:
    """int8 LiteRT-CPU form of celu: elu's with ``1/alpha`` in the MUL before TANH and ``alpha`` in P."""
    return _exp_branch_cpu(x, alpha, 1.0 / alpha)


def _celu_float(x: Any, alpha: float = 1.0) -> Any:
    """Float lowering of celu: one ELU op for alpha = 1."""
    return _exp_branch_float(x, alpha, 1.0 / alpha)


def _selu_int8(x: Any) -> Any:
    """int8 lowering of selu: ``relu(scale * x) + scale * alpha * (exp(min(x, 0)) - 1)``.

    The stock graph (GREATER, EXP on all of x, SELECT) loses 44 LSB: EXP of positive
    inputs overflows the table's range. Here the positive part ``relu(scale * x)`` is a
    rescaling of the input grid (no rounding beyond one step), and the negative part is
    the elu form with one MUL by ``scale * alpha`` on a range of only ``[-1.76, 0]``.
    """
    p, m = split_sign(x)
    return tf.nn.relu(SELU_SCALE * x) + (SELU_SCALE * SELU_ALPHA) * (tf.exp(m) - 1.0)


def _selu_cpu(x: Any) -> Any:
    """int8 LiteRT-CPU form of selu: ``scale * relu(x) + scale * alpha * P(tanh(min(x, 0) / 2))`` (see :func:`_elu_cpu`)."""
    p, q = split_sign_delegable(x)
    return p * SELU_SCALE + _negative_elu_cpu(q, SELU_SCALE * SELU_ALPHA)


def _selu_float(x: Any) -> Any:
    """Float lowering of selu: the int8 form (builtin ops only; EXPM1 is no TFLite op)."""
    return _selu_int8(x)


def _softplus_int8(x: Any) -> Any:
    """int8 lowering of softplus: ``relu(x) + log(1 + exp(-|x|))``.

    The stock graph ``log(1 + exp(x))`` is 61 LSB off: ``exp(x)`` spans ``[0, e^8]``,
    so the small values that decide ``log(1 + .)`` are rounded away. Here the
    correction term only ever sees ``-|x| = min(x, 0) - relu(x)`` (two SUBs, no NEG:
    NEG has no int8 quantization and leaves a float island), EXP maps it into
    ``(0, 1]``, ``1 + .`` into ``(1, 2]`` and LOG (int8 lookup table in TF 2.21) into
    ``(0, ln 2]``: every intermediate uses its full range. Ops: RELU, SUB, SUB, EXP,
    ADD, LOG, ADD.
    """
    p, m = split_sign(x)
    return p + tf.math.log(1.0 + tf.exp(m - p))


# log(1 + e^-a) = -log(sigmoid(a)) for a >= 0 as a cubic in s = sigmoid(a) in [1/2, 1].
_NEG_LOG = fit_polynomial("-log", lambda s: -np.log(s), 0.5, 1.0, 3)


def _softplus_cpu(x: Any) -> Any:
    """int8 LiteRT-CPU form of softplus: ``relu(x) + R(sigmoid(|x|))``, R a cubic ~ ``-log``.

    ``log(1 + e^-|x|) = -log(sigmoid(|x|))`` and ``sigmoid(|x|)`` lies in [1/2, 1) on LOGISTIC's
    fixed 1/256 scale, where ``-log`` is smooth: no EXP or LOG (both refused by XNNPACK in
    int8). ``|x| = relu(x) + relu(-x)``. Ops: MUL+RELU, ADD, ADD, LOGISTIC, 3 MUL + 3 ADD, ADD.
    """
    p, q = split_sign_delegable(x)
    return p + horner(tf.math.sigmoid(p + q), _NEG_LOG)


def _softplus_float(x: Any) -> Any:
    """Float lowering of softplus: the int8 form, which never overflows.

    ``tf.math.softplus`` converts to ``log(1 + exp(x))``, which is inf for x > 88.
    """
    return _softplus_int8(x)


# QAT formulations (keras_acts.activations._qat): each activation in the order of its int8 ops, with a
# fake-quant at every tensor whose scale the converter cannot infer (see quantization/formulations.py).


# Formulation 3: the "cpu" forms above (only ops XNNPACK takes in int8), so a QAT model's int8 export
# is the graph post-training quantization gives and stays in one XNNPACK partition.


def _qat_negative_elu(q: Any, point: Any, slope: float, gain: float) -> Any:
    """``gain * (exp(slope * 2 q) - 1)`` for ``q = relu(-x)`` as :func:`_negative_elu_cpu` computes it.

    MUL (range ``"half"``), TANH (fixed 1/128 scale), then the cubic ``P`` ~ ``e^m - 1`` in
    ``v = tanh(m / 2)`` scaled by ``gain``, a moving range after each of its MULs and ADDs.
    """
    v = fixed(K.tanh(point(q * slope, "half")), *TANH_RANGE)
    return qat_horner(v, tuple(c * gain for c in _EXPM1_TANH), point, "n")


def _qat_elu(x: Any, point: Any, alpha: float = 1.0) -> Any:
    """QAT elu in its cpu form: ``relu(x) + alpha P(tanh(min(x, 0) / 2))`` (:func:`_elu_cpu`)."""
    alpha = float(alpha)
    p, q = qat_split_sign(x, point)
    if alpha == 0.0:
        return p
    return p + _qat_negative_elu(q, point, -0.5, alpha)


def _qat_celu(x: Any, point: Any, alpha: float = 1.0) -> Any:
    """QAT celu in its cpu form (:func:`_celu_cpu`): elu's with ``1/alpha`` in the MUL and ``alpha`` in ``P``."""
    alpha = float(alpha)
    p, q = qat_split_sign(x, point)
    return p + _qat_negative_elu(q, point, -0.5 / alpha, alpha)


def _qat_selu(x: Any, point: Any) -> Any:
    """QAT selu in its cpu form (:func:`_selu_cpu`): ``scale relu(x)`` (range ``"scaled"``) + the elu branch."""
    p, q = qat_split_sign(x, point)
    return point(p * SELU_SCALE, "scaled") + _qat_negative_elu(q, point, -0.5, SELU_SCALE * SELU_ALPHA)


def _qat_softplus(x: Any, point: Any) -> Any:
    """QAT softplus in its cpu form (:func:`_softplus_cpu`): ``relu(x) + R(sigmoid(|x|))``.

    ``|x| = relu(x) + relu(-x)`` (ADD, range ``"abs"``), LOGISTIC (fixed 1/256 scale), the cubic
    ``R`` ~ ``-log`` with a moving range after each op, ADD.
    """
    p, q = qat_split_sign(x, point)
    s = fixed(K.sigmoid(point(p + q, "abs")), *LOGISTIC_RANGE)
    return p + qat_horner(s, _NEG_LOG, point, "r")


_ELU_POINTS = ("neg", "pos", "half", *horner_points("n", _EXPM1_TANH))
_ELU_OPS = ("MUL", "ADD", "MUL", "TANH", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD")


# Formulation 1 and 2 (QAT models saved before formulation 3): ABS, EXP, LOG and a standalone RELU,
# which XNNPACK refuses in int8 (the int8 export split its graph).


def _qat_elu_negative_v2(x: Any, alpha: float) -> Any:
    """``alpha * (exp(min(x, 0)) - 1)``: EXP saturated to [0, 1] by its fixed range, SUB -> [-1, 0].

    ``exp(x)`` fake-quantized on [0, 1] equals ``exp(min(x, 0))`` on the int8 grid, so no
    MINIMUM op (a same-scale op whose scale the converter cannot infer) is needed.
    """
    e = fixed(K.exp(x), 0.0, 1.0)
    n = fixed(e - 1.0, -1.0, 0.0)
    if alpha != 1.0:
        n = fixed(alpha * n, -alpha, 0.0)
    return n


def _qat_elu_v2(x: Any, point: Any, alpha: float = 1.0) -> Any:
    """QAT elu, formulation 2: RELU (moving range) + the fixed-range negative branch."""
    alpha = float(alpha)
    pos = point(K.relu(x), "pos")
    if alpha == 0.0:
        return pos
    return pos + _qat_elu_negative_v2(x, alpha)


def _qat_celu_v2(x: Any, point: Any, alpha: float = 1.0) -> Any:
    """QAT celu, formulation 2: ``alpha * elu(x / alpha)``."""
    return float(alpha) * _qat_elu_v2(x / float(alpha), point)


def _qat_selu_v2(x: Any, point: Any) -> Any:
    """QAT selu, formulation 2: the pre-scale sum gets its own moving range."""
    pos = point(K.relu(x), "pos")
    s = point(pos + _qat_elu_negative_v2(x, SELU_ALPHA), "sum")
    return SELU_SCALE * s


def qat_softplus_core(x: Any, point: Any) -> Any:
    """``relu(x) - log(sigmoid(|x|))`` (= log(1 + exp(x))), as QAT formulation 2 computes it (mish's too).

    ABS (moving range) -> LOGISTIC (fixed 1/256 scale; sigmoid(|x|) lies in [0.5, 1)) ->
    LOG (fixed [-0.7, 0]); RELU (moving range) -> SUB. Every intermediate is bounded and
    no same-scale op (MINIMUM, NEG) needs a range the converter cannot infer.
    """
    a = point(K.abs(x), "abs")
    s = fixed(K.sigmoid(a), *LOGISTIC_RANGE)
    l = fixed(K.log(s), -0.7, 0.0)
    return point(K.relu(x), "pos") - l


def _qat_softplus_v2(x: Any, point: Any) -> Any:
    """QAT softplus, formulation 2: :func:`qat_softplus_core`."""
    return qat_softplus_core(x, point)


_ELU_V2 = QATForm(_qat_elu_v2, moving=("pos",), ops=("EXP", "SUB", "RELU", "ADD"))
_CELU_V2 = QATForm(_qat_celu_v2, moving=("pos",), ops=("EXP", "SUB", "RELU", "ADD"))
_SELU_V2 = QATForm(_qat_selu_v2, moving=("pos", "sum"), ops=("EXP", "SUB", "MUL", "RELU", "ADD"))
_SOFTPLUS_V2 = QATForm(_qat_softplus_v2, moving=("abs", "pos"), ops=("ABS", "LOGISTIC", "LOG", "RELU", "SUB"))


exponential = register_activation(
    "exponential",
    exponential,
    reference=lambda x: np.exp(np.asarray(x, np.float64)),
    formula="exp(x)",
    paper="McCullagh & Nelder 1989 (log link)",
    layer="Exponential",
    output_range=(0.0, None),
    builtins={"keras3": Builtin("exponential", True), "tf_keras": Builtin("exponential", True)},
    lowerings={
        "float": Lowering(
            None,
            ("EXP",),
            "one EXP (an int8 lookup table with a free output scale). XNNPACK refuses int8 EXP, so on "
            "LiteRT's CPU runtime it runs outside its graph",
        ),
    },
    edgetpu=EdgeTPU(
        "EXP is not an Edge TPU op, and the Coral-only form tried, (p(x/8))^8, is over the 1.5 LSB budget "
        "(python -m keras_acts.export.edgetpu.measure); for a positive output use softplus or relu"
    ),
)


def _np_elu(x, alpha=1.0):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


elu = register_activation(
    "elu",
    elu,
    reference=_np_elu,
    formula="x if x > 0 else alpha * (exp(x) - 1)",
    paper="Clevert et al. 2016 (arXiv:1511.07289)",
    params=(Param("alpha", 1.0, "saturation value -alpha for x -> -inf", minimum=0.0),),
    layer="ELU",
    kinks=(0.0,),
    output_range=(-1.0, None),
    builtins={"keras3": Builtin("elu", True), "tf_keras": Builtin("elu", True)},
    lowerings={
        "float": Lowering(_elu_float, ("ELU",), "one ELU op for alpha = 1"),
        "int8": Lowering(
            _elu_int8,
            ("RELU", "SUB", "EXP", "SUB", "ADD"),
            "relu(x) + (exp(x - relu(x)) - 1): no float island (ELU is not quantized by the converter)",
        ),
        "cpu": Lowering(
            _elu_cpu,
            ("MUL", "ADD", "MUL", "TANH", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD"),
            "relu(x) + P(tanh(min(x, 0) / 2)), P a cubic ~ e^m - 1: no RELU or EXP, which XNNPACK "
            "refuses in int8",
            max_abs_error=0.0051,
        ),
    },
    qat="output",
    qat_form=QATForm(_qat_elu, moving=_ELU_POINTS, ops=_ELU_OPS),
    qat_form_versions={1: _ELU_V2, 2: _ELU_V2},
    edgetpu=EdgeTPU(
        "ELU and EXP are not Edge TPU ops; the cpu form relu(x) + P(tanh(min(x, 0) / 2)) uses only MUL, ADD "
        "and TANH"
    ),
    keras_layers={"ELU": lambda config: {"alpha": float(config.get("alpha", 1.0))}},
)

celu = register_activation(
    "celu",
    celu,
    reference=lambda x, alpha=1.0: alpha * _np_elu(np.asarray(x, np.float64) / alpha),
    derivative=_celu_derivative,
    gradient=_celu_gradient,
    formula="x if x > 0 else alpha * (exp(x / alpha) - 1)",
    paper="Barron 2017 (arXiv:1704.07483)",
    params=(Param("alpha", 1.0, "saturation value -alpha for x -> -inf; alpha > 0", minimum=1e-3),),
    layer="CELU",
    output_range=(-1.0, None),
    builtins={
        "keras3": Builtin("celu", True),
        "tf_keras": Builtin(None, False, note="tf_keras has no celu; keras_acts.celu is the same math"),
    },
    lowerings={
        "float": Lowering(_celu_float, ("ELU",), "one ELU op for alpha = 1"),
        "int8": Lowering(
            _celu_int8,
            ("RELU", "SUB", "EXP", "SUB", "ADD"),
            "relu(x) + alpha (exp((x - relu(x)) / alpha) - 1) (elu's int8 form; alpha != 1 adds two MULs)",
        ),
        "cpu": Lowering(
            _celu_cpu,
            ("MUL", "ADD", "MUL", "TANH", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD"),
            "relu(x) + alpha P(tanh(min(x, 0) / (2 alpha))) (elu's cpu form, 1/alpha folded into its MUL)",
            max_abs_error=0.0051,
        ),
    },
    qat="output",
    qat_form=QATForm(_qat_celu, moving=_ELU_POINTS, ops=_ELU_OPS),
    qat_form_versions={1: _CELU_V2, 2: _CELU_V2},
    edgetpu=EdgeTPU(
        "ELU and EXP are not Edge TPU ops; the cpu form relu(x) + alpha P(tanh(min(x, 0) / (2 alpha))) uses only "
        "MUL, ADD and TANH"
    ),
)

selu = register_activation(
    "selu",
    selu,
    reference=lambda x: SELU_SCALE * _np_elu(x, SELU_ALPHA),
    formula="scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha=1.6733, scale=1.0507",
    paper="Klambauer et al. 2017 (arXiv:1706.02515)",
    layer="SELU",
    kinks=(0.0,),
    output_range=(-SELU_SCALE * SELU_ALPHA, None),
    builtins={"keras3": Builtin("selu", True), "tf_keras": Builtin("selu", True)},
    lowerings={
        "float": Lowering(_selu_float, ("RELU", "SUB", "EXP", "SUB", "MUL", "MUL", "ADD"), "the int8 form"),
        "int8": Lowering(
            _selu_int8,
            ("RELU", "SUB", "EXP", "SUB", "MUL", "MUL", "ADD"),
            "relu(scale x) + scale alpha (exp(min(x, 0)) - 1), min(x, 0) = x - relu(x)",
        ),
        "cpu": Lowering(
            _selu_cpu,
            ("MUL", "ADD", "MUL", "MUL", "TANH", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD"),
            "scale relu(x) + scale alpha P(tanh(min(x, 0) / 2)) (the elu cpu form): no RELU or EXP",
            max_abs_error=0.009,
        ),
    },
    qat_form=QATForm(
        _qat_selu, moving=(*_ELU_POINTS, "scaled"), ops=("MUL", "ADD", "MUL", *_ELU_OPS[2:])
    ),
    qat_form_versions={1: _SELU_V2, 2: _SELU_V2},
    edgetpu=EdgeTPU(
        "EXP is not an Edge TPU op; the cpu form scale relu(x) + scale alpha P(tanh(min(x, 0) / 2)) uses only "
        "MUL, ADD and TANH"
    ),
)

softplus = register_activation(
    "softplus",
    softplus,
    reference=np_softplus,
    formula="log(1 + exp(x))",
    paper="Dugas et al. 2001; Glorot et al. 2011",
    layer="Softplus",
    output_range=(0.0, None),
    builtins={"keras3": Builtin("softplus", True), "tf_keras": Builtin("softplus", True)},
    lowerings={
        "float": Lowering(_softplus_float, ("RELU", "SUB", "SUB", "EXP", "ADD", "LOG", "ADD"), "the int8 form"),
        "int8": Lowering(
            _softplus_int8,
            ("RELU", "SUB", "SUB", "EXP", "ADD", "LOG", "ADD"),
            "relu(x) + log(1 + exp(-|x|)) with -|x| = min(x, 0) - relu(x); LOG is an int8 lookup table",
        ),
        "cpu": Lowering(
            _softplus_cpu,
            ("MUL", "ADD", "ADD", "LOGISTIC", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD", "ADD"),
            "relu(x) + R(sigmoid(|x|)), R a cubic ~ -log on [1/2, 1]: no RELU, EXP or LOG, which XNNPACK "
            "refuses in int8",
            max_abs_error=0.001,
        ),
    },
    qat_form=QATForm(
        _qat_softplus,
        moving=("neg", "pos", "abs", *horner_points("r", _NEG_LOG)),
        ops=("MUL", "ADD", "ADD", "LOGISTIC", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD", "ADD"),
    ),
    qat_form_versions={1: _SOFTPLUS_V2, 2: _SOFTPLUS_V2},
    edgetpu=EdgeTPU(
        "EXP and LOG are not Edge TPU ops; the cpu form relu(x) + R(sigmoid(|x|)) uses only MUL, ADD and LOGISTIC"
    ),
)
