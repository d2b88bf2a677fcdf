"""Old import path of :mod:`keras_acts.quantization.tfmot.layer` (the tfmot path, tf_keras only); kept for users' imports."""

from keras_acts.quantization.tfmot.layer import (  # noqa: F401
    QATActivation,
)

__all__ = ["QATActivation"]
