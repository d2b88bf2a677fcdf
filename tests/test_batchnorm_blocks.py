"""Conv -> BatchNormalization -> activation trains, evaluates and predicts, for every activation.

TensorFlow's CPU graph optimizer fuses BatchNormalization with some activation patterns that
follow it; a fusion without a kernel fails only when the graph runs (TF 2.21 did so for
``x * tanh(softplus(x))``). This runs each registry activation in that position, in both frontends.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras_acts
from keras_acts import keras, registry

from tests.conftest import ALL_ENTRIES, build_training_state


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=lambda e: e.name)
def test_conv_batchnorm_activation_block_runs(entry):
    kwargs = {"shared_axes": [1, 2]} if entry.learnable else {}
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras_acts.layers.get(entry.name, **kwargs)(h)
    h = keras.layers.Conv2D(4, 3, padding="same", activation=None if entry.learnable else keras_acts.get(entry.name))(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    build_training_state(model)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(model.evaluate(x, y, verbose=0))
    pred = model.predict(x, verbose=0)
    assert pred.shape == (32, 2) and np.isfinite(pred).all()
    assert registry.lookup(entry.name) is entry
