"""evaluate(): quantized I/O, batching, accuracy, differences in output LSB."""

from __future__ import annotations

import numpy as np
import pytest

import keras_acts
from keras_acts import keras
from keras_acts.export import evaluate, to_tflite

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6)).astype("float32")


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(3)
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation=keras_acts.hard_swish)(inp)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_quantized_io_is_handled(classifier, io):
    res = to_tflite(classifier, quantization="int8", representative_data=X, input_type=io, output_type=io)
    ev = evaluate(res.content, X, reference=classifier)
    assert ev.outputs.dtype == np.float32 and ev.outputs.shape == (40, 3)
    ref = classifier(X).numpy()
    scale = res.report.outputs[0].scale
    # The LSB numbers are the absolute differences in units of the output scale.
    np.testing.assert_allclose(ev.max_diff_lsb, np.abs(ev.outputs - ref).max() / scale, rtol=1e-4)
    assert ev.max_diff_lsb <= 4.0 and ev.mean_diff_lsb <= ev.max_diff_lsb
    assert ev.max_abs_diff == pytest.approx(ev.max_diff_lsb * scale, rel=1e-4)
    lsb = np.abs(ev.outputs.astype(np.float64) - ref) / scale
    assert ev.p99_diff_lsb == pytest.approx(np.percentile(lsb, 99), rel=1e-4, abs=1e-6)
    assert ev.within_2_lsb == pytest.approx(np.mean(lsb <= 2.001))
    assert ev.top1_agreement == pytest.approx(np.mean(ev.outputs.argmax(1) == ref.argmax(1)))
    assert {"p99_diff_lsb", "within_2_lsb", "top1_agreement"} <= set(ev.to_dict())


def test_float_model_matches_and_accuracy(classifier):
    res = to_tflite(classifier)
    y = classifier(X).numpy().argmax(axis=1)
    ev = evaluate(res, X, y, reference=classifier, batch_size=7)  # 6 batches of 7, last of 5
    assert ev.accuracy == 1.0
    assert ev.max_abs_diff < 1e-5 and ev.max_diff_lsb is None and ev.within_2_lsb is None
    assert ev.top1_agreement == 1.0
    assert ev.latency_ms > 0 and ev.num_samples == 40
    one_hot = np.eye(3)[y]
    assert evaluate(res, X, one_hot).accuracy == 1.0
    assert evaluate(res, X, (y + 1) % 3).accuracy == 0.0


def test_sigmoid_accuracy_uses_threshold():
    inp = keras.Input((6,))
    m = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(inp))
    p = m(X).numpy()[:, 0]
    y = (p >= 0.5).astype(int)
    assert evaluate(to_tflite(m), X, y).accuracy == 1.0


def test_static_batch_runs_sample_by_sample(classifier):
    res = to_tflite(classifier, quantization="int8", representative_data=X, batch_size=1)
    ev = evaluate(res, X[:9], reference=classifier)
    assert ev.batch_size == 1 and ev.outputs.shape == (9, 3)
    with pytest.raises(ValueError, match="static batch of 1"):
        evaluate(res, X, batch_size=8)


def test_bad_inputs(classifier):
    res = to_tflite(classifier)
    with pytest.raises(ValueError, match="samples of shape \\(5,\\)"):
        evaluate(res, X[:, :5])
    with pytest.raises(ValueError, match="1 input\\(s\\) but x has 2"):
        evaluate(res, (X, X))
    with pytest.raises(ValueError, match="at least one sample"):
        evaluate(res, X[:0])
    with pytest.raises(ValueError, match="not a TFLite model"):
        evaluate(b"nonsense", X)


def test_float_io_int8_model_reports_lsb_of_the_inner_output(classifier):
    res = to_tflite(classifier, quantization="int8", representative_data=X)
    ev = evaluate(res, X, reference=classifier)
    inner = res.report.ops[-1].inputs[0]  # the int8 tensor the final DEQUANTIZE reads
    assert ev.max_diff_lsb == pytest.approx(ev.max_abs_diff / inner.scale, rel=1e-4)


def test_reference_accuracy_is_shown_beside_the_tflite_accuracy(classifier):
    y = RNG.integers(0, 3, size=len(X))
    res = to_tflite(classifier, quantization="int8", representative_data=X)
    ev = evaluate(res.content, X, y, reference=classifier)
    keras_pred = np.asarray(classifier(X)).argmax(axis=1)
    assert ev.reference_accuracy == pytest.approx(np.mean(keras_pred == y))
    assert ev.accuracy == pytest.approx(np.mean(ev.outputs.argmax(axis=1) == y))
    assert f"accuracy {ev.accuracy:.4f} (reference {ev.reference_accuracy:.4f})" in str(ev)
    assert ev.to_dict()["reference_accuracy"] == ev.reference_accuracy
    assert evaluate(res.content, X, y).reference_accuracy is None
