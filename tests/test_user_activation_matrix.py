"""Issue 21, part 6: activations registered with the public API run the whole matrix.

``tests/user_activations_matrix.py`` registers, as a user would (``keras.ops`` under Keras 3, TensorFlow
ops under tf_keras, no hand-written lowerings), a self-gated activation (``user_erf_gate``: erf gate) and a
piecewise polynomial one (``user_smelu``: SmeLU). On each: float values against the NumPy float64
reference, the gradient against float64 finite differences of the reference, the generated layer and
``Dense(activation=)``, ``.keras`` save/load in a fresh process (and the error naming the missing
registration there), QAT on real digits with int8 parity, int8 export per target (cpu: <= 1.5 output LSB
over -8..8 and one XNNPACK partition; micro; edgetpu: the Coral op-table check) and ``explain``.
The automatic-lowering cache is a fresh directory, so every search is measured again.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import registry
from tests.conftest import build_training_state, run_python

keras = keras_acts.keras
MODULE = "tests.user_activations_matrix"
NAMES = ("user_erf_gate", "user_smelu")
# a non-default parameter set per activation (checked besides the defaults)
OTHER_PARAMS = {"user_erf_gate": {"scale": 1.0}, "user_smelu": {"beta": 1.0}}
BUDGET_LSB = 1.5


@pytest.fixture(scope="module", autouse=True)
def user_module(tmp_path_factory):
    """Imports the user module (registering both activations) with a fresh auto-lowering cache; undoes both."""
    from keras_acts.export import auto_lowering as al

    old = os.environ.get(al.CACHE_DIR_ENV)
    os.environ[al.CACHE_DIR_ENV] = str(tmp_path_factory.mktemp("auto_lowering_cache"))
    al.clear_memory_cache()
    sys.modules.pop(MODULE, None)
    module = importlib.import_module(MODULE)
    try:
        yield module
    finally:
        for name in NAMES:
            keras_acts.unregister_activation(name)
        sys.modules.pop(MODULE, None)
        al.clear_memory_cache()
        if old is None:
            os.environ.pop(al.CACHE_DIR_ENV, None)
        else:
            os.environ[al.CACHE_DIR_ENV] = old


def _reference(name, user_module):
    return {"user_erf_gate": user_module.erf_gate_reference, "user_smelu": user_module.smelu_reference}[name]


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_the_public_api_and_no_lowerings(name):
    entry = registry.lookup(name)
    assert entry.origin == MODULE and not entry.lowerings
    assert keras_acts.get(name) is entry.fn
    assert type(keras_acts.layers.get(name)).__name__ == entry.layer


@pytest.mark.parametrize("name", NAMES)
def test_float_matches_the_numpy_reference(name, user_module):
    ref = _reference(name, user_module)
    x = np.concatenate([np.linspace(-12, 12, 2401), [-1e4, -50.0, 0.0, 50.0, 1e4]])
    for params in ({}, OTHER_PARAMS[name]):
        y64 = np.asarray(keras_acts.get(name)(tf.constant(x, tf.float64), **params))
        np.testing.assert_allclose(y64, ref(x, **params), rtol=1e-12, atol=1e-14)
        y32 = np.asarray(keras_acts.get(name)(tf.constant(x, tf.float32), **params))
        np.testing.assert_allclose(y32, ref(x.astype(np.float32), **params), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences(name, user_module):
    ref = _reference(name, user_module)
    x = np.linspace(-6, 6, 601) + 0.0037  # off the breakpoints (SmeLU is C1 there anyway)
    h = 1e-6
    for params in ({}, OTHER_PARAMS[name]):
        t = tf.constant(x, tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = keras_acts.get(name)(t, **params)
        got = tape.gradient(y, t).numpy()
        want = (ref(x + h, **params) - ref(x - h, **params)) / (2 * h)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_layer_and_dense_activation(name, user_module):
    ref = _reference(name, user_module)
    other = OTHER_PARAMS[name]
    inp = keras.Input((6,))
    h = keras.layers.Dense(5, activation=keras_acts.get(name), name="dense")(inp)
    out = keras_acts.layers.get(name, **other)(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).normal(scale=3.0, size=(32, 6)).astype(np.float32)
    w, b = model.get_layer("dense").get_weights()
    want = ref(ref(x.astype(np.float64) @ w + b), **other)
    np.testing.assert_allclose(np.asarray(model(x)), want, rtol=1e-5, atol=1e-5)
    layer = model.layers[-1]
    assert layer.get_config()[next(iter(other))] == next(iter(other.values()))


def test_save_and_load_in_a_fresh_process(tmp_path, user_module):
    """Both activations (function in Dense and layer with a non-default parameter) round-trip through
    ``.keras`` in a fresh process that imports the registering module; without it the error names the fix."""
    inp = keras.Input((4,))
    h = keras.layers.Dense(6, activation=keras_acts.get("user_erf_gate"))(inp)
    h = keras_acts.layers.get("user_smelu", beta=1.0)(h)
    h = keras.layers.Dense(5, activation=keras_acts.get("user_smelu"))(h)
    out = keras_acts.layers.get("user_erf_gate", scale=1.0)(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(2).normal(scale=2.0, size=(8, 4)).astype(np.float32)
    path = tmp_path / "user_matrix.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(model(x)))
    out = run_python(  # one fresh process: first without the registering module, then with it
        f"""
        import importlib
        import numpy as np, keras_acts
        try:
            keras_acts.keras.models.load_model({str(path)!r})
        except Exception as err:
            print('without the module:', type(err).__name__, err)
        importlib.import_module({MODULE!r})
        model = keras_acts.keras.models.load_model({str(path)!r})
        x, y = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r})
        np.testing.assert_allclose(np.asarray(model(x)), y, rtol=1e-6, atol=1e-6)
        print('params', [l.get_config().get('beta', l.get_config().get('scale')) for l in model.layers[2::2]])
        """
    )
    first = out.split("without the module:")[1].split("\nparams")[0]
    assert "is not registered in this process" in first and "keras_acts.register_activation('user_" in first, out
    assert "params [1.0, 1.0]" in out, out


@pytest.mark.slow  # three automatic searches (one per target), 20-60 s on 2 shared cores
@pytest.mark.parametrize("name", NAMES)
def test_int8_per_target(name):
    """cpu: <= 1.5 LSB over -8..8, all int8, one XNNPACK partition; micro: <= 1.5 LSB, all int8;
    edgetpu: <= 1.5 LSB and the exported model passes the Coral op-table check."""
    from keras_acts.export.edgetpu.check import check_edgetpu
    from keras_acts.export.fidelity import measure_int8_fidelity
    from keras_acts.export.xnnpack import xnnpack_plan

    for target in ("cpu", "micro", "edgetpu"):
        m = measure_int8_fidelity(name, lo=-8.0, hi=8.0, target=target, isolate=False)
        assert m["covers_grid"] and m["is_fully_int8"], (target, m["float_ops"])
        assert m["max_lsb"] <= BUDGET_LSB, (name, target, m["max_lsb"], m["worst_x"], m["ops"])
        if target == "cpu":
            plan = xnnpack_plan(m["content"])
            assert plan.partitions == 1 and plan.is_whole, plan.summary()
        if target == "edgetpu":
            report = check_edgetpu(m["content"])
            assert report.compatible and report.mapped_fraction == 1.0, str(report)


@pytest.mark.slow  # training, and the export's search on the calibrated range: 12-45 s on 2 shared cores
@pytest.mark.parametrize("name", NAMES)
def test_qat_on_digits_with_int8_parity(name):
    """quantize_model + a short fit on real digits; the int8 export agrees with the QAT model:
    >= 99 % of logits within 2 output LSB, top-1 >= 95 %, all int8, one XNNPACK partition."""
    from keras_acts import data
    from keras_acts.export import evaluate, make_interpreter, to_tflite
    from keras_acts.export.xnnpack import xnnpack_plan

    ds = data.load("digits")
    x_train, x_test = ds.x_train.reshape(len(ds.x_train), -1), ds.x_test.reshape(len(ds.x_test), -1)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation=keras_acts.get(name)),
        keras.layers.Dense(16),
        keras_acts.layers.get(name),
        keras.layers.Dense(10),
    ])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(3e-3), loss)
    build_training_state(model)
    model.fit(x_train, ds.y_train, epochs=5, batch_size=32, verbose=0)
    qat = keras_acts.quantization.quantize_model(model, calibration_data=x_train[:256])
    qat.compile(keras.optimizers.Adam(5e-4), loss)
    build_training_state(qat)
    qat.fit(x_train, ds.y_train, epochs=1, batch_size=32, verbose=0)
    res = to_tflite(qat, target="cpu", quantization="int8", input_type="int8", output_type="int8")
    assert not res.report.float_islands, res.report.float_islands
    assert xnnpack_plan(res.content).partitions == 1
    int8 = np.asarray(evaluate(res.content, x_test).outputs, np.float64)
    ref = np.asarray(qat.predict(x_test, verbose=0), np.float64)
    scale = float(make_interpreter(res.content).get_output_details()[0]["quantization"][0])
    lsb = np.abs(int8 - ref) / scale
    assert np.mean(lsb <= 2.0 + 1e-6) >= 0.99, (np.mean(lsb <= 2.0), lsb.max())
    assert np.mean(int8.argmax(1) == ref.argmax(1)) >= 0.95
    assert np.mean(ref.argmax(1) == ds.y_test) > 0.8  # it learned the digits


@pytest.mark.parametrize("name", NAMES)
def test_explain(name):
    """explain reports the automatic form per int8 target, measured within the budget in one partition."""
    ex = keras_acts.explain(name, targets=("cpu", "edgetpu"), repeats=2)
    rows = {t.target: t for t in ex.targets}
    for target in ("cpu", "edgetpu"):
        row = rows[target]
        assert row.source == "automatic" and row.fully_int8 and row.within_budget, row
        assert row.max_lsb <= BUDGET_LSB and row.xnnpack_partitions == 1, row
    assert ex.edgetpu_status == "automatic" and "all Coral ops" in ex.edgetpu_reason, ex.edgetpu_reason
    assert f"{name}:" in str(ex) and "Edge TPU: automatic" in str(ex)


@pytest.mark.parametrize("name", NAMES)
def test_explain_reports_the_qat_formulation_and_edgetpu_without_measuring_it(name):
    """Without "edgetpu" among the targets the verdict is the automatic search's (never a bare
    "unsupported"), and the QAT line names the formulation the engine trains: the automatic form's QAT
    chain, with its ops and fake-quant points (not "output")."""
    from keras_acts.export import auto_lowering as al

    ex = keras_acts.explain(name, targets=("cpu",), repeats=1)
    assert ex.edgetpu_status == "automatic" and "all Coral ops" in ex.edgetpu_reason, ex.edgetpu_reason
    assert "not re-measured here" in ex.edgetpu_reason
    form = al.lowering_for(registry.lookup(name), {}, "cpu").qat
    assert ex.qat_scheme == "automatic" and ex.qat_ops == tuple(form.ops) and ex.qat_points == tuple(form.moving)
    assert ex.qat_ops and "QAT (automatic): converts to " + " ".join(form.ops)[:20] in str(ex)
    # with the form provider off, nothing is searched, and the report says so and how to ask for it
    off = keras_acts.explain(name, targets=("cpu",), repeats=1, form_provider=None)
    assert off.edgetpu_status == "unsupported" and "was not searched" in off.edgetpu_reason
    assert f"targets='edgetpu'" in off.edgetpu_reason and off.qat_scheme != "automatic"
