"""keras_acts: activation functions and layers that go everywhere a Keras model goes.

Training in Keras 3 or tf_keras, saving and loading, quantization-aware training and
export to fully quantized TFLite (phones, microcontrollers, Coral Edge TPU).

The Keras frontend is chosen once, at import (see :mod:`keras_acts.backend`):
``keras_acts.keras`` is the Keras module in use.
"""

from keras_acts._version import __version__
import sys as _sys

from keras_acts import _quiet

# TensorFlow prints its start-up lines (oneDNN, CUDA, absl) from C++ on import and on first device
# use, whatever TF_CPP_MIN_LOG_LEVEL says; they are kept out of the terminal unless asked for
# (KERAS_ACTS_VERBOSE=1, TF_CPP_MIN_LOG_LEVEL=0, or the "keras_acts" logger at DEBUG). If the user
# imported TensorFlow first, its lines are already out and nothing is redirected. No environment
# variable is changed.
_quiet_import = "tensorflow" not in _sys.modules and not _quiet.verbose_requested()
_import_log = _quiet.Captured()
try:
    with _quiet.captured_stderr(_quiet_import, replay_on_error=False) as _import_log:
        from keras_acts.backend import FRONTEND, keras
        from keras_acts import activations
        # The public activation functions (keras_acts.hard_swish, ...) are derived from the registry.
        globals().update({e.name: e.fn for e in activations._registry.entries(include_layers=False) if e.builtin_package})
        from keras_acts.api import deserialize, get, serialize
        from keras_acts.registry import list_activations
        from keras_acts.registration import register_activation, unregister_activation
        from keras_acts import layers
        from keras_acts import serialization as _serialization

        _serialization.register_all()
        if _quiet_import and "tensorflow" in _sys.modules:
            # The first device query prints CUDA probing errors ("failed call to cuInit") on
            # machines without a GPU; enumerating physical devices here (which leaves
            # tf.config.set_visible_devices and memory growth configurable) keeps them quiet.
            _sys.modules["tensorflow"].config.list_physical_devices()
except BaseException:
    _quiet.replay(_import_log.text)  # an import that fails shows everything TensorFlow said
    raise

# Subpackages with heavier or optional dependencies load on first use, so that
# `import keras_acts` stays light and `keras_acts.export.to_tflite(...)` still works.
_LAZY_SUBMODULES = ("callbacks", "data", "docs", "explain", "export", "plot", "quantization")


def __getattr__(name: str):
    if name in ("adopt", "AdoptResult", "Replacement", "AdoptError"):
        # keras_acts.adopt is the function (the module keras_acts/adopt.py is callable too).
        import importlib

        value = getattr(importlib.import_module("keras_acts.adopt"), name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"keras_acts.{name}")
    raise AttributeError(f"module 'keras_acts' has no attribute {name!r}")

__all__ = sorted(
    [
        "FRONTEND",
        "__version__",
        "activations",
        "adopt",
        "deserialize",
        "get",
        "keras",
        "layers",
        "list_activations",
        "register_activation",
        "serialize",
        "unregister_activation",
        *(e.name for e in activations._registry.entries(include_layers=False) if e.builtin_package),
    ]
)
