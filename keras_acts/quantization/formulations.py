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

Each formulation lives on its registry entry (``register_activation(..., qat_form=QATForm(...))``
in its family module under :mod:`keras_acts.activations`, built from
:mod:`keras_acts.activations._qat`); this module reads them from the registry. :data:`FORMS`
is a live, read-only view of the entries that have one, not a second list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable

from keras_acts import _ops
from keras_acts.activations._qat import LOGISTIC_RANGE, TANH_RANGE, QATForm, fixed

__all__ = [
    "FORMS",
    "FORMULATION",
    "LOGISTIC_RANGE",
    "TANH_RANGE",
    "QATForm",
    "fixed",
    "form",
    "prelu_gain",
    "prelu_gain_range",
    "qat_activation",
]


FORMULATION = 3
"""The formulation version new QAT layers use. 2: hard_swish and hard_sigmoid carry their 1/6 in
scales (:mod:`keras_acts.export.scale_folding`). 3: elu, celu, selu, softplus and mish are trained in
their LiteRT-CPU ("cpu") forms, so their int8 export stays in one XNNPACK partition (formulation 2
used ABS, EXP, LOG and standalone RELUs, which XNNPACK refuses in int8). QAT layers saved without a
version are 1."""


def _registry() -> Any:
    from keras_acts import registry  # noqa: PLC0415  (the registry imports the family modules lazily)

    return registry


class _FormsView(Mapping):
    """Canonical name -> QATForm of version ``version``, read from the registry on every access.

    Entries without a form (output-only QAT) are absent. Registering or unregistering an
    activation changes the view at once: there is no second list to keep in step.
    """

    def __init__(self, version: int | None = None) -> None:
        self._version = version

    def _items(self) -> dict[str, QATForm]:
        out: dict[str, QATForm] = {}
        for e in _registry().entries():
            f = e.qat_form if self._version is None else e.qat_form_versions.get(self._version)
            if f is not None:
                out[e.name] = f
        return out

    def __getitem__(self, name: str) -> QATForm:
        return self._items()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"FormsView({sorted(self._items())})"


FORMS: Mapping[str, QATForm] = _FormsView()
"""Activations that need more than an output fake-quant (a read-only view of the registry
entries' ``qat_form``). All others (relu, relu6, leaky_relu, hard_tanh, gelu, gelu_tanh,
exponential) convert to one int8 op (or fuse into the preceding one) whose only new range is the
output's. hard_swish, prelu and (since formulation 3) elu, celu, selu, softplus and mish are trained in
their LiteRT-CPU (XNNPACK) forms, so a QAT model converts to ops XNNPACK takes, in as many partitions as
the post-training export; those forms are plain int8 ADD/MUL/LOGISTIC/TANH ops that every runtime (TFLite
Micro, the Edge TPU) also runs."""

_V1_FORMS: Mapping[str, QATForm] = _FormsView(version=1)
"""Formulation 1 where it differs from the current one (``Activation.qat_form_versions[1]``)."""


def form(name: str, version: int = FORMULATION) -> QATForm | None:
    """The QAT formulation of registry activation ``name``, or None for output-only ones.

    Args:
        name: canonical registry name (an alias is accepted too).
        version: the formulation version a QAT layer was built with (see :data:`FORMULATION`).

    Returns:
        The entry's ``qat_form_versions[version]`` if it has one, else its ``qat_form``; None
        for an unknown name (or a non-string) or an entry without a formulation.
    """
    if not isinstance(name, str):  # a layer whose activation is not a registry name
        return None
    try:
        entry = _registry().lookup(name)
    except ValueError:
        return None
    return entry.qat_form_versions.get(version, entry.qat_form)


def _dtype(dtype: Any) -> str:
    """A dtype (a backend dtype object or a name) as its name."""
    return dtype if isinstance(dtype, str) else _ops.dtype_name(_ops.cast(0.0, dtype))


def prelu_gain(alpha: Any, dtype: Any) -> Any:
    """``1 - alpha``, fake-quantized per tensor on its [min, max] as the converter quantizes that constant.

    The PReLU formulation (``_qat_prelu`` in :mod:`keras_acts.activations.rectifiers`) multiplies
    by it; training then rounds it as the int8 MUL will.
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
    return _registry().lookup(name).fn(x, **params)
