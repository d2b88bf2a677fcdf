"""LiteRT's CPU runtime: the measured XNNPACK op table, partition counting, and the "cpu" export
target keeping every activation that has a delegable form inside one XNNPACK partition."""

from __future__ import annotations

import numpy as np
import pytest

import keras_acts
from keras_acts import registry
from keras_acts.export import to_tflite
from keras_acts.export.report import inspect
from keras_acts.export.report import OpInfo, TensorInfo
from keras_acts.export.xnnpack import (
    SOURCE_SCALE_LIMITS,
    explain_refusal,
    form_is_delegable,
    measure_op_table,
    measure_scale_limits,
    op_table,
    plan_from_ops,
    scale_limits,
    xnnpack_plan,
)
from tests.conftest import build_training_state

keras = keras_acts.keras
ALL_ENTRIES = registry.entries(include_layers=True)


@pytest.mark.frontend_independent
def test_recorded_table_matches_the_installed_litert():
    """xnnpack_ops.json is what the installed LiteRT does; regenerate it when LiteRT changes."""
    recorded = op_table()
    measured = measure_op_table()
    assert measured["litert"] == recorded["litert"], (
        f"xnnpack_ops.json was measured with {recorded['litert']} but {measured['litert']} is installed: "
        "run `python -m keras_acts.export.xnnpack --write` and review the cpu lowerings."
    )
    diff = {
        k: (recorded["ops"].get(k), v)
        for k, v in measured["ops"].items()
        if recorded["ops"].get(k) != v
    }
    assert not diff, f"XNNPACK op table changed (recorded, measured): {diff}"
    assert measured["scale_limits"] == recorded["scale_limits"], (
        "XNNPACK's int8 scale-ratio limits changed: run `python -m keras_acts.export.xnnpack --write`."
    )


@pytest.mark.frontend_independent
def test_measured_scale_limits_are_the_ones_in_xnnpacks_source():
    """The bisection on the installed LiteRT finds the limits written in xnnpack_delegate.cc:
    ADD/SUB input/output in [1/1024, 256), MUL input product/output in [1/65536, 256)."""
    measured = measure_scale_limits()
    assert measured == scale_limits()
    for op, spec in SOURCE_SCALE_LIMITS.items():
        assert measured[op]["min"] == pytest.approx(spec["min"], rel=1e-5), op
        assert measured[op]["max"] == pytest.approx(spec["max"], rel=1e-5), op


def _t(i, dtype, shape=(1, 4), scale=None, const=False):
    zp = None if scale is None else 0
    return TensorInfo(f"t{i}", i, shape, shape, dtype, scale, zp, const)


@pytest.mark.frontend_independent
def test_explain_refusal_names_each_kind_of_reason():
    op_type = explain_refusal(OpInfo(3, "HARD_SWISH", [_t(0, "int8", scale=0.1)], [_t(1, "int8", scale=0.1)]))
    assert op_type.kind == "op type" and "int8 HARD_SWISH" in op_type.reason and "ai-edge-litert" in op_type.reason
    relu = explain_refusal(OpInfo(4, "RELU", [_t(0, "int8", scale=0.1)], [_t(1, "int8", scale=0.1)]))
    assert relu.kind == "op type" and "standalone" in relu.reason and "not fused" in relu.reason
    # ADD: 1e-3 / 2 = 5e-4 < 1/1024 -> refused for the ratio, with the ratio and the limit named.
    add = explain_refusal(OpInfo(5, "ADD", [_t(0, "int8", scale=1e-3), _t(1, "int8", scale=2.0)], [_t(2, "int8", scale=2.0)]))
    assert add.kind == "scale ratio" and add.value == pytest.approx(5e-4) and "[1/1024, 256)" in add.reason
    # MUL: 1e-3 * 1e-2 / 1 = 1e-5 < 1/65536.
    mul = explain_refusal(OpInfo(6, "MUL", [_t(0, "int8", scale=1e-3), _t(1, "int8", scale=1e-2)], [_t(2, "int8", scale=1.0)]))
    assert mul.kind == "scale ratio" and "[1/65536, 256)" in mul.reason
    deep = explain_refusal(OpInfo(7, "ADD", [_t(0, "int8", (1,) * 7, 0.1), _t(1, "int8", (1,) * 7, 0.1)],
                                  [_t(2, "int8", (1,) * 7, 0.1)]))
    assert deep.kind == "shape" and "rank" in deep.reason
    odd = explain_refusal(OpInfo(8, "ADD", [_t(0, "int16", scale=0.1), _t(1, "int16", scale=0.1)], [_t(2, "int16", scale=0.1)]))
    assert odd.kind == "dtype" and "int16" in odd.reason


@pytest.mark.frontend_independent
def test_table_knows_the_facts_the_cpu_forms_rely_on():
    ops = op_table()["ops"]
    for taken in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MUL+RELU", "ADD+RELU6",
                  "LOGISTIC", "TANH", "LEAKY_RELU", "MEAN"):
        assert ops[taken]["int8"] is True, taken
    for refused in ("HARD_SWISH", "PRELU", "RELU", "EXP", "LOG", "MINIMUM", "MAXIMUM", "GELU"):
        assert ops[refused]["int8"] is False, refused
        assert ops[refused]["float32"] is True, refused


@pytest.mark.frontend_independent
def test_plan_from_ops_walks_each_partition():
    """Two partitions around one refused op: the walk assigns every op to its partition."""
    ops = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 1, 2], "outputs": [3]},
        {"index": 1, "op_name": "HARD_SWISH", "inputs": [3], "outputs": [4]},
        {"index": 2, "op_name": "CONV_2D", "inputs": [4, 5, 6], "outputs": [7]},
        {"index": 3, "op_name": "MEAN", "inputs": [7, 8], "outputs": [9]},
        {"index": 4, "op_name": "DELEGATE", "inputs": [0, 1, 2], "outputs": [3]},
        {"index": 5, "op_name": "DELEGATE", "inputs": [4, 5, 6, 8], "outputs": [9]},
    ]
    plan = plan_from_ops(ops)
    assert plan.partitions == 2
    assert plan.delegated == (0, 2, 3)
    assert plan.outside == ((1, "HARD_SWISH"),) and plan.splitting == plan.outside
    assert "HARD_SWISH" in plan.summary() and not plan.is_whole
    assert plan.partition_of == (0, -1, 1, 1) and plan.partition(1) is None and plan.partition(3) == 1


def _conv_model(entry: registry.Activation):
    """Conv -> activation -> Conv -> pooling: the activation between two delegable ops."""
    from keras_acts import layers as ka_layers

    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    if entry.learnable:
        x = ka_layers.PReLU(shared_axes=[1, 2])(x)
    else:
        x = ka_layers.Activation(entry.name)(x)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def calibration():
    return np.random.default_rng(0).normal(0.0, 1.0, (32, 8, 8, 4)).astype(np.float32)


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=lambda e: e.name)
def test_cpu_target_keeps_delegable_activations_in_one_partition(entry, calibration):
    """Every activation whose "cpu" form uses only delegated ops runs as one XNNPACK partition;
    the others are reported with the ops that stay outside, and the report warns."""
    model = _conv_model(entry)
    res = to_tflite(model, quantization="int8", representative_data=calibration, input_type="int8",
                    output_type="int8")
    report = res.report
    assert report.is_fully_int8 and not report.float_islands
    form = entry.lowering("cpu")
    if form_is_delegable(form.ops):
        assert report.xnnpack.is_whole, f"{entry.name}: {report.xnnpack.summary()}"
        assert report.warnings == []
    else:
        assert report.xnnpack.partitions > 1 and report.xnnpack.splitting
        assert report.warnings and "XNNPACK" in report.warnings[0]
        assert "XNNPACK" in str(report)


def test_micro_target_keeps_single_fused_ops_and_is_reported_split(calibration):
    """The micro target writes HARD_SWISH / PRELU as one op each; on LiteRT's CPU runtime that
    splits the graph, and inspect() says so with the op and its index."""
    for name, op in (("hard_swish", "HARD_SWISH"), ("prelu", "PRELU")):
        model = _conv_model(registry.lookup(name))
        res = to_tflite(model, target="micro", quantization="int8", representative_data=calibration)
        report = inspect(res.content)
        assert op in report.op_names
        assert op in report.xnnpack.outside_ops and report.xnnpack.partitions >= 2
        assert any(op in w for w in report.warnings)
        assert xnnpack_plan(res.content).outside == report.xnnpack.outside


def test_unknown_target_lists_the_targets(calibration):
    model = _conv_model(registry.lookup("relu"))
    with pytest.raises(ValueError, match=r"'cpu'.*'micro'.*'edgetpu'"):
        to_tflite(model, target="xnnpack", quantization="int8", representative_data=calibration)


def test_reshape_and_flatten_export_with_a_constant_shape(calibration):
    """A squeeze-and-excitation block (GAP -> Reshape -> Conv -> Multiply) and a Flatten head keep
    the batch axis dynamic but convert without SHAPE/PACK ops, so XNNPACK takes the whole graph;
    the outputs still match Keras at several batch sizes."""
    from keras_acts.export import evaluate

    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    se = keras.layers.GlobalAveragePooling2D()(x)
    se = keras.layers.Reshape((1, 1, 8))(se)
    se = keras.layers.Conv2D(8, 1, activation="sigmoid")(se)
    x = keras.layers.Multiply()([x, se])
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    for quantization in ("none", "int8"):
        res = to_tflite(model, quantization=quantization, representative_data=calibration if quantization == "int8" else None)
        ops = res.report.op_names
        assert not {"SHAPE", "PACK", "STRIDED_SLICE"} & set(ops), ops
        assert res.report.xnnpack.partitions == 1 and not res.report.xnnpack.outside, res.report.xnnpack.summary()
        assert res.report.inputs[0].shape_signature[0] == -1
        ev = evaluate(res, calibration[:13], reference=model, batch_size=5)
        assert ev.max_abs_diff < (1e-4 if quantization == "none" else 0.1), ev


# ---------------------------------------------------------------------------------------------
# QAT exports: as many XNNPACK partitions as the PTQ export of the same model, and QAT parity.


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's real 8x8 digits (keras_acts.data): 512 training images, 256 test images."""
    from keras_acts.data import load_digits

    data = load_digits(seed=0)
    return data.x_train[:512], data.y_train[:512], data.x_test[:256]


def _digits_model(entry: registry.Activation):
    """Conv -> activation -> Conv -> GAP -> Dense(10) on 8x8x1 digits (seeded)."""
    from keras_acts import layers as ka_layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = ka_layers.PReLU(shared_axes=[1, 2])(x) if entry.learnable else ka_layers.Activation(entry.name)(x)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def _int8_logits(content: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The int8 model on LiteRT's default CPU runtime (XNNPACK): (output codes, dequantized input, out scale)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content)
    it.resize_tensor_input(it.get_input_details()[0]["index"], x.shape)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s_in, z_in = i["quantization"]
    q_in = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
    it.set_tensor(i["index"], q_in)
    it.invoke()
    s_out, z_out = o["quantization"]
    codes = it.get_tensor(o["index"]).astype(np.float64)
    return codes - z_out, (q_in.astype(np.float32) - z_in) * s_in, float(s_out)


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=lambda e: e.name)
def test_qat_export_has_the_ptq_partition_count_and_qat_parity(entry, digits):
    """Every registry activation, trained quantization-aware for a few steps on real digits and
    exported for LiteRT's CPU runtime, is all-int8, has exactly as many XNNPACK partitions as the
    post-training-quantized export of the same model (1 when the activation's "cpu" form is
    delegable: the QAT formulation uses the cpu form's ops), and its int8 logits agree with the
    QAT model's within 2 output LSB on >= 99 % of them (on the int8 model's own input grid)."""
    x_train, y_train, x_test = digits
    model = _digits_model(entry)
    ptq = to_tflite(model, quantization="int8", representative_data=x_train[:128], input_type="int8",
                    output_type="int8").report
    assert ptq.is_fully_int8 and not ptq.float_islands, str(ptq)
    if form_is_delegable(entry.lowering("cpu").ops):
        assert ptq.xnnpack.partitions == 1, f"{entry.name} PTQ: {ptq.xnnpack.summary()}"
    qat = keras_acts.quantization.quantize_model(model, calibration_data=x_train[:128])
    qat.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    build_training_state(qat)
    qat.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)  # 8 steps
    res = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8")
    report = res.report
    assert report.is_fully_int8 and not report.float_islands, str(report)
    assert report.xnnpack.partitions == ptq.xnnpack.partitions, (
        f"{entry.name}: QAT export {report.xnnpack.summary()} (ops {report.op_names}); "
        f"PTQ export {ptq.xnnpack.summary()} (ops {ptq.op_names})"
    )
    codes, x_deq, scale = _int8_logits(res.content, x_test)
    ref = np.asarray(qat.predict(x_deq, verbose=0), np.float64) / scale
    lsb = np.abs(codes - ref)
    within = float(np.mean(lsb <= 2.0 + 1e-3))  # 1e-3: float32 rounding of the dequantized logits
    assert within >= 0.99, f"{entry.name}: {within:.4f} within 2 LSB, max {lsb.max():.2f}"
