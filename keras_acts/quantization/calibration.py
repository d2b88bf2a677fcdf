"""Old import path of :mod:`keras_acts.quantization.tfmot.calibration` (the tfmot path, tf_keras only); kept for users' imports."""

from keras_acts.quantization.tfmot.calibration import (  # noqa: F401
    calibrate,
)

__all__ = ["calibrate"]
