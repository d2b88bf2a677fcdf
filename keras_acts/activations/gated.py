"""Self-gated activations ``x * gate(x)``: swish, hard_swish, mish, hard_mish, gelu, gelu_tanh."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts import _ops as K
from keras_acts.activations._common import gated_product, np_erfc, np_sigmoid, np_softplus, param_as
from keras_acts.activations._int8_forms import fit_polynomial, horner, split_sign
from keras_acts.activations._qat import LOGISTIC_RANGE, TANH_RANGE, QATForm, fixed, horner_points
from keras_acts.activations._qat import horner as qat_horner
from keras_acts.activations.exponential import qat_softplus_core
from keras_acts.registration import register_activation
from keras_acts.registry import Builtin, EdgeTPU, Lowering, Param


def swish(x: Any, beta: float = 1.0) -> Any:
    """Swish / SiLU: ``x * sigmoid(beta * x)``.

    ``beta = 1`` is SiLU (Elfwing et al., 2018); a learnable ``beta`` is the Swish-β
    of Ramachandran et al., 2017, "Searching for Activation Functions"
    (arXiv:1710.05941); see :class:`keras_acts.layers.Swish`.

    The product is :func:`keras_acts._ops.mul_no_nan`: 0 where the gate is 0, so the limit
    at the gate's closed end (``-inf`` for ``beta > 0``) instead of ``-inf * 0 = NaN``, at
    no extra pass.
    """
    if isinstance(beta, float):
        if beta == 1.0 and "silu" in K.FUSED:
            return K.FUSED["silu"](x)  # torch: one ATen kernel (see keras_acts._ops.FUSED)
        if beta == 1.0:
            # TensorFlow graphs fuse x * sigmoid(x) into one kernel; MulNoNan would keep them apart.
            return K.if_finite(x, lambda v: v * K.sigmoid(v), lambda v: K.mul_no_nan(v, K.sigmoid(v)))
        return K.mul_no_nan(x, K.sigmoid(x * beta))
    b = K.as_dtype_of(beta, x)  # a learnable beta of either sign
    return gated_product(x, lambda v: v * K.sigmoid(b * v), direction=b)


def _swish_derivative(x: Any, beta: float = 1.0) -> Any:
    """``sigmoid(bx) + bx sigmoid(bx) (1 - sigmoid(bx))``; the product is 0 where ``s (1 - s)`` is (+-inf)."""
    if beta == 1.0 and "silu_derivative" in K.FUSED:
        return K.FUSED["silu_derivative"](x)
    bx = x if beta == 1.0 else x * beta
    s = K.sigmoid(bx)
    return s + K.mul_no_nan(bx, s * (1.0 - s))


def _swish_gradient(upstream: Any, x: Any, beta: float = 1.0) -> Any:
    """``upstream * swish'(x)``: one ATen kernel on torch (``silu_backward``) for ``beta = 1``."""
    if beta == 1.0 and "silu_backward" in K.FUSED:
        return K.FUSED["silu_backward"](upstream, x)
    return upstream * _swish_derivative(x, beta)


def _swish_plain(x: Any, beta: float = 1.0) -> Any:
    """Export form of swish: ``x * sigmoid(beta * x)`` (LOGISTIC, MUL; beta != 1 adds one MUL)."""
    if isinstance(beta, float) and beta == 1.0:
        return x * tf.math.sigmoid(x)
    return x * tf.math.sigmoid(param_as(beta, x.dtype) * x)


def hard_swish(x: Any) -> Any:
    """Hard swish: ``x * relu6(x + 3) / 6``.

    0 at -inf (the limit; the product is :func:`keras_acts._ops.mul_no_nan`). Export traces
    :func:`_hard_swish_fused`, the operand order the TFLite converter fuses into one HARD_SWISH.

    Reference: Howard et al., 2019, "Searching for MobileNetV3" (arXiv:1905.02244).
    """
    if "hard_silu" in K.FUSED:
        return K.FUSED["hard_silu"](x)
    return K.mul_no_nan(x, K.relu6(x + 3.0) / 6.0)


def _hard_swish_derivative(x: Any) -> Any:
    """0 for ``x <= -3``, ``(2x + 3) / 6 = x/3 + 1/2`` on ``(-3, 3)``, 1 for ``x >= 3`` (0 at NaN).

    Compared on ``x`` itself (no ``t = x + 3`` tensor): one elementwise kernel less in TensorFlow
    graphs without XLA, where each is a pass over memory (docs/BENCHMARKS.md).
    """
    if "hard_silu_derivative" in K.FUSED:
        return K.FUSED["hard_silu_derivative"](x)
    return K.where(x > -3.0, K.where(x < 3.0, x * (1.0 / 3.0) + 0.5, 1.0), 0.0)


def _hard_swish_gradient(upstream: Any, x: Any) -> Any:
    """``upstream * hard_swish'(x)``: one ATen kernel on torch (``hardswish_backward``)."""
    if "hard_silu_backward" in K.FUSED:
        return K.FUSED["hard_silu_backward"](upstream, x)
    return upstream * _hard_swish_derivative(x)


def _hard_swish_fused(x: Any) -> Any:
    """``x * (relu6(x + 3) / 6)``: the operand order the TFLite converter fuses into one HARD_SWISH."""
    return x * (tf.nn.relu6(x + 3.0) / 6.0)


def mish(x: Any) -> Any:
    """Mish: ``x * tanh(softplus(x))``.

    Under tf_keras (:func:`keras_acts._ops.mish`), softplus is written as
    ``relu(x) + log1p(exp(-|x|))`` (exact and stable) rather than with TF's Softplus op:
    TensorFlow 2.21's CPU graph optimizer rewrites tf_keras's
    ``FusedBatchNorm -> x * tanh(Softplus(x))`` into a fused op whose kernel does not exist
    ("Fusion is not implemented: [FusedBatchNorm,Mish]"), which breaks
    BatchNormalization -> mish at evaluate/predict time (tf_keras's own mish too).

    Reference: Misra, 2019, "Mish: A Self Regularized Non-Monotonic Activation
    Function" (arXiv:1908.08681).
    """
    # mish(-inf) = 0 (the limit), not -inf * 0: x is kept finite. Not mul_no_nan here: TensorFlow's
    # graph optimizer fuses x * tanh(softplus(x)) into one kernel (4x faster than the ops apart).
    if "mish" in K.FUSED:
        return K.FUSED["mish"](x)
    return K.if_finite(x, K.mish, lambda v: K.mish(K.no_neg_inf(v)))  # TensorFlow graphs: no max pass


def _mish_derivative(x: Any) -> Any:
    """``g + x sigmoid(x) (1 - g^2)`` with ``g = tanh(softplus(x))``; the product is 0 at +-inf."""
    if "mish_derivative" in K.FUSED:
        return K.FUSED["mish_derivative"](x)
    g = K.tanh(K.softplus(x))
    return g + K.mul_no_nan(x, K.sigmoid(x) * (1.0 - g * g))


def _mish_gradient(upstream: Any, x: Any) -> Any:
    """``upstream * mish'(x)``: one ATen kernel on torch (``mish_backward``)."""
    if "mish_backward" in K.FUSED:
        return K.FUSED["mish_backward"](upstream, x)
    return upstream * _mish_derivative(x)


def hard_mish(x: Any) -> Any:
    """Hard mish: ``0.5 * x * clip(x + 2, 0, 2)``.

    Reference: Misra's piecewise-quadratic Mish approximation, as used in
    YOLO-family detectors (e.g. "H-Mish", 2020).
    """
    return K.mul_no_nan(x * 0.5, K.clip(x + 2.0, 0.0, 2.0))  # 0 at -inf, not -inf * 0


def _hard_mish_derivative(x: Any) -> Any:
    """0 for ``x <= -2``, ``x + 1`` on ``(-2, 0)``, 1 for ``x >= 0``."""
    return K.where(x > -2.0, K.minimum(x + 1.0, 1.0), 0.0)


def _hard_mish_plain(x: Any) -> Any:
    """``0.5 * x * clip(x + 2, 0, 2)`` as written (NaN at -inf): the float export form."""
    return 0.5 * x * tf.clip_by_value(x + 2.0, 0.0, 2.0)


def gelu(x: Any, approximate: bool = False) -> Any:
    """Gaussian error linear unit: ``0.5 * x * (1 + erf(x / sqrt(2)))``.

    Computed as ``x * Phi(x)`` with ``Phi(x) = erfc(-x / sqrt(2)) / 2`` (on jax from the
    density and Mills' ratio, :func:`keras_acts._ops.normal_cdf`): accurate in the negative
    tail, where ``1 + erf`` cancels, and 0 at -inf (:func:`keras_acts._ops.mul_no_nan`). With
    ``approximate=True`` the tanh form of :func:`gelu_tanh`.

    Reference: Hendrycks & Gimpel, 2016, "Gaussian Error Linear Units (GELUs)"
    (arXiv:1606.08415).
    """
    if approximate:
        return _gelu_tanh_value(x)
    if "gelu" in K.FUSED:
        return K.FUSED["gelu"](x)
    return K.mul_no_nan(x, K.normal_cdf(x))


def _gelu_derivative(x: Any, approximate: bool = False) -> Any:
    """``Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``; the product is 0 at +-inf."""
    if approximate:
        return _gelu_tanh_derivative(x)
    if "gelu_derivative" in K.FUSED:
        return K.FUSED["gelu_derivative"](x)
    cdf, pdf = K.normal_cdf_and_pdf(x)  # jax: one exp for both (keras_acts._ops)
    return cdf + K.mul_no_nan(x, pdf)


def _gelu_gradient(upstream: Any, x: Any, approximate: bool = False) -> Any:
    """``upstream * gelu'(x)``: one ATen kernel on torch (``gelu_backward``) for the exact form."""
    if not approximate and "gelu_backward" in K.FUSED:
        return K.FUSED["gelu_backward"](upstream, x)
    return upstream * _gelu_derivative(x, approximate)


_GELU_TANH_C = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_TANH_K = 0.044715


def _gelu_tanh_value(x: Any) -> Any:
    # 0.5 * (1 + tanh(z)) == sigmoid(2 z), without the cancellation of 1 + tanh(z) in the
    # negative tail (tf.nn.gelu's float32 form returns 0 below x ~ -4.8 and is 20% off near
    # it). TFLite export traces tf.nn.gelu instead: the float lowering, one GELU op.
    # 2 z = x (c + c k x^2): where x^2 overflows the gate is exactly 0 or 1, as it should be.
    gate = K.sigmoid(x * (_GELU_TANH_C + (_GELU_TANH_C * _GELU_TANH_K) * K.square(x)))
    return K.mul_no_nan(x, gate)  # gelu_tanh(-inf) = 0, not -inf * 0


def gelu_tanh(x: Any) -> Any:
    """GELU, tanh approximation: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Reference: Hendrycks & Gimpel, 2016 (arXiv:1606.08415).
    """
    return _gelu_tanh_value(x)


def _gelu_tanh_derivative(x: Any) -> Any:
    """``s + x s (1 - s) (c + 3 c k x^2)``, ``s = sigmoid(x (c + c k x^2))``; the product is 0 where ``s (1 - s)`` is."""
    x2 = K.square(x)
    s = K.sigmoid(x * (_GELU_TANH_C + (_GELU_TANH_C * _GELU_TANH_K) * x2))
    slope = x * (_GELU_TANH_C + (3.0 * _GELU_TANH_C * _GELU_TANH_K) * x2)
    return s + K.mul_no_nan(slope, s * (1.0 - s))


def _gelu_tflite(x: Any, approximate: bool = False) -> Any:
    """Float lowering of gelu: tf.nn.gelu, which the TFLite converter turns into one GELU op."""
    return tf.nn.gelu(x, approximate=approximate)


def _gelu_tanh_tflite(x: Any) -> Any:
    """Float lowering of gelu_tanh: one GELU op (approximate=True)."""
    return tf.nn.gelu(x, approximate=True)


def _hard_swish_unfused(x: Any) -> Any:
    """Hard swish as ``(x / 6) * relu6(x + 3)`` (ADD+RELU6, MUL, MUL): the Edge TPU and LiteRT CPU form.

    Exact. Scaling ``x`` before the product is an operand order that the TFLite
    converter does not fuse into HARD_SWISH, which the Edge TPU cannot run and which
    XNNPACK's delegate refuses in int8 (splitting the graph); the ADD with fused RELU6
    and the two MULs stay inside both. Measured 0.64 LSB on a -8..8 grid.
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
    """Edge TPU form of tanh-GELU: ``relu(x) + m * sigmoid(m (c + 0.044715 c m^2))``, ``m = -|x|``.

    Exactly tanh-GELU (``0.5 (1 + tanh(z)) = sigmoid(2 z)``, ``c = 2 sqrt(2/pi)``; for x > 0,
    ``x sigmoid(g(x)) = x + m sigmoid(g(m))`` since ``g`` is odd) from RELU, MUL, SUB, ADD and
    LOGISTIC, which the converter does not re-fuse into GELU. The gate's input only spans
    ``[g(-8), 0]`` on a -8..8 grid instead of ``[g(-8), g(8)]``, halving its int8 step, and the
    cubic is ``m (c + c' m^2)`` rather than ``c m + c' m^3`` (whose int8 ``m^3`` has a step of
    4 on that grid): 1.10 output LSB where ``x * sigmoid(c x + c' x^3)`` had 1.53
    (``measure_int8_fidelity("gelu_tanh", target="edgetpu")``). ``m = x - 2 relu(x)`` avoids NEG.
    """
    c = 2.0 * math.sqrt(2.0 / math.pi)
    p = tf.nn.relu(x)
    m = x - 2.0 * p
    return p + m * tf.math.sigmoid(m * (c + (c * 0.044715) * (m * m)))


def _swish_int8(x: Any, beta: float = 1.0) -> Any:
    """int8 lowering of swish: ``relu(x) + n * sigmoid(beta * n)`` with ``n = -|x|``.

    Exact identity (``x sigmoid(x) = x - x sigmoid(-x)`` for x > 0). The stock
    ``x * LOGISTIC(x)`` multiplies the LOGISTIC output, whose int8 scale is fixed at
    1/256 and which saturates at 255/256, by ``|x|`` up to the range end: about 0.7 LSB
    of product error at x = 7 on a -8..8 grid. Here the gate only sees ``n <= 0``
    (``sigmoid(n)`` in ``(0, 1/2]``, far from saturation) and the product ``n sigmoid(n)``
    has the narrow range ``[-0.28, 0]``. ``n = x - 2 relu(x)`` avoids NEG (no int8
    quantization). Ops (beta = 1): RELU, MUL, SUB, LOGISTIC, MUL, ADD.
    """
    p = tf.nn.relu(x)
    n = x - 2.0 * p
    gate_in = n if isinstance(beta, float) and beta == 1.0 else param_as(beta, x.dtype) * n
    return p + n * tf.math.sigmoid(gate_in)


# Least-squares fits (weighted by |v e^v|, the factor they multiply), from
# `python benchmarks/bench_int8_fidelity.py --fit`: r(e) ~ tanh(softplus(v)) / e^v for v <= 0 and
# psi(E) ~ 2E / (1 + 2E + 2E^2); constant term first.
_MISH_R = (0.9903928783102499, -0.43615710127303875)
_MISH_PSI = (0.0, 1.8595649192846733, -2.859330242714271, 1.4787908069874383)


def _mish_int8(x: Any) -> Any:
    """int8 lowering of mish: ``relu(x) + N(min(x, 0)) + P(-relu(x))``, all branches small.

    With ``g = tanh(softplus(x))``: for ``m <= 0``, ``mish(m) = m g(m)`` and
    ``g(m) = e^m r(e^m)``, ``r(e) = (e + 2) / (e^2 + 2e + 2)``; for ``x > 0``,
    ``mish(x) = x + n E psi(E)`` with ``n = -x``, ``E = e^n`` and
    ``psi(E) = 2E / (1 + 2E + 2E^2)``. Both correction terms lie in ``[-0.31, 0]``.

    The stock graph ``x * tanh(log(1 + exp(x)))`` is 52 LSB off (``exp(x)`` spans
    ``[0, e^8]``) and any ``x * gate`` product multiplies the gate's rounding by ``|x|``.
    Here the large factors never meet a rounded one: ``N = (m t) (t r(t^2))`` with
    ``t = e^(m/2)`` from EXP, so the rounding of ``t`` multiplied by ``|m|`` is damped
    again by ``t`` (``|m| t^2 <= 0.54``); in ``P = (n E) psi(E)``, ``psi(E) -> 0`` where
    ``|n|`` is large. ``r`` (linear) and ``psi`` (cubic) are fitted polynomials with a
    float error below 0.0035 (0.1 LSB on a -8..8 grid); every intermediate keeps a
    range of at most ``[-0.74, 2]``. 21 int8 ops.
    """
    p, m = split_sign(x)
    n = m - x
    t = tf.exp(0.5 * m)
    e = tf.exp(m)
    negative = (m * t) * (t * horner(e, _MISH_R))
    big_e = tf.exp(n)
    positive = (n * big_e) * (big_e * horner(big_e, _MISH_PSI[1:]))
    return p + negative + positive


def _mish_gate_of_sigmoid(s: np.ndarray) -> np.ndarray:
    """``tanh(softplus(x))`` as a function of ``s = sigmoid(x)`` (exact: ``s (2 - s) / (1 + (1 - s)^2)``)."""
    return s * (2.0 - s) / (1.0 + (1.0 - s) ** 2)


# tanh(softplus(x)) as a quintic in s = sigmoid(x), weighted by 1 + |x| (the factor it multiplies).
_MISH_GATE = fit_polynomial(
    "mish gate", _mish_gate_of_sigmoid, 0.0, 1.0, 5, through_zero=True,
    weight=lambda s: 1.0 + np.abs(np.log(s / (1.0 - s))),
)


def _mish_cpu(x: Any) -> Any:
    """int8 LiteRT-CPU form of mish: ``x * G(sigmoid(x))``, G a quintic ~ ``tanh(softplus(x))``.

    ``tanh(softplus(x)) = s (2 - s) / (1 + (1 - s)^2)`` exactly, with ``s = sigmoid(x)``: a
    smooth gate of a LOGISTIC output, fitted (weighted by ``1 + |x|``, the factor it meets) by a
    quintic through 0. Only LOGISTIC, MUL and ADD: one XNNPACK partition where the int8 form's
    RELU and EXP split it (measured 2.6x the float time in a 6-conv CNN; this form 0.37x, 0.95 LSB).
    """
    return x * horner(tf.math.sigmoid(x), _MISH_GATE)


def _mish_float(x: Any) -> Any:
    """Float lowering of mish: ``x * tanh(softplus(x))`` with the stable softplus form."""
    p, m = split_sign(x)
    return x * tf.math.tanh(p + tf.math.log(1.0 + tf.exp(m - p)))


def _hard_mish_cpu(x: Any) -> Any:
    """int8 LiteRT-CPU form of hard mish: ``(x / 6) * relu6(3 (x + 2))`` (ADD, MUL+RELU6, MUL, MUL).

    Exact (``clip(x + 2, 0, 2) = relu6(3 (x + 2)) / 3``). Every op stays in XNNPACK's graph;
    the int8 form's lone RELU and MAXIMUM split it.
    """
    return (x * (1.0 / 6.0)) * tf.nn.relu6((x + 2.0) * 3.0)


def _hard_mish_int8(x: Any) -> Any:
    """int8 lowering of hard mish: ``relu(x) + (0.5 c) (c + 2)``, ``c = max(min(x, 0), -2)``.

    The product only sees ``c`` in ``[-2, 0]`` (full int8 resolution, and ``c + 2`` is an
    exact zero-point shift) instead of ``x`` times a rounded ``clip(x + 2, 0, 2)``:
    0.51 LSB instead of 0.68 on a -8..8 grid. ``min(x, 0)`` is a SUB (see ``_int8_forms``).
    """
    p, m = split_sign(x)
    c = tf.maximum(m, -2.0)
    return p + (0.5 * c) * (c + 2.0)


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


# QAT formulations (keras_acts.activations._qat).


def _qat_swish(x: Any, point: Any, beta: Any = 1.0) -> Any:
    """QAT swish: ``x * LOGISTIC(beta x)``; ``beta x`` gets a moving range unless beta is 1."""
    if isinstance(beta, float) and beta == 1.0:
        z = x
    else:
        z = point(K.cast(beta, K.dtype_name(x)) * x, "beta_x")
    return x * fixed(K.sigmoid(z), *LOGISTIC_RANGE)


def _qat_hard_swish(x: Any, point: Any) -> Any:
    """``x * (relu6(x + 3) * 1/6)``: ADD+RELU6, MUL, MUL, the middle one folded away on export.

    LiteRT's XNNPACK delegate refuses int8 HARD_SWISH. relu6(x + 3) has the fixed range [0, 6] and
    its sixth the fixed range [0, 1], on which it is exact (256 levels each): the ``* 1/6`` rounds
    nothing, so :mod:`keras_acts.export.scale_folding` can move it into the scales of the layers
    after the activation, leaving ADD+RELU6 and one MUL. (``(x * relu6(x + 3)) * 1/6`` would be
    fused by the converter into one HARD_SWISH, which XNNPACK refuses in int8.)
    """
    return x * fixed(fixed(K.relu6(x + 3.0), 0.0, 6.0) * (1.0 / 6.0), 0.0, 1.0)


def _qat_hard_swish_v1(x: Any, point: Any) -> Any:
    """Formulation 1 (QAT models saved before scale folding): ``(x / 6) * relu6(x + 3)``."""
    return point(x * (1.0 / 6.0), "x_over_6") * fixed(K.relu6(x + 3.0), 0.0, 6.0)


def _qat_mish(x: Any, point: Any) -> Any:
    """QAT mish in its cpu form (:func:`_mish_cpu`): ``x * G(sigmoid(x))``, G the fitted quintic.

    LOGISTIC (fixed 1/256 scale), G's MULs and ADDs with a moving range after each (``"g0"`` ...),
    and the final MUL: the ops of the int8 export for LiteRT's CPU runtime, all taken by XNNPACK,
    so the QAT model computes what its int8 export computes. Training sees G's fit error
    (below 0.003 on -8..8) along with the rounding.
    """
    return x * qat_horner(fixed(K.sigmoid(x), *LOGISTIC_RANGE), _MISH_GATE, point, "g")


def _qat_mish_v2(x: Any, point: Any) -> Any:
    """QAT mish, formulations 1 and 2 (QAT models saved before formulation 3): the QAT softplus
    (ABS, LOGISTIC, LOG, RELU, SUB; moving range), TANH (fixed 1/128 scale), MUL. XNNPACK refuses
    int8 ABS, LOG and a standalone RELU, so their int8 export split its graph."""
    sp = point(qat_softplus_core(x, point), "softplus")
    return x * fixed(K.tanh(sp), *TANH_RANGE)


def _qat_hard_mish(x: Any, point: Any) -> Any:
    """QAT hard_mish: ``x * (0.5 clip(x + 2, 0, 2))`` with two fixed ranges."""
    c = fixed(x + 2.0, 0.0, 2.0)  # the saturating fake-quant is clip(x + 2, 0, 2)
    return x * fixed(0.5 * c, 0.0, 1.0)


_MISH_V2 = QATForm(_qat_mish_v2, moving=("abs", "pos", "softplus"), ops=("ABS", "LOGISTIC", "LOG", "TANH", "MUL"))

# Worst |x * sigmoid(1.702 x) - gelu(x)| in float64, from `python -m keras_acts.export.edgetpu.measure`.
GELU_EDGETPU_ERROR = 0.0203

swish = register_activation(
    "swish",
    swish,
    derivative=_swish_derivative,
    gradient=_swish_gradient,
    reference=lambda x, beta=1.0: np.asarray(x, np.float64) * np_sigmoid(beta * np.asarray(x, np.float64)),
    formula="x * sigmoid(beta * x)",
    paper="Ramachandran et al. 2017 (arXiv:1710.05941); Elfwing et al. 2018",
    aliases=("silu",),
    params=(Param("beta", 1.0, "gate sharpness"),),
    layer="Swish",
    builtins={"keras3": Builtin("silu", True), "tf_keras": Builtin("swish", True)},
    lowerings={
        "int8": Lowering(
            _swish_int8,
            ("RELU", "MUL", "SUB", "LOGISTIC", "MUL", "ADD"),
            "relu(x) + n sigmoid(beta n), n = -|x|: the gate never saturates; beta != 1 adds one MUL",
        ),
        "float": Lowering(_swish_plain, ("LOGISTIC", "MUL"), "x * LOGISTIC(beta x); beta != 1 adds one MUL"),
        "cpu": Lowering(
            _swish_plain,
            ("LOGISTIC", "MUL"),
            "x * LOGISTIC(beta x) as trained: both ops stay in XNNPACK's graph (1.17 LSB, within "
            "budget); the int8 form's lone RELU would split it",
        ),
        "edgetpu": Lowering(_swish_plain, ("LOGISTIC", "MUL"), "x * LOGISTIC(x); beta != 1 adds one MUL"),
    },
    qat_form=QATForm(_qat_swish, moving=("beta_x",), ops=("LOGISTIC", "MUL")),
    edgetpu=EdgeTPU("x * LOGISTIC(beta x): LOGISTIC and MUL are Edge TPU ops"),
    handwritten_layer=True,  # keras_acts/layers/swish.py: beta can be a trainable weight
)

hard_swish = register_activation(
    "hard_swish",
    hard_swish,
    derivative=_hard_swish_derivative,
    gradient=_hard_swish_gradient,
    reference=lambda x: np.asarray(x, np.float64) * np.clip(np.asarray(x, np.float64) + 3.0, 0.0, 6.0) / 6.0,
    formula="x * relu6(x + 3) / 6",
    paper="Howard et al. 2019 (arXiv:1905.02244)",
    aliases=("hard_silu", "hardswish", "h_swish"),
    layer="HardSwish",
    kinks=(-3.0, 3.0),
    dead_below=-3.0,
    builtins={"keras3": Builtin("hard_silu", True), "tf_keras": Builtin(None, False)},
    lowerings={
        "float": Lowering(_hard_swish_fused, ("HARD_SWISH",), "x * (relu6(x + 3) / 6) fuses into one HARD_SWISH"),
        "cpu": Lowering(
            _hard_swish_unfused,
            ("ADD", "MUL", "MUL"),
            "(x / 6) * relu6(x + 3): ADD with fused RELU6, MUL, MUL stay in XNNPACK's graph; int8 "
            "HARD_SWISH splits it",
        ),
        "edgetpu": Lowering(
            _hard_swish_unfused,
            ("ADD", "MUL", "MUL"),
            "(x / 6) * relu6(x + 3): the converter does not fuse this order into HARD_SWISH; "
            "relu6 rides on the ADD as a fused activation",
        ),
    },
    qat_form=QATForm(_qat_hard_swish, ops=("ADD", "MUL")),
    qat_form_versions={1: QATForm(_qat_hard_swish_v1, moving=("x_over_6",), ops=("ADD", "MUL", "MUL"))},
    edgetpu=EdgeTPU("HARD_SWISH is not an Edge TPU op; exact rewrite (x / 6) * relu6(x + 3)"),
)

mish = register_activation(
    "mish",
    mish,
    derivative=_mish_derivative,
    gradient=_mish_gradient,
    reference=lambda x: np.asarray(x, np.float64) * np.tanh(np_softplus(x)),
    formula="x * tanh(softplus(x))",
    paper="Misra 2019 (arXiv:1908.08681)",
    layer="Mish",
    builtins={"keras3": Builtin("mish", True), "tf_keras": Builtin("mish", True)},
    lowerings={
        "float": Lowering(_mish_float, ("RELU", "SUB", "SUB", "EXP", "ADD", "LOG", "ADD", "TANH", "MUL"), "stable softplus"),
        "int8": Lowering(
            _mish_int8,
            ("RELU", "SUB", "EXP", "MUL", "ADD", "MUL", "EXP", "MUL", "MUL", "MUL", "ADD", "SUB", "EXP",
             "MUL", "ADD", "MUL", "ADD", "MUL", "MUL", "MUL", "ADD"),
            "relu(x) + (m t)(t r(t^2)) + (n E) psi(E): large factors never meet a rounded one",
            max_abs_error=0.0035,
        ),
        "cpu": Lowering(
            _mish_cpu,
            ("LOGISTIC", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD", "MUL", "MUL"),
            "x G(sigmoid(x)), G a quintic ~ s(2 - s)/(1 + (1 - s)^2) = tanh(softplus(x)): no RELU, EXP or "
            "LOG, which XNNPACK refuses in int8",
            max_abs_error=0.023,  # 0.003 on -8..8; the fit's end error times |x| up to 60
        ),
    },
    qat_form=QATForm(
        _qat_mish,
        moving=horner_points("g", _MISH_GATE),
        ops=("LOGISTIC", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD", "MUL", "ADD", "MUL", "MUL"),
    ),
    qat_form_versions={1: _MISH_V2, 2: _MISH_V2},
    edgetpu=EdgeTPU(
        "softplus needs EXP/LOG, not Edge TPU ops; the cpu form x G(sigmoid(x)) uses only LOGISTIC, MUL and ADD"
    ),
)

hard_mish = register_activation(
    "hard_mish",
    hard_mish,
    derivative=_hard_mish_derivative,
    reference=lambda x: 0.5 * np.asarray(x, np.float64) * np.clip(np.asarray(x, np.float64) + 2.0, 0.0, 2.0),
    formula="0.5 * x * clip(x + 2, 0, 2)",
    paper="Misra 2019 (piecewise-quadratic Mish)",
    aliases=("hardmish", "h_mish"),
    layer="HardMish",
    kinks=(-2.0, 0.0),
    dead_below=-2.0,
    builtins={"keras3": Builtin(None, False), "tf_keras": Builtin(None, False)},
    lowerings={
        "float": Lowering(
            _hard_mish_plain, ("ADD", "MINIMUM", "RELU", "MUL", "MUL"), "0.5 * x * clip(x + 2, 0, 2) as written"
        ),
        "int8": Lowering(
            _hard_mish_int8,
            ("RELU", "SUB", "MAXIMUM", "ADD", "MUL", "MUL", "ADD"),
            "relu(x) + (0.5 c)(c + 2), c = max(min(x, 0), -2): the product sees only [-2, 0]",
        ),
        "cpu": Lowering(
            _hard_mish_cpu,
            ("ADD", "MUL", "MUL", "MUL"),
            "(x / 6) relu6(3 (x + 2)): ADD, MUL with fused RELU6, MUL, MUL stay in XNNPACK's graph",
        ),
        "edgetpu": Lowering(
            _hard_mish_edgetpu, ("ADD", "MINIMUM", "MUL", "MUL"), "(x / 2) * min(relu(x + 2), 2), exact"
        ),
    },
    qat_form=QATForm(_qat_hard_mish, ops=("ADD", "MUL")),
    edgetpu=EdgeTPU("exact rewrite (x / 2) * min(relu(x + 2), 2): ADD+RELU, MINIMUM, MUL"),
)

gelu = register_activation(
    "gelu",
    gelu,
    derivative=_gelu_derivative,
    gradient=_gelu_gradient,
    reference=_np_gelu,
    formula="0.5 * x * (1 + erf(x / sqrt(2)))",
    paper="Hendrycks & Gimpel 2016 (arXiv:1606.08415)",
    params=(Param("approximate", False, "use the tanh approximation", kind="bool"),),
    layer="GELU",
    builtins={"keras3": Builtin("gelu", True), "tf_keras": Builtin("gelu", True)},
    lowerings={
        "float": Lowering(
            _gelu_tflite,
            ("GELU",),
            "tf.nn.gelu converts to one GELU (int8 lookup table). XNNPACK refuses int8 GELU, but it is "
            "the fastest form measured (6-conv CNN: 0.35x float); a delegable x G(sigmoid(1.702 x)) with "
            "a fitted quintic stays in one partition but ran 0.41x float at 1.47-1.73 LSB",
        ),
        "edgetpu": Lowering(
            _gelu_edgetpu,
            ("MUL", "LOGISTIC", "MUL"),
            "x * sigmoid(1.702 x) (Hendrycks & Gimpel 2016); error measured by "
            "`python -m keras_acts.export.edgetpu.measure`",
            max_abs_error=GELU_EDGETPU_ERROR,
        ),
    },
    edgetpu=EdgeTPU(
        f"GELU/erf are not Edge TPU ops; x * sigmoid(1.702 x), max abs error {GELU_EDGETPU_ERROR} in float",
    ),
)

gelu_tanh = register_activation(
    "gelu_tanh",
    gelu_tanh,
    derivative=_gelu_tanh_derivative,
    reference=_np_gelu_tanh,
    formula="0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
    paper="Hendrycks & Gimpel 2016 (arXiv:1606.08415)",
    aliases=("gelu_approximate", "approximate_gelu"),
    layer="GELUTanh",
    builtins={"keras3": Builtin(None, False), "tf_keras": Builtin(None, False)},
    lowerings={
        "float": Lowering(
            _gelu_tanh_tflite,
            ("GELU",),
            "tf.nn.gelu(approximate=True) converts to one GELU: the fastest form measured on XNNPACK too "
            "(see gelu)",
        ),
        "edgetpu": Lowering(
            _gelu_tanh_edgetpu,
            ("RELU", "MUL", "SUB", "MUL", "MUL", "ADD", "MUL", "LOGISTIC", "MUL", "ADD"),
            "relu(x) + m sigmoid(m (c + 0.044715 c m^2)), m = -|x|, c = 2 sqrt(2/pi): exactly tanh-GELU, "
            "not re-fused into GELU; the gate never sees positive inputs (1.10 LSB instead of 1.53)",
        ),
    },
    edgetpu=EdgeTPU("GELU is not an Edge TPU op; exact sigmoid form from RELU/MUL/SUB/ADD/LOGISTIC"),
)
