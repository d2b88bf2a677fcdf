"""Train on JAX, export with TensorFlow: a keras_acts CNN trained with ``KERAS_BACKEND=jax``, exported all-int8.

1. Train (this process, Keras 3 on the jax backend): a small CNN with Conv+BatchNorm, hard_swish,
   PReLU(shared_axes), a depthwise conv with swish, a residual Add, mish and GAP, on the real 8x8
   handwritten digits packaged with scikit-learn (``keras_acts.data``). Saves ``model.keras``, the
   jax model's logits on the test set and the calibration samples.
2. Export (a child process with ``KERAS_BACKEND=tensorflow``, since the TFLite converter traces
   TensorFlow graphs): loads ``model.keras`` after ``import keras_acts``, checks that TensorFlow
   computes the jax model's outputs, exports all-int8 (post-training quantization, calibrated on
   training images) with the registry's lowerings, and runs the int8 model with LiteRT.
3. Reports the int8 model's accuracy and how it agrees with the jax model: top-1 agreement and the
   share of logits within 2 int8 output steps.

Quantization-aware training is not in this example: ``keras_acts.quantization.quantize_model`` needs
the TensorFlow backend in this release (on jax it stops with Keras's "Unable to automatically build
the model"). Once it runs on jax, it is one step between 1 and 2: ``model =
keras_acts.quantization.quantize_model(model)``, a short ``fit``, then save; the export in step 2 is
unchanged (a QAT model needs no calibration data).

Usage:
    KERAS_BACKEND=jax python examples/train_on_jax.py [--epochs 8] [--limit N] [--out DIR]
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
model = keras.models.load_model(out + "/model.keras")
x_cal, x_test = np.load(out + "/x_calibration.npy"), np.load(out + "/x_test.npy")
y_test, logits_jax = np.load(out + "/y_test.npy"), np.load(out + "/logits_jax.npy")
logits_tf = model.predict(x_test, verbose=0)
res = to_tflite(model, quantization="int8", representative_data=x_cal, input_type="int8", output_type="int8")
res.save(out + "/model_int8.tflite")
ev = evaluate(out + "/model_int8.tflite", x_test, y_test)
q = np.asarray(ev.outputs, np.float64)
out_scale = float(res.report.outputs[0].scale)
lsb = np.abs(q - logits_jax) / out_scale
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--out", default="out/train_on_jax", help="directory for model.keras and model_int8.tflite")
    args = p.parse_args(argv)
    if keras_backend() != "jax":
        raise SystemExit(f"this example trains on jax, but keras was imported with the {keras_backend()!r} backend: "
                         "run it as `KERAS_BACKEND=jax python examples/train_on_jax.py`.")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Train on jax.
    ds = data.load("digits", limit=args.limit)
    keras.utils.set_random_seed(0)
    model = build_model(ds.input_shape, ds.num_classes)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=32, verbose=0)
    logits = np.asarray(keras.ops.convert_to_numpy(model.predict(ds.x_test, verbose=0)))
    float_accuracy = float(np.mean(logits.argmax(1) == ds.y_test))
    model.save(out / "model.keras")
    np.save(out / "logits_jax.npy", logits)
    np.save(out / "x_test.npy", ds.x_test)
    np.save(out / "y_test.npy", ds.y_test)
    np.save(out / "x_calibration.npy", ds.x_train[:256])

    # (Quantization-aware training would go here once keras_acts.quantization runs on jax; see the
    # module docstring.)

    # 2. Export all-int8 with TensorFlow, in its own process; 3. compare with the jax model.
    exported = export_in_tensorflow(out)
    result = {"backend": keras_backend(), "dataset": data.as_dict(ds), "epochs": args.epochs,
              "float_accuracy_jax": float_accuracy, **exported}
    print(f"data: {ds.describe()}")
    print(f"trained on jax: float accuracy {float_accuracy:.3f} ({len(ds.x_test)} test images)")
    print(f"TensorFlow reloads it: max |logit difference| {exported['tf_vs_jax_max_abs_diff']:.2g}")
    print(f"int8 (LiteRT, XNNPACK): accuracy {exported['int8_accuracy']:.3f}; agrees with the jax model on "
          f"{100 * exported['top1_agreement_with_jax']:.1f} % of top-1 classes and "
          f"{100 * exported['within_2_lsb_of_jax']:.1f} % of logits within 2 output LSB "
          f"(max {exported['max_diff_lsb']:.1f} LSB); fully int8: {exported['fully_int8']}, "
          f"XNNPACK partitions: {exported['xnnpack_partitions']}, {exported['size_kb']:.1f} KiB")
    print(f"files: {out / 'model.keras'}, {out / 'model_int8.tflite'}")
    return result


if __name__ == "__main__":
    main()
