"""keras_acts.adopt: generic-layer activations become registry layers, same function.

Runs in both frontends: the hand-built models below produce TFOpLambda layers in tf_keras
and keras.ops nodes in Keras 3 from the same code, and keras.applications writes
MobileNetV3's hard-swish differently in each (TFOpLambda + Multiply vs Activation("hard_silu")).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import keras_acts
from keras_acts import registry

keras = keras_acts.keras
layers = keras.layers
adopt_module = importlib.import_module("keras_acts.adopt")
KERAS3 = keras_acts.FRONTEND == "keras3"


def _np_ref(name: str, x: np.ndarray) -> np.ndarray:
    return registry.lookup(name).reference(x)


def _dense_np(layer, x):
    w, b = layer.get_weights()
    return x @ w + b


def _pattern_model():
    """Dense -> each pattern, written with generic layers and tensor operators."""
    inp = keras.Input((6,))
    d1 = layers.Dense(8, name="d1")(inp)
    hswish = d1 * (layers.ReLU(6.0)(d1 + 3.0) * (1.0 / 6.0))  # MobileNetV3's hard_swish
    d2 = layers.Dense(8, name="d2")(hswish)
    hsig = layers.ReLU(6.0)(d2 + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard_sigmoid
    d3 = layers.Dense(8, name="d3")(hsig)
    swish = layers.Multiply()([layers.Activation("sigmoid")(d3), d3])  # gate first
    d4 = layers.Dense(8, name="d4")(swish)
    product_first = (d4 * layers.ReLU(6.0)(d4 + 3.0)) / 6.0
    d5 = layers.Dense(8, name="d5")(product_first)
    rescaled = layers.Rescaling(1.0 / 6.0)(layers.ReLU(6.0)(d5 + 3.0))
    out = layers.Dense(3, name="out")(rescaled)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def pattern_model():
    keras_acts.keras.utils.set_random_seed(1)
    return _pattern_model()


def test_patterns_become_registry_layers_and_compute_the_same(pattern_model):
    m = pattern_model
    res = keras_acts.adopt(m)
    assert [r.activation for r in res.replacements] == [
        "hard_swish", "hard_sigmoid", "swish", "hard_swish", "hard_sigmoid"
    ]
    assert [r.pattern for r in res.replacements] == [
        adopt_module.PATTERNS[k]
        for k in ("hard_swish", "hard_sigmoid", "swish", "hard_swish_product_first", "hard_sigmoid")
    ]
    kinds = [type(l).__name__ for l in res.model.layers]
    assert kinds.count("HardSwish") == 2 and kinds.count("HardSigmoid") == 2 and kinds.count("Swish") == 1
    assert not {"TFOpLambda", "Multiply", "ReLU", "Rescaling"} & set(kinds)
    assert res.replacements[0].new_layer == "d1_hard_swish"
    assert all(len(r.layers) >= 2 for r in res.replacements)

    x = np.random.RandomState(0).normal(0, 3, (64, 6)).astype("float32")
    # Independent reference: NumPy float64 with the registry's reference formulas.
    g = {l.name: l for l in m.layers}
    h = _np_ref("hard_swish", _dense_np(g["d1"], x))
    h = _np_ref("hard_sigmoid", _dense_np(g["d2"], h))
    h = _np_ref("swish", _dense_np(g["d3"], h))
    h = _np_ref("hard_swish", _dense_np(g["d4"], h))
    h = _np_ref("hard_sigmoid", _dense_np(g["d5"], h))
    ref = _dense_np(g["out"], h)
    y_old = np.asarray(m(x))
    y_new = np.asarray(res.model(x))
    np.testing.assert_allclose(y_new, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_new, y_old, rtol=1e-5, atol=1e-5)


def test_shared_intermediate_is_left_alone():
    inp = keras.Input((4,))
    r = layers.ReLU(6.0)(inp + 3.0)
    hsig = r * (1.0 / 6.0)
    out = layers.Concatenate()([hsig, r])  # relu6(x + 3) is used twice: not a hard_sigmoid
    m = keras.Model(inp, out)
    res = keras_acts.adopt(m, builtins=False)
    assert res.replacements == [] and res.model is m
    assert "adopt: nothing to replace." == res.summary()


def test_builtins_layers_and_strings(tmp_path):
    inp = keras.Input((5,))
    h = layers.Dense(6, activation="elu", name="dense_elu")(inp)
    h = layers.LeakyReLU(0.1, name="leaky")(h) if not KERAS3 else layers.LeakyReLU(negative_slope=0.1, name="leaky")(h)
    h = layers.PReLU(alpha_initializer=keras.initializers.Constant(0.3), name="prelu")(h)
    h = layers.ELU(alpha=0.5, name="elu_layer")(h)
    h = layers.Activation("tanh", name="act_tanh")(h)
    h = layers.ReLU(name="relu")(h)
    out = layers.Dense(2, activation="softmax", name="probs")(h)
    m = keras.Model(inp, out)
    m.get_layer("prelu").set_weights([np.linspace(0.1, 0.6, 6, dtype="float32")])

    patterns_only = keras_acts.adopt(m, builtins=False)
    assert patterns_only.replacements == []

    res = keras_acts.adopt(m)
    got = {r.new_layer: r.activation for r in res.replacements}
    assert got == {
        "dense_elu": "elu", "leaky": "leaky_relu", "prelu": "prelu", "elu_layer": "elu",
        "act_tanh": "tanh", "relu": "relu",
    }
    new = res.model
    assert isinstance(new.get_layer("leaky"), keras_acts.layers.LeakyReLU)
    assert new.get_layer("leaky").negative_slope == pytest.approx(0.1)
    assert new.get_layer("elu_layer").alpha == pytest.approx(0.5)
    assert isinstance(new.get_layer("prelu"), keras_acts.layers.PReLU)
    np.testing.assert_allclose(new.get_layer("prelu").get_weights()[0], np.linspace(0.1, 0.6, 6), rtol=1e-6)
    assert registry.find_by_function(new.get_layer("dense_elu").activation).name == "elu"
    assert new.get_layer("probs").get_config()["activation"] == "softmax"  # not in the registry: kept
    x = np.random.RandomState(1).normal(0, 2, (32, 5)).astype("float32")
    np.testing.assert_allclose(np.asarray(new(x)), np.asarray(m(x)), rtol=1e-5, atol=1e-6)
    # The adopted model saves and loads like any keras_acts model.
    path = tmp_path / "adopted.keras"
    new.save(path)
    back = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(back(x)), np.asarray(new(x)), rtol=1e-6, atol=1e-7)


def test_sequential_and_nested_models():
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(4), layers.ReLU(6.0, name="inner_relu6")], name="inner")
    inp = keras.Input((4,))
    h = inner(inp)
    out = h * layers.Activation("sigmoid")(h)
    m = keras.Model(inp, out)
    res = keras_acts.adopt(m)
    assert {(r.new_layer, r.activation) for r in res.replacements} == {
        ("inner/inner_relu6", "relu6"), ("inner_swish", "swish")
    }
    assert isinstance(res.model.get_layer("inner").layers[-1], keras_acts.layers.ReLU6)
    x = np.random.RandomState(2).normal(0, 4, (16, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(res.model(x)), np.asarray(m(x)), rtol=1e-5, atol=1e-6)


def test_errors_name_the_fix():
    with pytest.raises(adopt_module.AdoptError, match="expects a Keras model"):
        keras_acts.adopt(object())

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(adopt_module.AdoptError, match="subclassed .* functional API"):
        keras_acts.adopt(sub)
    assert isinstance(adopt_module.AdoptError("x"), ValueError)


def test_adopt_is_callable_as_function_and_module(pattern_model):
    assert callable(keras_acts.adopt)
    assert len(adopt_module(pattern_model)) == len(keras_acts.adopt(pattern_model))
    assert keras_acts.AdoptResult is adopt_module.AdoptResult


# --- keras.applications at small size: the same function, hard-swish found in both frontends.

APPS = {
    "MobileNetV2": (lambda: keras.applications.MobileNetV2((32, 32, 3), alpha=0.35, **_KW), {"relu6": 35}),
    "MobileNetV3Small": (
        lambda: keras.applications.MobileNetV3Small((32, 32, 3), alpha=0.75, **_KW),
        {"hard_swish": 19, "hard_sigmoid": 9, "relu": 14},
    ),
    "MobileNetV3Small-minimalistic": (
        lambda: keras.applications.MobileNetV3Small((32, 32, 3), alpha=0.75, minimalistic=True, **_KW),
        {"relu": 24},
    ),
    "MobileNetV3Large": (
        lambda: keras.applications.MobileNetV3Large((32, 32, 3), alpha=0.75, **_KW),
        {"hard_swish": 21, "hard_sigmoid": 8, "relu": 19},
    ),
    "EfficientNetB0": (lambda: keras.applications.EfficientNetB0(input_shape=(32, 32, 3), **_KW), {"swish": 49, "sigmoid": 16}),
}
_KW = dict(weights=None, classes=10, classifier_activation=None)


@pytest.mark.parametrize("arch", list(APPS))
def test_keras_applications(arch):
    build, counts = APPS[arch]
    m = build()
    res = keras_acts.adopt(m)
    assert res.counts() == counts
    if arch.startswith("MobileNetV3") and "hard_swish" in counts:
        # tf_keras writes hard-swish from TFOpLambda/ReLU/Multiply layers, Keras 3 as Activation("hard_silu").
        patterns = {r.pattern for r in res.replacements if r.activation == "hard_swish"}
        assert patterns == ({"Activation('hard_silu')"} if KERAS3 else {adopt_module.PATTERNS["hard_swish"]})
        assert "TFOpLambda" not in {type(l).__name__ for l in res.model.layers}
    x = np.random.RandomState(3).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y_old = np.asarray(m(x, training=False))
    y_new = np.asarray(res.model(x, training=False))
    scale = float(np.abs(y_old).max())
    assert scale > 0
    np.testing.assert_allclose(y_new, y_old, rtol=1e-5, atol=1e-5 * scale)
