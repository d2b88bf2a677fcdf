"""Which registry activation (and parameters) a Keras layer or ``activation=`` computes."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from keras_acts import registry
from keras_acts.backend import FRONTEND, keras

SOFTMAX_RANGE = (0.0, 255.0 / 256.0)  # TFLite int8 SOFTMAX: scale 1/256, zero point -128
FUSABLE = ("relu", "relu6", "hard_tanh")  # fused by the converter into CONV/DEPTHWISE/FC/ADD/SUB/MUL


@dataclass
class Act:
    """A resolved activation: registry ``name`` with ``params`` and layer ``extra`` args,
    or ``name`` ``"linear"`` / ``"softmax"`` (Keras functions the registry does not hold)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    source: Any = None  # the layer whose weights (PReLU alpha, Swish beta) carry over

    @property
    def fusable(self) -> bool:
        return self.name in FUSABLE and not self.params


def from_function(fn: Any) -> Act | None:
    """The activation an ``activation=`` function (or string) computes, or None if unknown."""
    if fn is None:
        return Act("linear")
    if isinstance(fn, str):
        fn = keras.activations.get(fn)
    entry = registry.find_by_function(fn)
    if entry is not None:
        return Act(entry.name, dict(getattr(fn, "keywords", None) or {}))
    name = getattr(fn, "__name__", None)
    if name in ("linear", "softmax"):
        return Act(name)
    for e in registry.entries():
        b = e.builtins.get(FRONTEND)
        if b is not None and b.name == name and (b.same_math or b.params):
            return Act(e.name, dict(b.params))
    return None


def from_layer(layer: Any) -> Act | None:
    """The activation an activation layer computes, or None when ``layer`` is not one.

    keras_acts's layers and Keras's own activation layers are resolved by the registry
    (:func:`keras_acts.registry.activation_of_layer`: each entry's layer class and its
    ``keras_layers``); the learnable layers' arguments (PReLU's ``shared_axes``, Swish's
    ``trainable_beta``) go to the QAT layer as ``extra``.
    """
    found = registry.activation_of_layer(layer)
    if found is not None:
        entry, kwargs = found
        names = {p.name for p in entry.params}
        params = {k: v for k, v in kwargs.items() if k in names}
        extra = {k: v for k, v in kwargs.items() if k not in names and k in _qat_layer_arguments()}
        learned = bool(entry.weights) or bool(extra.get("trainable_beta"))
        return Act(entry.name, params, extra, source=layer if learned or extra else None)
    cfg = layer.get_config()
    if isinstance(layer, keras.layers.Softmax):
        return Act("softmax") if cfg.get("axis", -1) in (-1, [-1]) else None
    if type(layer) is keras.layers.Activation:
        return from_function(layer.activation)
    return None


@functools.lru_cache(maxsize=None)
def _qat_layer_arguments() -> frozenset[str]:
    """The learnable-layer arguments the QAT activation layer takes (from its signature)."""
    import inspect

    from keras_acts.quantization.engine.layers import QuantizedActivation

    skip = {"self", "activation", "params", "quantize_output", "output_range", "decay", "formulation", "kwargs"}
    return frozenset(inspect.signature(QuantizedActivation.__init__).parameters) - skip


def copy_weights(act: Act, new: Any) -> None:
    """Carries PReLU alpha / Swish beta from ``act.source`` over to the built QAT layer."""
    old = act.source
    if old is None:
        return
    if act.name == "prelu" and getattr(old, "alpha", None) is not None:
        new.alpha.assign(old.alpha)
    if act.name == "swish" and getattr(old, "beta_weight", None) is not None and new.beta is not None:
        new.beta.assign(old.beta_weight)
