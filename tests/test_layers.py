"""Every layer of keras_acts.layers, made by name for every registry entry (prelu included)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import registry
from keras_acts.backend import FRONTEND

keras = keras_acts.keras
ENTRIES = registry.entries(include_layers=True)
IDS = [e.name for e in ENTRIES]
X = np.linspace(-7.0, 7.0, 2 * 3 * 5).reshape(2, 3, 5).astype(np.float32)


def _expected(entry: registry.Activation, x: np.ndarray, **params) -> np.ndarray:
    """The layer's output from the registry's NumPy reference (PReLU with its initial alpha)."""
    if entry.learnable:
        return entry.reference(x.astype(np.float64), alpha=0.25)
    return entry.reference(x.astype(np.float64), **params)


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's fixture without its Keras session reset (~0.8 s a test on a busy machine).

    Nothing here depends on layer-name counters; the global dtype policy is restored by its fixture.
    """
    np.random.seed(0)
    keras.utils.set_random_seed(0)
    yield


def _fit_eagerly(layer, x, target, optimizer, steps: int) -> None:
    """Plain gradient steps on the MSE of ``layer(x)``: much faster than model.fit for a few weights."""
    x = tf.constant(x)
    target = tf.constant(target, tf.float32)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x) - target))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_layer_by_name_equals_function(entry):
    for name in (entry.name, *entry.aliases[:1], entry.name.upper()):
        layer = keras_acts.layers.get(name)
        assert type(layer).__name__ == entry.layer
        y = np.asarray(layer(tf.constant(X)))
        np.testing.assert_allclose(y, _expected(entry, X), rtol=2e-6, atol=2e-7, err_msg=name)
        if not entry.learnable:
            np.testing.assert_array_equal(y, entry.fn(tf.constant(X)).numpy())


def test_layers_get_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean 'hard_swish'"):
        keras_acts.layers.get("hard_swsh")


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_config_round_trip(entry):
    kwargs = {}
    for p in entry.params:
        kwargs[p.name] = (not p.default) if p.kind == "bool" else 2.5 * p.default + 0.1
    if entry.learnable:
        kwargs = {"shared_axes": [1], "alpha_initializer": keras.initializers.Constant(0.1),
                  "alpha_regularizer": keras.regularizers.L2(0.01), "alpha_constraint": "non_neg"}
    layer = keras_acts.layers.get(entry.name, name=f"act_{entry.name}", **kwargs)
    y = np.asarray(layer(tf.constant(X)))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(X.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(tf.constant(X))), y)
    for k, v in kwargs.items():
        if k in entry.defaults():
            assert config[k] == v


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_compute_output_shape(entry):
    layer = keras_acts.layers.get(entry.name)
    for shape in [(None, 4), (None, 3, 5), (2, 8, 8, 3)]:
        if entry.learnable:
            layer = keras_acts.layers.get(entry.name)
            layer.build(shape)
        assert tuple(layer.compute_output_shape(shape)) == shape


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_mask_passes_through(entry):
    """Embedding(mask_zero) -> activation layer -> GlobalAveragePooling1D averages unmasked steps only."""
    tokens = np.array([[3, 5, 0, 0], [1, 2, 4, 0]], np.int32)
    inputs = keras.Input((4,), dtype="int32")
    emb = keras.layers.Embedding(6, 3, mask_zero=True, embeddings_initializer="uniform")
    act = keras_acts.layers.get(entry.name, **({"shared_axes": [1]} if entry.learnable else {}))
    outputs = keras.layers.GlobalAveragePooling1D()(act(emb(inputs)))
    model = keras.Model(inputs, outputs)
    table = np.asarray(emb.get_weights()[0], np.float64)
    expected = []
    for row in tokens:
        kept = _expected(entry, table[row[row > 0]])
        expected.append(kept.mean(axis=0))
    np.testing.assert_allclose(np.asarray(model(tokens)), np.array(expected), rtol=1e-5, atol=1e-6)
    assert act.supports_masking
    mask = tf.constant(tokens > 0)
    np.testing.assert_array_equal(np.asarray(act.compute_mask(tf.constant(X[:, :, :4]), mask)), tokens > 0)


# -- PReLU ----------------------------------------------------------------------------------


def test_prelu_defaults_and_shared_axes_shapes():
    layer = keras_acts.layers.PReLU()
    layer.build((None, 4, 4, 3))
    assert tuple(layer.alpha.shape) == (4, 4, 3)
    np.testing.assert_array_equal(np.asarray(layer.alpha), np.full((4, 4, 3), 0.25, np.float32))
    per_channel = keras_acts.layers.PReLU(shared_axes=[1, 2])
    per_channel.build((None, 4, 4, 3))
    assert tuple(per_channel.alpha.shape) == (1, 1, 3)
    assert keras_acts.layers.PReLU(shared_axes=2).shared_axes == (2,)
    assert "alpha" in per_channel.alpha.name


def test_prelu_initializer_regularizer_constraint():
    layer = keras_acts.layers.PReLU(
        alpha_initializer="zeros", alpha_regularizer=keras.regularizers.L2(0.5), shared_axes=[1]
    )
    x = tf.constant(X)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.maximum(X, 0))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.0)
    layer.alpha.assign(np.full(layer.alpha.shape, 2.0, np.float32))
    np.testing.assert_allclose(float(layer.losses[0]) if FRONTEND == "tf_keras" else
                               float(keras.regularizers.L2(0.5)(layer.alpha)), 0.5 * 4.0 * 5)
    # A constraint is applied by the optimizer after each step: alpha pushed negative is clipped to 0.
    constrained = keras_acts.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.01),
                                          alpha_constraint="non_neg", shared_axes=[1, 2])
    model = keras.Sequential([keras.Input((3, 5)), constrained])
    model.compile(optimizer=keras.optimizers.SGD(10.0), loss="mse")
    model.fit(X, np.abs(X) * 3.0, epochs=1, batch_size=2, verbose=0)  # wants alpha = -3
    assert np.all(np.asarray(constrained.alpha) >= 0.0)


@pytest.mark.parametrize("axes,error", [([0], ValueError), ([-1], ValueError), ("a", TypeError),
                                        ([1.5], TypeError), ([True], TypeError)])
def test_prelu_bad_shared_axes_fail_at_construction(axes, error):
    with pytest.raises(error, match=r"shared_axes"):
        keras_acts.layers.PReLU(shared_axes=axes)


def test_prelu_out_of_range_axis_fails_at_build():
    layer = keras_acts.layers.PReLU(shared_axes=[1, 3])
    with pytest.raises(ValueError, match=r"out of range for inputs of rank 3.*valid axes are 1\.\.2"):
        layer(tf.constant(X))


def test_prelu_unknown_dimension_needs_sharing():
    inputs = keras.Input((None, 5))
    with pytest.raises(ValueError, match=r"shared_axes=\[1\]"):
        keras_acts.layers.PReLU()(inputs)
    out = keras_acts.layers.PReLU(shared_axes=[1])(inputs)
    assert tuple(out.shape)[-1] == 5


def test_prelu_trains():
    layer = keras_acts.layers.PReLU(shared_axes=[1])
    layer.build(X.shape)
    target = np.where(X >= 0, X, 0.6 * X)
    _fit_eagerly(layer, X, target, keras.optimizers.Adam(0.05), steps=100)
    np.testing.assert_allclose(np.asarray(layer.alpha), 0.6, atol=0.03)


# -- Swish ----------------------------------------------------------------------------------


def test_swish_fixed_beta_has_no_weights():
    layer = keras_acts.layers.Swish(beta=1.5)
    y = np.asarray(layer(tf.constant(X)))
    assert layer.weights == []
    np.testing.assert_allclose(y, registry.lookup("swish").reference(X, beta=1.5), rtol=2e-6, atol=2e-7)


def test_swish_trainable_beta_learns():
    layer = keras_acts.layers.Swish(beta=1.0, trainable_beta=True)
    layer.build(X.shape)
    assert len(layer.trainable_weights) == 1
    target = registry.lookup("swish").reference(X, beta=2.0)
    _fit_eagerly(layer, X, target, keras.optimizers.Adam(0.05), steps=100)
    np.testing.assert_allclose(float(np.asarray(layer.beta_weight)), 2.0, atol=0.05)
    clone = keras_acts.layers.Swish.from_config(layer.get_config())
    assert clone.trainable_beta is True


def test_swish_bad_trainable_beta():
    with pytest.raises(TypeError, match="trainable_beta"):
        keras_acts.layers.Swish(trainable_beta="yes")


# -- mixed precision ------------------------------------------------------------------------


@pytest.fixture
def mixed_float16():
    if FRONTEND == "keras3":
        keras.config.set_dtype_policy("mixed_float16")
    else:
        keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    if FRONTEND == "keras3":
        keras.config.set_dtype_policy("float32")
    else:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_every_layer(mixed_float16):
    x = tf.constant(X)
    for entry in ENTRIES:
        layer = keras_acts.layers.get(entry.name)
        assert layer.compute_dtype == "float16"
        y = layer(x)
        assert y.dtype == tf.float16, entry.name
        np.testing.assert_allclose(
            np.asarray(y, np.float64), _expected(entry, X.astype(np.float16).astype(np.float64)),
            rtol=4e-3, atol=4e-3, err_msg=entry.name,
        )
        for w in layer.weights:  # variables stay float32
            assert w.dtype in ("float32", tf.float32), (entry.name, w.dtype)


def test_mixed_float16_model_trains(mixed_float16):
    prelu = keras_acts.layers.PReLU(shared_axes=[1])
    swish = keras_acts.layers.Swish(trainable_beta=True)
    model = keras.Sequential([
        keras.Input((3, 5)),
        keras.layers.Dense(4),
        prelu,
        swish,
        keras.layers.Dense(1, dtype="float32"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = [np.asarray(prelu.alpha).copy(), float(np.asarray(swish.beta_weight))]
    # Dynamic loss scaling starts at 2**15 and skips the first steps that overflow float16.
    history = model.fit(X / 7.0, X[..., :1] / 7.0, epochs=12, batch_size=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(np.asarray(prelu.alpha), before[0])
    assert float(np.asarray(swish.beta_weight)) != before[1]
    assert prelu.alpha.dtype in ("float32", tf.float32)
