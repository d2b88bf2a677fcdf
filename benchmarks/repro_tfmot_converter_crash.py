"""Reproduces issue 19's converter crash: tf_keras EfficientNetB0, QAT with tfmot, int8 export.

EfficientNetB0 (96x96, weights=None, 10 classes) is quantization-aware trained with tfmot for one
epoch on 96 real digits (scikit-learn's, upsampled to 96x96x3 and scaled to 0..255, the range the
model's Rescaling layer expects), then exported twice: as is (keras_acts refuses the NaN weights,
naming them) and with that check disabled (the TFLite converter segfaults in its worker process:
an ExportError, and this process carries on). Takes about 2 minutes; needs tf_keras and tfmot.

Usage:
    TF_USE_LEGACY_KERAS=1 python benchmarks/repro_tfmot_converter_crash.py
"""
import os, sys, time
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import keras_acts
from keras_acts import keras, data
from keras_acts.quantization import quantize_model
from keras_acts.export import to_tflite, ExportError
import inspect as _i
print("quantize_model params:", list(_i.signature(quantize_model).parameters))
ds = data.load("digits")
x = np.repeat(np.kron(ds.x_train[:96].astype("float32"), np.ones((1, 12, 12, 1), np.float32)), 3, axis=-1) * 255.0
y = ds.y_train[:96]
m = keras.applications.EfficientNetB0(input_shape=(96, 96, 3), weights=None, classes=10)
kw = {"engine": "tfmot"} if "engine" in _i.signature(quantize_model).parameters else {}
t = time.perf_counter()
q = quantize_model(m, calibration_data=x[:32], **kw)
q.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
q.fit(x, y, epochs=1, batch_size=16, verbose=0)
print("QAT + fit", time.perf_counter() - t, "s", flush=True)
t = time.perf_counter()
from keras_acts import health
for attempt in ("as is", "without the NaN-weight check"):
    try:
        r = to_tflite(q, quantization="int8", validation_data=x[:32])
        print(attempt, "converted", r.size_bytes, r.validation, flush=True)
    except Exception as e:
        print(attempt, type(e).__name__ + ":", str(e)[:3000], flush=True)
    print("process alive after", time.perf_counter() - t, "s", flush=True)
    health.check_finite_weights = lambda *a, **k: None  # to see what the converter does with them
