"""QAT formulations: each activation written with a fake-quant at every tensor the int8 graph needs.

A model trained with fake quantization converts to int8 using *only* the ranges of its
FakeQuant ops (no calibration data). Every intermediate tensor of an activation that the
TFLite int8 kernels must requantize therefore needs its own fake-quant, or the converter
leaves a float island (DEQUANTIZE -> op -> QUANTIZE) -- measured with ELU, softplus,
mish and SELU. Each formulation below is the activation's exact formula, evaluated in the
order of the int8 ops it converts to, with a *quantization point* after every op whose
output scale the converter cannot infer. Points are of two kinds:

* fixed ranges where the math bounds the tensor (``exp(min(x, 0))`` lies in [0, 1]; the
  LOGISTIC and TANH kernels' fixed output scales 1/256 and 1/128), written as
  ``FakeQuantWithMinMaxArgs`` -- no state, identical in training and conversion;
* moving-average ranges (tfmot's ``MovingAverageQuantizer``) for tensors whose range
  depends on the data (``beta * x``, SELU's pre-scale sum, softplus inside mish).

The layer's output fake-quant (tfmot's quantize wrapper) is not a point here. Because
training computes exactly the quantized chain, the QAT Keras model and its int8 TFLite
conversion agree to within rounding (see ``tests/test_qat.py``).

A formulation is ``fn(x, point, **params)``; ``point(t, name)`` applies the moving
range named ``name`` (declared in :attr:`QATForm.moving`), and :func:`fixed` applies a
fixed range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from keras_acts import _ops
from keras_acts.activations._common import SELU_ALPHA, SELU_SCALE

# Output ranges of the TFLite int8 kernels with fixed output quantization.
LOGISTIC_RANGE = (0.0, 255.0 / 256.0)  # scale 1/256, zero point -128
TANH_RANGE = (-1.0, 127.0 / 128.0)  # scale 1/128, zero point 0
_LOG2_RANGE = (0.0, 0.7)  # log(1 + e) for e in [0, 1] lies in [0, ln 2]


def fixed(t: Any, lo: float, hi: float) -> Any:
    """Fake-quantizes ``t`` to 8 bits on the fixed range [lo, hi] (0 must lie inside)."""
    return _ops.fake_quant_fixed(t, lo, hi)


@dataclass(frozen=True)
class QATForm:
    """A QAT formulation of one activation.

    Attributes:
        fn: ``fn(x, point, **params)``, the activation with its quantization points.
        moving: names of the moving-average points ``fn`` uses.
        output_range: a fixed output range the int8 kernel imposes (LOGISTIC, TANH),
            used instead of a moving-average output quantizer; None otherwise.
        ops: the int8 TFLite ops the activation converts to (for tests and docs), after the
            exporter's scale folding (:mod:`keras_acts.export.scale_folding`).
    """

    fn: Callable[..., Any]
    moving: tuple[str, ...] = ()
    output_range: tuple[float, float] | None = None
    ops: tuple[str, ...] = ()


def _elu_negative(x: Any, alpha: float) -> Any:
    """``alpha * (exp(min(x, 0)) - 1)``: EXP saturated to [0, 1] by its fixed range, SUB -> [-1, 0].

    ``exp(x)`` fake-quantized on [0, 1] equals ``exp(min(x, 0))`` on the int8 grid, so no
    MINIMUM op (a same-scale op whose scale the converter cannot infer) is needed.
    """
    e = fixed(_ops.exp(x), 0.0, 1.0)
    n = fixed(e - 1.0, -1.0, 0.0)
    if alpha != 1.0:
        n = fixed(alpha * n, -alpha, 0.0)
    return n


def _elu(x: Any, point: Any, alpha: float = 1.0) -> Any:
    alpha = float(alpha)
    pos = point(_ops.relu(x), "pos")
    if alpha == 0.0:
        return pos
    return pos + _elu_negative(x, alpha)


def _selu(x: Any, point: Any) -> Any:
    pos = point(_ops.relu(x), "pos")
    s = point(pos + _elu_negative(x, SELU_ALPHA), "sum")
    return SELU_SCALE * s


def _softplus_core(x: Any, point: Any) -> Any:
    """``relu(x) - log(sigmoid(|x|))`` (= log(1 + exp(x))).

    ABS (moving range) -> LOGISTIC (fixed 1/256 scale; sigmoid(|x|) lies in [0.5, 1)) ->
    LOG (fixed [-0.7, 0]); RELU (moving range) -> SUB. Every intermediate is bounded and
    no same-scale op (MINIMUM, NEG) needs a range the converter cannot infer.
    """
    a = point(_ops.abs(x), "abs")
    s = fixed(_ops.sigmoid(a), *LOGISTIC_RANGE)
    l = fixed(_ops.log(s), -0.7, 0.0)
    return point(_ops.relu(x), "pos") - l


def _softplus(x: Any, point: Any) -> Any:
    return _softplus_core(x, point)


def _mish(x: Any, point: Any) -> Any:
    sp = point(_softplus_core(x, point), "softplus")
    return x * fixed(_ops.tanh(sp), *TANH_RANGE)


def _hard_mish(x: Any, point: Any) -> Any:
    c = fixed(x + 2.0, 0.0, 2.0)  # the saturating fake-quant is clip(x + 2, 0, 2)
    return x * fixed(0.5 * c, 0.0, 1.0)


def _hard_swish(x: Any, point: Any) -> Any:
    """``x * (relu6(x + 3) * 1/6)``: ADD+RELU6, MUL, MUL, the middle one folded away on export.

    LiteRT's XNNPACK delegate refuses int8 HARD_SWISH. relu6(x + 3) has the fixed range [0, 6] and
    its sixth the fixed range [0, 1], on which it is exact (256 levels each): the ``* 1/6`` rounds
    nothing, so :mod:`keras_acts.export.scale_folding` can move it into the scales of the layers
    after the activation, leaving ADD+RELU6 and one MUL. (``(x * relu6(x + 3)) * 1/6`` would be
    fused by the converter into one HARD_SWISH, which XNNPACK refuses in int8.)
    """
    return x * fixed(fixed(_ops.relu6(x + 3.0), 0.0, 6.0) * (1.0 / 6.0), 0.0, 1.0)


def _hard_swish_v1(x: Any, point: Any) -> Any:
    """Formulation 1 (QAT models saved before scale folding): ``(x / 6) * relu6(x + 3)``."""
    return point(x * (1.0 / 6.0), "x_over_6") * fixed(_ops.relu6(x + 3.0), 0.0, 6.0)


def _prelu(x: Any, point: Any, gain: Any) -> Any:
    """``x + (1 - alpha) * relu(-1 * x)`` with ``gain = 1 - alpha``: the registry's ``cpu`` form of PReLU.

    MUL with fused RELU, MUL, ADD: ops LiteRT's XNNPACK delegate takes (int8 PRELU splits its
    graph). ``gain`` arrives fake-quantized as the converter quantizes the constant.
    """
    return x + point(gain * point(_ops.relu(x * -1.0), "negative"), "scaled")


def _hard_sigmoid(x: Any, point: Any, slope: float = 1.0 / 6.0) -> Any:
    if float(slope) != 1.0 / 6.0:  # tf_keras's 0.2: one more MUL, whose output needs a range
        x = point(x * (6.0 * float(slope)), "scaled")
    return fixed(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)  # the saturating fake-quant is relu6(x + 3)


def _swish(x: Any, point: Any, beta: Any = 1.0) -> Any:
    if isinstance(beta, float) and beta == 1.0:
        z = x
    else:
        z = point(_ops.cast(beta, _ops.dtype_name(x)) * x, "beta_x")
    return x * fixed(_ops.sigmoid(z), *LOGISTIC_RANGE)


def _softsign(x: Any, point: Any) -> Any:
    """``x / (1 + |x|)``: ABS and the ADD each get a moving range, then DIV (int8 kernels all three)."""
    a = point(_ops.abs(x), "abs")
    return x / point(1.0 + a, "denominator")


def _sigmoid(x: Any, point: Any) -> Any:
    return _ops.sigmoid(x)


def _tanh(x: Any, point: Any) -> Any:
    return _ops.tanh(x)


FORMS: dict[str, QATForm] = {
    "elu": QATForm(_elu, moving=("pos",), ops=("EXP", "SUB", "RELU", "ADD")),
    "celu": QATForm(lambda x, point, alpha=1.0: float(alpha) * _elu(x / float(alpha), point), moving=("pos",),
                    ops=("EXP", "SUB", "RELU", "ADD")),  # alpha * elu(x / alpha)
    "selu": QATForm(_selu, moving=("pos", "sum"), ops=("EXP", "SUB", "MUL", "RELU", "ADD")),
    "softplus": QATForm(_softplus, moving=("abs", "pos"), ops=("ABS", "LOGISTIC", "LOG", "RELU", "SUB")),
    "mish": QATForm(_mish, moving=("abs", "pos", "softplus"), ops=("ABS", "LOGISTIC", "LOG", "TANH", "MUL")),
    "hard_mish": QATForm(_hard_mish, ops=("ADD", "MUL")),
    # relu6(x + 3) / 6 is exactly on the [0, 1] grid: a fixed output range adds no rounding, and the
    # exporter can fold the 1/6 into the scales of the layer the gate multiplies.
    "hard_sigmoid": QATForm(_hard_sigmoid, moving=("scaled",), output_range=(0.0, 1.0), ops=("ADD",)),
    "hard_swish": QATForm(_hard_swish, ops=("ADD", "MUL")),
    "prelu": QATForm(_prelu, moving=("negative", "scaled"), ops=("MUL", "MUL", "ADD")),
    "swish": QATForm(_swish, moving=("beta_x",), ops=("LOGISTIC", "MUL")),
    "softsign": QATForm(_softsign, moving=("abs", "denominator"), ops=("ABS", "ADD", "DIV")),
    "sigmoid": QATForm(_sigmoid, output_range=LOGISTIC_RANGE, ops=("LOGISTIC",)),
    "tanh": QATForm(_tanh, output_range=TANH_RANGE, ops=("TANH",)),
}
"""Activations that need more than an output fake-quant. All others (relu, relu6,
leaky_relu, hard_tanh, gelu, gelu_tanh, exponential) convert to one int8 op (or fuse into the preceding
one) whose only new range is the output's. hard_swish and prelu are trained in their LiteRT-CPU
(XNNPACK) forms, so a QAT model converts to ops XNNPACK takes; those forms are plain int8
ADD/MUL ops that every runtime (TFLite Micro, the Edge TPU) also runs."""


FORMULATION = 2
"""The formulation version new QAT layers use. 2: hard_swish and hard_sigmoid carry their 1/6 in
scales (:mod:`keras_acts.export.scale_folding`). QAT layers saved without a version are 1."""

_V1_FORMS: dict[str, QATForm] = {
    "hard_sigmoid": QATForm(_hard_sigmoid, moving=("scaled",), ops=("ADD", "MUL")),
    "hard_swish": QATForm(_hard_swish_v1, moving=("x_over_6",), ops=("ADD", "MUL", "MUL")),
}


def form(name: str, version: int = FORMULATION) -> QATForm | None:
    """The QAT formulation of registry activation ``name``, or None for output-only ones.

    Args:
        name: canonical registry name.
        version: the formulation version a QAT layer was built with (see :data:`FORMULATION`).
    """
    if version == 1 and name in _V1_FORMS:
        return _V1_FORMS[name]
    return FORMS.get(name)



def _dtype(dtype: Any) -> str:
    """A dtype (a backend dtype object or a name) as its name."""
    return dtype if isinstance(dtype, str) else _ops.dtype_name(_ops.cast(0.0, dtype))


def prelu_gain(alpha: Any, dtype: Any) -> Any:
    """``1 - alpha``, fake-quantized per tensor on its [min, max] as the converter quantizes that constant.

    The PReLU formulation multiplies by it (see :func:`_prelu`); training then rounds it as
    the int8 MUL will.
    """
    gain = 1.0 - _ops.cast(alpha, _dtype(dtype))
    lo, hi = prelu_gain_range(alpha, dtype)
    return _ops.fake_quant(gain, lo, hi)


def prelu_gain_range(alpha: Any, dtype: Any) -> tuple[Any, Any]:
    """The range [min(1 - alpha, 0), max(1 - alpha)] the PReLU gain constant is quantized on."""
    gain = 1.0 - _ops.cast(alpha, _dtype(dtype))
    lo = _ops.minimum(_ops.reduce_min(gain), 0.0)
    return lo, _ops.maximum(_ops.reduce_max(gain), lo + 1e-6)


def qat_activation(
    name: str,
    x: Any,
    point: Callable[[Any, str], Any],
    params: dict[str, Any],
    alpha: Any = None,
    version: int = FORMULATION,
) -> Any:
    """Registry activation ``name`` as QAT computes it (both QAT engines call this).

    Args:
        name: canonical registry name.
        x: the input tensor.
        point: ``point(t, name)`` applies the moving range ``name`` of the formulation.
        params: the activation's parameters (a tensor ``beta`` for a learnable Swish-β).
        alpha: PReLU's alpha weight.
        version: the layer's formulation version.
    """
    if name == "prelu":
        params = {**params, "gain": prelu_gain(alpha, x.dtype)}
    f = form(name, version)
    if f is not None:
        return f.fn(x, point, **params)
    from keras_acts import registry

    return registry.lookup(name).fn(x, **params)
