"""Bring your own activation: register Logish, train on real digits, QAT, export all-int8, explain it.

Logish (Zhu et al., 2021, "Logish: a new nonlinear nonmonotonic activation function for
convolutional neural networks", Neurocomputing 458) is ``x * log(1 + sigmoid(x))``: a self-gated
activation keras_acts does not ship. Registering it takes the few lines under "The user's code"
below (register, export, explain); everything else here is the measurement. Offline, on 2 CPU cores:

1. register ``logish`` with :func:`keras_acts.register_activation`, its math written with
   ``keras.ops`` (every Keras 3 backend; tf_keras runs the same ``keras.ops`` calls on
   TensorFlow tensors) and a NumPy float64 ``reference``; no hand-written int8 lowering,
2. train a small MLP on scikit-learn's real 8x8 handwritten digits (:mod:`keras_acts.data`,
   packaged, no download) with it as a ``Dense(activation=)`` and as a layer,
3. quantization-aware training with :func:`keras_acts.quantization.quantize_model` (the
   activation trains in the QAT formulation of its automatic int8 form),
4. export all-int8 with :func:`keras_acts.export.to_tflite` for LiteRT's CPU runtime
   (``target="cpu"``): the exporter finds, verifies on the installed LiteRT and traces an
   automatic form (docs/AUTO_LOWERING.md),
5. report accuracy (float Keras, QAT Keras, int8 LiteRT with XNNPACK), int8 vs QAT agreement
   (top-1 and the share of logits within 2 output LSB), the ops and the XNNPACK partitions,
6. print ``keras_acts.explain("logish")``: the form per target, its ops, measured error and
   latency, the Edge TPU verdict.

Run:  python examples/custom_activation.py [--epochs 40] [--qat-epochs 5]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np

import keras_acts
from keras_acts import data

keras = keras_acts.keras
NAME = "logish"
PARITY_LSB = 2.0


def register() -> Any:
    """The user's code: Logish registered with the public API (math in keras.ops, NumPy reference)."""
    from keras import ops

    try:  # re-running in the same process (a notebook, the tests) registers it afresh
        keras_acts.unregister_activation(NAME)
    except ValueError:
        pass

    @keras_acts.register_activation(NAME, reference=lambda x: x * np.log1p(1.0 / (1.0 + np.exp(-x))),
                                    formula="x * log(1 + sigmoid(x))", paper="Zhu et al. 2021")
    def logish(x):
        return x * ops.log1p(ops.sigmoid(x))

    return logish


def build_model(input_dim: int, classes: int, width: int = 64) -> Any:
    """Dense(activation=logish) -> Dense -> Logish layer -> Dense logits."""
    return keras.Sequential(
        [
            keras.Input((input_dim,), name="pixels"),
            keras.layers.Dense(width, activation=keras_acts.get(NAME), name="dense1"),
            keras.layers.Dense(width // 2, name="dense2"),
            keras_acts.layers.get(NAME, name="logish2"),
            keras.layers.Dense(classes, name="logits"),
        ],
        name="custom_activation_mlp",
    )


def parity(content: bytes, int8_logits: np.ndarray, qat_logits: np.ndarray) -> dict[str, float]:
    """int8 LiteRT vs QAT Keras logits: top-1 agreement and |difference| in output LSB."""
    from keras_acts.export import make_interpreter

    scale = float(make_interpreter(content).get_output_details()[0]["quantization"][0])
    lsb = np.abs(int8_logits.astype(np.float64) - qat_logits.astype(np.float64)) / scale
    return {
        "top1_agreement": float(np.mean(int8_logits.argmax(axis=1) == qat_logits.argmax(axis=1))),
        "share_within_2_lsb": float(np.mean(lsb <= PARITY_LSB + 1e-6)),
        "max_lsb": float(lsb.max()),
        "output_scale": scale,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--qat-epochs", type=int, default=5)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="use at most this many train/test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--explain-targets", default="cpu,micro,edgetpu,float",
                   help="targets keras_acts.explain measures (comma-separated)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    register()
    ds = data.load("digits", limit=args.limit, seed=args.seed)
    print(ds.describe())
    x_train = ds.x_train.reshape(len(ds.x_train), -1)
    x_test = ds.x_test.reshape(len(ds.x_test), -1)

    model = build_model(x_train.shape[1], ds.num_classes, args.width)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(3e-3), loss, metrics=["accuracy"])
    model.fit(x_train, ds.y_train, epochs=args.epochs, batch_size=32, verbose=0)
    float_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == ds.y_test))

    # QAT: keras_acts's engine; logish trains in the QAT formulation of its automatic int8 form.
    qat = keras_acts.quantization.quantize_model(model, calibration_data=x_train[:256])
    qat.compile(keras.optimizers.Adam(5e-4), loss, metrics=["accuracy"])
    if args.qat_epochs:
        qat.fit(x_train, ds.y_train, epochs=args.qat_epochs, batch_size=32, verbose=0)
    qat_logits = np.asarray(qat.predict(x_test, verbose=0))

    # Export all-int8 for LiteRT's CPU runtime (XNNPACK): the automatic form is searched, verified, traced.
    res = keras_acts.export.to_tflite(qat, target="cpu", quantization="int8", input_type="int8", output_type="int8")
    ev = keras_acts.export.evaluate(res.content, x_test, ds.y_test)
    int8_logits = np.asarray(ev.outputs)
    rep = res.report
    out = {
        "dataset": data.as_dict(ds),
        "frontend": keras_acts.FRONTEND,
        "float_accuracy": float_acc,
        "qat_accuracy": float(np.mean(qat_logits.argmax(axis=1) == ds.y_test)),
        "int8_accuracy": float(ev.accuracy),
        "parity": parity(res.content, int8_logits, qat_logits),
        "ops": [o.op for o in rep.ops],
        "float_islands": [o.op for o in rep.float_islands],
        "xnnpack_partitions": rep.xnnpack.partitions if rep.xnnpack is not None else None,
        "size_kb": res.size_bytes / 1024.0,
    }
    p = out["parity"]
    print(f"frontend {out['frontend']}; activation {NAME!r} registered by this script (no hand-written lowering)")
    print(f"accuracy on {len(x_test)} test digits: float {float_acc:.1%}, QAT {out['qat_accuracy']:.1%}, "
          f"int8 TFLite (XNNPACK) {out['int8_accuracy']:.1%}")
    print(f"int8 vs QAT: top-1 agreement {p['top1_agreement']:.1%}, {p['share_within_2_lsb']:.1%} of logits "
          f"within 2 LSB (max {p['max_lsb']:.2f} LSB)")
    print(f"int8 model: {len(out['ops'])} ops ({', '.join(sorted(set(out['ops'])))}), float islands "
          f"{out['float_islands']}, XNNPACK partitions {out['xnnpack_partitions']}, {out['size_kb']:.1f} KB")

    explanation = keras_acts.explain(NAME, targets=tuple(t.strip() for t in args.explain_targets.split(",") if t.strip()))
    print(explanation)
    out["explain"] = explanation.to_dict()
    out["seconds"] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    main()
