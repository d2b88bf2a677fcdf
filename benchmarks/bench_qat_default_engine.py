"""quantize_model(model, calibration_data=...) with no engine argument -> fit -> int8 export, 96x96.

One keras.applications architecture per process (weights=None, 10 classes, logits): 480 real
MNIST digits (keras_acts.data "mnist5k", resized to 96x96, tiled to RGB), calibration on 32,
1 QAT epoch (Adam 1e-4, batch 16), ``to_tflite(qat, quantization="int8")`` with int8 I/O,
evaluation on 200 held-out digits with the QAT model as reference. Prints one ``RESULT`` JSON line.

    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat_default_engine.py EfficientNetB0
    for a in MobileNetV3Small MobileNetV2 MobileNetV3Large EfficientNetB0 EfficientNetV2B0; do
        TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat_default_engine.py $a; done
"""
import json
import pathlib
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import numpy as np
import keras_acts
from keras_acts import quantization
from keras_acts.export import to_tflite, evaluate
keras = keras_acts.keras
import tensorflow as tf
arch = sys.argv[1]
size = 96
ds = keras_acts.data.load("mnist5k", offline=True)
def prep(x, scale):
    x = tf.image.resize(x, (size, size)).numpy()
    x = np.repeat(np.clip(x, 0, 1), 3, axis=-1)
    return (x * 255.0 if scale else x * 2 - 1).astype("float32")
scale = arch != "MobileNetV2"
x, y = prep(ds.x_train[:480], scale), ds.y_train[:480].astype("int32")
xt, yt = prep(ds.x_test[:200], scale), ds.y_test[:200].astype("int32")
keras.utils.set_random_seed(0)
m = getattr(keras.applications, arch)(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
t = time.time()
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    qat = quantization.quantize_model(m, calibration_data=x[:32])
bnw = [type(i.message).__name__ for i in w if "BatchNorm" in type(i.message).__name__]
qat.compile(keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
h = qat.fit(x, y, batch_size=16, epochs=1, verbose=0)
fit_s = time.time() - t
t = time.time()
res = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8")
conv_s = time.time() - t
ev = evaluate(res.content, xt, yt, reference=qat)
print("RESULT", json.dumps({"frontend": keras_acts.FRONTEND, "arch": arch, "engine_model": quantization.engine.is_qat_model(qat),
  "bn_warning": bnw, "fit_acc": h.history["accuracy"][-1], "qat_acc": float(np.mean(np.argmax(np.asarray(qat(xt, training=False)), -1) == yt)),
  "int8_acc": ev.accuracy, "top1_agreement": ev.top1_agreement, "fully_int8": res.report.is_fully_int8,
  "float_islands": [o.op for o in res.report.float_islands], "size_kb": res.size_bytes / 1024, "fit_s": round(fit_s), "convert_s": round(conv_s)}))
