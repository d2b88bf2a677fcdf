"""Building blocks of the activations' QAT formulations (imported by the family modules).

Each registry entry whose int8 graph needs more than an output fake-quant carries its QAT
formulation as ``qat_form=`` (a :class:`QATForm`) in its ``register_activation`` call, next to
its training math and its export lowerings; :mod:`keras_acts.quantization.formulations` reads
them from the registry. This module is cheap to import: it needs only :mod:`keras_acts._ops`
(no QAT engine, no export package, and no TensorFlow on the jax and torch backends).

A formulation is ``fn(x, point, **params)``: the activation's exact formula evaluated in the
order of the int8 ops it converts to, with ``point(t, name)`` applying the moving-average range
``name`` (declared in :attr:`QATForm.moving`) and :func:`fixed` applying a fixed range where the
math or the int8 kernel bounds the tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from keras_acts import _ops

# Output ranges of the TFLite int8 kernels with fixed output quantization.
LOGISTIC_RANGE = (0.0, 255.0 / 256.0)  # scale 1/256, zero point -128
TANH_RANGE = (-1.0, 127.0 / 128.0)  # scale 1/128, zero point 0


def fixed(t: Any, lo: float, hi: float) -> Any:
    """Fake-quantizes ``t`` to 8 bits on the fixed range [lo, hi] (0 must lie inside).

    Args:
        t: the tensor.
        lo: the range's low end (<= 0).
        hi: the range's high end (>= 0).

    Returns:
        ``t`` rounded to the 256-level grid of [lo, hi] (straight-through gradient inside).
    """
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


def horner_points(prefix: str, coeffs: tuple[float, ...]) -> tuple[str, ...]:
    """Names of the moving ranges :func:`horner` uses for ``coeffs`` (``prefix0``, ``prefix1``, ...)."""
    count = 0
    for c in reversed(coeffs[:-1]):
        count += 1 if c == 0.0 else 2
    return tuple(f"{prefix}{i}" for i in range(count))


def horner(t: Any, coeffs: tuple[float, ...], point: Callable[[Any, str], Any], prefix: str) -> Any:
    """QAT twin of the int8 forms' ``horner``: ``coeffs[0] + t (coeffs[1] + t (...))``, one moving range per op.

    The same MUL and ADD ops in the same order as
    :func:`keras_acts.activations._int8_forms.horner` (no ADD for a zero coefficient), each
    followed by the moving-average range ``prefix<i>`` (see :func:`horner_points`): the ranges the
    converter gives those ops' outputs when it quantizes the QAT model, as calibration gives them in
    post-training quantization.

    Args:
        t: the polynomial's variable (a fake-quantized tensor).
        coeffs: coefficients, constant term first (at least two).
        point: the formulation's ``point(t, name)``.
        prefix: prefix of the range names.

    Returns:
        The polynomial, fake-quantized after every op.
    """
    acc: Any = float(coeffs[-1])
    i = 0
    for c in reversed(coeffs[:-1]):
        acc = point(t * acc, f"{prefix}{i}")
        i += 1
        if c != 0.0:
            acc = point(acc + float(c), f"{prefix}{i}")
            i += 1
    return acc


def split_sign(x: Any, point: Callable[[Any, str], Any]) -> tuple[Any, Any]:
    """QAT twin of ``split_sign_delegable``: ``(relu(x), relu(-x))`` as ``x + relu(-1 * x)`` and ``relu(-1 * x)``.

    MUL with a fused RELU (range ``"neg"``) and ADD (range ``"pos"``): ops LiteRT's XNNPACK delegate
    takes in int8, where a standalone RELU or an ABS splits its graph.
    """
    q = point(_ops.relu(x * -1.0), "neg")
    return point(x + q, "pos"), q
