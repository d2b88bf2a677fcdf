"""End-to-end export tests: build, convert, run the interpreter, compare, assert the ops.

Follows tfmot's end-to-end numerical test: tolerances are tied to the output
quantization step (LSB). Runs in both frontends (``TF_USE_LEGACY_KERAS=1`` for tf_keras).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import keras
from keras_acts.export import ExportResult, evaluate, inspect, to_tflite
from keras_acts.export.substitution import substitute_builtins

RNG = np.random.default_rng(0)
X_IMG = RNG.uniform(-1.0, 1.0, size=(48, 8, 8, 3)).astype("float32")
X_VEC = RNG.normal(size=(48, 6)).astype("float32")


def conv_model() -> keras.Model:
    inp = keras.Input((8, 8, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = keras_acts.layers.Activation("hard_swish")(h)
    h = keras.layers.Conv2D(8, 3, padding="same")(h)
    h = keras_acts.layers.PReLU(shared_axes=[1, 2])(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(4, activation="softmax")(h)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(1)
    return conv_model()


# Ops of the conv model per mode. Relu fuses into the convolution; in float (and for the micro
# target) hard_swish and PReLU (shared over H, W) each become one op; for LiteRT's CPU runtime
# (the default int8 target) they are written with ops its XNNPACK delegate takes; hard_swish's
# ``* 1/6`` is then folded into the next convolution's weight scales (keras_acts.export.scale_folding).
_CORE = ["CONV_2D", "HARD_SWISH", "CONV_2D", "PRELU", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
_CORE_CPU_INT8 = ["CONV_2D", "ADD", "MUL", "CONV_2D", "MUL", "MUL", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]


@pytest.mark.parametrize("quantization", ["none", "float16", "dynamic", "int8"])
def test_quantization_modes_convert_and_match_keras(model, quantization):
    kwargs = {"representative_data": X_IMG} if quantization == "int8" else {}
    res = to_tflite(model, quantization=quantization, **kwargs)
    assert isinstance(res, ExportResult)
    assert res.content[4:8] == b"TFL3"
    rep = res.report
    core = _CORE_CPU_INT8 if quantization == "int8" else _CORE
    assert sorted(op for op in rep.op_names if op not in ("QUANTIZE", "DEQUANTIZE")) == sorted(core)
    ev = evaluate(res.content, X_IMG, reference=model)
    if quantization == "none":
        assert not rep.is_quantized and rep.op_names == _CORE
        assert ev.max_abs_diff < 1e-5
    elif quantization == "float16":
        # float16 weights are dequantized once at load time.
        assert not rep.is_quantized and rep.op_names.count("DEQUANTIZE") >= 1
        assert ev.max_abs_diff < 5e-3
    elif quantization == "dynamic":
        assert not rep.is_quantized
        assert ev.max_abs_diff < 5e-3  # weights this small stay float (TFLite's 1024-element threshold)
    else:
        assert rep.is_quantized and rep.float_islands == []
        assert not rep.xnnpack.splitting and rep.warnings == []  # only the final SOFTMAX is outside
        micro = to_tflite(model, quantization="int8", representative_data=X_IMG, target="micro").report
        assert [op for op in micro.op_names if op not in ("QUANTIZE", "DEQUANTIZE")] == _CORE
        assert rep.op_names[0] == "QUANTIZE" and rep.op_names[-1] == "DEQUANTIZE"
        assert not rep.is_fully_int8  # float32 I/O
        assert rep.inputs[0].dtype == "float32" and rep.outputs[0].dtype == "float32"
        out_scale = rep.ops[-1].inputs[0].scale  # the int8 tensor the output DEQUANTIZE reads
        assert ev.max_abs_diff <= 4 * out_scale
        assert res.num_calibration_samples == len(X_IMG)


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_int8_io_is_fully_int8(model, io):
    res = to_tflite(model, quantization="int8", representative_data=X_IMG, input_type=io, output_type=io)
    rep = res.report
    # uint8 I/O adds a QUANTIZE (uint8 <-> int8 requantization) at each end.
    assert sorted(rep.op_names) == sorted(_CORE_CPU_INT8 if io == "int8" else ["QUANTIZE", *_CORE_CPU_INT8, "QUANTIZE"])
    assert rep.is_fully_int8 and rep.float_islands == []
    assert rep.inputs[0].dtype == io and rep.outputs[0].dtype == io
    assert all(t.dtype in ("int8", "uint8", "int32") for op in rep.ops for t in op.outputs)
    ev = evaluate(res, X_IMG, reference=model)
    assert ev.max_diff_lsb <= 4.0


def test_tf_dtype_io_types_are_accepted(model):
    res = to_tflite(model, quantization="int8", representative_data=X_IMG, input_type=tf.int8, output_type=np.uint8)
    assert (res.input_type, res.output_type) == ("int8", "uint8")
    assert res.report.inputs[0].dtype == "int8" and res.report.outputs[0].dtype == "uint8"


def test_sequential_model_and_dynamic_batch():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation=keras_acts.hard_swish), keras.layers.Dense(2)])
    res = to_tflite(m, quantization="int8", representative_data=X_VEC)
    rep = res.report
    assert rep.inputs[0].shape_signature == (-1, 6)
    # ADD+RELU6, MUL (x * relu6(x + 3)); the 1/6 is folded into the second Dense's weight scales
    assert rep.op_names.count("MUL") == 1 and len(res.folding.folds) == 1
    assert rep.float_islands == [] and rep.xnnpack.is_whole
    ev = evaluate(res, X_VEC[:37], reference=m, batch_size=16)  # 16 + 16 + 5
    assert ev.num_samples == 37 and ev.outputs.shape == (37, 2)


def test_batch_size_fixes_the_batch_axis():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    rep = to_tflite(m, batch_size=4).report
    assert rep.inputs[0].shape_signature == (4, 6)


def test_multi_input_model():
    a = keras.Input((6,), name="left")
    b = keras.Input((4,), name="right")
    h = keras.layers.Concatenate()([keras.layers.Dense(5)(a), keras.layers.Dense(5)(b)])
    h = keras_acts.layers.Activation("leaky_relu")(h)
    m = keras.Model([a, b], keras.layers.Dense(2)(h))
    xb = RNG.normal(size=(48, 4)).astype("float32")
    res = to_tflite(m, quantization="int8", representative_data=(X_VEC, xb), input_type="int8", output_type="int8")
    rep = res.report
    assert [t.name for t in rep.inputs] == ["left", "right"]
    assert rep.is_fully_int8 and "LEAKY_RELU" in rep.op_names
    ev = evaluate(res, (X_VEC, xb), reference=m)
    assert ev.max_diff_lsb <= 4.0
    # The same data as a dict and as a tf.data.Dataset of (x, y) batches.
    res_dict = to_tflite(m, quantization="int8", representative_data={"left": X_VEC, "right": xb})
    assert res_dict.num_calibration_samples == 48
    ds = tf.data.Dataset.from_tensor_slices(((X_VEC, xb), np.zeros(48))).batch(16)
    assert to_tflite(m, quantization="int8", representative_data=ds).num_calibration_samples == 48


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return keras_acts.swish(self.dense(x))


class SignatureNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)
        self.dense.build((None, 6))  # variables exist before `call` is traced

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32)])
    def call(self, x):
        return keras_acts.tanh(self.dense(x))


def test_subclassed_models():
    called = SubclassedNet()
    called(X_VEC[:2])
    res = to_tflite(called, quantization="int8", representative_data=X_VEC)
    assert res.report.inputs[0].shape_signature == (-1, 6)
    assert evaluate(res, X_VEC, reference=called).max_abs_diff < 0.05

    with_sig = SignatureNet()
    assert "TANH" in to_tflite(with_sig).report.op_names

    with pytest.raises(ValueError, match=r"model\.build|input_signature"):
        to_tflite(SubclassedNet())


def test_keras_builtins_are_substituted_and_restored():
    inp = keras.Input((6,))
    h = keras.layers.Dense(6)(inp)
    if keras_acts.FRONTEND == "keras3":
        h = keras.layers.Dense(6, activation="hard_swish")(h)
    h = keras.layers.LeakyReLU()(h)
    h = keras.layers.ReLU(max_value=6.0)(h)
    m = keras.Model(inp, h)
    before = m(X_VEC).numpy()
    attrs = {id(l): (l.__dict__.get("activation"), l.__dict__.get("call")) for l in m.layers}
    res = to_tflite(m, quantization="int8", representative_data=X_VEC, input_type="int8", output_type="int8")
    ops = res.report.op_names
    assert "LEAKY_RELU" in ops
    if keras_acts.FRONTEND == "keras3":
        # Keras 3's "hard_swish" string is hard_silu: lowered like keras_acts's hard_swish.
        assert "HARD_SWISH" not in ops
        assert any(s.activation == "hard_swish" for s in res.substitutions)
    subs = {s.activation: s for s in res.substitutions}
    slope = 0.3  # the Keras LeakyReLU layer default in both frontends
    assert subs["leaky_relu"].params == {"negative_slope": pytest.approx(slope)}
    assert "relu6" in subs
    assert res.report.float_islands == []
    # Training-time math and attributes are unchanged after export.
    np.testing.assert_array_equal(m(X_VEC).numpy(), before)
    assert {id(l): (l.__dict__.get("activation"), l.__dict__.get("call")) for l in m.layers} == attrs


def test_substitution_is_undone_on_error():
    inp = keras.Input((6,))
    m = keras.Model(inp, keras.layers.LeakyReLU()(keras.layers.Dense(6, activation="elu")(inp)))
    dense, leaky = m.layers[1], m.layers[2]
    act = dense.activation
    with pytest.raises(RuntimeError, match="boom"):
        with substitute_builtins(m) as made:
            assert dense.activation is not act and "call" in leaky.__dict__
            assert {s.activation for s in made} == {"elu", "leaky_relu"}
            raise RuntimeError("boom")
    assert dense.activation is act and "call" not in leaky.__dict__


def test_edgetpu_target_static_batch_int8_io():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    res = to_tflite(m, target="edgetpu", representative_data=X_VEC)
    rep = res.report
    assert res.quantization == "int8" and res.lowering == "edgetpu"
    assert rep.inputs[0].shape_signature == (1, 6) and rep.inputs[0].dtype == "int8"
    assert rep.is_fully_int8
    ev = evaluate(res, X_VEC[:5], reference=m)  # static batch 1: sample by sample
    assert ev.batch_size == 1 and ev.num_samples == 5
    uint8 = to_tflite(m, target="edgetpu", representative_data=X_VEC, input_type="uint8", output_type="uint8")
    assert uint8.report.inputs[0].dtype == "uint8"


def test_edgetpu_preflight_refuses_unsupported_activations():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras_acts.layers.Activation("softsign")])
    with pytest.raises(ValueError, match="softsign"):
        to_tflite(m, target="edgetpu", representative_data=X_VEC)


def test_progress_is_reported(model):
    seen = []
    to_tflite(model, quantization="int8", representative_data=X_IMG, num_calibration_samples=20,
              progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (20, 20)


def test_qat_models_need_no_representative_data():
    if keras_acts.FRONTEND == "keras3":
        # tfmot runs only on tf_keras models; a Keras 3 float model needs data for int8.
        m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
        with pytest.raises(ValueError, match="representative_data"):
            to_tflite(m, quantization="int8")
        return
    import tensorflow_model_optimization as tfmot

    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    q = tfmot.quantization.keras.quantize_model(m)
    q(X_VEC)
    res = to_tflite(q, quantization="int8", input_type="int8", output_type="int8")
    assert res.qat and res.num_calibration_samples == 0
    assert res.report.is_fully_int8
    assert evaluate(res, X_VEC, reference=q).max_diff_lsb <= 2.0
