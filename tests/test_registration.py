"""The registry as the one definition per activation, and the public registration API.

* Layers and public names are derived from the registry (nothing to edit besides the family
  module), and ``.keras`` files saved before that change (tests/data, by main 291b85a) still load.
* A user activation registered with :func:`keras_acts.register_activation` (squareplus, from
  tests/user_activations.py) is known to the CLI, the docs table, the exporter (float targets
  trace its math; the automatic int8 lowering hook) and, in tf_keras, to string names.

The backend-neutral part of the matrix (values, gradient, layer, Dense, fit, save/load in a
fresh process, the missing-registration error, name errors) is in tests/test_backends.py, which
also runs on jax and torch.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

import numpy as np
import pytest

import keras_acts
from keras_acts import registry
from keras_acts.registry import Lowering

keras = keras_acts.keras
DATA = pathlib.Path(__file__).parent / "data"
USER_MODULE = "tests.user_activations"


@pytest.fixture()
def squareplus():
    sys.modules.pop(USER_MODULE, None)
    importlib.import_module(USER_MODULE)
    try:
        yield registry.lookup("squareplus")
    finally:
        keras_acts.unregister_activation("squareplus")
        sys.modules.pop(USER_MODULE, None)


# -- one definition per activation ------------------------------------------------------------


def test_saved_before_registry_derived_layers_still_loads():
    """A .keras file with every keras_acts layer (and functions in Dense), written by main 291b85a,
    loads into the generated classes and computes the same outputs."""
    stem = "legacy_layers_keras3" if keras_acts.FRONTEND == "keras3" else "legacy_layers_tf_keras"
    model = keras.models.load_model(DATA / f"{stem}.keras")
    io = np.load(DATA / f"{stem}_io.npz")
    np.testing.assert_allclose(np.asarray(model(io["x"])), io["y"], rtol=1e-6, atol=1e-6)
    by_name = {layer.name: layer for layer in model.layers}
    assert type(by_name["hs"]) is keras_acts.layers.HardSwish
    assert by_name["lrelu"].negative_slope == pytest.approx(0.1)
    assert by_name["swish_b"].trainable_beta and by_name["swish_b"].beta_weight is not None
    assert by_name["d_hs"].activation is keras_acts.get("hard_swish")
    for layer in model.layers:
        found = registry.activation_of_layer(layer)
        if found is not None:
            assert type(layer) is found[0].layer_class() or layer.name == "act_hs"


def test_public_names_and_layers_are_derived_from_the_registry():
    """``keras_acts.<name>``, ``keras_acts.activations.<name>``, ``keras_acts.layers.<Layer>`` and the
    ``__all__`` lists are the registry's (no second list to edit)."""
    package = [e for e in registry.entries() if e.builtin_package]
    functions = {e.name for e in package if not e.learnable}
    assert functions <= set(keras_acts.__all__)
    assert set(keras_acts.__all__) - functions == {
        "FRONTEND", "__version__", "activations", "adopt", "deserialize", "get", "keras", "layers",
        "list_activations", "register_activation", "serialize", "unregister_activation",
    }
    assert set(keras_acts.activations.__all__) == {e.name for e in package}
    assert set(keras_acts.layers.__all__) == {e.layer for e in package} | {"Activation", "RegistryActivation", "get"}
    for e in package:
        assert getattr(keras_acts.activations, e.name) is e.fn
        if not e.learnable:
            assert getattr(keras_acts, e.name) is e.fn is keras_acts.get(e.name)
        cls = getattr(keras_acts.layers, e.layer)
        assert cls is e.layer_class() and cls.__name__ == e.layer and cls.activation_name == e.name
        assert type(keras_acts.layers.get(e.name)) is cls
        # saved under the same registered name as every earlier version
        registered = keras.saving.get_registered_name(cls) if keras_acts.FRONTEND == "keras3" else (
            keras.utils.get_registered_name(cls)
        )
        assert registered == f"keras_acts>{e.layer}"


def test_keras_builtin_layers_map_through_the_registry():
    """Keras's own ReLU/LeakyReLU/ELU/PReLU resolve by each entry's keras_layers, as adopt, the QAT
    engine, export substitution and the Edge TPU preflight read them."""
    L = keras.layers
    cases = [
        (L.ReLU(), "relu", {}),
        (L.ReLU(max_value=6.0), "relu6", {}),
        (L.ReLU(negative_slope=0.1), "leaky_relu", {"negative_slope": 0.1}),
        (L.LeakyReLU(0.3) if keras_acts.FRONTEND == "tf_keras" else L.LeakyReLU(negative_slope=0.3), "leaky_relu", {"negative_slope": 0.3}),
        (L.ELU(alpha=0.5), "elu", {"alpha": 0.5}),
    ]
    for layer, name, params in cases:
        entry, kwargs = registry.activation_of_layer(layer)
        assert entry.name == name and {k: pytest.approx(v) for k, v in params.items()} == kwargs, (layer, kwargs)
    assert registry.activation_of_layer(L.ReLU(threshold=1.0)) is None  # another function
    entry, kwargs = registry.activation_of_layer(L.PReLU(shared_axes=[1, 2]))
    assert entry.name == "prelu" and entry.weights == ("alpha",) and kwargs["shared_axes"] == [1, 2]
    from keras_acts.quantization.engine.activations import from_layer

    act = from_layer(keras_acts.layers.PReLU(shared_axes=[1, 2]))
    assert act.name == "prelu" and set(act.extra) == {"shared_axes", "alpha_initializer"}
    act = from_layer(keras_acts.layers.Swish(beta=1.5, trainable_beta=True))
    assert (act.name, act.params, act.extra) == ("swish", {"beta": 1.5}, {"trainable_beta": True})


def test_the_registry_does_not_import_export_at_import():
    out = __import__("tests.conftest", fromlist=["run_python"]).run_python(
        "import sys, keras_acts\n"
        "print(sorted(m for m in sys.modules if m.startswith('keras_acts.export')))\n"
    )
    assert out.strip().splitlines()[-1] == "[]"


# -- a user-registered activation, TensorFlow-backend parts ----------------------------------


def test_user_activation_in_the_cli_and_the_docs_table(squareplus, capsys):
    from keras_acts import docs
    from keras_acts.cli import main

    row = [ln for ln in docs.activation_table_markdown().splitlines() if ln.startswith("| `squareplus`")]
    assert len(row) == 1 and "`square_plus`" in row[0] and "b=4.0" in row[0] and "`Squareplus`" in row[0]
    assert "not a Keras 3 name: `keras_acts.get('squareplus')`" in row[0]
    assert "registered by `tests.user_activations`" in row[0]
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert any(ln.split()[:2] == ["squareplus", "square_plus"] for ln in listed.splitlines()), listed
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r for r in rows if r["name"] == "squareplus"][0]["params"] == {"b": 4.0}


def test_cli_and_docs_import_the_registering_module():
    """In a fresh process `keras-acts list --import MODULE` and `python -m keras_acts.docs --import MODULE`
    show the module's activation; a missing module is one clear line."""
    from tests.conftest import run_python

    out = run_python(
        "import sys\n"
        "from keras_acts.cli import main\n"
        "assert main(['list', '--import', 'tests.user_activations']) == 0\n"
        "from keras_acts import docs\n"
        "assert docs.main(['--import', 'tests.user_activations']) == 0\n"
        "print('missing:', main(['list', '--import', 'no_such_module_xyz']))\n"
    )
    assert "squareplus" in out.split("Export targets")[0]
    assert "| `squareplus` |" in out
    assert "missing: 1" in out


def test_user_activation_exports_to_float_tflite(squareplus, tmp_path):
    """to_tflite traces the user's math (no lowering registered) and LiteRT computes the same."""
    from ai_edge_litert.interpreter import Interpreter

    from keras_acts.export import to_tflite

    inp = keras.Input((8,))
    h = keras.layers.Dense(8, activation=keras_acts.get("squareplus"))(inp)
    out = keras_acts.layers.get("squareplus", b=1.0)(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    for quantization in ("none", "float16"):
        result = to_tflite(model, quantization=quantization, batch_size=16)
        interp = Interpreter(model_content=result.content)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        got = interp.get_tensor(interp.get_output_details()[0]["index"])
        np.testing.assert_allclose(got, np.asarray(model(x)), rtol=2e-3 if quantization == "float16" else 1e-5, atol=2e-3 if quantization == "float16" else 1e-5)
        ops = {op["op_name"] for op in interp._get_ops_details()}
        assert "SQRT" in ops, ops


def test_user_lowering_and_the_automatic_lowering_hook(squareplus):
    """A hand-written lowering is traced at export; entries without one ask the automatic-lowering
    provider (None when none is installed)."""
    assert squareplus.handwritten_lowering("cpu") is None and squareplus.lowering("cpu") is None
    installed = registry.set_auto_lowering_provider(None)  # importing keras_acts.export installs one
    try:
        assert squareplus.auto_lowering("cpu", (-8.0, 8.0)) is None  # no provider installed
    finally:
        registry.set_auto_lowering_provider(installed)
    seen = []
    made = Lowering(None, ("ADD",), "test form")

    def provider(entry, target, input_range, params=None):
        seen.append((entry.name, target, input_range))
        return made if not entry.builtin_package else None

    previous = registry.set_auto_lowering_provider(provider)
    try:
        assert squareplus.auto_lowering("cpu", (-8.0, 8.0)) is made
        assert registry.lookup("swish").auto_lowering("edgetpu") is None
        assert seen == [("squareplus", "cpu", (-8.0, 8.0)), ("swish", "edgetpu", None)]
    finally:
        registry.set_auto_lowering_provider(previous)
    assert registry.lookup("hard_swish").handwritten_lowering("cpu").ops == ("ADD", "MUL", "MUL")

    import tensorflow as tf

    from keras_acts.export import to_tflite
    from keras_acts.export.fidelity import op_details

    def relu_form(x, b=4.0):
        return tf.nn.relu(x)  # deliberately another function, to see that the lowering is traced

    fn = keras_acts.register_activation(
        "sp_lowered_test", lambda x, b=4.0: squareplus.fn(x, b=b), lowerings={"float": relu_form}
    )
    try:
        model = keras.Sequential([keras.Input((4,)), keras_acts.layers.get("sp_lowered_test")])
        ops = [d["op"] for d in op_details(to_tflite(model).content)]
        assert ops == ["RELU"], ops
        assert registry.lookup("sp_lowered_test").edgetpu_form().status == "unsupported"  # ops unknown
        assert fn is keras_acts.get("sp_lowered_test")
    finally:
        keras_acts.unregister_activation("sp_lowered_test")


def test_user_activation_as_a_string_in_tf_keras(squareplus):
    """tf_keras resolves registered names as activation strings; Keras 3 only its own table."""
    if keras_acts.FRONTEND == "tf_keras":
        layer = keras.layers.Dense(3, activation="squareplus")
        assert layer.activation is keras_acts.get("squareplus")
        keras_acts.unregister_activation("squareplus")
        with pytest.raises(ValueError):
            keras.layers.Dense(3, activation="squareplus")
        importlib.reload(sys.modules[USER_MODULE])  # the fixture unregisters it again
    else:
        # Keras 3 has its own squareplus (same math); strings resolve from Keras's table only.
        layer = keras.layers.Dense(3, activation="squareplus")
        assert layer.activation is keras.activations.squareplus is not keras_acts.get("squareplus")


def test_user_activation_without_reference_plots_and_measures_with_its_own_math(squareplus):
    """Without ``reference=`` plots and the int8 fidelity measure evaluate the activation's math in float64."""
    from keras_acts import plot

    plain = keras_acts.register_activation("sp_noref_test", lambda x, b=4.0: squareplus.fn(x, b=b))
    try:
        entry = registry.lookup("sp_noref_test")
        assert entry.reference is None
        x = np.linspace(-5.0, 5.0, 11)
        np.testing.assert_allclose(plot.curve("sp_noref_test", x, b=2.0), squareplus.reference(x, b=2.0), rtol=1e-12)
        np.testing.assert_allclose(
            plot.curve("sp_noref_test", x, derivative=True), 0.5 * (1 + x / np.sqrt(x * x + 4.0)), rtol=1e-6
        )
        assert plain is keras_acts.get("sp_noref_test")
    finally:
        keras_acts.unregister_activation("sp_noref_test")


def test_the_exporter_traces_the_automatic_lowering_when_a_provider_gives_one(squareplus):
    """With no hand-written int8 form, tracing for an int8 target asks the provider; float targets do not."""
    import tensorflow as tf

    from keras_acts.export import to_tflite
    from keras_acts.export.fidelity import op_details

    asked = []

    def provider(entry, target, input_range, params=None):
        asked.append((entry.name, target))
        if entry.name != "squareplus":
            return None
        return Lowering(lambda x, b=4.0: tf.nn.relu6(x), ("RELU6",), "stand-in form")

    model = keras.Sequential([keras.Input((4,)), keras_acts.layers.get("squareplus")])
    x = np.random.default_rng(0).uniform(-4, 4, (32, 4)).astype(np.float32)
    previous = registry.set_auto_lowering_provider(provider)
    try:
        ops = [d["op"] for d in op_details(to_tflite(model).content)]
        assert "SQRT" in ops and not asked  # float: the math as written
        result = to_tflite(model, quantization="int8", representative_data=x, input_type="int8", output_type="int8")
        assert ("squareplus", "cpu") in asked
        ops = [d["op"] for d in op_details(result.content)]
        assert "RELU6" in ops and "SQRT" not in ops, ops
    finally:
        registry.set_auto_lowering_provider(previous)


def test_gradient_without_derivative_or_not_callable_names_the_fix():
    """``gradient=`` is ``upstream * derivative(x)`` in one call: alone, or not a function, it is refused."""

    def gated(x):
        return x * keras_acts._ops.sigmoid(x)

    with pytest.raises(TypeError, match=r"pass derivative=.*or drop gradient="):
        keras_acts.register_activation("t_grad_alone", gated, gradient=lambda upstream, x: upstream)
    with pytest.raises(TypeError, match="gradient must be callable"):
        keras_acts.register_activation("t_grad_int", gated, derivative=lambda x: x, gradient=3)
    assert not {"t_grad_alone", "t_grad_int"} & set(registry.list_activations())


def test_user_activation_inside_tf_function_and_by_position(squareplus):
    """A registered activation called from AutoGraph-converted code (a ``tf.function`` with an ``if`` on a tensor)
    gives its eager values and gradient, and takes its parameters by position too."""
    import tensorflow as tf

    fn = keras_acts.get("squareplus")
    x = tf.constant(np.linspace(-8.0, 8.0, 65), tf.float32)

    @tf.function
    def value_and_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = fn(v, 2.0) if tf.reduce_sum(v) > -1e9 else v
        return y, tape.gradient(y, v)

    y, g = value_and_gradient(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y_eager = fn(x, b=2.0)
    np.testing.assert_allclose(y, squareplus.reference(x.numpy(), b=2.0), rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(y, y_eager, rtol=1e-6)
    np.testing.assert_allclose(g, tape.gradient(y_eager, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="multiple values for argument 'b'"):
        fn(x, 2.0, b=2.0)
