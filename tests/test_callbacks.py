"""DeadUnitMonitor and GradientFlowMonitor against independent NumPy computations."""

from __future__ import annotations

import numpy as np
import pytest

import keras_acts
from keras_acts import callbacks, registry

keras = keras_acts.keras
DEAD = [e for e in registry.entries(include_layers=False) if e.dead_below is not None]


def _probe(n=16, d=3, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, d)).astype(np.float32)


def _dense_with_margins(entry, units=8):
    """Kernel 0 and biases alternating below/above dead_below: every other unit is dead."""
    bias = np.array([entry.dead_below - 0.5 if i % 2 == 0 else entry.dead_below + 0.5 for i in range(units)])
    bias[-1] = entry.dead_below - 0.5  # 5 of 8 dead
    return np.zeros((3, units), np.float32), bias.astype(np.float32)


def _numpy_dead_share(x, kernel, bias, threshold):
    pre = x @ kernel + bias
    return float(np.all(pre <= threshold, axis=0).mean())


@pytest.mark.parametrize("entry", DEAD, ids=lambda e: e.name)
@pytest.mark.parametrize("style", ["dense_activation", "layer"])
def test_dead_share_matches_numpy(entry, style):
    x = _probe()
    kernel, bias = _dense_with_margins(entry)
    inp = keras.Input((3,))
    if style == "dense_activation":
        h = keras.layers.Dense(8, activation=keras_acts.get(entry.name), name="watched")(inp)
        key = "watched"
    else:
        h = keras.layers.Dense(8, name="pre")(inp)
        h = getattr(keras_acts.layers, entry.layer)(name="watched_act")(h)
        key = "watched_act"
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    model.get_layer("watched" if style == "dense_activation" else "pre").set_weights([kernel, bias])
    got = callbacks.dead_unit_fractions(model, x)
    assert got == {key: pytest.approx(_numpy_dead_share(x, kernel, bias, entry.dead_below))}
    assert got[key] == pytest.approx(5 / 8)


def test_conv_units_are_channels_and_any_live_position_keeps_a_unit_alive():
    x = np.random.default_rng(1).normal(size=(4, 5, 5, 2)).astype(np.float32)
    inp = keras.Input((5, 5, 2))
    conv = keras.layers.Conv2D(3, 1, activation="relu", name="conv")
    out = keras.layers.GlobalAveragePooling2D()(conv(inp))
    model = keras.Model(inp, out)
    kernel = np.zeros((1, 1, 2, 3), np.float32)
    kernel[0, 0, 0, 2] = 1.0  # channel 2 follows the (signed) input: alive somewhere
    conv.set_weights([kernel, np.array([-1.0, 0.5, 0.0], np.float32)])
    pre = x[..., 0:1] * kernel[0, 0, 0] + np.array([-1.0, 0.5, 0.0])
    expected = float(np.all(pre.reshape(-1, 3) <= 0.0, axis=0).mean())
    assert callbacks.dead_unit_fractions(model, x) == {"conv": pytest.approx(expected)}
    assert expected == pytest.approx(1 / 3)


def test_builtin_with_different_math_is_not_trusted():
    # tf_keras's hard_sigmoid is 0.2x + 0.5 (dead below -2.5), not relu6(x + 3) / 6.
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(4, activation="hard_sigmoid")(inp))
    watched = [layer.name for layer, _, _ in callbacks.monitored_layers(model)]
    if keras_acts.FRONTEND == "keras3":
        assert watched == [model.layers[-1].name]  # Keras 3's hard_sigmoid is the registry's
    else:
        assert watched == []


def test_monitor_logs_into_history_each_epoch():
    x = _probe(32)
    y = (x.sum(axis=1) > 1.5).astype(np.int64)
    inp = keras.Input((3,))
    h = keras.layers.Dense(6, activation="relu", name="d1")(inp)
    h = keras_acts.layers.HardSwish(name="hs")(keras.layers.Dense(6, name="d2")(h))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="out")(h))
    model.compile("sgd", "sparse_categorical_crossentropy")
    dead = callbacks.DeadUnitMonitor(x)
    flow = callbacks.GradientFlowMonitor(x, y)
    hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[dead, flow])
    for key in ("dead/d1", "dead/hs", "grad_norm/d1", "grad_norm/d2", "grad_norm/out"):
        assert len(hist.history[key]) == 2, key
    assert dead.history["d1"] == hist.history["dead/d1"]
    assert set(flow.initial) == {"d1", "d2", "out"}
    assert all(v > 0 for v in flow.history["out"])


@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "prelu"])
def test_threshold_counts_units_below_zero_for_the_whole_relu_family(kind):
    """threshold=0.0: relu, leaky_relu and PReLU layers are all watched, with the same rule."""
    x = _probe()
    kernel, bias = _dense_with_margins(registry.lookup("relu"))  # 5 of 8 units at -0.5, the rest at +0.5
    inp = keras.Input((3,))
    h = keras.layers.Dense(8, name="pre")(inp)
    if kind == "prelu":
        act = keras_acts.layers.PReLU(name="act")
    else:
        act = getattr(keras_acts.layers, registry.lookup(kind).layer)(name="act")
    model = keras.Model(inp, keras.layers.Dense(2)(act(h)))
    model.get_layer("pre").set_weights([kernel, bias])
    assert callbacks.dead_unit_fractions(model, x, threshold=0.0) == {"act": pytest.approx(5 / 8)}
    # without a threshold only relu has a dead region
    assert callbacks.dead_unit_fractions(model, x) == ({"act": pytest.approx(5 / 8)} if kind == "relu" else {})
    model.compile("sgd", "mse")
    monitor = callbacks.DeadUnitMonitor(x, threshold=0.0)
    model.fit(x, np.zeros((16, 2)), epochs=1, verbose=0, callbacks=[monitor])
    assert list(monitor.history) == ["act"] and len(monitor.history["act"]) == 1


def test_monitor_without_dead_region_says_what_to_do():
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, activation="tanh")(inp))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="no layer with a dead region.*relu-like.*threshold=0.0"):
        model.fit(_probe(), np.zeros((16, 2)), epochs=1, verbose=0, callbacks=[callbacks.DeadUnitMonitor(_probe())])


def test_gradient_norms_match_the_softmax_regression_formula():
    # For p = softmax(xW + b) and mean cross-entropy: dL/dW = x^T (p - Y) / n, dL/db = mean(p - Y).
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="lin")(inp))
    w, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model.get_layer("lin").set_weights([w, b])
    logits = x.astype(np.float64) @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    err = p - np.eye(3)[y]
    expected = np.sqrt(np.sum((x.T @ err / 10) ** 2) + np.sum(err.mean(0) ** 2))
    got = callbacks.gradient_norms(model, x, y, loss="sparse_categorical_crossentropy")
    assert got == {"lin": pytest.approx(expected, rel=1e-4)}


def test_gradient_norms_needs_a_loss():
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1)(inp))
    with pytest.raises(ValueError, match="compile the model first or pass loss="):
        callbacks.gradient_norms(model, np.zeros((2, 2), np.float32), np.zeros((2, 1), np.float32))


def test_subclassed_model_error_names_the_fix():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2, activation="relu")

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="Sequential or Functional"):
        callbacks.dead_unit_fractions(net, _probe())
