"""The activation functions of keras_acts, one family per module.

Importing this package registers every entry in :mod:`keras_acts.registry`; each family module
(``gated``, ``rectifiers``, ``sigmoidal``, ``exponential``) calls
:func:`keras_acts.register_activation` once per activation. The public names here are derived
from the registry: ``keras_acts.activations.<name>`` is ``registry.lookup(name).fn``.
"""

from keras_acts.activations import exponential as _exponential  # noqa: F401  (registers its entries)
from keras_acts.activations import gated as _gated  # noqa: F401
from keras_acts.activations import rectifiers as _rectifiers  # noqa: F401
from keras_acts.activations import sigmoidal as _sigmoidal  # noqa: F401
from keras_acts import registry as _registry


def _package_functions() -> dict:
    """The package's own activation functions by canonical name (prelu included)."""
    return {e.name: e.fn for e in _registry.entries() if e.builtin_package}


globals().update(_package_functions())

__all__ = sorted(_package_functions())
