"""Checks on a Keras model before it is converted for the Edge TPU.

:func:`preflight` refuses, with one message naming every offending layer and its fix:

* PReLU layers with a per-element alpha over spatial axes (the Edge TPU's PRELU needs a
  1-D alpha: ``shared_axes=[1, 2]``);
* inputs whose non-batch dimensions are dynamic (``None``);
* activations with no form built only from Coral's ops
  (:meth:`keras_acts.registry.Activation.edgetpu_form`, derived from the registered forms'
  ops and :data:`~keras_acts.export.edgetpu.optable.OPS`), naming the ops that are missing
  and the alternatives;
* in QAT models, activations whose QAT formulation (which is what a QAT model exports,
  :mod:`keras_acts.quantization.formulations`) uses ops that are not on Coral's table.

It covers keras_acts layers and functions, the Keras built-ins that the exporter
substitutes by registry activations (:mod:`keras_acts.export.substitution`) and the QAT
activation layers of both QAT engines. The same op table decides what
:func:`~keras_acts.export.edgetpu.check_edgetpu` accepts, so the two verdicts agree.
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
    found = registry.activation_of_layer(layer)  # keras_acts's layers and Keras's own ReLU/ELU/PReLU/...
    if found is not None:
        return found[0].name
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


def _usable() -> list[str]:
    return [e.name for e in registry.entries(include_layers=False) if e.edgetpu_form().status != "unsupported"]


def _alternatives(entry: registry.Activation) -> str:
    verdict = entry.edgetpu_form()
    note = f" {entry.edgetpu.note}." if entry.edgetpu.note else ""
    return (
        f"{entry.name} has no Edge TPU form: {verdict.reason}.{note} Replace it before export, e.g. by "
        f"{', '.join(_usable())} (`keras-acts list` shows each one's Edge TPU form)."
    )


def _qat_activation(layer: Any) -> str | None:
    """The registry name a QAT activation layer (either QAT engine) computes, else None."""
    if not type(layer).__module__.startswith("keras_acts.quantization"):
        return None
    name = getattr(layer, "activation", None)
    return name if isinstance(name, str) else None


def _qat_problem(layer: Any, name: str) -> str | None:
    """Refuses a QAT activation whose QAT formulation exports to ops off Coral's table."""
    from keras_acts.export.edgetpu.optable import OPS  # noqa: PLC0415
    from keras_acts.quantization import formulations  # noqa: PLC0415

    # the layer's own formulation version: a QAT model saved with an older one exports that one
    form = formulations.form(name, getattr(layer, "formulation", formulations.FORMULATION))
    if form is None:  # output-only QAT: the registry's Edge TPU form is traced
        return None
    off = [op for op in dict.fromkeys(form.ops) if op not in OPS]
    if not off:
        return None
    return (
        f"{name} is trained in its QAT formulation ({', '.join(form.ops)}), which is what a QAT model exports, "
        f"and {', '.join(off)} {'is' if len(off) == 1 else 'are'} not on Coral's op table. Export the float model "
        "with post-training quantization instead (to_tflite(float_model, target='edgetpu', representative_data=...)"
        + (f", which uses the Coral-only form of {name}" if registry.lookup(name).edgetpu_form().lowering else "")
        + f"), or train with one of {', '.join(n for n in _usable() if _qat_ok(n))}."
    )


def _automatic(entry: registry.Activation) -> bool:
    """Registered without lowerings: the exporter searches (and verifies) a Coral-only form, or refuses."""
    from keras_acts.export.auto_lowering import applies  # noqa: PLC0415

    return applies(entry, "edgetpu")


def _has_qat_form(name: str) -> bool:
    from keras_acts.quantization import formulations  # noqa: PLC0415

    return formulations.form(name) is not None


def _qat_ok(name: str) -> bool:
    from keras_acts.export.edgetpu.optable import OPS  # noqa: PLC0415
    from keras_acts.quantization import formulations  # noqa: PLC0415

    form = formulations.form(name)
    return form is None or set(form.ops) <= set(OPS)


def _prelu_problem(layer: Any) -> str | None:
    found = registry.activation_of_layer(layer)
    if found is None or found[0].name != "prelu" or getattr(layer, "alpha", None) is None:
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
        qat_name = _qat_activation(layer)
        name = qat_name or _layer_activation(layer, builtins)
        if name is None:
            continue
        entry = registry.lookup(name)
        verdict = entry.edgetpu_form()
        qat_msg = _qat_problem(layer, entry.name) if qat_name else None
        if qat_msg:
            problems.append((layer.name, qat_msg))
        elif verdict.status == "unsupported" and not qat_name and _automatic(entry):
            notes.append(f"{layer.name}: {entry.name} gets an automatic Edge TPU form (keras_acts.export.auto_lowering)")
        elif verdict.status == "unsupported":
            problems.append((layer.name, _alternatives(entry)))
        elif verdict.status == "approximate" and not (qat_name and _has_qat_form(entry.name)):
            err = f" (max abs error {verdict.lowering.max_abs_error:.3g})" if verdict.lowering is not None else ""
            notes.append(f"{layer.name}: {entry.name} is approximated on the Edge TPU{err}")
    if problems:
        raise EdgeTPUPreflightError(problems)
    return notes
