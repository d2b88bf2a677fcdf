"""Which Keras frontend keras_acts runs on.

This is the only module that decides. TensorFlow's own convention is followed:
with ``TF_USE_LEGACY_KERAS=1`` (or ``true``) in the environment *before* TensorFlow
is imported, ``tf.keras`` is tf_keras (Keras 2) and so is :data:`keras`; otherwise
:data:`keras` is Keras 3. tensorflow-model-optimization sets that variable itself
when it is imported, so importing it first also selects tf_keras.

Attributes:
    keras: the Keras module in use (``keras`` or ``tf_keras``).
    FRONTEND: ``"keras3"`` or ``"tf_keras"``.
"""

from __future__ import annotations

import os
from typing import Any

_LEGACY_VALUES = ("1", "true", "yes", "on")


def _wants_legacy() -> bool:
    return os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in _LEGACY_VALUES


if _wants_legacy():
    try:
        import tf_keras as keras  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "TF_USE_LEGACY_KERAS=1 asks for the tf_keras frontend, but tf_keras is not "
            "installed. Install it with `pip install 'keras-acts[qat]'` (or "
            "`pip install tf-keras`), or unset TF_USE_LEGACY_KERAS to use Keras 3."
        ) from err
    FRONTEND = "tf_keras"
else:
    import keras  # noqa: F401

    if not keras.__version__.startswith("3"):  # pragma: no cover - old installs
        raise ImportError(
            f"keras_acts found keras {keras.__version__}; the default frontend needs Keras 3. "
            "Upgrade with `pip install -U keras`, or set TF_USE_LEGACY_KERAS=1 before "
            "importing TensorFlow to use tf_keras."
        )
    FRONTEND = "keras3"


def is_keras3() -> bool:
    """True when the frontend in use is Keras 3."""
    return FRONTEND == "keras3"


def is_tf_keras() -> bool:
    """True when the frontend in use is tf_keras (Keras 2)."""
    return FRONTEND == "tf_keras"


def register_serializable(obj: Any, name: str | None = None) -> Any:
    """Registers ``obj`` with the frontend's serialization under package ``keras_acts``."""
    if is_keras3():
        return keras.saving.register_keras_serializable(package="keras_acts", name=name)(obj)
    return keras.utils.register_keras_serializable(package="keras_acts", name=name)(obj)


def model_frontend(model: Any) -> str | None:
    """Returns ``"keras3"``, ``"tf_keras"`` or None for an object that is not a Keras model.

    Both frontends may be importable in one process; this looks at the object's class
    rather than at the frontend keras_acts selected.
    """
    for cls in type(model).__mro__:
        module = cls.__module__ or ""
        if cls.__name__ in ("Model", "Functional", "Sequential"):
            if module.startswith("keras.") or module == "keras":
                return "keras3"
            if module.startswith("tf_keras.") or module.startswith("keras.src.engine"):
                return "tf_keras"
    return None


def keras_backend() -> str:
    """The Keras backend in use: ``keras.backend.backend()`` for Keras 3, ``"tensorflow"`` for tf_keras."""
    if is_tf_keras():
        return "tensorflow"
    return keras.backend.backend()


class BackendError(RuntimeError):
    """A TensorFlow-only step (TFLite export) was called under another Keras 3 backend."""


def require_tensorflow_backend(what: str) -> None:
    """Raises :class:`BackendError` with the save-and-export recipe unless the backend is TensorFlow.

    Args:
        what: the step that needs TensorFlow, e.g. ``"to_tflite"``.
    """
    name = keras_backend()
    if name == "tensorflow":
        return
    raise BackendError(
        f"{what} needs Keras's TensorFlow backend (KERAS_BACKEND=tensorflow: the TFLite converter traces "
        f"TensorFlow graphs), but this process runs Keras 3 on the {name!r} backend. Train here, export "
        f"with TensorFlow:\n"
        f"  1. here:  model.save('model.keras')\n"
        f"  2. in a fresh process with KERAS_BACKEND=tensorflow:  import keras, keras_acts; "
        f"model = keras.models.load_model('model.keras'); "
        f"keras_acts.export.to_tflite(model, quantization='int8', representative_data=x).save('model.tflite')\n"
        f"(or from the shell: KERAS_BACKEND=tensorflow keras-acts export model.keras -q int8 -c calib.npy "
        f"-o model.tflite). The .keras file is backend-neutral."
    )
