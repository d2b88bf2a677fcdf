"""quantize_model refuses or flags what would give a broken QAT model (both frontends).

Non-finite weights and a constant output are refused; BatchNorm moving statistics that do not
fit the calibration data are detected, re-estimated by default (``reestimate_batchnorm="auto"``)
or warned about, before any fine-tuning.

The BatchNorm cases use real data (scikit-learn's 8x8 digits, ``keras_acts.data``) and a small
Conv-BN-ReLU network trained twice from the same seed: with momentum 0.999 for 2 epochs (what
keras.applications' BatchNorm does in a short run: the moving statistics barely move, the model
evaluates near chance in inference mode while its training-mode accuracy is high) and with
momentum 0.9 for 5 epochs (statistics that fit). Accuracies are compared with the same network's
own training-mode accuracy (batch statistics), measured in the test, not with copied numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import keras_acts
from keras_acts import health, quantization
from keras_acts.quantization import BatchNormStatisticsWarning, UnhealthyModelError

keras = keras_acts.keras
L = keras.layers
TF_KERAS = keras_acts.FRONTEND == "tf_keras"
ENGINES = ("keras_acts", "tfmot") if TF_KERAS else ("keras_acts",)


@pytest.fixture(scope="module")
def digits():
    ds = keras_acts.data.load("digits", offline=True)
    return ds.x_train, ds.y_train.astype("int32"), ds.x_test, ds.y_test.astype("int32")


def _cnn(momentum: float, shape: tuple) -> object:
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape)
    h = inp
    for filters in (16, 32):
        h = L.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        h = L.BatchNormalization(momentum=momentum)(h)
        h = L.ReLU()(h)
    model = keras.Model(inp, L.Dense(10)(L.GlobalAveragePooling2D()(h)))
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _trained(digits, momentum: float, epochs: int):
    x, y, _, _ = digits
    model = _cnn(momentum, x.shape[1:])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="module")
def stale(digits):
    """momentum 0.999, 2 epochs: moving statistics still near their initial 0 / 1."""
    model = _trained(digits, 0.999, 2)
    return model, model.get_weights()


@pytest.fixture(scope="module")
def fitted(digits):
    """momentum 0.9, 5 epochs: moving statistics that describe the activations."""
    return _trained(digits, 0.9, 5)


def _accuracy(model, x, y, training: bool = False) -> float:
    return float(np.mean(np.argmax(np.asarray(model(x, training=training)), -1) == y))


def _moving(model) -> list[np.ndarray]:
    return [np.array(v) for bn in quantization.batchnorm.batchnorm_layers(model) for v in (bn.moving_mean, bn.moving_variance)]


# ---------------------------------------------------------------------------------------------
# non-finite weights, constant output


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_weights_are_refused_naming_the_layer_and_variable(engine):
    inp = keras.Input((6, 6, 1))
    h = L.Conv2D(4, 3, name="conv_a")(inp)
    model = keras.Model(inp, L.Dense(3, name="head")(L.Flatten()(h)))
    kernel, bias = model.get_layer("conv_a").get_weights()
    kernel[0, 0, 0, 0] = np.nan
    model.get_layer("conv_a").set_weights([kernel, bias])
    with pytest.raises(UnhealthyModelError, match=r"cannot quantize .*conv_a/kernel \(1 NaN of 36\)") as info:
        quantization.quantize_model(model, engine=engine)
    # one error type for both kinds of handler
    assert isinstance(info.value, quantization.QuantizationError) and isinstance(info.value, health.ModelHealthError)
    assert "checkpoint" in str(info.value)  # names the fix


def test_constant_output_is_refused_with_cause_and_fix(digits):
    x = digits[0][:64]
    inp = keras.Input(x.shape[1:])
    h = L.Conv2D(4, 3, activation="relu")(inp)
    out = L.Dense(3, kernel_initializer="zeros", bias_initializer="ones")(L.Flatten()(h))
    model = keras.Model(inp, out)  # output = bias, whatever the input
    assert health.is_constant(np.asarray(model(x)))
    with pytest.raises(UnhealthyModelError, match="same output for all 64 calibration samples") as info:
        quantization.quantize_model(model, calibration_data=x)
    msg = str(info.value)
    assert "reestimate_batchnorm" in msg and "allow_constant_output=True" in msg
    qat = quantization.quantize_model(model, calibration_data=x, allow_constant_output=True)
    assert quantization.engine.is_qat_model(qat)


def test_bad_reestimate_option_is_named():
    inp = keras.Input((3,))
    model = keras.Model(inp, L.Dense(2)(inp))
    with pytest.raises(ValueError, match="reestimate_batchnorm must be"):
        quantization.quantize_model(model, reestimate_batchnorm="always")


# ---------------------------------------------------------------------------------------------
# BatchNorm statistics


def test_batchnorm_check_fires_on_stale_statistics_and_not_on_fitted_ones(digits, stale, fitted):
    _, _, xt, _ = digits
    stale_model, _ = stale
    found = quantization.batchnorm_discrepancies(stale_model, xt[:200])
    assert len(found) == 2 and all(d.stale for d in found), found
    ok = quantization.batchnorm_discrepancies(fitted, xt[:200])
    assert len(ok) == 2 and not any(d.stale for d in ok), ok
    # far apart: the stale layers more than 10x above the threshold
    assert min(d.kl for d in found) > 10 * quantization.STALE_KL, (found, ok)


def test_reestimate_batchnorm_restores_the_training_mode_accuracy(digits, stale):
    x, _, xt, yt = digits
    model, weights = stale
    model.set_weights(weights)
    chance = 1.0 / 10
    before = _accuracy(model, xt, yt)
    batch_stats = _accuracy(model, xt, yt, training=True)  # what the network learned, measured
    trainable = [np.array(w) for w in model.trainable_weights]
    info = quantization.reestimate_batchnorm(model, x)
    assert info == {"layers": 2, "samples": len(x)}
    after = _accuracy(model, xt, yt)
    assert batch_stats > 5 * chance, batch_stats  # the network did learn
    assert after > 5 * chance and after >= batch_stats - 0.03, (before, after, batch_stats)
    assert after - before > 0.3, (before, after)  # it was stale, and re-estimation fixed it
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(trainable, model.trainable_weights))
    assert not any(d.stale for d in quantization.batchnorm_discrepancies(model, xt[:200]))
    model.set_weights(weights)


def test_reestimate_batchnorm_is_a_cumulative_average_not_an_ema():
    """One BatchNorm on the input: the moving mean becomes the data's per-channel mean (the same
    whatever the momentum), the moving variance the average of the batch variances."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 6, 6, 3)) * [1.0, 3.0, 0.2] + [5.0, -2.0, 0.5]).astype("float32")
    inp = keras.Input((6, 6, 3))
    bn = L.BatchNormalization(momentum=0.999)
    model = keras.Model(inp, bn(inp))
    quantization.reestimate_batchnorm(model, x, batch_size=64)
    batches = [x[i : i + 64] for i in range(0, 200, 64)]
    sizes = np.array([len(b) for b in batches], np.float64)
    means = np.array([b.reshape(-1, 3).mean(0) for b in batches])
    variances = np.array([b.reshape(-1, 3).var(0) for b in batches])
    np.testing.assert_allclose(np.array(bn.moving_mean), sizes @ means / sizes.sum(), rtol=1e-5, atol=1e-5)
    # tf_keras's fused kernel uses each batch's unbiased variance (n / (n - 1), n >= 288 here)
    np.testing.assert_allclose(np.array(bn.moving_variance), sizes @ variances / sizes.sum(), rtol=4e-3)
    assert bn.momentum == 0.999


@pytest.mark.parametrize("engine", ENGINES)
def test_quantize_model_reestimates_stale_statistics_by_default_and_says_so(digits, stale, engine):
    x, y, xt, yt = digits
    model, weights = stale
    model.set_weights(weights)
    before = _moving(model)
    with pytest.warns(BatchNormStatisticsWarning, match=r"re-estimated them from calibration_data.*reestimate_batchnorm\(model"):
        qat = quantization.quantize_model(model, calibration_data=x[:256], engine=engine)
    assert all(np.array_equal(a, b) for a, b in zip(before, _moving(model)))  # the float model is unchanged
    reference = keras.models.clone_model(model)
    reference.set_weights(weights)
    quantization.reestimate_batchnorm(reference, x[:256])
    expected = _accuracy(reference, xt, yt)
    got = _accuracy(qat, xt, yt)
    assert got >= expected - 0.05 and got > 5 * 0.1, (got, expected, _accuracy(model, xt, yt))


def test_reestimate_false_warns_before_fine_tuning_how_to_fix(digits, stale):
    x, _, _, _ = digits
    model, weights = stale
    model.set_weights(weights)
    with pytest.warns(BatchNormStatisticsWarning, match=r"2 of 2 .*reestimate_batchnorm\(model, x_train"):
        qat = quantization.quantize_model(model, calibration_data=x[:256], reestimate_batchnorm=False)
    qat_stats = [np.array(v) for v in qat.weights if "moving_mean" in v.name]
    assert qat_stats and np.allclose(qat_stats[0], np.array(model.layers[2].moving_mean))  # kept as they were


def test_fitted_statistics_are_kept_and_nothing_is_said(digits, fitted):
    x, _, xt, yt = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchNormStatisticsWarning)
        qat = quantization.quantize_model(fitted, calibration_data=x[:256])
    kept = [np.array(v) for v in qat.weights if "moving_mean" in v.name]
    assert len(kept) == 2 and all(np.array_equal(a, b) for a, b in zip(kept, _moving(fitted)[::2]))
    assert abs(_accuracy(qat, xt, yt) - _accuracy(fitted, xt, yt)) <= 0.05


def test_without_calibration_data_initial_statistics_are_flagged(digits):
    model = _cnn(0.99, digits[0].shape[1:])  # never trained
    with pytest.warns(BatchNormStatisticsWarning, match="initial moving statistics.*calibration_data"):
        quantization.quantize_model(model)
