"""Checks on a Keras model before it is converted for the Edge TPU.

:func:`preflight` refuses, with one message naming every offending layer and its fix:

* PReLU layers with a per-element alpha over spatial axes (the Edge TPU's PRELU needs a
  1-D alpha: ``shared_axes=[1, 2]``);
* inputs whose non-batch dimensions are dynamic (``None``);
* activations whose registry ``edgetpu.status`` is ``"unsupported"`` (elu, selu, ...),
  with the alternatives from the registry note.

It covers keras_acts layers and functions and the Keras built-ins that the exporter
substitutes by registry activations (:mod:`keras_acts.export.substitution`).
"""

from __future__ import annotations

from typing import Any

from keras_acts import registry


class EdgeTPUPreflightError(ValueError):
    """The model cannot be exported for the Edge TPU as it is.

    Attributes:
        problems: ``(layer name, message)`` pairs.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {layer}: {msg}" for layer, msg in problems)
        super().__init__(f"this model cannot run on the Edge TPU as it is ({len(problems)} problem(s)):\n{lines}")


def _all_layers(model: Any) -> list[Any]:
    try:
        found = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        found = list(getattr(model, "layers", []))
    return list({id(layer): layer for layer in found}.values())


def _builtin_map() -> dict[Any, tuple[str, dict[str, Any]]]:
    from keras_acts.export.substitution import builtin_function_map  # noqa: PLC0415

    return builtin_function_map()


def _layer_activation(layer: Any, builtins: dict[Any, tuple[str, dict[str, Any]]]) -> str | None:
    """The registry activation a layer applies, or None."""
    from keras_acts.backend import keras  # noqa: PLC0415
    from keras_acts.layers import Activation, RegistryActivation  # noqa: PLC0415

    if isinstance(layer, RegistryActivation):
        return registry.lookup(layer.activation_name).name
    if isinstance(layer, Activation):
        return layer._entry_name
    if isinstance(layer, keras.layers.ELU):
        return "elu"
    act = getattr(layer, "activation", None)
    if act is None or not callable(act) or isinstance(act, type):
        return None
    entry = registry.find_by_function(act)
    if entry is not None:
        return entry.name
    try:
        mapped = builtins.get(act)
    except TypeError:
        mapped = None
    return mapped[0] if mapped else None


def _alternatives(entry: registry.Activation) -> str:
    usable = [e.name for e in registry.entries(include_layers=False) if e.edgetpu.status != "unsupported"]
    note = f" ({entry.edgetpu.note})" if entry.edgetpu.note else ""
    return (
        f"{entry.name} has no Edge TPU form{note}. Replace it before export, e.g. by "
        f"{', '.join(usable)} (`keras-acts list` shows each one's Edge TPU lowering)."
    )


def _prelu_problem(layer: Any) -> str | None:
    from keras_acts.backend import keras  # noqa: PLC0415
    from keras_acts.layers import PReLU  # noqa: PLC0415

    if not isinstance(layer, (PReLU, keras.layers.PReLU)) or getattr(layer, "alpha", None) is None:
        return None
    shape = tuple(int(d) for d in layer.alpha.shape)
    if sum(1 for d in shape if d != 1) <= 1:
        return None
    axes = list(range(1, len(shape)))  # all but the channel axis
    return (
        f"PReLU alpha has shape {shape} (one value per element); the Edge TPU's PRELU needs a 1-D alpha. "
        f"Build the layer with shared_axes={axes} (for NHWC feature maps: shared_axes=[1, 2]) so there is "
        "one alpha per channel, and retrain (or set each channel's alpha from the mean of the old values)."
    )


def preflight(model: Any) -> list[str]:
    """Refuses models the Edge TPU cannot run, before any conversion work.

    Args:
        model: a Keras 3 or tf_keras model.

    Returns:
        Notes on approximations that the Edge TPU lowerings will use (may be empty).

    Raises:
        EdgeTPUPreflightError: names each layer or input and its fix.
    """
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    for i, x in enumerate(getattr(model, "inputs", None) or []):
        shape = tuple(x.shape)
        if any(d is None for d in shape[1:]):
            fixed = ", ".join("224" if d is None else str(d) for d in shape[1:])
            problems.append(
                (
                    f"input {i} ({getattr(x, 'name', '?')})",
                    f"shape {shape} has dynamic non-batch dimensions; the Edge TPU needs static shapes. Build "
                    f"the model with a fixed input shape, e.g. keras.Input(shape=({fixed},)) with your real sizes.",
                )
            )
    builtins = _builtin_map()
    for layer in _all_layers(model):
        msg = _prelu_problem(layer)
        if msg:
            problems.append((layer.name, msg))
            continue
        name = _layer_activation(layer, builtins)
        if name is None:
            continue
        entry = registry.lookup(name)
        if entry.edgetpu.status == "unsupported":
            problems.append((layer.name, _alternatives(entry)))
        elif entry.edgetpu.status == "approximate":
            low = entry.lowering("edgetpu")
            err = f" (max abs error {low.max_abs_error:.3g})" if low is not None else ""
            notes.append(f"{layer.name}: {entry.name} is approximated on the Edge TPU{err}")
    if problems:
        raise EdgeTPUPreflightError(problems)
    return notes
