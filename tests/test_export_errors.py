"""Bad inputs to the exporter fail early with errors that name the fix; saving is atomic."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import keras
from keras_acts.export import ExportError, to_tflite
from keras_acts.export import atomic

X = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")


@pytest.fixture(scope="module")
def model():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation=keras_acts.relu6)])


@pytest.mark.parametrize("obj", [object(), "model.keras", lambda x: x])
def test_non_keras_model_is_a_type_error(obj):
    with pytest.raises(TypeError, match="expects a Keras model.*load_model"):
        to_tflite(obj)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"quantization": "int4"}, "quantization='int4' is not supported; use one of"),
        ({"target": "gpu"}, "target='gpu' is not an export target"),
        ({"quantization": "int8", "representative_data": X, "input_type": "int16"}, "input_type='int16'.*'float32', 'int8' or 'uint8'"),
        ({"input_type": "int8"}, "need a fully integer model.*quantization='int8'"),
        ({"target": "edgetpu", "quantization": "float16"}, "target='edgetpu' needs a fully int8 model"),
        ({"target": "edgetpu", "representative_data": X, "batch_size": 4}, "batch 1"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"quantization": "dynamic", "representative_data": X}, "only used for quantization='int8'"),
        ({"quantization": "int8", "representative_data": X, "num_calibration_samples": 0}, "positive integer"),
    ],
)
def test_invalid_options(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        to_tflite(model, **kwargs)


def test_progress_must_be_callable(model):
    with pytest.raises(TypeError, match="progress must be a callable"):
        to_tflite(model, quantization="int8", representative_data=X, progress=3)


_BAD_DATA = [
    (None, ValueError, "needs representative_data.*x_train\\[:200\\].*quantization='dynamic'"),
    (X[:, :4], ValueError, "per-sample shape \\(4,\\).*expects \\(6,\\)"),
    (X[0], ValueError, "one sample of the model input.*\\(n, 6\\)"),
    (X[None], ValueError, "rank 3.*rank 2"),
    (X.astype("int32"), TypeError, "dtype int32.*astype\\('float32'\\)"),
    (np.where(np.arange(6) == 2, np.nan, X).astype("float32"), ValueError, "NaN or Inf"),
    (np.where(np.arange(6) == 2, np.inf, X).astype("float32"), ValueError, "NaN or Inf"),
    (X[:0], ValueError, "empty \\(0 samples\\)"),
    (X[:5], ValueError, "only 5 sample\\(s\\).*at least 16"),
    ((X, X), ValueError, "1 input.*single array"),
    ({"wrong": X}, ValueError, "do not match the model inputs"),
    ("data.npy", TypeError, "not supported; pass a NumPy array"),
    (lambda: 3, TypeError, "not an iterator"),
    (lambda n: iter([]), TypeError, "no arguments"),
]


@pytest.mark.parametrize("data, error, match", _BAD_DATA, ids=[m[:24] for _, _, m in _BAD_DATA])
def test_bad_representative_data(model, data, error, match):
    with pytest.raises(error, match=match):
        to_tflite(model, quantization="int8", representative_data=data)


def test_bad_data_in_dataset_and_generator(model):
    nan = X.copy()
    nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        to_tflite(model, quantization="int8", representative_data=tf.data.Dataset.from_tensor_slices(nan).batch(8))
    with pytest.raises(ValueError, match="only 4 sample"):
        to_tflite(model, quantization="int8", representative_data=lambda: (x for x in X[:4]))
    with pytest.raises(ValueError, match="per-sample shape"):
        to_tflite(model, quantization="int8", representative_data=lambda: iter([X[:, :5]]))


def test_good_iterables_are_accepted(model):
    gen = to_tflite(model, quantization="int8", representative_data=lambda: (x[None] for x in X))
    assert gen.num_calibration_samples == 32
    pairs = tf.data.Dataset.from_tensor_slices((X, np.zeros(32))).batch(10)
    assert to_tflite(model, quantization="int8", representative_data=pairs, num_calibration_samples=20).num_calibration_samples == 20


def test_multi_input_count_mismatch():
    a, b = keras.Input((6,)), keras.Input((2,))
    m = keras.Model([a, b], keras.layers.Concatenate()([a, b]))
    with pytest.raises(ValueError, match="2 inputs.*tuple of 2 arrays"):
        to_tflite(m, quantization="int8", representative_data=X)
    with pytest.raises(ValueError, match="1 array\\(s\\) but the model has 2 inputs"):
        to_tflite(m, quantization="int8", representative_data=(X,))
    with pytest.raises(ValueError, match="different numbers of samples"):
        to_tflite(m, quantization="int8", representative_data=(X, X[:20, :2]))


def test_converter_failure_is_an_export_error():
    # BesselI1e is not a TFLite builtin op.
    inp = keras.Input((6,))
    m = keras.Model(inp, keras.layers.Lambda(lambda t: tf.math.bessel_i1e(t))(inp))
    with pytest.raises(ExportError, match="TFLite conversion failed: .*BesselI1e.*replace them"):
        to_tflite(m)


# --- atomic writes -------------------------------------------------------------------------------


def _tmp_leftovers(directory):
    return [p for p in os.listdir(directory) if p.endswith(".tmp")]


def test_save_writes_and_replaces(model, tmp_path):
    res = to_tflite(model)
    out = tmp_path / "m.tflite"
    out.write_bytes(b"old")
    assert res.save(out) == out
    assert out.read_bytes() == res.content
    assert _tmp_leftovers(tmp_path) == []


def test_failing_write_leaves_existing_file_byte_identical(model, tmp_path, monkeypatch):
    res = to_tflite(model)
    out = tmp_path / "m.tflite"
    out.write_bytes(b"previous model bytes")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        res.save(out)
    assert out.read_bytes() == b"previous model bytes"
    assert _tmp_leftovers(tmp_path) == []


def test_failing_export_never_touches_the_output(model, tmp_path):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"previous model bytes")
    with pytest.raises(ValueError):
        to_tflite(model, quantization="int8", representative_data=X[:3]).save(out)
    assert out.read_bytes() == b"previous model bytes"


def test_save_refuses_directories_and_missing_parents(model, tmp_path, monkeypatch):
    res = to_tflite(model)
    with pytest.raises(IsADirectoryError, match="is a directory; give a file path"):
        res.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        res.save(tmp_path / "missing" / "m.tflite")

    def denied(*args, **kwargs):
        raise PermissionError("denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match="not writable; choose a writable output path"):
        res.save(tmp_path / "m.tflite")
