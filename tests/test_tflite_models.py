"""The shipped models in tflite_models/: hashes, ops, dtypes and accuracy vs manifest.json.

Accuracy is re-measured here with the LiteRT interpreter directly (not through
keras_acts.export), on the data set and split the manifest names.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_acts import data

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tflite_models"
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
MODELS = sorted(MANIFEST["models"].items())
REQUIRED = ("sha256", "script", "command", "dataset", "keras_float_accuracy", "accuracy", "size_bytes", "ops", "edgetpu")


def test_manifest_lists_every_shipped_file():
    on_disk = sorted(p.name for p in ROOT.glob("*.tflite"))
    assert on_disk == sorted(MANIFEST["models"]), "every .tflite needs a manifest entry and vice versa"
    assert {"quickstart_float.tflite", "quickstart_int8.tflite", "quickstart_edgetpu.tflite"} <= set(on_disk)


@pytest.mark.parametrize("name,meta", MODELS, ids=[m[0] for m in MODELS])
def test_hash_size_and_provenance(name, meta):
    for key in REQUIRED:
        assert key in meta, f"{name}: manifest entry lacks {key!r}"
    content = (ROOT / name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == meta["sha256"]
    assert len(content) == meta["size_bytes"]
    assert (ROOT.parent / meta["script"]).is_file()
    assert f"python {meta['script']}" in meta["command"]
    assert meta["dataset"]["fallback_reason"] is None or meta["dataset"]["name"] == "digits"


def _interpreter(content: bytes) -> Interpreter:
    interp = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()
    return interp


def _run(interp: Interpreter, x: np.ndarray) -> np.ndarray:
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    batch = int(inp["shape"][0])
    if int(inp["shape_signature"][0]) < 0:
        interp.resize_tensor_input(inp["index"], [len(x), *x.shape[1:]])
        interp.allocate_tensors()
        batch = len(x)
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            chunk = np.clip(np.round(chunk / scale + zero), info.min, info.max).astype(inp["dtype"])
        interp.set_tensor(inp["index"], chunk)
        interp.invoke()
        y = interp.get_tensor(out["index"]).astype(np.float64)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y - zero) * scale
        results.append(y)
    return np.concatenate(results)


@pytest.mark.parametrize("name,meta", MODELS, ids=[m[0] for m in MODELS])
def test_ops_dtypes_and_remeasured_accuracy(name, meta):
    interp = _interpreter((ROOT / name).read_bytes())
    ops = [op["op_name"] for op in interp._get_ops_details()]
    assert ops == meta["ops"]
    in_dtype = np.dtype(interp.get_input_details()[0]["dtype"]).name
    assert in_dtype == meta["input_type"]
    if meta["quantization"] == "int8":
        assert meta["fully_int8"] and meta["float_islands"] == []
    ds_meta = meta["dataset"]
    ds = data.load(ds_meta["name"], limit=ds_meta["limit"], seed=ds_meta["split_seed"], offline=True)
    assert len(ds.x_test) == ds_meta["test_images"]
    pred = _run(interp, ds.x_test)
    accuracy = float(np.mean(np.argmax(pred, axis=1) == ds.y_test))
    # Same kernels and data: equal up to at most one sample flipped by a different CPU's rounding.
    assert abs(accuracy - meta["accuracy"]) <= 1.0 / len(ds.x_test) + 1e-9, (accuracy, meta["accuracy"])
    if meta["quantization"] == "int8":
        assert accuracy >= meta["keras_float_accuracy"] - 0.02, "int8 lost more than 2 points"


def test_edgetpu_model_uses_only_edgetpu_ops():
    meta = MANIFEST["models"]["quickstart_edgetpu.tflite"]
    assert meta["edgetpu"]["compatible"] is True
    supported = {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL",
                 "MAXIMUM", "MINIMUM", "MEAN", "SOFTMAX", "PRELU", "RELU", "RELU6", "LOGISTIC", "TANH", "RESHAPE",
                 "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "PAD"}
    assert set(meta["ops"]) <= supported
    assert "HARD_SWISH" not in meta["ops"] and "PRELU" in meta["ops"]
    interp = _interpreter((ROOT / "quickstart_edgetpu.tflite").read_bytes())
    d = interp.get_input_details()[0]
    assert list(d["shape_signature"]) == [1, 8, 8, 1] and d["dtype"] == np.int8
