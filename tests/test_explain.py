"""keras_acts.explain(name) and ``keras-acts explain NAME`` (issue 21, part 4).

The whole registry is checked on the cheap fields (the form each target uses, the QAT ops, the
Edge TPU verdict); a few activations are measured, and their reported ops, XNNPACK partitions and
int8 error are checked against an independent conversion with :func:`keras_acts.export.to_tflite`
and an independent error computation against the registry's float64 reference.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import keras_acts
from keras_acts import keras, registry
from keras_acts.cli import main

ENTRIES = registry.entries(include_layers=True)
MEASURED = ("hard_swish", "swish", "elu", "prelu")
INT8 = ("cpu", "micro", "edgetpu")
KEYS = {"cpu": "cpu", "micro": "int8", "edgetpu": "edgetpu", "float": "float"}


def test_import_keras_acts_stays_light():
    from conftest import run_python

    out = run_python(
        "import sys, keras_acts\n"
        "print('keras_acts.export' in sys.modules, 'keras_acts.explain' in sys.modules)\n"
        "print(callable(keras_acts.explain), keras_acts.explain.explain.__name__)\n"
    )
    assert out.split() == ["False", "False", "True", "explain"]


@pytest.mark.parametrize("name", [e.name for e in ENTRIES])
def test_target_forms_are_the_registry_forms(name):
    """The cheap fields, for every registry entry: each target's form is the exporter's form."""
    from keras_acts.explain import target_forms
    from keras_acts.quantization import formulations

    entry = registry.lookup(name)
    forms = target_forms(name)
    assert list(forms) == ["cpu", "micro", "edgetpu", "float"]
    for target, form in forms.items():
        low = entry.lowering(KEYS[target])
        if low is None:
            want = None if target == "edgetpu" else "training"
            assert form["source"] == want and form["ops"] == []
        else:
            assert form["ops"] == list(low.ops) and form["note"] == low.note
            assert entry.lowerings[form["source"]] is low
    verdict = entry.edgetpu_form()
    assert forms["edgetpu"]["source"] == verdict.source
    assert (forms["edgetpu"]["refused"] == verdict.reason) == (verdict.status == "unsupported")
    # registry._forms groups the targets by form: the same ops here.
    for group in registry._forms(entry):
        for target in group["targets"]:
            assert forms[target]["ops"] == group["ops"]
    # The QAT ops are the formulation's, else the micro form's (output-only activations).
    from keras_acts.explain import _qat

    qat_ops, points = _qat(entry)
    f = formulations.form(name)
    assert qat_ops == (tuple(f.ops) if f is not None else tuple(entry.lowering("int8").ops if entry.lowering("int8") else ()))
    assert points == (tuple(f.moving) if f is not None else ())


def _independent(name, target, lo=-8.0, hi=8.0, params=None):
    """to_tflite of Input((256,)) -> activation calibrated on the grid; (ops, partitions, max LSB)."""
    from keras_acts.export import inspect, to_tflite
    from keras_acts.export.runner import make_interpreter

    entry = registry.lookup(name)
    layer = keras_acts.layers.PReLU() if entry.learnable else keras_acts.layers.Activation(name, params=params)
    inp = keras.Input((256,))
    model = keras.Model(inp, layer(inp))
    grid = np.linspace(lo, hi, 256, dtype=np.float32)[None]
    res = to_tflite(model, quantization="int8", representative_data=np.repeat(grid, 16, axis=0), target=target,
                    input_type="int8", output_type="int8", batch_size=1, validate=False, isolate=False)
    report = inspect(res.content, edgetpu=False)
    it = make_interpreter(res.content, xnnpack=False)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = i["quantization"], o["quantization"]
    codes = np.arange(-128, 128)
    x = (codes - z_in) * s_in
    codes = codes[(x >= lo - s_in / 2) & (x <= hi + s_in / 2)]
    q = np.resize(codes, 256).astype(np.int8)[None]
    it.set_tensor(i["index"], q)
    it.invoke()
    y = (it.get_tensor(o["index"]).astype(np.float64) - z_out) * s_out
    xq = (q.astype(np.float64) - z_in) * s_in
    kw = {"alpha": np.asarray(layer.alpha, np.float64).reshape(-1)} if entry.learnable else dict(params or {})
    ref = entry.reference(xq, **kw)
    return [op.op for op in report.ops], report.xnnpack.partitions, float(np.max(np.abs(y - ref)) / s_out)


@pytest.fixture(scope="module")
def explained():
    from keras_acts.explain import explain

    return {name: explain(name, repeats=3) for name in MEASURED}


@pytest.mark.parametrize("name", MEASURED)
def test_measured_ops_partitions_and_error(explained, name):
    r = explained[name]
    entry = registry.lookup(name)
    assert r.name == name and r.formula == entry.formula and r.paper == entry.paper
    assert r.aliases == entry.aliases and r.params == entry.defaults()
    for t in r.targets:
        if t.source is None:
            assert entry.edgetpu_form().status == "unsupported" and t.refused
            continue
        assert t.ops_match_form, (t.target, t.ops, t.form_ops)
        if t.target in INT8:
            ops, partitions, max_lsb = _independent(name, t.target)
            assert sorted(t.ops) == sorted(ops), (t.target, t.ops, ops)
            assert t.xnnpack_partitions == partitions
            assert t.fully_int8 and t.covers_range
            assert t.max_lsb <= 1.5 and t.within_budget, (name, t.target, t.max_lsb)
            # The same model measured independently: the same worst error (up to the padding codes).
            assert abs(t.max_lsb - max_lsb) < 0.05, (name, t.target, t.max_lsb, max_lsb)
        else:
            assert t.max_lsb is None and t.fully_int8 is None and 0.0 <= t.max_abs < 1e-4
        assert t.latency_us > 0 and t.stock_latency_us > 0
        assert t.latency_ratio == pytest.approx(t.latency_us / t.stock_latency_us)
    assert r.latency_elements == 256 * 256
    assert r.edgetpu_status == entry.edgetpu_form().status and r.edgetpu_reason == entry.edgetpu_form().reason
    assert r.stock_ops and not r.stock_error


def test_cpu_forms_stay_in_one_xnnpack_partition(explained):
    for name in ("hard_swish", "swish", "prelu"):
        cpu = explained[name].target("cpu")
        assert cpu.xnnpack_partitions == 1 and cpu.xnnpack_outside == ()
    # The micro forms use single fused ops XNNPACK refuses in int8.
    assert explained["hard_swish"].target("micro").ops == ("HARD_SWISH",)
    assert explained["hard_swish"].target("micro").xnnpack_outside == ("HARD_SWISH",)


def test_json_round_trip_and_table(explained):
    from keras_acts.explain import Explanation

    r = explained["hard_swish"]
    d = json.loads(r.to_json())
    assert Explanation.from_dict(d) == r and d == r.to_dict()
    text = str(r)
    lines = text.splitlines()
    assert len(lines) <= 25
    assert lines[0] == f"hard_swish: {r.formula}"
    for t in r.targets:
        row = next(ln for ln in lines if ln.split()[:1] == [t.target])
        assert " ".join(t.ops) in row and f"{t.latency_ratio:.2f}x" in row
    assert f"Edge TPU: {r.edgetpu_status}" in text and "QAT (output): converts to ADD MUL" in text


def test_cache_makes_a_second_call_instant(explained):
    from keras_acts.explain import explain

    t0 = time.perf_counter()
    again = explain("swish", repeats=3)
    assert time.perf_counter() - t0 < 0.5 and again.seconds == 0.0
    assert again == explained["swish"]


def test_range_params_and_target_selection():
    from keras_acts.explain import explain

    r = explain("swish", x_range=(-4, 4), targets="cpu", params={"beta": 2.0}, repeats=2)
    assert [t.target for t in r.targets] == ["cpu"] and r.x_range == (-4.0, 4.0) and r.params == {"beta": 2.0}
    cpu = r.target("cpu")
    ops, partitions, max_lsb = _independent("swish", "cpu", -4.0, 4.0, params={"beta": 2.0})
    assert sorted(cpu.ops) == sorted(ops) and cpu.max_lsb == pytest.approx(max_lsb, abs=0.05)
    assert cpu.xnnpack_partitions == partitions
    assert cpu.max_lsb <= 1.5 and cpu.covers_range
    with pytest.raises(KeyError, match="targets here: cpu"):
        r.target("micro")


def test_errors_name_the_fix():
    from keras_acts.explain import explain

    with pytest.raises(ValueError, match="Did you mean 'hard_swish'"):
        explain("hard_swsh")
    with pytest.raises(TypeError, match="accepted parameters: beta"):
        explain("swish", params={"bta": 2.0})
    with pytest.raises(ValueError, match="must be >= 0.0"):
        explain("elu", params={"alpha": -1.0})
    with pytest.raises(ValueError, match="x_range needs finite lo < hi"):
        explain("relu", x_range=(8, -8))
    with pytest.raises(ValueError, match="unknown target"):
        explain("relu", targets="gpu")


def test_form_provider_is_asked_for_missing_forms():
    """A target without a registered form asks the provider; its form is measured (and can fail the budget)."""
    import tensorflow as tf

    from keras_acts.explain import explain

    asked = []

    def none_provider(entry, target):
        asked.append((entry.name, target))

    r = explain("exponential", targets="edgetpu", form_provider=none_provider, repeats=2)
    assert asked == [("exponential", "edgetpu")] and r.target("edgetpu").source is None

    relu_form = registry.Lowering(lambda x: tf.nn.relu(x), ("RELU",), note="a deliberately wrong form")
    r = explain("exponential", targets="edgetpu", form_provider=lambda e, t: relu_form, repeats=2)
    t = r.target("edgetpu")
    assert t.source == "automatic" and t.ops == ("RELU",) and t.ops_match_form
    assert t.max_lsb > 1.5 and t.within_budget is False and " !" in str(r)
    off = registry.Lowering(lambda x: tf.exp(x), ("EXP",))
    r = explain("exponential", targets="edgetpu", form_provider=lambda e, t: off, repeats=2)
    assert r.target("edgetpu").source is None and "uses EXP, not on Coral's op table" in r.target("edgetpu").refused


def test_cli_table_and_json(capsys):
    assert main(["explain", "hard_silu", "--target", "cpu", "--target", "micro", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hard_swish: ") and "ADD MUL MUL" in out and "HARD_SWISH" in out
    assert main(["explain", "swish", "--params", "beta=2", "--range", "-4", "4", "--target", "cpu", "--json",
                 "--repeats", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["name"] == "swish" and d["params"] == {"beta": 2.0} and d["x_range"] == [-4.0, 4.0]
    assert [t["target"] for t in d["targets"]] == ["cpu"] and d["targets"][0]["max_lsb"] <= 1.5


@pytest.mark.parametrize(
    "argv,message",
    [
        (["explain", "hard_swsh"], "Did you mean 'hard_swish'"),
        (["explain", "swish", "--params", "bta=2"], "accepted parameters: beta. Pass parameters as --params NAME=VALUE"),
        (["explain", "swish", "--params", "beta"], "--params takes NAME=VALUE pairs"),
        (["explain", "swish", "--params", "beta=abc"], "--params beta=abc: VALUE must be a number"),
        (["explain", "relu", "--params", "a=1"], "relu takes no --params"),
        (["explain", "relu", "--range", "8", "-8"], "--range LO HI needs finite LO < HI"),
        (["explain", "relu", "--repeats", "0"], "--repeats N needs N >= 1"),
    ],
)
def test_cli_errors(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("keras-acts: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_readme_excerpt_is_what_explain_reports(explained):
    """The README's `keras-acts explain hard_swish` excerpt: the same forms, ops and errors (latencies vary)."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("### Explain an activation", 1)[1]
    block = re.search(r"```text\n(.+?)\n```", section, re.S).group(1).splitlines()
    r = explained["hard_swish"]
    assert block[0] == str(r).splitlines()[0]
    for t in r.targets:
        row = next(ln for ln in block if ln.split()[:1] == [t.target])
        err = f"{t.max_lsb:.2f} LSB" if t.max_lsb is not None else f"{t.max_abs:.1e} abs"
        assert row.split()[1] == t.source and f" {' '.join(t.ops)} " in row and err in row, (row, t)


@pytest.fixture
def registered():
    """A fresh activation registered for one test (squareplus, Barron 2021), removed afterwards."""
    import keras_acts.explain as ex

    def squareplus(x, b=4.0):
        if hasattr(keras, "ops"):
            return 0.5 * (x + keras.ops.sqrt(x * x + b))
        import tensorflow as tf

        return 0.5 * (x + tf.sqrt(x * x + b))

    entry = registry.register(registry.Activation(
        name="squareplus_explain_test", fn=squareplus, formula="(x + sqrt(x^2 + b)) / 2",
        reference=lambda x, b=4.0: 0.5 * (x + np.sqrt(np.asarray(x, np.float64) ** 2 + b)),
        paper="Barron 2021 (arXiv:2112.11687)", params=(registry.Param("b", 4.0, "curvature", minimum=0.0),),
    ))
    yield entry
    del registry._REGISTRY[entry.name], registry._ALIASES[entry.name]
    ex.clear_cache()


def test_an_activation_without_lowerings(registered):
    """A registered activation with no forms and no form provider: its training function, measured as is.

    (With the default provider squareplus now gets an automatic cpu form, verified in
    tests/test_auto_lowering.py; here the provider is off so the training path is what is measured.)
    """
    from keras_acts.explain import explain

    r = explain(registered.name, params={"b": 1.0}, repeats=2, form_provider=None)
    assert r.params == {"b": 1.0} and r.qat_ops == ()
    for t in r.targets:
        if t.target == "edgetpu":
            assert t.source is None and "no form with known ops" in t.refused
            continue
        assert t.source == "training" and t.ops_match_form is None and "SQRT" in t.ops
        assert t.latency_us > 0
    # Both int8 targets trace the same function, as the plain converter does.
    assert r.target("cpu").ops == r.target("micro").ops
    assert r.target("cpu").ops == r.stock_ops and r.target("cpu").max_lsb == pytest.approx(r.stock_max_lsb)
    assert r.edgetpu_status == "unsupported"
