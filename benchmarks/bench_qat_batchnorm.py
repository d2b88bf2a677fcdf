"""QAT of a briefly trained keras.applications model: stale BatchNorm statistics, measured.

MobileNetV3Small (``keras.applications``, ``weights=None``, 10 classes, logits) at 64x64 is
trained in float for 2 epochs on 1,500 real MNIST digits (``keras_acts.data`` "mnist5k",
resized and tiled to RGB 0..255). keras.applications builds BatchNorm with momentum 0.999,
so the moving statistics barely move in ~94 steps. Then the README's QAT steps:
``quantize_model(model, calibration_data=x_train[:256])``, compile, 1 QAT epoch, int8 export,
evaluation on held-out digits. Three runs of those steps from the same float weights:

* ``reestimate_batchnorm=False``: refused (constant output); with ``allow_constant_output=True``
  what the library did before these checks existed,
* the default ``reestimate_batchnorm="auto"``,
* the float model fixed first with ``keras_acts.quantization.reestimate_batchnorm(model, x_train[:1000])``.

Also reported: the float model's accuracy in inference mode before and after re-estimation, its
accuracy in training mode (batch statistics) and the per-layer BatchNorm discrepancy (median KL,
:func:`keras_acts.quantization.batchnorm_discrepancies`) before and after.

Usage (numbers in docs/QAT.md, "BatchNorm statistics"):

    python benchmarks/bench_qat_batchnorm.py [--size 64] [--train 1500] [--out docs/qat_batchnorm.json]
    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat_batchnorm.py ...
    python benchmarks/bench_qat_batchnorm.py --quick   # smoke run: 200 images, 32x32, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras_acts  # noqa: E402
from keras_acts import data  # noqa: E402

keras = keras_acts.keras


def digits_rgb(x: np.ndarray, size: int) -> np.ndarray:
    import tensorflow as tf

    x = tf.image.resize(x, (size, size)).numpy()
    return (np.repeat(np.clip(x, 0.0, 1.0), 3, axis=-1) * 255.0).astype("float32")


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, training: bool = False) -> float:
    preds = []
    for i in range(0, len(x), 128):
        preds.append(np.argmax(np.asarray(model(x[i : i + 128], training=training)), -1))
    return float(np.mean(np.concatenate(preds) == y))


def stats(found: list) -> dict[str, Any]:
    kl = [d.kl for d in found]
    return {
        "layers": len(found),
        "stale": sum(d.stale for d in found),
        "median_kl": float(np.median(kl)) if kl else None,
        "max_kl": float(np.max(kl)) if kl else None,
        "kl_per_layer": [round(v, 5) for v in kl],
    }


def qat_steps(model: Any, ds: tuple, args: argparse.Namespace, **kw: Any) -> dict[str, Any]:
    """The README's QAT steps; returns accuracies and the warnings quantize_model gave."""
    from keras_acts.export import evaluate, to_tflite
    from keras_acts.quantization import quantize_model

    x, y, xt, yt = ds
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qat = quantize_model(model, calibration_data=x[: args.calibration], **kw)
    said = [f"{type(w.message).__name__}: {w.message}" for w in caught if "BatchNorm" in type(w.message).__name__]
    start = accuracy(qat, xt, yt)
    qat.compile(keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Adam's variables made before the first step: made inside it, Keras traces the train step twice (docs/QAT.md).
    qat.optimizer.build(qat.trainable_variables)
    qat.fit(x, y, batch_size=32, epochs=args.qat_epochs, verbose=0)
    qat_acc = accuracy(qat, xt, yt)
    res = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8")
    ev = evaluate(res.content, xt, yt, reference=qat)
    return {"warnings": said, "qat_start_accuracy": start, "qat_accuracy": qat_acc, "int8_accuracy": float(ev.accuracy),
            "int8_vs_qat_top1_agreement": ev.top1_agreement, "qat_predicted_classes": predicted_classes(qat, xt)}


def predicted_classes(model: Any, x: np.ndarray) -> int:
    """How many different classes the model predicts on ``x`` (1: the same answer for every image)."""
    return int(len(np.unique(np.argmax(np.asarray(model(x, training=False)), -1))))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--train", type=int, default=1500, help="training images (mnist5k)")
    p.add_argument("--test", type=int, default=500, help="held-out images")
    p.add_argument("--epochs", type=int, default=2, help="float epochs")
    p.add_argument("--qat-epochs", type=int, default=1)
    p.add_argument("--calibration", type=int, default=256)
    p.add_argument("--reestimate", type=int, default=1000, help="images for the explicit reestimate_batchnorm run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run (200 images, 32x32, 1 epoch)")
    p.add_argument("--out", default=None, help="write the results JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.train, args.test, args.epochs, args.calibration, args.reestimate = 32, 200, 100, 1, 64, 128
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from keras_acts.quantization import batchnorm_discrepancies, reestimate_batchnorm

    args = parse_args(argv)
    t0 = time.perf_counter()
    ds = data.load("mnist5k", offline=True, seed=args.seed)
    x, y = digits_rgb(ds.x_train[: args.train], args.size), ds.y_train[: args.train].astype("int32")
    xt, yt = digits_rgb(ds.x_test[: args.test], args.size), ds.y_test[: args.test].astype("int32")
    keras.utils.set_random_seed(args.seed)
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(args.size, args.size, 3), classes=10, classifier_activation=None
    )
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    model.optimizer.build(model.trainable_variables)  # one trace of the train step, not two (docs/QAT.md)
    hist = model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
    weights = model.get_weights()
    calib = x[: args.calibration]
    out: dict[str, Any] = {
        "command": "python benchmarks/bench_qat_batchnorm.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "frontend": keras_acts.FRONTEND,
        "dataset": ds.describe(),
        "settings": {k: getattr(args, k) for k in ("size", "train", "test", "epochs", "qat_epochs", "calibration", "reestimate", "seed")},
        "float": {
            "train_accuracy_last_epoch": float(hist.history["accuracy"][-1]),
            "inference_accuracy": accuracy(model, xt, yt),
            "training_mode_accuracy": accuracy(model, xt, yt, training=True),
            "batchnorm_before": stats(batchnorm_discrepancies(model, calib)),
        },
    }
    print(json.dumps(out["float"]), flush=True)
    ds4 = (x, y, xt, yt)
    from keras_acts.quantization import QuantizationError, quantize_model

    try:  # what quantize_model says when told not to re-estimate: the output is constant, refused
        quantize_model(model, calibration_data=calib, reestimate_batchnorm=False)
        refused = None
    except QuantizationError as err:
        refused = f"{type(err).__name__}: {err}"
    # ... and what QAT gives when the user insists (allow_constant_output=True)
    out["qat_reestimate_false"] = {
        "refused_with": refused,
        **qat_steps(model, ds4, args, reestimate_batchnorm=False, allow_constant_output=True),
    }
    print("reestimate_batchnorm=False", json.dumps(out["qat_reestimate_false"])[:400], flush=True)
    model.set_weights(weights)
    out["qat_default_auto"] = qat_steps(model, ds4, args)
    print("default (auto)", json.dumps(out["qat_default_auto"])[:400], flush=True)
    model.set_weights(weights)
    info = reestimate_batchnorm(model, x[: args.reestimate])
    out["float_reestimated"] = {
        **info,
        "inference_accuracy": accuracy(model, xt, yt),
        "batchnorm_after": stats(batchnorm_discrepancies(model, calib)),
    }
    print(json.dumps(out["float_reestimated"]), flush=True)
    out["qat_after_explicit_reestimate"] = qat_steps(model, ds4, args)
    print("after reestimate_batchnorm", json.dumps(out["qat_after_explicit_reestimate"])[:400], flush=True)
    out["wall_s"] = time.perf_counter() - t0
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
