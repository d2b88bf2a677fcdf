"""Makes registry functions resolvable by Keras: saved models load without custom_objects.

In Keras 3 every activation function is registered with Keras serialization as
``keras_acts>NAME``. In tf_keras, whose ``activations.get(str)`` consults custom
objects, the registry's names and aliases are also registered as bare strings so that
``Dense(..., activation="hard_swish")`` works -- except names of tf_keras built-ins,
which keep their built-in meaning (only ``hard_sigmoid`` differs in math; see README).
Keras 3 resolves strings only from its own table, so there a registry name works as a
string when Keras 3 has a built-in with the same name and math, and
``keras_acts.get(name)`` works always.
"""

from __future__ import annotations

from keras_acts import registry
from keras_acts.backend import is_tf_keras, keras, register_serializable

_done = False


def tf_keras_builtin_names() -> set[str]:
    """Names that tf_keras's ``activations.get`` resolves to its own functions."""
    return {n for n in dir(keras.activations) if not n.startswith("_")}


def bare_string_names() -> dict[str, str]:
    """In tf_keras: the bare strings keras_acts registers, mapped to canonical names."""
    if not is_tf_keras():
        return {}
    out = {}
    for e in registry.entries(include_layers=False):
        out.update(_bare_names(e))
    return out


def _bare_names(entry: registry.Activation) -> dict[str, str]:
    """In tf_keras: the names and aliases of ``entry`` that tf_keras does not define itself."""
    if not is_tf_keras() or entry.learnable:
        return {}
    builtin = tf_keras_builtin_names()
    return {n: entry.name for n in (entry.name, *entry.aliases) if n not in builtin}


def register_entry(entry: registry.Activation) -> None:
    """Registers one entry's function with the frontend's serialization (idempotent).

    Called by :func:`keras_acts.register_activation` for every entry, the package's and users'.
    Keras 3: the package's functions are saved as ``keras_acts>NAME``; a user's function is a
    :class:`keras_acts.registration.ActivationFunction`, saved by name under one registered class.
    tf_keras: every name and alias it does not define itself becomes a custom object, so
    ``activation="name"`` works.
    """
    if entry.learnable:
        return
    if not is_tf_keras():
        if entry.builtin_package:
            register_serializable(entry.fn, name=entry.name)
        return
    custom = keras.utils.get_custom_objects()
    for alias, canonical in _bare_names(entry).items():
        custom.setdefault(alias, entry.fn)


def unregister_entry(entry: registry.Activation) -> None:
    """Removes what :func:`register_entry` added for a user entry (tf_keras custom names)."""
    if is_tf_keras():
        custom = keras.utils.get_custom_objects()
        for key in [k for k, v in custom.items() if v is entry.fn]:
            del custom[key]


def register_all() -> None:
    """Registers every registry function (idempotent)."""
    global _done
    if _done:
        return
    for e in registry.entries(include_layers=False):
        register_entry(e)
    # A saved QAT model loads after `import keras_acts` alone, in both frontends.
    from keras_acts.quantization.engine import layers as _qat_layers  # noqa: F401  (registers QAT layers)

    if is_tf_keras():
        _make_tf_keras_serialize_by_name()
    _done = True


def _make_tf_keras_serialize_by_name() -> None:
    """Lets tf_keras write registry functions into configs as bare names.

    tf_keras's ``activations.serialize`` writes a function as a bare string only when
    its ``__name__`` is defined in tf_keras's activations module; other functions are
    written as ``{"class_name": "function", ...}`` dicts, which its legacy ``.h5``
    loader cannot read back. keras_acts therefore adds its functions to that module
    under their ``__name__`` -- never replacing a tf_keras function -- and registers
    the same names as custom objects, so configs hold e.g. ``"hard_swish"`` and load
    in every format once keras_acts is imported.

    A registry function whose ``__name__`` is a tf_keras built-in (``elu``, ``selu``,
    ``swish``, ...) would be written as that bare name and come back as tf_keras's own
    function: the same formula but not the same rounding, and without keras_acts's
    export lowerings. Those are written as ``"keras_acts>NAME"`` strings instead, which
    tf_keras's ``deserialize`` resolves from the custom objects in every format.
    """
    import importlib

    module = importlib.import_module("tf_keras.src.activations")
    custom = keras.utils.get_custom_objects()
    shadowed: list[tuple[object, str]] = []
    for e in registry.entries(include_layers=False):
        if not e.builtin_package:
            continue  # users' functions are ActivationFunction objects, saved by their class
        name = e.fn.__name__
        if name not in vars(module):
            setattr(module, name, e.fn)
            custom.setdefault(name, e.fn)
        elif custom.get(name) is not e.fn:
            shadowed.append((e.fn, f"keras_acts>{e.name}"))
        custom.setdefault(f"keras_acts>{e.name}", e.fn)
    original = module.serialize
    if shadowed and not getattr(original, "_keras_acts_names", None):

        def serialize(activation: object, use_legacy_format: bool = False) -> object:
            for fn, registered in shadowed:
                if activation is fn:
                    return registered
            return original(activation, use_legacy_format=use_legacy_format)

        serialize.__doc__ = original.__doc__
        serialize._keras_acts_names = dict((r, f) for f, r in shadowed)  # type: ignore[attr-defined]
        module.serialize = serialize
