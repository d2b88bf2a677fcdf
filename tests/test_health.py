"""keras_acts.health: non-finite weights are named by layer and variable; constant outputs are caught."""

import numpy as np
import pytest

from keras_acts import keras
from keras_acts.health import ModelHealthError, check_finite_weights, is_constant, nonfinite_variables


def _model():
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="head"),
        ]
    )


def test_finite_model_passes():
    m = _model()
    assert nonfinite_variables(m) == []
    check_finite_weights(m)


def test_nan_kernel_names_layer_and_variable():
    m = _model()
    k, b = m.get_layer("conv").get_weights()
    k[:] = np.nan
    m.get_layer("conv").set_weights([k, b])
    bad = nonfinite_variables(m)
    assert [(v.layer, v.variable) for v in bad] == [("conv", "kernel")]
    assert bad[0].num_nan == k.size
    with pytest.raises(ModelHealthError, match=r"conv/kernel \(18 NaN of 18\)") as info:
        check_finite_weights(m, action="quantize")
    assert "cannot quantize" in str(info.value) and "checkpoint" in str(info.value)


def test_inf_in_batchnorm_statistics():
    m = _model()
    w = m.get_layer("bn").get_weights()
    w[3][0] = np.inf  # moving_variance
    m.get_layer("bn").set_weights(w)
    (bad,) = nonfinite_variables(m)
    assert bad.layer == "bn" and "moving_variance" in bad.variable and bad.num_inf == 1


def test_is_constant():
    assert is_constant(np.ones((4, 3)))
    assert is_constant([np.ones((4, 3)), np.zeros((4, 1))])
    assert not is_constant(np.arange(12.0).reshape(4, 3))
    assert not is_constant([np.ones((4, 3)), np.arange(4.0).reshape(4, 1)])
    assert not is_constant(np.ones((1, 3)))  # one sample proves nothing
    assert is_constant(np.ones((4, 3)) + 1e-9)
