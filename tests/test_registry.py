"""The registry and the public lookup API: names, aliases, errors, (de)serialization."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import registry

ENTRIES = registry.entries(include_layers=True)
FUNCTION_ENTRIES = registry.entries(include_layers=False)

# The canonical names and aliases the issue requires (at least these).
REQUIRED_NAMES = {
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "sigmoid", "hard_sigmoid",
    "tanh", "hard_tanh", "swish", "hard_swish", "mish", "hard_mish", "softplus", "softsign", "exponential",
}
REQUIRED_ALIASES = {
    "silu": "swish", "hard_silu": "hard_swish", "hardswish": "hard_swish", "h_swish": "hard_swish",
    "hardsigmoid": "hard_sigmoid", "h_sigmoid": "hard_sigmoid",
}


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's fixture: no Keras state is touched here."""
    yield


def test_required_names_and_version():
    assert REQUIRED_NAMES <= set(keras_acts.list_activations())  # a new activation needs no edit here
    assert "prelu" in registry.list_activations(include_layers=True)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", keras_acts.__version__)


def test_list_activations_sorted_and_canonical():
    names = keras_acts.list_activations()
    assert names == sorted(names)
    assert all(n == n.lower() and " " not in n for n in names)
    with_layers = registry.list_activations(include_layers=True)
    assert with_layers == sorted(with_layers)


@pytest.mark.parametrize("alias,canonical", sorted(REQUIRED_ALIASES.items()))
def test_required_aliases(alias, canonical):
    assert keras_acts.get(alias) is keras_acts.get(canonical)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_names_are_case_insensitive_and_unique(entry):
    for n in (entry.name, *entry.aliases):
        for variant in (n, n.upper(), n.title(), f"  {n} ", n.replace("_", "-")):
            assert registry.lookup(variant) is entry


def test_aliases_do_not_collide():
    seen: dict[str, str] = {}
    for e in ENTRIES:
        for n in (e.name, *e.aliases):
            key = n.lower()
            assert key not in seen, f"{n!r} is used by {seen.get(key)} and {e.name}"
            seen[key] = e.name


@pytest.mark.parametrize(
    "typo,suggestion",
    [("hard_swsh", "hard_swish"), ("hardswsh", "hard_swish"), ("sigmiod", "sigmoid"), ("gelu_tan", "gelu_tanh")],
)
def test_unknown_name_suggests_closest(typo, suggestion):
    with pytest.raises(ValueError) as err:
        keras_acts.get(typo)
    msg = str(err.value)
    assert f"Did you mean {suggestion!r}" in msg or f"did you mean {suggestion!r}" in msg.lower(), msg
    assert typo in msg


def test_unknown_name_without_close_match_lists_names():
    with pytest.raises(ValueError, match="Known activations: .*hard_swish"):
        keras_acts.get("zzzzzz")


@pytest.mark.parametrize("bad", [3, 1.5, None, ["relu"]])
def test_get_rejects_other_types(bad):
    with pytest.raises(TypeError, match="Cannot interpret"):
        keras_acts.get(bad)


def test_get_prelu_names_the_layer():
    with pytest.raises(ValueError, match=r"keras_acts.layers.PReLU"):
        keras_acts.get("prelu")


def test_get_callable_passthrough():
    fn = lambda x: x  # noqa: E731
    assert keras_acts.get(fn) is fn
    assert keras_acts.get(keras_acts.hard_swish) is keras_acts.hard_swish


@pytest.mark.parametrize("entry", FUNCTION_ENTRIES, ids=[e.name for e in FUNCTION_ENTRIES])
def test_serialize_deserialize_round_trip(entry):
    fn = keras_acts.get(entry.name)
    config = keras_acts.serialize(fn)
    assert json.loads(json.dumps(config)) == config  # JSON-serializable
    assert keras_acts.deserialize(config) is fn
    assert keras_acts.get(config) is fn
    assert keras_acts.deserialize(entry.name) is fn
    # Keras-style registered names "keras_acts>NAME" resolve too.
    assert keras_acts.deserialize({"config": f"keras_acts>{entry.name}"}) is fn


@pytest.mark.parametrize("entry", [e for e in FUNCTION_ENTRIES if e.params], ids=lambda e: e.name)
def test_serialize_keeps_parameters(entry):
    import functools

    p = entry.params[0]
    value = (not p.default) if p.kind == "bool" else 2.5 * p.default + 0.1
    fn = functools.partial(entry.fn, **{p.name: value})
    config = keras_acts.serialize(fn)
    assert config["params"] == {p.name: value}
    back = keras_acts.deserialize(json.loads(json.dumps(config)))
    x = tf.constant(np.linspace(-4, 4, 17), tf.float64)
    np.testing.assert_array_equal(back(x).numpy(), fn(x).numpy())
    np.testing.assert_allclose(back(x).numpy(), entry.reference(x.numpy(), **{p.name: value}), rtol=1e-12)


def test_serialize_rejects_foreign_functions():
    with pytest.raises(ValueError, match="not a keras_acts activation"):
        keras_acts.serialize(tf.nn.relu)


@pytest.mark.parametrize("bad", [{"name": "relu"}, 42, {"config": "hard_swsh"}])
def test_deserialize_bad_configs(bad):
    with pytest.raises(ValueError):
        keras_acts.deserialize(bad)


# -- bad parameters -------------------------------------------------------------------------

X = tf.constant([-1.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "name,kwargs,error,pattern",
    [
        ("elu", {"alpha": -1.0}, ValueError, r"`alpha` must be >= 0"),
        ("leaky_relu", {"negative_slope": -0.1}, ValueError, r"`negative_slope` must be >= 0"),
        ("leaky_relu", {"negative_slope": "0.1"}, TypeError, r"must be a real number"),
        ("leaky_relu", {"negative_slope": True}, TypeError, r"must be a real number"),
        ("swish", {"beta": float("nan")}, ValueError, r"must be finite"),
        ("gelu", {"approximate": "yes"}, TypeError, r"must be True or False"),
        ("relu", {"alpha": 0.1}, TypeError, r"unknown parameter.*'alpha'.*accepted parameters: none"),
        ("elu", {"alpah": 0.5}, TypeError, r"unknown parameter.*'alpah'.*accepted parameters: alpha"),
    ],
)
def test_bad_parameters_raise_clear_errors(name, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        keras_acts.get(name)(X, **kwargs)
    layer_error = pytest.raises((error, TypeError, ValueError))  # layers may add Keras's own check
    with layer_error as err:
        keras_acts.layers.get(name, **kwargs)
    if name != "relu" and "alpah" not in kwargs:
        assert re.search(pattern, str(err.value)), str(err.value)


def test_names_table_rows_match_entries():
    rows = registry.names_table()
    assert [r["name"] for r in rows] == [e.name for e in ENTRIES]
    for row, e in zip(rows, ENTRIES):
        assert row["aliases"] == list(e.aliases)
        assert row["layer"] == e.layer
        assert row["edgetpu"] in ("native", "lowered", "approximate", "unsupported")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_metadata_is_consistent(entry):
    assert hasattr(keras_acts.layers, entry.layer), f"{entry.name}: no layer class {entry.layer}"
    assert set(entry.builtins) <= {"keras3", "tf_keras"}
    for target in entry.lowerings:
        assert target in registry.LOWERING_TARGETS
    assert list(entry.kinks) == sorted(entry.kinks)
    assert entry.formula and entry.paper


# -- QAT formulations live on their entries ------------------------------------------------------

# TFLite int8 kernels whose output scale is fixed by the kernel, not by the data: the QAT
# formulation must impose it (a moving-average output quantizer would pick another scale).
FIXED_OUTPUT_SCALE_OPS = {"LOGISTIC", "TANH"}


def _needs_qat_form(entry: registry.Activation) -> bool:
    """Independent of ``qat_form``: the entry's QAT needs more than an output fake-quant when it
    names its own QAT scheme, when its XNNPACK (``cpu``) graph has more than one op (each inner
    tensor needs a range), or when its one op has a kernel-fixed output scale."""
    if entry.qat != "output":
        return True
    ops = entry.lowering("cpu").ops
    return len(ops) > 1 or ops[0] in FIXED_OUTPUT_SCALE_OPS


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_qat_formulation_is_on_the_entry(entry):
    from keras_acts.activations._qat import QATForm
    from keras_acts.quantization import formulations

    if not _needs_qat_form(entry):
        assert entry.qat_form is None and formulations.form(entry.name) is None
        return
    assert isinstance(entry.qat_form, QATForm), f"{entry.name} needs qat_form= in its register_activation call"
    assert formulations.form(entry.name) is entry.qat_form
    for alias in entry.aliases:
        assert formulations.form(alias) is entry.qat_form
    # The formulation runs on its entry's defaults and uses only the moving points it declares; its
    # output is the activation's (to within the fake-quant rounding of its fixed ranges).
    x = np.linspace(-6.0, 6.0, 241).astype(np.float32)
    used: list[str] = []

    def point(t, name):
        used.append(name)
        return t

    params = {"gain": np.float32(0.75)} if entry.name == "prelu" else {}
    y = np.asarray(entry.qat_form.fn(x, point, **params), np.float64)
    assert set(used) <= set(entry.qat_form.moving), (entry.name, used)
    alpha = {"alpha": 0.25} if entry.name == "prelu" else {}
    ref = entry.reference(x.astype(np.float64), **alpha)
    np.testing.assert_allclose(y, ref, atol=6.0 * 6.0 / 255.0)  # |x| <= 6 times one 8-bit step of [0, 6]
    for version, old in entry.qat_form_versions.items():
        assert isinstance(old, QATForm) and formulations.form(entry.name, version) is old


def test_forms_is_derived_from_the_registry_not_a_second_list():
    from keras_acts.activations._qat import QATForm
    from keras_acts.quantization import formulations

    assert not isinstance(formulations.FORMS, dict)
    with_form = {e.name: e.qat_form for e in ENTRIES if e.qat_form is not None}
    assert dict(formulations.FORMS) == with_form
    assert {e.name for e in ENTRIES if e.qat_form_versions.get(1)} == set(formulations._V1_FORMS) == {
        "hard_sigmoid", "hard_swish", "elu", "celu", "selu", "softplus", "mish"
    }
    # formulation 3 moved these five to their cpu forms; layers saved with 2 keep their old form
    assert {e.name for e in ENTRIES if e.qat_form_versions.get(2)} == {"elu", "celu", "selu", "softplus", "mish"}
    for e in ENTRIES:
        if e.qat_form_versions.get(2):
            assert formulations.form(e.name, 2) is e.qat_form_versions[2] is formulations.form(e.name, 1)
            assert formulations.form(e.name, 3) is e.qat_form
    # An activation registered later (with its formulation) is in FORMS at once and gone after
    # unregistering: there is nothing else to edit.
    form = QATForm(lambda x, point: point(x * 0.5, "half"), moving=("half",), ops=("MUL",))
    keras_acts.register_activation("half_test_qat", lambda x: x * 0.5, qat_form=form)
    try:
        assert formulations.FORMS["half_test_qat"] is form
        assert formulations.form("half_test_qat") is form
    finally:
        keras_acts.unregister_activation("half_test_qat")
    assert "half_test_qat" not in formulations.FORMS
    with pytest.raises(TypeError, match="QATForm"):
        keras_acts.register_activation("bad_test_qat", lambda x: x, qat_form=lambda x, point: x)


def test_qat_building_blocks_import_neither_the_engine_nor_export():
    """keras_acts/activations/_qat.py and the registry import no QAT engine, export or TensorFlow."""
    import ast
    import pathlib

    root = pathlib.Path(keras_acts.__file__).parent

    def top_level_imports(path):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                yield node.module or ""
            elif isinstance(node, ast.Import):
                yield from (a.name for a in node.names)

    qat = set(top_level_imports(root / "activations" / "_qat.py"))
    assert qat <= {"__future__", "dataclasses", "typing", "keras_acts"}, qat
    for rel in ("registry.py", "registration.py", "activations/_qat.py"):
        for mod in top_level_imports(root / rel):
            assert not mod.startswith(("keras_acts.export", "keras_acts.quantization", "tensorflow")), (rel, mod)
