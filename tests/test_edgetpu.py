"""The Edge TPU target: registry lowerings, preflight, static checker, compiler wrapper.

Everything is derived from the registry: every activation with an Edge TPU form (the
registry's verdict ``edgetpu_form()``, derived from the forms' ops and Coral's op table) is
exported alone and must convert to exactly its registered Edge TPU ops, all on Coral's
table, fully int8, within its measured error; the others are refused before conversion.
The fidelity budget and the agreement of the target's verdict with ``check_edgetpu`` per
activation are tested in tests/test_int8_lowerings.py.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import numpy as np
import pytest

import keras_acts
from keras_acts import registry
from keras_acts.export import evaluate, to_tflite
from keras_acts.export.edgetpu import (
    OPS,
    EdgeTPUCompilerError,
    EdgeTPUCompilerNotFoundError,
    EdgeTPUPreflightError,
    check_edgetpu,
    compile_edgetpu,
    parse_compiler_log,
    preflight,
)
from keras_acts.export.edgetpu import measure
from tests.conftest import build_training_state

keras = keras_acts.keras
L = keras_acts.layers
DATA = os.path.join(os.path.dirname(__file__), "data")
CAPABLE = [e for e in registry.entries() if e.edgetpu_form().status != "unsupported"]
UNSUPPORTED = [e for e in registry.entries() if e.edgetpu_form().status == "unsupported"]
# Every activation with an Edge TPU form, in one model (derived: a new activation joins automatically).
CHAIN = [e.name for e in CAPABLE]


# --- registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", registry.entries(), ids=lambda e: e.name)
def test_registry_derives_the_edgetpu_verdict_from_the_op_table(entry):
    verdict = entry.edgetpu_form()
    assert verdict.status in registry.EDGETPU_STATUSES
    assert entry.edgetpu.note, f"{entry.name}: the Edge TPU note must say what happens / the alternatives"
    low = entry.lowering("edgetpu")
    assert low is verdict.lowering
    # the candidates: an explicit Edge TPU form, the micro target's form, the cpu target's form
    # (each measured in int8 under its own target), in that order
    def first(*keys):
        return next((k for k in keys if k in entry.lowerings), None)

    candidates = [k for k in (first("edgetpu"), first("int8", "float"), first("cpu", "int8", "float")) if k]
    coral_only = [k for k in candidates if not verdict.off_table[k]]
    row = next(r for r in registry.names_table() if r["name"] == entry.name)
    assert row["edgetpu"] == verdict.status
    if verdict.status == "unsupported":
        # no candidate form is built only from Coral ops, and the reason names the missing ops
        assert not coral_only and low is None and row["edgetpu_ops"] == []
        for ops in verdict.off_table.values():
            assert all(op in verdict.reason for op in ops)
        return
    # the first Coral-only form on the chain is the one the target traces
    assert coral_only and entry.lowerings[coral_only[0]] is low and verdict.source == coral_only[0]
    assert low.ops and set(low.ops) <= set(OPS), f"{entry.name}: {low.ops} not all on Coral's table"
    if verdict.status == "approximate":
        assert low.max_abs_error > 0 and low.note
    else:
        assert low.max_abs_error == 0
    assert row["edgetpu_ops"] == list(low.ops)


def test_a_new_activation_gets_its_edgetpu_verdict_from_its_forms_ops():
    """The rule needs no list: an entry (not registered) gets its verdict from its forms' ops alone."""
    import numpy as np

    def entry(**lowerings):
        return registry.Activation(
            name="probe", fn=lambda x: x, reference=lambda x: np.asarray(x), formula="x", paper="-",
            lowerings={k: registry.Lowering(None, tuple(v.split()), max_abs_error=0.0) for k, v in lowerings.items()},
        )

    # the micro form uses EXP, the cpu form only Coral ops: the cpu form, exact -> "lowered"
    v = entry(float="EXP", int8="RELU SUB EXP", cpu="MUL ADD TANH").edgetpu_form()
    assert (v.status, v.source, v.lowering.ops) == ("lowered", "cpu", ("MUL", "ADD", "TANH"))
    # an explicit Edge TPU form with an op off the table does not qualify; the micro form (here the
    # float form, which the micro target falls back to) does, and as the float ops it is "native"
    v = entry(float="LOGISTIC MUL", edgetpu="HARD_SWISH").edgetpu_form()
    assert (v.status, v.source) == ("native", "float") and v.off_table["edgetpu"] == ("HARD_SWISH",)
    # a float form that neither int8 target uses is no candidate (its int8 error is measured nowhere)
    v = entry(float="MUL", int8="EXP", cpu="EXP SUB").edgetpu_form()
    assert v.status == "unsupported" and v.lowering is None
    assert "int8 form uses EXP" in v.reason and "cpu form uses EXP" in v.reason and "lowerings['edgetpu']" in v.reason
    v = entry(float="ABS ADD DIV").edgetpu_form()
    assert v.status == "unsupported" and "ABS, DIV" in v.reason
    assert entry().edgetpu_form().status == "unsupported"


def test_the_cpu_forms_of_elu_selu_softplus_mish_are_their_edgetpu_forms():
    """The forms built for XNNPACK from MUL/ADD/TANH/LOGISTIC only are Coral-only too (issue 19)."""
    for name in ("elu", "selu", "softplus", "mish"):
        entry = registry.lookup(name)
        assert entry.edgetpu_form().status == "approximate" and entry.lowering("edgetpu") is entry.lowerings["cpu"]
    for name in ("exponential", "softsign"):
        assert registry.lookup(name).edgetpu_form().status == "unsupported"


@pytest.mark.parametrize("entry", CAPABLE, ids=lambda e: e.name)
def test_each_lowering_converts_to_its_edgetpu_ops(entry):
    r = measure.measure(entry)
    low = entry.lowering("edgetpu")
    assert sorted(r["ops"]) == sorted(low.ops), f"{entry.name}: got {r['ops']}, registry says {low.ops}"
    report = check_edgetpu(r["content"])
    assert report.compatible, str(report)
    # float: exact rewrites are exact; approximations within their recorded error (and close to it
    # for the explicit Edge TPU approximations; mish's cpu form records its error out to |x| = 60)
    if entry.edgetpu_form().status == "approximate":
        assert r["float_max_abs_error"] <= low.max_abs_error + 5e-4
        if entry.edgetpu_form().source == "edgetpu":
            assert r["float_max_abs_error"] >= low.max_abs_error - 5e-4
    else:
        assert r["float_max_abs_error"] < 1e-5
    # int8, on the [-8, 8] grid, against the exact function: a few quantization steps
    assert r["int8_max_error_lsb"] <= 4.0 + (r["float_max_abs_error"] / (r["int8_max_abs_error"] / r["int8_max_error_lsb"]))


# --- a model chaining every Edge-TPU-capable activation, on real data (scikit-learn digits) ----------


def _layer(activation, layer_name):
    return getattr(L, registry.lookup(activation).layer)(name=layer_name)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    return x[:1400], d.target[:1400], x[1400:], d.target[1400:]



@pytest.fixture(scope="module")
def chain():
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 1))
    h = inp
    h = keras.layers.Conv2D(16, 3, padding="same")(h)
    for name in CHAIN:  # residual blocks, so that ten saturating activations in a row still train
        z = keras.layers.Conv2D(16, 3, padding="same")(h)
        layer = L.PReLU(shared_axes=[1, 2], name="prelu") if name == "prelu" else _layer(name, name)
        h = keras.layers.Add()([h, layer(z)])
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(10)(h)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    build_training_state(model)
    x, y, xt, yt = _digits()
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    float_acc = float(np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt))
    edge = to_tflite(model, target="edgetpu", representative_data=x[:200])
    generic = to_tflite(  # the micro target keeps HARD_SWISH and LEAKY_RELU as single ops
        model, target="micro", quantization="int8", representative_data=x[:200], input_type="int8", output_type="int8", batch_size=1
    )
    return {"model": model, "x": x, "xt": xt, "yt": yt, "float_acc": float_acc, "edge": edge, "generic": generic}


def _ops_and_tensors(content):
    from keras_acts.export.edgetpu.check import _read_ops

    return _read_ops(content)


def test_chain_edgetpu_export_is_fully_int8_on_the_table_and_accurate(chain):
    ops = _ops_and_tensors(chain["edge"].content)
    names = [op.name for op in ops]
    assert set(names) <= set(OPS), names
    assert not {"HARD_SWISH", "LEAKY_RELU", "GELU", "QUANTIZE", "DEQUANTIZE"} & set(names)
    for op in ops:
        for t in [t for t in op.inputs if t is not None] + list(op.outputs):
            assert t.dtype in ("INT8", "UINT8") or (t.dtype == "INT32" and t.constant), (op.name, t.name, t.dtype)
            assert -1 not in t.signature
    report = check_edgetpu(chain["edge"].content)
    assert report.compatible and report.mapped_fraction == 1.0 and report.first_unsupported_index is None, str(report)
    res = evaluate(chain["edge"].content, chain["xt"], chain["yt"], reference=chain["model"])
    print(
        f"\n[edgetpu chain, {keras_acts.FRONTEND}] digits test accuracy: float {chain['float_acc']:.4f}, "
        f"edgetpu int8 {res.accuracy:.4f}; max |int8 - float| logits {res.max_abs_diff:.4f} ({res.max_diff_lsb:.1f} LSB)"
    )
    assert chain["float_acc"] > 0.5, "the chain model did not learn; the comparison would be meaningless"
    assert res.accuracy >= chain["float_acc"] - 0.05


def test_check_flags_hard_swish_and_leaky_relu_in_a_generic_export(chain):
    report = check_edgetpu(chain["generic"].content)
    flagged = {op for op, _, _ in report.unsupported}
    assert {"HARD_SWISH", "LEAKY_RELU"} <= flagged, str(report)
    names = report.ops
    first = min(i for i, n in enumerate(names) if n not in OPS)
    assert report.first_unsupported_index == first
    assert report.mapped_fraction == pytest.approx(first / len(names))
    assert not report.compatible and report.ops_on_cpu == len(names) - first
    reason = dict((op, r) for op, _, r in report.unsupported)["HARD_SWISH"]
    assert "target='edgetpu'" in reason
    assert report.to_dict()["unsupported"][0][0] in flagged


# --- the rules, one by one ---------------------------------------------------------------------


def _int8(fn, shape):
    grid = np.linspace(-4, 4, int(np.prod(shape))).astype(np.float32).reshape(shape)
    return measure.convert_int8(fn, grid)


def test_per_element_prelu_alpha_is_flagged_and_refused():
    inp = keras.Input(shape=(4, 4, 3))
    model = keras.Model(inp, L.PReLU(name="pe_prelu")(keras.layers.Conv2D(3, 1)(inp)))
    with pytest.raises(EdgeTPUPreflightError, match=r"pe_prelu.*shared_axes=\[1, 2\]"):
        preflight(model)
    with pytest.raises(EdgeTPUPreflightError, match="shared_axes"):
        to_tflite(model, target="edgetpu", representative_data=np.random.rand(32, 4, 4, 3).astype(np.float32))
    generic = to_tflite(model, target="micro", quantization="int8",
                        representative_data=np.random.rand(32, 4, 4, 3).astype(np.float32))
    report = check_edgetpu(generic.content)
    assert any(op == "PRELU" and "shared_axes=[1, 2]" in r for op, _, r in report.unsupported), str(report)
    ok = keras.Model(inp, L.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(3, 1)(inp)))
    assert preflight(ok) == []


def test_dynamic_shapes_are_flagged_and_refused():
    inp = keras.Input(shape=(None, None, 3), name="img")
    model = keras.Model(inp, L.ReLU()(keras.layers.Conv2D(4, 3)(inp)))
    with pytest.raises(EdgeTPUPreflightError, match=r"dynamic non-batch.*keras.Input\(shape="):
        preflight(model)
    import tensorflow as tf

    def fn(x):
        return tf.nn.relu(x) * 0.5

    conc = tf.function(fn).get_concrete_function(tf.TensorSpec((None, 4), tf.float32))
    content = tf.lite.TFLiteConverter.from_concrete_functions([conc]).convert()
    report = check_edgetpu(content)
    assert any("dynamic shape" in r for _, _, r in report.unsupported), str(report)


def test_float_tensors_are_flagged():
    import tensorflow as tf

    conc = tf.function(lambda x: tf.nn.relu(x) * 0.5).get_concrete_function(tf.TensorSpec((1, 4), tf.float32))
    report = check_edgetpu(tf.lite.TFLiteConverter.from_concrete_functions([conc]).convert())
    assert not report.compatible and report.first_unsupported_index == 0 and report.mapped_fraction == 0.0
    assert any("FLOAT32" in r and "8-bit" in r for _, _, r in report.unsupported), str(report)


def test_more_than_three_non_1_dimensions_are_flagged():
    import tensorflow as tf

    report = check_edgetpu(_int8(lambda x: tf.nn.relu6(x), (2, 4, 4, 3)))
    assert any("at most 3" in r for _, _, r in report.unsupported), str(report)
    assert check_edgetpu(_int8(lambda x: tf.nn.relu6(x), (1, 4, 4, 3))).compatible


def test_unsupported_ops_and_fused_activation_limits_are_flagged():
    import tensorflow as tf

    report = check_edgetpu(_int8(lambda x: tf.nn.elu(x), (1, 4, 4, 3)))
    assert not report.compatible and report.unsupported[0].op in ("ELU", "DEQUANTIZE", "QUANTIZE"), str(report)
    pooled = _int8(lambda x: tf.nn.relu(tf.nn.max_pool2d(x, 2, 2, "VALID")), (1, 4, 4, 3))
    names = check_edgetpu(pooled).ops
    if "MAX_POOL_2D" in names:  # a fused RELU on the pool is not allowed on the Edge TPU
        r = check_edgetpu(pooled)
        fused = [i for i in r.unsupported if i.op == "MAX_POOL_2D"]
        assert all("fused activation" in i.reason for i in fused)


@pytest.mark.parametrize("entry", UNSUPPORTED, ids=lambda e: e.name)
def test_unsupported_activations_are_refused_before_conversion(entry):
    inp = keras.Input(shape=(4, 4, 3))
    model = keras.Model(inp, _layer(entry.name, f"bad_{entry.name}")(keras.layers.Conv2D(3, 1)(inp)))
    with pytest.raises(EdgeTPUPreflightError) as err:
        preflight(model)
    msg = str(err.value)
    assert f"bad_{entry.name}" in msg and "no Edge TPU form" in msg and "hard_swish" in msg
    for ops in entry.edgetpu_form().off_table.values():  # the measured reason: the ops off Coral's table
        assert all(op in msg for op in ops), (ops, msg)
    dense = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation=entry.fn, name="dense_bad")])
    with pytest.raises(EdgeTPUPreflightError, match="dense_bad"):
        preflight(dense)


@pytest.mark.parametrize("name", sorted(measure.CORAL_ATTEMPTS))
def test_refused_activations_have_no_coral_only_form_within_budget(name):
    """exponential and softsign are refused for a measured reason: their registered forms use EXP, ABS and
    DIV, and the best Coral-only forms tried (documented in docs/EDGETPU.md) are over the 1.5 LSB budget."""
    assert registry.lookup(name).edgetpu_form().status == "unsupported"
    r = measure.measure_attempt(name)
    assert set(r["ops"]) <= set(OPS) and r["is_fully_int8"] and r["covers_grid"], r["ops"]
    assert r["max_lsb"] > 1.5, (name, r["max_lsb"])


def test_issue_19_mish_and_elu_conv_model_exports_for_the_edgetpu():
    """The model of issue 19: Conv -> mish / Keras ELU layer / Keras "selu" and "softplus" strings -> GAP -> Dense.

    target="edgetpu" exports it with Coral ops only, and check_edgetpu accepts both that export and the
    target="cpu" export with batch_size=1 (the verdict the target used to contradict)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 1))
    h = L.Mish(name="mish")(keras.layers.Conv2D(8, 3, padding="same")(inp))
    h = keras.layers.ELU(name="keras_elu")(keras.layers.Conv2D(8, 3, padding="same")(h))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="selu")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="softplus")(h)
    out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inp, out)
    x = _digits()[0][:64]
    assert preflight(model)  # notes: mish, elu, selu and softplus are approximated
    edge = to_tflite(model, target="edgetpu", representative_data=x)
    cpu = to_tflite(model, target="cpu", quantization="int8", representative_data=x, input_type="int8",
                    output_type="int8", batch_size=1)
    for res in (edge, cpu):
        report = check_edgetpu(res.content)
        assert report.compatible and report.mapped_fraction == 1.0, str(report)
    assert not {"EXP", "LOG", "ELU"} & set(check_edgetpu(edge.content).ops)


def test_preflight_notes_approximations():
    inp = keras.Input(shape=(4,))
    notes = preflight(keras.Model(inp, L.GELU(name="g")(inp)))
    assert notes and "g: gelu is approximated" in notes[0]


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="to_tflite"):
        check_edgetpu(str(tmp_path / "missing.tflite"))
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        check_edgetpu(b"definitely not a model")
    with pytest.raises(TypeError, match="path or bytes"):
        check_edgetpu(42)


# --- the compiler ------------------------------------------------------------------------------


def _read(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read()


def test_parse_recorded_compiler_logs():
    full = parse_compiler_log(_read("edgetpu_compiler_all_mapped.log"))
    assert full.compatible and full.source == "compiler" and full.ops_on_tpu == 21 and full.ops_on_cpu == 0
    assert full.mapped_fraction == 1.0 and full.compiler_version == "16.0.384591198"
    part = parse_compiler_log(_read("edgetpu_compiler_partial.log"))
    assert not part.compatible and (part.ops_on_tpu, part.ops_on_cpu, part.num_ops) == (2, 12, 14)
    assert part.mapped_fraction == pytest.approx(2 / 14)
    assert {"LEAKY_RELU", "HARD_SWISH", "GELU"} <= {op for op, _, _ in part.unsupported}
    assert any(r.startswith("Operation not supported") for op, _, r in part.unsupported if op == "HARD_SWISH")
    assert all(idx is None for _, idx, _ in part.unsupported)
    with pytest.raises(EdgeTPUCompilerError, match="large activation tensors"):
        parse_compiler_log(_read("edgetpu_compiler_failed.log"))
    with pytest.raises(EdgeTPUCompilerError, match="Operator  Count  Status"):
        parse_compiler_log("Edge TPU Compiler version 16.0\n")


STAND_IN = """\
#!{python}
# Stand-in for Coral's edgetpu_compiler: replays a recorded log, writes <name>_edgetpu.tflite.
import os, shutil, sys
args = sys.argv[1:]
out_dir = args[args.index("-o") + 1] if "-o" in args else "."
model = args[-1]
with open(os.environ["STAND_IN_LOG"]) as f:
    text = f.read()
sys.stdout.write(text)
if "Compilation failed" in text:
    sys.exit(1)
base = os.path.splitext(os.path.basename(model))[0]
shutil.copy(model, os.path.join(out_dir, base + "_edgetpu.tflite"))
with open(os.path.join(out_dir, base + "_edgetpu.log"), "w") as f:
    f.write(text)
"""


@pytest.fixture
def stand_in_compiler(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "edgetpu_compiler"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    model = tmp_path / "chain.tflite"
    import tensorflow as tf

    model.write_bytes(_int8(lambda x: tf.nn.relu6(x), (1, 4, 4, 3)))
    return model


def test_compile_with_a_stand_in_compiler(stand_in_compiler, tmp_path, monkeypatch):
    monkeypatch.setenv("STAND_IN_LOG", os.path.join(DATA, "edgetpu_compiler_all_mapped.log"))
    out = tmp_path / "out"
    report = compile_edgetpu(stand_in_compiler, out_dir=out)
    assert report.compatible and report.source == "compiler"
    assert report.compiled_path == str(out / "chain_edgetpu.tflite") and os.path.isfile(report.compiled_path)
    monkeypatch.setenv("STAND_IN_LOG", os.path.join(DATA, "edgetpu_compiler_partial.log"))
    part = compile_edgetpu(stand_in_compiler)
    assert not part.compatible and part.ops_on_cpu == 12
    monkeypatch.setenv("STAND_IN_LOG", os.path.join(DATA, "edgetpu_compiler_failed.log"))
    with pytest.raises(EdgeTPUCompilerError, match="exited with code 1"):
        compile_edgetpu(stand_in_compiler)
    with pytest.raises(FileNotFoundError, match="save the export"):
        compile_edgetpu(tmp_path / "nope.tflite")


def test_missing_compiler_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgeTPUCompilerNotFoundError) as err:
        compile_edgetpu(tmp_path / "model.tflite")
    msg = str(err.value)
    assert "apt" in msg and "x86-64" in msg and "check_edgetpu" in msg
    assert isinstance(err.value, FileNotFoundError)


# --- QAT models export their QAT formulations: the same op table decides -------------------------


def _qat_of(act_layer, engine, version=None, monkeypatch=None):
    """Conv -> ``act_layer`` -> Conv -> HardSwish -> GAP -> Dense, quantized (formulation ``version``)."""
    from keras_acts.quantization import formulations, quantize_model

    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 1))
    h = act_layer(keras.layers.Conv2D(4, 3, padding="same")(inp))
    h = L.HardSwish(name="hs_act")(keras.layers.Conv2D(4, 3, padding="same")(h))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h)))
    x = _digits()[0][:32]
    if version is not None:
        monkeypatch.setattr(formulations, "FORMULATION", version)
    return model, quantize_model(model, calibration_data=x, engine=engine), x


@pytest.mark.parametrize(
    "engine,name,version,off",
    [("keras_acts", "softsign", None, ["ABS", "DIV"]),
     ("keras_acts", "elu", 2, ["EXP"])]  # a QAT model saved with formulation 2 exports that one
    + ([("tfmot", "elu", None, ["EXP"])] if keras_acts.FRONTEND == "tf_keras" else []),  # tfmot: formulation 1
)
def test_qat_activation_whose_qat_formulation_is_off_the_table_is_refused(engine, name, version, off, monkeypatch):
    """A QAT model exports each chain activation in its QAT formulation (softsign: ABS, DIV; elu in
    formulations 1 and 2: EXP), not in the registry's Edge TPU form: the target refuses it, and
    check_edgetpu rejects the model's cpu export for that op."""
    from keras_acts.quantization.formulations import form

    model, qat, x = _qat_of(L.get(name, name="act"), engine, version, monkeypatch)
    layers = [getattr(l, "layer", l) for l in qat.layers]  # tfmot wraps its QATActivation layers
    layer = next(l for l in layers if getattr(l, "activation", None) == name)
    assert [op for op in dict.fromkeys(form(name, layer.formulation).ops) if op not in OPS] == off
    with pytest.raises(EdgeTPUPreflightError) as err:
        to_tflite(qat, target="edgetpu")
    msg = str(err.value)
    assert name in msg and "QAT formulation" in msg and off[0] in msg and "post-training" in msg
    assert "hs_act" not in msg  # hard_swish's QAT formulation (ADD, MUL, MUL) is Coral-only
    cpu = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8", batch_size=1)
    report = check_edgetpu(cpu.content)
    assert not report.compatible and not report.fixed_by_edgetpu_target
    assert off[0] in {i.op for i in report.unsupported}, str(report)
    # the float model exports for the Edge TPU with the Coral-only form (softsign has none: refused)
    if registry.lookup(name).edgetpu_form().lowering:
        assert check_edgetpu(to_tflite(model, target="edgetpu", representative_data=x).content).compatible


@pytest.mark.parametrize("name", ["elu", "selu", "softplus", "mish"])
def test_qat_models_in_formulation_3_export_for_the_edge_tpu(name):
    """Formulation 3 trains elu, selu, softplus and mish in their cpu forms (MUL, ADD, TANH, LOGISTIC):
    Coral ops, so their QAT models export for the Edge TPU as they are."""
    _, qat, _ = _qat_of(L.get(name, name="act"), "keras_acts")
    res = to_tflite(qat, target="edgetpu", batch_size=1)
    report = check_edgetpu(res.content)
    assert report.compatible, str(report)
