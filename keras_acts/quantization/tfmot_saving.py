"""Old import path of :mod:`keras_acts.quantization.tfmot.saving` (the tfmot path, tf_keras only); kept for users' imports."""

from keras_acts.quantization.tfmot.saving import (  # noqa: F401
    QuantizeLayer,
    QuantizeWrapperV2,
    loading_objects,
)

__all__ = ["QuantizeLayer", "QuantizeWrapperV2", "loading_objects"]
