"""Models using every registry function and every layer save and load in a fresh process.

The model is built and saved here; one child interpreter per run (this frontend) imports
keras_acts, loads every format WITHOUT custom_objects and compares the outputs with the
ones computed before saving. String activations are tested in-process for both frontends.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import registry
from keras_acts.backend import FRONTEND
from tests.conftest import run_python

keras = keras_acts.keras
FUNCTION_ENTRIES = registry.entries(include_layers=False)
ALL_ENTRIES = registry.entries(include_layers=True)
X = np.linspace(-4.0, 4.0, 8 * 6).reshape(8, 6).astype(np.float32)


def _layer_kwargs(entry: registry.Activation) -> dict:
    """Non-default parameters, so that the saved configs must carry them."""
    if entry.learnable:
        return {"alpha_initializer": keras.initializers.Constant(0.3), "alpha_regularizer": "l2",
                "alpha_constraint": "non_neg"}
    kwargs = {p.name: ((not p.default) if p.kind == "bool" else 2.5 * p.default + 0.1) for p in entry.params}
    if entry.name == "swish":
        kwargs["trainable_beta"] = True
    return kwargs


def _string_names() -> list[tuple[str, str]]:
    """(string, canonical) pairs the frontend resolves as activation= strings with the entry's math."""
    out = []
    for e in FUNCTION_ENTRIES:
        for n in (e.name, *e.aliases):
            if FRONTEND == "tf_keras":
                ok = n in keras_acts._serialization.bare_string_names()
            else:
                b = e.builtins.get("keras3")
                ok = b is not None and b.same_math and n in (e.name, b.name)
            if ok:  # one string per entry keeps the model (and its save/load time) small
                out.append((n, e.name))
                break
    return out


def build_model() -> keras.Model:
    """One functional model: every function as ``activation=``, every layer, string activations."""
    inputs = keras.Input((6,), name="x")
    branches = []
    for e in FUNCTION_ENTRIES:
        branches.append(keras.layers.Dense(3, activation=keras_acts.get(e.name), name=f"fn_{e.name}")(inputs))
    for e in ALL_ENTRIES:
        h = keras.layers.Dense(3, name=f"pre_{e.name}")(inputs)
        branches.append(keras_acts.layers.get(e.name, name=f"layer_{e.name}", **_layer_kwargs(e))(h))
    for i, (s, _) in enumerate(_string_names()):
        branches.append(keras.layers.Dense(2, activation=s, name=f"str_{i}")(inputs))
    generic = keras_acts.layers.Activation("leaky_relu", params={"negative_slope": 0.1}, name="generic")
    branches.append(generic(keras.layers.Dense(3, name="pre_generic")(inputs)))
    prelu_conv = keras.layers.Reshape((2, 3, 1))(inputs)
    prelu_conv = keras.layers.Conv2D(2, 1, name="conv")(prelu_conv)
    prelu_conv = keras_acts.layers.PReLU(shared_axes=[1, 2], name="prelu_shared")(prelu_conv)
    branches.append(keras.layers.Flatten()(prelu_conv))
    outputs = keras.layers.Concatenate()(branches)
    return keras.Model(inputs, outputs)


_CHILD = r"""
import json, os, sys
import numpy as np
import tensorflow as tf
import keras_acts
keras = keras_acts.keras
d = sys.argv[1] if len(sys.argv) > 1 else os.environ["KA_DIR"]
spec = json.load(open(os.path.join(d, "spec.json")))
x = np.load(os.path.join(d, "x.npy"))
want = np.load(os.path.join(d, "y.npy"))
result = {}
def record(label, y):
    y = np.asarray(y)
    result[label] = {"shape_ok": list(y.shape) == list(want.shape),
                     "max_abs_diff": float(np.max(np.abs(y - want))) if y.shape == want.shape else None}
for fmt in spec["keras_formats"]:
    m = keras.models.load_model(os.path.join(d, "model" + fmt))  # no custom_objects
    record(fmt, m(x))
    result[fmt]["same_fn"] = all(
        m.get_layer("fn_" + n).activation is keras_acts.get(n) for n in spec["function_names"])
    if fmt == ".keras":
        result[fmt]["layer_types"] = sorted({type(l).__module__.split(".")[0] for l in m.layers
                                             if l.name.startswith("layer_")})
for label, path in spec["tf_dirs"].items():
    loaded = tf.saved_model.load(os.path.join(d, path))
    if hasattr(loaded, "serve"):
        record(label, loaded.serve(tf.constant(x)))
    else:
        out = loaded.signatures["serving_default"](tf.constant(x))
        record(label, list(out.values())[0])
for label, path in spec["keras_dirs"].items():
    m = keras.models.load_model(os.path.join(d, path))
    record(label, m(x))
print("RESULT" + json.dumps(result))
"""


def test_save_and_load_in_fresh_process(tmp_path):
    model = build_model()
    # Learnable weights away from their initial values, so that loading must restore them.
    for layer in model.layers:
        for w in layer.weights:
            if w.name.split("/")[-1].split(":")[0] in ("alpha", "beta"):
                w.assign(np.asarray(w) + np.linspace(0.1, 0.2, int(np.prod(w.shape))).reshape(w.shape))
    y = np.asarray(model(X))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    spec = {"function_names": [e.name for e in FUNCTION_ENTRIES], "tf_dirs": {}, "keras_dirs": {}}
    model.save(tmp_path / "model.keras")
    if FRONTEND == "keras3":
        spec["keras_formats"] = [".keras"]
        model.export(str(tmp_path / "export"), verbose=False)
        spec["tf_dirs"]["export"] = "export"
    else:
        spec["keras_formats"] = [".keras", ".h5"]
        model.save(tmp_path / "model.h5")
        # model.save(save_format="tf") is tf.saved_model.save plus Keras metadata: one directory
        # serves both loaders (tracing it costs ~15 s, so it is written once).
        model.save(str(tmp_path / "savedmodel"), save_format="tf")
        spec["keras_dirs"]["savedmodel(keras.models.load_model)"] = "savedmodel"
        spec["tf_dirs"]["savedmodel(tf.saved_model.load)"] = "savedmodel"
    (tmp_path / "spec.json").write_text(json.dumps(spec))

    out = run_python(_CHILD, env={"KA_DIR": str(tmp_path)})
    result = json.loads(out.split("RESULT", 1)[1])
    expected_labels = set(spec["keras_formats"]) | set(spec["tf_dirs"]) | set(spec["keras_dirs"])
    assert set(result) == expected_labels
    for label, r in result.items():
        assert r["shape_ok"], (label, r)
        # Same ops on the same CPU: Keras-format reloads are bit-identical; SavedModel graphs
        # may be rewritten by Grappler, so allow float32 rounding there.
        tol = 0.0 if label in (".keras", ".h5") else 1e-5
        assert r["max_abs_diff"] <= tol, (label, r)
    for fmt in spec["keras_formats"]:
        assert result[fmt]["same_fn"], f"{fmt}: a loaded Dense(activation=...) is not the keras_acts function"
    assert result[".keras"]["layer_types"] == ["keras_acts"]
    trained = [w for l in model.layers for w in l.weights if "alpha" in w.name or "beta" in w.name]
    assert len(trained) >= 3  # PReLU, PReLU(shared_axes), Swish(trainable_beta)


# -- string activations -------------------------------------------------------------------

XS = np.linspace(-6.0, 6.0, 49).astype(np.float32)


def _apply_string(name: str) -> np.ndarray:
    layer = keras.layers.Activation(name)
    return np.asarray(layer(tf.constant(XS)), np.float64)


@pytest.mark.parametrize("entry", FUNCTION_ENTRIES, ids=[e.name for e in FUNCTION_ENTRIES])
def test_string_activations(entry):
    builtin = entry.builtins.get(FRONTEND)
    assert builtin is not None, f"{entry.name}: registry says nothing about {FRONTEND}'s built-ins"
    for name in (entry.name, *entry.aliases):
        if FRONTEND == "tf_keras":
            got = _apply_string(name)
            if name == "hard_sigmoid":
                # Documented: tf_keras's own hard_sigmoid keeps its meaning, clip(0.2 x + 0.5, 0, 1).
                assert builtin.same_math is False and builtin.note
                np.testing.assert_allclose(got, np.clip(0.2 * XS + 0.5, 0, 1), atol=1e-6)
                assert keras.activations.get(name) is not entry.fn
            else:
                np.testing.assert_allclose(got, entry.reference(XS.astype(np.float64)), rtol=2e-6, atol=2e-7,
                                           err_msg=name)
            continue
        # Keras 3 resolves only its own table.
        try:
            keras.activations.get(name)
        except ValueError as err:
            assert "Could not interpret activation function identifier" in str(err) or name in str(err)
            assert not (builtin.name == name and builtin.same_math), f"{name}: registry claims a Keras 3 built-in"
        else:
            assert builtin.name is not None, f"Keras 3 knows {name!r}; the registry should say so"
            got = _apply_string(name)
            want = entry.reference(XS.astype(np.float64), **dict(builtin.params))
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7, err_msg=f"{name}: Keras 3 math differs")
            if not builtin.params:
                assert builtin.same_math, name
    # Always: the function object works as activation= in any layer of either frontend.
    dense = keras.layers.Dense(2, activation=keras_acts.get(entry.name))
    y = np.asarray(dense(tf.constant(XS[:, None])))
    w, b = (np.asarray(v, np.float64) for v in dense.get_weights())
    np.testing.assert_allclose(y, entry.reference(XS[:, None].astype(np.float64) @ w + b), rtol=1e-5, atol=1e-6)


def test_hard_swish_string_in_conv2d():
    """The issue's headline: Conv2D(..., activation="hard_swish") works in both frontends."""
    conv = keras.layers.Conv2D(2, 1, activation="hard_swish")
    x = tf.constant(XS.reshape(1, 7, 7, 1))
    y = np.asarray(conv(x), np.float64)
    w, b = (np.asarray(v, np.float64) for v in conv.get_weights())
    z = XS.reshape(1, 7, 7, 1).astype(np.float64) @ w.reshape(1, 2) + b
    np.testing.assert_allclose(y, registry.lookup("hard_swish").reference(z), rtol=1e-5, atol=1e-6)
