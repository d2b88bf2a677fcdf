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
