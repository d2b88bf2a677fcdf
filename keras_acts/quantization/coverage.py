"""Old import path of :mod:`keras_acts.quantization.tfmot.coverage` (the tfmot path, tf_keras only); kept for users' imports."""

from keras_acts.quantization.tfmot.coverage import (  # noqa: F401
    AffineRewriteError,
    affine_as_depthwise,
    affine_coefficients,
    is_affine_preprocessing,
    needs_output_config,
    output_config,
)

__all__ = ["AffineRewriteError", "affine_as_depthwise", "affine_coefficients", "is_affine_preprocessing", "needs_output_config", "output_config"]
