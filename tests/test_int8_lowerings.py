"""int8 and float lowerings of every registry activation (issue 3: Lowering and Target).

Each activation alone (``Input((256,)) -> activation``, grid -8..8, calibrated on the
grid, int8 input and output) is exported once per module through
:func:`keras_acts.export.fidelity.measure_int8_fidelity`; the tests then assert, per
registry entry: at most 1.5 output LSB against the float64 reference at the
dequantized input, no op with a float32 output, an input range that covers the grid,
and exactly the ops registered in ``Lowering.ops``. They also check that lowerings are
the same function as the training math in float, that the training math is untouched
outside the export context, and that the ``"float"`` target converts with builtin ops.

The ``"edgetpu"`` target is measured the same way for every activation that has a form
built only from Coral's ops (the registry derives which), and for every activation the
Edge TPU target's verdict (export, or refusal) must agree with ``check_edgetpu`` on the
``target="cpu"`` export of the same model.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import registry
from keras_acts.export.edgetpu import OPS as CORAL_OPS
from keras_acts.export.edgetpu import EdgeTPUPreflightError, check_edgetpu
from keras_acts.export.fidelity import build_activation_model, measure_int8_fidelity
from keras_acts.export.targets import TARGETS
from keras_acts.lowering import lowering_target

ENTRIES = registry.entries(include_layers=True)
NAMES = [e.name for e in ENTRIES]
MAX_LSB = 1.5

# Non-default parameters exercised as well (their op lists may differ by one MUL).
PARAM_CASES = [
    ("elu", {"alpha": 0.5}),
    ("swish", {"beta": 2.0}),
    ("swish", {"beta": 0.5}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("hard_sigmoid", {"slope": 0.2}),
]


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's per-test seed fixture: its per-test ``clear_session()`` costs
    ~0.75 s here (131 tests); this module builds models only in module-scoped fixtures
    and a few tests, and clears the session once at the end (``_clear_once``)."""
    np.random.seed(0)
    yield


@pytest.fixture(scope="module", autouse=True)
def _clear_once():
    yield
    keras_acts.keras.backend.clear_session()


def _prelu_layer():
    return keras_acts.layers.PReLU(
        alpha_initializer=keras_acts.keras.initializers.RandomUniform(0.0, 0.6, seed=3)
    )


# Export target -> the registry lowering its int8 exports trace (keras_acts.export.targets).
INT8_TARGETS = {name: t.lowering for name, t in TARGETS.items()}
# The Edge TPU target exports the activations with a Coral-only form (derived by the registry from
# the forms' ops and Coral's op table) and refuses the others (test_edgetpu_verdicts_agree).
EDGETPU_NAMES = [e.name for e in ENTRIES if e.edgetpu_form().status != "unsupported"]
CASES = [(n, t) for t in INT8_TARGETS for n in (EDGETPU_NAMES if t == "edgetpu" else NAMES)]


@pytest.fixture(scope="module")
def int8_results():
    """(name, target) -> fidelity dict, one conversion per registry entry and int8 target
    (PReLU with random alphas); for the Edge TPU target, the EdgeTPUPreflightError instead
    when the target refuses the activation."""
    out = {}
    for target in INT8_TARGETS:
        for entry in ENTRIES:
            act = _prelu_layer() if entry.learnable else entry.name
            try:
                out[entry.name, target] = measure_int8_fidelity(act, target=target)
            except EdgeTPUPreflightError as err:
                if target != "edgetpu":
                    raise
                out[entry.name, target] = err
    return out


@pytest.mark.parametrize("name,target", CASES)
def test_int8_error_within_bound(int8_results, name, target):
    r = int8_results[name, target]
    assert r["max_lsb"] <= MAX_LSB, f"{name}: {r['max_lsb']:.3f} LSB at x={r['worst_x']:.3f}, ops {r['ops']}"
    # One rounding averages 0.25 LSB; the cpu forms round a few more times (softplus: relu(x) and
    # the final ADD at the output's scale) and stay well below 0.6 on average.
    assert r["mean_lsb"] <= 0.6, (name, target)
    assert r["codes"] >= 250, name


@pytest.mark.parametrize("name,target", CASES)
def test_int8_no_float_ops_and_full_input_range(int8_results, name, target):
    r = int8_results[name, target]
    assert r["is_fully_int8"], f"{name}: ops with float32 outputs {r['float_ops']} in {r['ops']}"
    assert "DEQUANTIZE" not in r["ops"], r["ops"]
    assert r["covers_grid"], f"{name}: converter clipped the int8 input to {r['input_range']}"


@pytest.mark.parametrize("name,target", CASES)
def test_int8_ops_match_registry(int8_results, name, target):
    low = registry.lookup(name).lowering(INT8_TARGETS[target])
    assert low is not None, f"{name} has no {target} (or float) lowering entry"
    # The same ops in both frontends; their execution order (a topological order of the
    # same graph) differs between Keras 3 and tf_keras for multi-branch lowerings.
    got = int8_results[name, target]["ops"]
    assert sorted(low.ops) == sorted(got), (low.ops, got)


@pytest.mark.parametrize("name", EDGETPU_NAMES)
def test_edgetpu_export_uses_only_coral_ops_and_passes_the_static_check(int8_results, name):
    """Every op is on Coral's table, and the whole model passes check_edgetpu: 8-bit tensors
    everywhere, static shapes, at most 3 non-1 dimensions, constant parameters, per-op limits."""
    r = int8_results[name, "edgetpu"]
    assert set(r["ops"]) <= set(CORAL_OPS), (name, sorted(set(r["ops"]) - set(CORAL_OPS)))
    report = check_edgetpu(r["content"])
    assert report.compatible and report.mapped_fraction == 1.0, str(report)


@pytest.mark.parametrize("name", NAMES)
def test_edgetpu_verdicts_agree(int8_results, name):
    """One verdict per question: to_tflite(target="edgetpu") refuses an activation exactly when
    check_edgetpu rejects the target="cpu" export (batch 1, int8) of the same model for a reason that
    no Edge TPU form removes. A cpu export that check_edgetpu rejects only for ops that keras_acts
    writes with Coral ops on the Edge TPU target (LEAKY_RELU, GELU: fast on XNNPACK) says so
    (``fixed_by_edgetpu_target``), and the Edge TPU export of it must then succeed."""
    edge = int8_results[name, "edgetpu"]
    cpu_report = check_edgetpu(int8_results[name, "cpu"]["content"])
    verdict = registry.lookup(name).edgetpu_form()
    if isinstance(edge, EdgeTPUPreflightError):
        assert verdict.status == "unsupported" and verdict.lowering is None
        assert not cpu_report.compatible and not cpu_report.fixed_by_edgetpu_target, str(cpu_report)
        flagged = {i.op for i in cpu_report.unsupported}
        off_table = {op for ops in verdict.off_table.values() for op in ops}
        # the checker flags the very ops the refusal names as the reason
        assert flagged and flagged <= off_table, (flagged, off_table)
        for op in flagged:
            assert op in str(edge), (op, str(edge))
    else:
        assert verdict.status != "unsupported"
        assert cpu_report.compatible or cpu_report.fixed_by_edgetpu_target, str(cpu_report)
        assert check_edgetpu(edge["content"]).compatible


BUILTIN_OPS = {
    "hard_swish": ["HARD_SWISH"],
    "leaky_relu": ["LEAKY_RELU"],
    "gelu": ["GELU"],
    "gelu_tanh": ["GELU"],
    "relu": ["RELU"],
    "relu6": ["RELU6"],
    "hard_tanh": ["RELU_N1_TO_1"],
    "sigmoid": ["LOGISTIC"],
    "tanh": ["TANH"],
    "prelu": ["PRELU"],
}


@pytest.mark.parametrize("name", sorted(BUILTIN_OPS))
def test_int8_single_builtin_for_micro(int8_results, name):
    """The micro target keeps TFLite's single fused ops (the fast path with one kernel per op)."""
    assert int8_results[name, "micro"]["ops"] == BUILTIN_OPS[name]


@pytest.mark.parametrize("name,params", PARAM_CASES, ids=[f"{n}-{p}" for n, p in PARAM_CASES])
@pytest.mark.parametrize("target", sorted(INT8_TARGETS))
def test_int8_non_default_params(name, params, target):
    r = measure_int8_fidelity(name, params=params, target=target)
    assert r["max_lsb"] <= MAX_LSB, (name, params, r["max_lsb"], r["ops"])
    assert r["is_fully_int8"] and r["covers_grid"], r["ops"]
    default_ops = list(registry.lookup(name).lowering(INT8_TARGETS[target]).ops)
    assert len(r["ops"]) - len(default_ops) in (0, 1), (default_ops, r["ops"])


def test_int8_beats_stock_keras_where_keras_fails():
    """Keras's own softplus exported the stock way is tens of LSB off; ours is not."""
    k = keras_acts.keras
    stock = measure_int8_fidelity(
        k.layers.Activation(k.activations.softplus),
        reference=registry.lookup("softplus").reference,
        target=None,
    )
    ours = measure_int8_fidelity("softplus", target="micro")
    assert stock["max_lsb"] > 10 * ours["max_lsb"], (stock["max_lsb"], ours["max_lsb"])


X = np.concatenate([np.linspace(-12.0, 12.0, 481), [-60.0, -20.0, 20.0, 60.0]]).astype(np.float32)


@pytest.mark.parametrize("target", ["float", "int8", "cpu"])
@pytest.mark.parametrize("name", [e.name for e in ENTRIES if not e.learnable])
def test_lowering_is_the_activation_in_float(name, target):
    """Every registered lowering computes the activation (within its documented approximation)."""
    entry = registry.lookup(name)
    low = entry.lowering(target)
    fn = low.fn if low is not None and low.fn is not None else entry.fn
    got = np.asarray(fn(tf.constant(X)), np.float64)
    want = entry.reference(X.astype(np.float64))
    tol = low.max_abs_error if low is not None else 0.0
    np.testing.assert_allclose(got, want, atol=tol + 2e-5, rtol=2e-5, err_msg=f"{name} {target}")


@pytest.mark.parametrize("name", [e.name for e in ENTRIES if not e.learnable])
def test_training_math_unchanged_outside_export(name):
    """Outside lowering_target the public function is exactly the decorated training formula."""
    entry = registry.lookup(name)
    x = tf.constant(X)
    eager = entry.fn(x).numpy()
    np.testing.assert_array_equal(eager, entry.fn.__wrapped_math__(x).numpy())
    with lowering_target("int8"):
        low = entry.lowering("int8")
        lowered = entry.fn(x).numpy()
    if low is not None and low.fn is not None:
        np.testing.assert_array_equal(lowered, low.fn(x).numpy())
    # and leaving the context restores the training form
    np.testing.assert_array_equal(entry.fn(x).numpy(), eager)


@pytest.mark.parametrize("name", NAMES)
def test_float_target_converts_to_builtins(name):
    """The "float" export of each activation needs no SELECT_TF_OPS and stays finite."""
    entry = registry.lookup(name)
    layer = _prelu_layer() if entry.learnable else keras_acts.layers.Activation(name)
    model = build_activation_model(layer, X.size)
    from keras_acts.export.converter import to_tflite

    content = to_tflite(model, quantization="none").content
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=content)
    low = entry.lowering("float")
    if low is not None:  # the registry's float ops are the converted ones
        assert sorted(op["op_name"] for op in interp._get_ops_details()) == sorted(low.ops), name
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], X[None])
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])[0].astype(np.float64)
    if entry.learnable:
        alpha = np.asarray(layer.alpha, np.float64).reshape(-1)
        want = entry.reference(X.astype(np.float64), alpha=alpha)
    else:
        want = entry.reference(X.astype(np.float64))
    assert np.all(np.isfinite(y)), name
    tol = entry.lowering("float").max_abs_error if entry.lowering("float") else 0.0
    np.testing.assert_allclose(y, want, atol=tol + 2e-5, rtol=2e-5, err_msg=name)
