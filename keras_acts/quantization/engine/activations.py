"""Which registry activation (and parameters) a Keras layer or ``activation=`` computes."""

from __future__ import annotations

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
    """The activation an activation layer computes, or None when ``layer`` is not one."""
    from keras_acts import layers as ka

    cfg = layer.get_config()
    if isinstance(layer, ka.PReLU) or isinstance(layer, keras.layers.PReLU):
        return Act("prelu", extra={"shared_axes": cfg.get("shared_axes"), "alpha_initializer": cfg.get("alpha_initializer")}, source=layer)
    if isinstance(layer, ka.Swish):
        return Act("swish", {"beta": layer.beta}, {"trainable_beta": layer.trainable_beta}, source=layer)
    if isinstance(layer, ka.RegistryActivation):
        return Act(layer.activation_name, dict(layer.activation_params))
    if isinstance(layer, ka.Activation):
        return Act(layer._entry_name, dict(layer.activation_params))
    if isinstance(layer, keras.layers.ELU):
        return Act("elu", {"alpha": float(cfg.get("alpha", 1.0))})
    if isinstance(layer, keras.layers.LeakyReLU):
        return Act("leaky_relu", {"negative_slope": float(cfg.get("negative_slope", cfg.get("alpha", 0.3)))})
    if isinstance(layer, keras.layers.ReLU):
        top, slope, thr = cfg.get("max_value"), float(cfg.get("negative_slope", 0.0)), float(cfg.get("threshold", 0.0))
        if thr == 0.0 and slope == 0.0 and top in (None, 6, 6.0):
            return Act("relu" if top is None else "relu6")
        if thr == 0.0 and top is None:
            return Act("leaky_relu", {"negative_slope": slope})
        return None
    if isinstance(layer, keras.layers.Softmax):
        return Act("softmax") if cfg.get("axis", -1) in (-1, [-1]) else None
    if type(layer) is keras.layers.Activation:
        return from_function(layer.activation)
    return None


def copy_weights(act: Act, new: Any) -> None:
    """Carries PReLU alpha / Swish beta from ``act.source`` over to the built QAT layer."""
    old = act.source
    if old is None:
        return
    if act.name == "prelu" and getattr(old, "alpha", None) is not None:
        new.alpha.assign(old.alpha)
    if act.name == "swish" and getattr(old, "beta_weight", None) is not None and new.beta is not None:
        new.beta.assign(old.beta_weight)
