"""inspect(): op table, float islands, I/O details, serialization, corrupt input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import keras
from keras_acts.export import OpInfo, Report, TensorInfo, inspect, to_tflite

X = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")


def _model(fn=None):
    inp = keras.Input((6,), name="features")
    h = keras.layers.Dense(6)(inp)
    h = keras.layers.Lambda(fn)(h) if fn is not None else keras_acts.layers.Activation("hard_swish")(h)
    return keras.Model(inp, keras.layers.Dense(2)(h))


@pytest.fixture(scope="module")
def int8_bytes():
    return to_tflite(
        _model(), target="micro", quantization="int8", representative_data=X, input_type="int8", output_type="int8"
    ).content


def test_report_of_a_fully_int8_model(int8_bytes, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(int8_bytes)
    for src in (int8_bytes, path, str(path)):
        rep = inspect(src)
        assert rep.op_names == ["FULLY_CONNECTED", "HARD_SWISH", "FULLY_CONNECTED"]
        assert rep.is_quantized and rep.is_fully_int8 and rep.float_islands == []
    assert rep.source == str(path) and rep.size_bytes == len(int8_bytes)
    (inp,), (out,) = rep.inputs, rep.outputs
    assert inp.name == "features" and inp.dtype == "int8" and inp.shape_signature == (-1, 6)
    assert isinstance(inp.scale, float) and inp.scale > 0 and isinstance(inp.zero_point, int)
    fc = rep.ops[0]
    assert fc.op == "FULLY_CONNECTED" and fc.inputs[0].index == inp.index
    weights = fc.inputs[1]
    assert weights.is_constant and weights.dtype == "int8"
    assert isinstance(weights.scale, list)  # per-channel weights
    assert rep.num_tensors >= len({t.index for op in rep.ops for t in op.inputs + op.outputs})


def test_float_island_is_detected():
    # SIN is a TFLite builtin without an int8 kernel: the converter wraps it in
    # DEQUANTIZE -> SIN -> QUANTIZE.
    res = to_tflite(_model(tf.math.sin), quantization="int8", representative_data=X, input_type="int8", output_type="int8")
    rep = res.report
    assert [o.op for o in rep.float_islands] == ["SIN"]
    i = rep.op_names.index("SIN")
    assert rep.op_names[i - 1 : i + 2] == ["DEQUANTIZE", "SIN", "QUANTIZE"]
    assert not rep.is_fully_int8
    assert "float island" in str(rep) and "**float island**" in rep.to_markdown()
    assert rep.to_dict()["float_islands"] == [{"index": rep.float_islands[0].index, "op": "SIN"}]


@pytest.mark.parametrize("quantization", ["none", "dynamic", "float16"])
def test_float_models_have_no_islands(quantization):
    rep = to_tflite(_model(), quantization=quantization).report
    assert not rep.is_quantized and rep.float_islands == [] and not rep.is_fully_int8


def test_int8_with_float_io_is_int8_inside_only():
    rep = to_tflite(_model(), quantization="int8", representative_data=X).report
    assert rep.float_islands == [] and not rep.is_fully_int8
    assert rep.op_names[0] == "QUANTIZE" and rep.op_names[-1] == "DEQUANTIZE"
    assert "int8 inside, float I/O" in str(rep)


def test_islands_logic_on_a_hand_made_report():
    def t(i, dtype, const=False):
        return TensorInfo(f"t{i}", i, (1, 4), (-1, 4), dtype, 0.1 if dtype == "int8" else None, 0 if dtype == "int8" else None, const)

    ops = [
        OpInfo(0, "DEQUANTIZE", [t(0, "int8")], [t(1, "float32")]),
        OpInfo(1, "ELU", [t(1, "float32")], [t(2, "float32")]),
        OpInfo(2, "QUANTIZE", [t(2, "float32")], [t(3, "int8")]),
    ]
    rep = Report(ops, [t(0, "int8")], [t(3, "int8")], 4, 1, 100)
    assert [o.op for o in rep.float_islands] == ["ELU"] and not rep.is_fully_int8


def test_serialization(int8_bytes):
    rep = inspect(int8_bytes)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["op_names"] == rep.op_names and d["is_fully_int8"] is True
    assert d["inputs"][0]["dtype"] == "int8" and d["ops"][0]["outputs"][0]["scale"] > 0
    assert json.loads(rep.to_json())["size_bytes"] == len(int8_bytes)
    md = rep.to_markdown()
    assert "| # | op | inputs | outputs |" in md and "HARD_SWISH" in md
    text = str(rep)
    assert "HARD_SWISH" in text and "fully int8" in text and "features" in text
    # LiteRT's CPU runtime runs the lone HARD_SWISH outside XNNPACK: the report says so and warns.
    assert d["xnnpack"]["outside"] == [{"index": 1, "op": "HARD_SWISH"}] and d["xnnpack"]["partitions"] == 2
    assert "outside XNNPACK" in text and "warning:" in text and "(outside XNNPACK)" in md
    assert d["warnings"] == rep.warnings and "HARD_SWISH" in rep.warnings[0]


def test_edgetpu_verdict(int8_bytes):
    from keras_acts.export.edgetpu import check_edgetpu

    rep = inspect(int8_bytes)
    assert type(rep.edgetpu) is type(check_edgetpu(int8_bytes))
    assert not rep.edgetpu.compatible  # HARD_SWISH is not an Edge TPU op, dynamic batch
    assert isinstance(rep.to_dict()["edgetpu"], dict)
    assert inspect(int8_bytes, edgetpu=False).edgetpu is None


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", b"\x00" * 64, b"1234TFL3" + b"\x00" * 8, b"garbage! " * 20],
    ids=["empty", "short", "zeros", "truncated", "text"],
)
def test_corrupt_bytes_are_a_clear_error(content, tmp_path):
    with pytest.raises(ValueError, match="not a TFLite model|could not be read as a TFLite model"):
        inspect(content)
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.tflite"):
        inspect(path)


def test_truncated_real_model(int8_bytes):
    with pytest.raises(ValueError, match="could not be read|corrupt|not a TFLite"):
        inspect(int8_bytes[: len(int8_bytes) // 2])


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such TFLite file"):
        inspect(tmp_path / "missing.tflite")
    with pytest.raises(IsADirectoryError):
        inspect(tmp_path)
    with pytest.raises(TypeError, match="path or the model bytes"):
        inspect(3)
