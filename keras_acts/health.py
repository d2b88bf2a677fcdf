"""Checks that catch a model that would quantize or export into something broken.

Used by :func:`keras_acts.export.to_tflite` and :func:`keras_acts.quantization.quantize_model`
before they do any work, so that a NaN weight or a network whose output no longer depends on
its input is refused with the layer's name instead of producing a model that runs and is wrong.
Works on Keras 3 and tf_keras models alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np


class ModelHealthError(ValueError):
    """A model that cannot be turned into a working quantized model as it is."""


@dataclass(frozen=True)
class BadVariable:
    """One variable holding NaN or infinite values.

    Attributes:
        layer: name of the layer that owns it.
        variable: the variable's name inside the layer (``kernel``, ``moving_variance``, ...).
        num_nan: how many entries are NaN.
        num_inf: how many entries are +-inf.
        size: number of entries.
    """

    layer: str
    variable: str
    num_nan: int
    num_inf: int
    size: int

    def describe(self) -> str:
        parts = []
        if self.num_nan:
            parts.append(f"{self.num_nan} NaN")
        if self.num_inf:
            parts.append(f"{self.num_inf} inf")
        return f"{self.layer}/{self.variable} ({' and '.join(parts)} of {self.size})"


def _layers(model: Any) -> Iterator[Any]:
    try:
        yield from model._flatten_layers(include_self=False, recursive=True)
    except (AttributeError, TypeError):
        yield from getattr(model, "layers", [])


def _variable_name(variable: Any, layer_name: str) -> str:
    name = str(getattr(variable, "path", None) or getattr(variable, "name", "") or "variable").split(":")[0]
    marker = layer_name + "/"
    if marker in name:  # "model/conv/kernel" (Keras 3 path), "conv/kernel" (tf_keras name)
        name = name[name.rindex(marker) + len(marker) :]
    return name


def nonfinite_variables(model: Any) -> list[BadVariable]:
    """Every variable of ``model`` (trainable or not) that holds NaN or inf, layer by layer.

    A variable shared by several layers is reported once, under the first layer that owns it.
    """
    bad: list[BadVariable] = []
    seen: set[int] = set()
    for layer in _layers(model):
        for variable in getattr(layer, "weights", []):
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            try:
                value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
            except Exception:  # noqa: BLE001 - a variable that cannot be read is not ours to judge
                continue
            if not np.issubdtype(value.dtype, np.floating):
                continue
            finite = np.isfinite(value)
            if finite.all():
                continue
            bad.append(
                BadVariable(
                    layer=layer.name,
                    variable=_variable_name(variable, layer.name),
                    num_nan=int(np.isnan(value).sum()),
                    num_inf=int(np.isinf(value).sum()),
                    size=int(value.size),
                )
            )
    return bad


def check_finite_weights(model: Any, *, action: str = "export") -> None:
    """Raises :class:`ModelHealthError` naming every layer and variable that holds NaN or inf.

    Args:
        model: a Keras 3 or tf_keras model.
        action: what was about to happen (``"export"``, ``"quantize"``), for the message.
    """
    bad = nonfinite_variables(model)
    if not bad:
        return
    shown = ", ".join(b.describe() for b in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    raise ModelHealthError(
        f"cannot {action} {getattr(model, 'name', 'the model')!r}: {len(bad)} variable(s) hold non-finite "
        f"values: {shown}{more}. The model computes NaN; a quantized copy would silently output garbage. "
        "Training probably diverged: reload the last good checkpoint, or retrain with a lower learning rate "
        "or gradient clipping (optimizer(clipnorm=1.0))."
    )


def is_constant(outputs: Any, *, rtol: float = 1e-6) -> bool:
    """True when every sample of a batch of outputs is the same (up to ``rtol`` of their scale).

    Args:
        outputs: an array ``(N, ...)`` with N >= 2 samples, or a list of such arrays (one per
            model output: constant only if all of them are).
        rtol: tolerance relative to the largest magnitude in the outputs.
    """
    arrays = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 0 or a.shape[0] < 2:
            return False
        if not np.isfinite(a).all():
            return False
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        spread = float(np.max(np.abs(a - a[:1]))) if a.size else 0.0
        if spread > rtol * max(scale, 1e-30):
            return False
    return True
