"""Loading tfmot QAT models saved in the ``.keras`` format (tf_keras only).

tfmot 0.8.1's layers cannot be read back from a ``.keras`` file by tf_keras 2.21 -- for any
model, with or without keras_acts layers (tensorflow/model-optimization PR #1123 is the
open upstream fix). Two causes, both measured:

* ``QuantizeLayer.build`` never sets ``built``: the loader builds it from its build config
  and the functional reconstruction builds it again, so it owns 5 variables where the file
  has 3 ("Layer 'quantize_layer' expected 5 variables, but received 3").
* ``QuantizeWrapperV2`` saves ``_trainable_weights + _non_trainable_weights`` by index, and
  that list differs between the wrapper ``quantize_apply`` made (it also lists the wrapped
  layer's trainable weights, e.g. ``[kernel, bias, kernel, optimizer_step, kernel_min,
  kernel_max]``) and the wrapper rebuilt from the config (``[kernel, optimizer_step,
  kernel_min, kernel_max]``). The wrapper's own variables are always the *last* entries of
  the saved list (the wrapped layer's extra ones come first and are also saved, and loaded,
  under the wrapped layer's own path), so they are read from the end, shapes checked.

:func:`loading_objects` returns subclasses with the same class names that do both;
:func:`keras_acts.quantization.quantize_scope` puts them in scope, so ``.keras`` files load
there (``.h5`` and SavedModel are unaffected: their loaders do not use these methods).
"""

from __future__ import annotations

from typing import Any

from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer as _tfmot_layer
from tensorflow_model_optimization.python.core.quantization.keras import quantize_wrapper as _tfmot_wrapper


class QuantizeLayer(_tfmot_layer.QuantizeLayer):
    """tfmot's QuantizeLayer, built at most once (loads from ``.keras``)."""

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        super().build(input_shape)
        self.built = True


class QuantizeWrapperV2(_tfmot_wrapper.QuantizeWrapperV2):
    """tfmot's QuantizeWrapperV2, reading its own variables from the end of the saved list."""

    def load_own_variables(self, store: Any) -> None:
        self._update_trackables()
        own = self._trainable_weights + self._non_trainable_weights
        saved = len(store.keys())
        if saved < len(own):
            raise ValueError(
                f"Layer {self.name!r} ({type(self.layer).__name__} in a tfmot QuantizeWrapperV2) needs "
                f"{len(own)} variables ({[v.name for v in own]}) but the file holds {saved}: the file was not "
                "saved from this QAT model. Re-create the QAT model with keras_acts.quantization.quantize_model "
                "and save it again (model.save('qat.keras') or 'qat.h5')."
            )
        first = saved - len(own)
        for i, var in enumerate(own):
            value = store[f"{first + i}"]
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(
                    f"Layer {self.name!r}: saved variable {first + i} has shape {tuple(value.shape)}, "
                    f"{var.name} needs {tuple(var.shape)}; the file was not saved from this QAT model. "
                    "Re-create it with keras_acts.quantization.quantize_model and save it again."
                )
            var.assign(value)


def loading_objects() -> dict[str, type]:
    """The classes that replace tfmot's while loading a QAT model (by the names files use)."""
    return {"QuantizeLayer": QuantizeLayer, "QuantizeWrapperV2": QuantizeWrapperV2}
