"""Old import path of :mod:`keras_acts.quantization.tfmot.configs` (the tfmot path, tf_keras only); kept for users' imports."""

from keras_acts.quantization.tfmot.configs import (  # noqa: F401
    OutputQuantizeConfig,
    PReLUQuantizeConfig,
    SCHEMES,
    config_for,
)

__all__ = ["OutputQuantizeConfig", "PReLUQuantizeConfig", "SCHEMES", "config_for"]
