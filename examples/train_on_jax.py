"""Train on JAX, export with TensorFlow: a keras_acts CNN trained with ``KERAS_BACKEND=jax``, exported all-int8.

1. Train (this process, Keras 3 on the jax backend): a small CNN with Conv+BatchNorm, hard_swish,
   PReLU(shared_axes), a depthwise conv with swish, a residual Add, mish and GAP, on the real 8x8
   handwritten digits packaged with scikit-learn (``keras_acts.data``). Saves ``model.keras``, the
   jax model's logits on the test set and the calibration samples.
   Then, still on jax, quantization-aware training: ``keras_acts.quantization.quantize_model(model,
   calibration_data=...)`` (BatchNorm folded, ranges calibrated on 256 training images), a short
   ``fit`` and ``model_qat.keras``.
2. Export (a child process with ``KERAS_BACKEND=tensorflow``, since the TFLite converter traces
   TensorFlow graphs): loads both files after ``import keras_acts``, measures how far TensorFlow's
   outputs are from the jax models', exports the float model all-int8 by post-training quantization
   (calibrated on training images, the registry's lowerings) and the QAT model all-int8 from its
   trained ranges (its QAT formulations, no calibration data), and runs both int8 models with LiteRT
   (XNNPACK).
3. Reports each int8 model's accuracy and how it agrees with its jax model: top-1 agreement and the
   share of logits within 2 int8 output steps. The QAT comparison evaluates the QAT model on jax on the
   int8 model's own (quantized) inputs, as ``tests/test_backends.py`` does.

Usage:
    KERAS_BACKEND=jax python examples/train_on_jax.py [--epochs 8] [--qat-epochs 2] [--limit N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any

# This example trains on jax: the backend is chosen when keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

import keras_acts  # noqa: E402
from keras_acts import data, keras  # noqa: E402
from keras_acts.backend import keras_backend  # noqa: E402


def build_model(input_shape: tuple[int, ...], classes: int) -> Any:
    """Conv+BatchNorm+hard_swish, PReLU, depthwise+swish, residual Add, mish, GAP, Dense (logits)."""
    layers = keras.layers
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation(keras_acts.get("hard_swish"))(x)
    x = keras_acts.layers.PReLU(shared_axes=[1, 2])(x)
    y = layers.DepthwiseConv2D(3, padding="same", activation=keras_acts.get("swish"))(x)
    x = layers.Add()([x, y])
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation=keras_acts.get("mish"))(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))


EXPORT = """
import json, sys
import numpy as np
import keras_acts
from keras_acts import keras
from keras_acts.backend import keras_backend
from keras_acts.export import evaluate, to_tflite

out = sys.argv[1]
assert keras_backend() == "tensorflow", keras_backend()
x_cal, x_test = np.load(out + "/x_calibration.npy"), np.load(out + "/x_test.npy")
y_test, logits_jax = np.load(out + "/y_test.npy"), np.load(out + "/logits_jax.npy")

# The float model: post-training int8, calibrated on training images.
model = keras.models.load_model(out + "/model.keras")
logits_tf = model.predict(x_test, verbose=0)
res = to_tflite(model, quantization="int8", representative_data=x_cal, input_type="int8", output_type="int8")
res.save(out + "/model_int8.tflite")
ev = evaluate(out + "/model_int8.tflite", x_test, y_test)
q = np.asarray(ev.outputs, np.float64)
out_scale = float(res.report.outputs[0].scale)
lsb = np.abs(q - logits_jax) / out_scale

# The QAT model: int8 from its trained ranges (no calibration data).
qat = keras.models.load_model(out + "/model_qat.keras")
logits_qat_tf = qat.predict(x_test, verbose=0)
logits_qat_jax = np.load(out + "/logits_qat_jax_float_inputs.npy")
qres = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8")
qres.save(out + "/model_qat_int8.tflite")
qev = evaluate(out + "/model_qat_int8.tflite", x_test, y_test)
np.save(out + "/logits_qat_int8.npy", np.asarray(qev.outputs, np.float32))
qin, qout = qres.report.inputs[0], qres.report.outputs[0]
print(json.dumps({
    "tf_vs_jax_max_abs_diff": float(np.abs(logits_tf - logits_jax).max()),
    "int8_accuracy": ev.accuracy,
    "top1_agreement_with_jax": float(np.mean(q.argmax(1) == logits_jax.argmax(1))),
    "within_2_lsb_of_jax": float(np.mean(lsb <= 2.0)),
    "max_diff_lsb": float(lsb.max()),
    "output_scale": out_scale,
    "fully_int8": res.report.is_fully_int8,
    "xnnpack_partitions": res.report.xnnpack.partitions,
    "size_kb": len(res.content) / 1024,
    "qat_tf_vs_jax_max_abs_diff": float(np.abs(logits_qat_tf - logits_qat_jax).max()),
    "qat_int8_accuracy": qev.accuracy,
    "qat_input_scale": float(qin.scale), "qat_input_zero_point": int(qin.zero_point),
    "qat_output_scale": float(qout.scale), "qat_output_zero_point": int(qout.zero_point),
    "qat_fully_int8": qres.report.is_fully_int8,
    "qat_xnnpack_partitions": qres.report.xnnpack.partitions,
    "qat_size_kb": len(qres.content) / 1024,
}))
"""


def export_in_tensorflow(out: pathlib.Path) -> dict[str, Any]:
    """Step 2: loads ``out/model.keras`` in a TensorFlow-backend child process and exports all-int8."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_USE_LEGACY_KERAS": "0"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EXPORT), str(out)], capture_output=True,
                          text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"the TensorFlow export process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def quantized_inputs(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The float values the int8 model sees for ``x``: rounded (ties up, as LiteRT's runner and
    TensorFlow's FakeQuant round) to the int8 input grid and dequantized."""
    q = np.clip(np.floor(x.astype(np.float64) / scale + 0.5) + zero_point, -128, 127)
    return ((q - zero_point) * scale).astype(np.float32)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--qat-epochs", type=int, default=2, help="quantization-aware training epochs on jax")
    p.add_argument("--limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--out", default="out/train_on_jax", help="directory for the .keras and .tflite files")
    args = p.parse_args(argv)
    if keras_backend() != "jax":
        raise SystemExit(f"this example trains on jax, but keras was imported with the {keras_backend()!r} backend: "
                         "run it as `KERAS_BACKEND=jax python examples/train_on_jax.py`.")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # 1. Train on jax.
    ds = data.load("digits", limit=args.limit)
    keras.utils.set_random_seed(0)
    model = build_model(ds.input_shape, ds.num_classes)
    model.compile(keras.optimizers.Adam(1e-2), loss, metrics=["accuracy"])
    model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=32, verbose=0)
    logits = np.asarray(keras.ops.convert_to_numpy(model.predict(ds.x_test, verbose=0)))
    float_accuracy = float(np.mean(logits.argmax(1) == ds.y_test))
    model.save(out / "model.keras")
    np.save(out / "logits_jax.npy", logits)
    np.save(out / "x_test.npy", ds.x_test)
    np.save(out / "y_test.npy", ds.y_test)
    x_cal = ds.x_train[:256]
    np.save(out / "x_calibration.npy", x_cal)

    # 1b. Quantization-aware training, still on jax: BatchNorm folded, ranges calibrated, a short fit.
    qat = keras_acts.quantization.quantize_model(model, calibration_data=x_cal)
    qat.compile(keras.optimizers.Adam(2e-3), loss, metrics=["accuracy"])
    if args.qat_epochs:
        qat.fit(ds.x_train, ds.y_train, epochs=args.qat_epochs, batch_size=32, verbose=0)
    qat.save(out / "model_qat.keras")
    qat_logits = np.asarray(keras.ops.convert_to_numpy(qat.predict(ds.x_test, verbose=0)))
    qat_accuracy = float(np.mean(qat_logits.argmax(1) == ds.y_test))
    np.save(out / "logits_qat_jax_float_inputs.npy", qat_logits)

    # 2. Export both all-int8 with TensorFlow, in its own process.
    exported = export_in_tensorflow(out)

    # 3. Compare the QAT int8 model with the QAT model evaluated here on jax, on the int8 model's own
    # inputs (the test images on its int8 input grid).
    x_deq = quantized_inputs(ds.x_test, exported["qat_input_scale"], exported["qat_input_zero_point"])
    ref = np.asarray(keras.ops.convert_to_numpy(qat.predict(x_deq, verbose=0)), np.float64)
    np.save(out / "logits_qat_jax.npy", ref)
    q = np.load(out / "logits_qat_int8.npy").astype(np.float64)
    lsb = np.abs(q - ref) / exported["qat_output_scale"]
    qat_top1 = float(np.mean(q.argmax(1) == ref.argmax(1)))
    qat_within = float(np.mean(lsb <= 2.0 + 1e-3))  # 1e-3 LSB: float32 rounding of the dequantized logits

    result = {"backend": keras_backend(), "dataset": data.as_dict(ds), "epochs": args.epochs,
              "qat_epochs": args.qat_epochs, "float_accuracy_jax": float_accuracy, "qat_accuracy_jax": qat_accuracy,
              **exported, "qat_top1_agreement_with_jax": qat_top1, "qat_within_2_lsb_of_jax": qat_within,
              "qat_max_diff_lsb": float(lsb.max())}
    print(f"data: {ds.describe()}")
    print(f"trained on jax: float accuracy {float_accuracy:.3f} ({len(ds.x_test)} test images); "
          f"after {args.qat_epochs} QAT epochs on jax: {qat_accuracy:.3f}")
    print(f"TensorFlow reloads them: max |logit difference| {exported['tf_vs_jax_max_abs_diff']:.2g} (float), "
          f"{exported['qat_tf_vs_jax_max_abs_diff']:.2g} = "
          f"{exported['qat_tf_vs_jax_max_abs_diff'] / exported['qat_output_scale']:.2g} output LSB (QAT)")
    print(f"PTQ int8 (LiteRT, XNNPACK): accuracy {exported['int8_accuracy']:.3f}; agrees with the jax model on "
          f"{100 * exported['top1_agreement_with_jax']:.1f} % of top-1 classes and "
          f"{100 * exported['within_2_lsb_of_jax']:.1f} % of logits within 2 output LSB "
          f"(max {exported['max_diff_lsb']:.1f} LSB); fully int8: {exported['fully_int8']}, "
          f"XNNPACK partitions: {exported['xnnpack_partitions']}, {exported['size_kb']:.1f} KiB")
    print(f"QAT int8 (LiteRT, XNNPACK): accuracy {exported['qat_int8_accuracy']:.3f}; agrees with the jax QAT model "
          f"on {100 * qat_top1:.1f} % of top-1 classes and {100 * qat_within:.1f} % of logits within 2 output LSB "
          f"(max {lsb.max():.1f} LSB); fully int8: {exported['qat_fully_int8']}, "
          f"XNNPACK partitions: {exported['qat_xnnpack_partitions']}, {exported['qat_size_kb']:.1f} KiB")
    print(f"files: {out / 'model.keras'}, {out / 'model_int8.tflite'}, {out / 'model_qat.keras'}, "
          f"{out / 'model_qat_int8.tflite'}")
    return result


if __name__ == "__main__":
    main()
