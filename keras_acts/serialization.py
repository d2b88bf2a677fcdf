"""Makes registry functions resolvable by Keras: saved models load without custom_objects.

Every activation function is registered with the frontend's serialization as
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
    builtin = tf_keras_builtin_names()
    out = {}
    for e in registry.entries(include_layers=False):
        for n in (e.name, *e.aliases):
            if n not in builtin:
                out[n] = e.name
    return out


def register_all() -> None:
    """Registers every registry function (idempotent)."""
    global _done
    if _done:
        return
    for e in registry.entries(include_layers=False):
        register_serializable(e.fn, name=e.name)
    if is_tf_keras():
        custom = keras.utils.get_custom_objects()
        for alias, canonical in bare_string_names().items():
            custom.setdefault(alias, registry.lookup(canonical).fn)
    _done = True
