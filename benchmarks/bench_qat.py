"""Float vs post-training int8 (PTQ) vs quantization-aware-trained int8 (QAT) accuracy per activation.

A small CNN (Conv 8 -> act -> Conv 16 -> act -> GAP -> Dense 10) on scikit-learn's
``load_digits`` (1,797 real 8x8 handwritten digits, shipped with scikit-learn: no
download), stratified 75/25 split with a fixed seed. For each registry activation:
train in float, export int8 with calibration data (PTQ), then ``quantize_model`` the
trained model, fine-tune it with QAT and export int8 without calibration data. The
``float+ft`` column fine-tunes the float model for the same extra epochs, so that QAT is
compared with equally trained float and PTQ numbers. QAT is run twice: ``QAT uncal``
starts from tfmot's default ranges ([-6, 6], adapted by a 0.999 EMA during the fine-tune),
``QAT int8`` passes ``calibration_data=`` (the same 300 training images PTQ calibrates
with) so the fine-tune starts from the PTQ ranges. All int8
models are fully int8 (int8 input and output) and are run with the LiteRT interpreter.

It measures the tfmot path (``quantize_model(..., engine="tfmot")``; keras_acts's engine, the default
since 0.1.0's successor, is measured by ``bench_qat_parity.py``). Needs tf_keras (tfmot):

    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def load_data(seed: int = 0):
    """load_digits scaled to [0, 1], NHWC, split 75/25 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    return train_test_split(x, d.target, test_size=0.25, random_state=seed, stratify=d.target)


def build(name: str):
    import keras_acts

    keras = keras_acts.keras
    kwargs = {"shared_axes": [1, 2]} if name == "prelu" else {}
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inp)
    x = keras_acts.layers.get(name, **kwargs)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", strides=2)(x)
    x = keras_acts.layers.get(name, **kwargs)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))


def run(name: str, data, epochs: int, qat_epochs: int, seed: int = 0) -> dict:
    import keras_acts
    from keras_acts.export import evaluate, inspect, to_tflite
    from keras_acts.quantization import quantize_model

    keras = keras_acts.keras
    x_tr, x_te, y_tr, y_te = data
    keras.utils.set_random_seed(seed)
    model = build(name)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=epochs, batch_size=32, verbose=0)
    float_acc = float(model.evaluate(x_te, y_te, verbose=0)[1])

    ptq = to_tflite(model, quantization="int8", representative_data=x_tr[:300], input_type="int8", output_type="int8")
    ptq_acc = evaluate(ptq, x_te, y_te).accuracy

    # Baseline with the same extra training as QAT gets, in float, so QAT is not credited for it.
    ft = keras.models.clone_model(model)
    ft.set_weights(model.get_weights())
    ft.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ft.fit(x_tr, y_tr, epochs=qat_epochs, batch_size=32, verbose=0)
    float_ft_acc = float(ft.evaluate(x_te, y_te, verbose=0)[1])

    def qat_run(calibration_data):
        q = quantize_model(model, calibration_data=calibration_data, engine="tfmot")
        q.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        start = float(q.evaluate(x_te, y_te, verbose=0)[1])
        q.fit(x_tr, y_tr, epochs=qat_epochs, batch_size=32, verbose=0)
        keras_acc = float(q.evaluate(x_te, y_te, verbose=0)[1])
        res = to_tflite(q, quantization="int8", input_type="int8", output_type="int8")
        return start, keras_acc, res, float(evaluate(res, x_te, y_te).accuracy)

    # tfmot's own start: ranges [-6, 6] (input [0, 0]) adapting by EMA during the fine-tune.
    _, _, _, qat_uncal_acc = qat_run(None)
    # keras_acts's calibration_data: ranges start where PTQ calibration puts them (same 300 images).
    qat_start_acc, qat_keras_acc, qat, qat_acc = qat_run(x_tr[:300])

    def islands(res) -> int:
        return len(inspect(res.content).to_dict().get("float_islands", []))

    return {
        "activation": name,
        "float": round(float_acc, 4),
        "ptq_int8": round(float(ptq_acc), 4),
        "float_finetuned": round(float_ft_acc, 4),
        "qat_uncalibrated_int8": round(qat_uncal_acc, 4),
        "qat_calibrated_start_keras": round(qat_start_acc, 4),
        "qat_keras": round(qat_keras_acc, 4),
        "qat_int8": round(qat_acc, 4),
        "ptq_float_islands": islands(ptq),
        "qat_float_islands": islands(qat),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 activations (a TFOpLambda one, a formulation-3 one), 3 + 1 epochs")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--activations", nargs="*", help="registry names (default: all)")
    args = p.parse_args(argv)

    import keras_acts
    from keras_acts import registry

    if keras_acts.FRONTEND != "tf_keras":
        print("bench_qat needs tf_keras: run with TF_USE_LEGACY_KERAS=1", file=sys.stderr)
        return 2
    names = args.activations or (
        ["hard_swish", "mish"] if args.quick else [e.name for e in registry.entries()]
    )
    epochs, qat_epochs = (3, 1) if args.quick else (15, 3)
    data = load_data()
    rows = []
    print(
        f"{'activation':12s} {'float':>7s} {'PTQ int8':>9s} {'float+ft':>9s} {'QAT uncal':>10s} {'QAT int8':>9s} "
        f"{'islands PTQ/QAT':>16s}"
    )
    for name in names:
        t0 = time.time()
        r = run(name, data, epochs, qat_epochs)
        r["seconds"] = round(time.time() - t0, 1)
        rows.append(r)
        print(
            f"{name:12s} {r['float']:7.4f} {r['ptq_int8']:9.4f} {r['float_finetuned']:9.4f} "
            f"{r['qat_uncalibrated_int8']:10.4f} {r['qat_int8']:9.4f} "
            f"{r['ptq_float_islands']:>7d}/{r['qat_float_islands']:<8d}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "dataset": "sklearn load_digits, 75/25 stratified split, seed 0",
                    "epochs": epochs,
                    "qat_epochs": qat_epochs,
                    "command": "TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat.py" + (" --quick" if args.quick else ""),
                    "rows": rows,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
