"""One ResNet-20-style network per activation: accuracy, convergence and int8 cost.

For every activation in ``--activations`` the same residual network (He et al., 2016,
"Deep Residual Learning for Image Recognition", CIFAR variant: a 3x3 stem, three stages
of ``--blocks`` basic blocks with 16/32/64 filters, global average pooling; ``--blocks
3`` is ResNet-20) is trained with the same seed, data order and schedule (Adam with a
cosine-decayed learning rate). Then each trained model is exported with
:func:`keras_acts.export.to_tflite`:

* PTQ int8: post-training full-integer quantization (int8 I/O), evaluated with LiteRT.
* QAT int8: quantization-aware fine-tuning with :func:`keras_acts.quantization.quantize_model`
  (tfmot under tf_keras; keras_acts's own QAT engine under Keras 3).
* Edge TPU: export for ``target="edgetpu"`` and the static Edge TPU check (or the
  reason the export was refused).

Data: CIFAR-10 via ``keras.datasets`` when it can be downloaded, otherwise the real
8x8 digits packaged with scikit-learn (:mod:`keras_acts.data`); the output says which.
Validation curves use the held-out test split.

Outputs in ``--out``: ``results.md``, ``results.csv``, ``results.json`` and
``curves.png`` (test accuracy and training loss per epoch).

Run:  python examples/compare_activations.py --epochs 15 --out results/compare
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import pathlib
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras_acts  # noqa: E402
from keras_acts import data, registry  # noqa: E402

keras = keras_acts.keras

DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "selu", "swish", "hard_swish", "mish", "gelu")
_INITIALIZERS = {"selu": "lecun_normal", "sigmoid": "glorot_uniform", "tanh": "glorot_uniform"}


def activation_layer(name: str, layer_name: str) -> Any:
    """A keras_acts activation layer for ``name``; PReLU gets one alpha per channel."""
    entry = registry.lookup(name)
    if entry.name == "prelu":
        return keras_acts.layers.PReLU(shared_axes=[1, 2], name=layer_name)
    return getattr(keras_acts.layers, entry.layer)(name=layer_name)


def build_resnet(activation: str, input_shape: tuple, classes: int, blocks: int = 3, width: int = 16) -> Any:
    """A CIFAR-style ResNet with ``6 * blocks + 2`` layers and the given activation.

    Basic block: conv3x3-BN-act-conv3x3-BN, plus the shortcut (a strided 1x1 conv + BN
    when the shape changes), then the activation.
    """
    init = _INITIALIZERS.get(registry.lookup(activation).name, "he_normal")
    reg = keras.regularizers.L2(1e-4)
    count = [0]

    def act() -> Any:
        count[0] += 1
        return activation_layer(activation, f"act_{count[0]}")

    def conv(f: int, k: int, s: int) -> Any:
        return keras.layers.Conv2D(
            f, k, strides=s, padding="same", use_bias=False, kernel_initializer=init, kernel_regularizer=reg
        )

    x_in = keras.Input(input_shape)
    h = act()(keras.layers.BatchNormalization()(conv(width, 3, 1)(x_in)))
    for stage, filters in enumerate([width, 2 * width, 4 * width]):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            y = act()(keras.layers.BatchNormalization()(conv(filters, 3, stride)(h)))
            y = keras.layers.BatchNormalization()(conv(filters, 3, 1)(y))
            if stride != 1 or h.shape[-1] != filters:
                h = keras.layers.BatchNormalization()(conv(filters, 1, stride)(h))
            h = act()(keras.layers.Add()([h, y]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(classes, activation="softmax", kernel_initializer="he_normal")(h)
    return keras.Model(x_in, out, name=f"resnet{6 * blocks + 2}_{activation}")


def _scope(strategy: str) -> Any:
    import tensorflow as tf

    if strategy == "none":
        return contextlib.nullcontext()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy().scope()
    raise SystemExit(f"unknown --strategy {strategy!r}; use none or mirrored.")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activations", default=",".join(DEFAULT_ACTIVATIONS), help="comma-separated registry names")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--blocks", type=int, default=3, help="basic blocks per stage (3 = ResNet-20)")
    p.add_argument("--width", type=int, default=16, help="filters of the first stage")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="initial Adam learning rate (cosine decay to 0)")
    p.add_argument("--limit", type=int, default=None, help="use at most this many train/test images")
    p.add_argument("--dataset", default="cifar10", choices=data.DATASETS)
    p.add_argument("--offline", action="store_true", help="skip the download attempt")
    p.add_argument("--target", type=float, default=0.9, help="accuracy for 'epochs to target'")
    p.add_argument("--qat-epochs", type=int, default=2, help="QAT fine-tuning epochs")
    p.add_argument("--no-export", action="store_true", help="skip the TFLite columns")
    p.add_argument("--strategy", default="none", choices=("none", "mirrored"), help="tf.distribute strategy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/compare_activations")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison; returns ``{"dataset": ..., "rows": [...], "curves": {...}}``."""
    args = parse_args(argv)
    names = [registry.lookup(n).name for n in args.activations.split(",") if n.strip()]
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = data.load(args.dataset, limit=args.limit, offline=args.offline or None, seed=args.seed)
    print(ds.describe())
    steps = args.epochs * int(np.ceil(len(ds.x_train) / args.batch_size))

    rows, curves = [], {}
    for name in names:
        keras.utils.set_random_seed(args.seed)
        with _scope(args.strategy):
            model = build_resnet(name, ds.input_shape, ds.num_classes, args.blocks, args.width)
            schedule = keras.optimizers.schedules.CosineDecay(args.lr, max(steps, 1))
            model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        hist = model.fit(
            ds.x_train, ds.y_train, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
            validation_data=(ds.x_test, ds.y_test), verbose=0,
        )
        seconds = time.perf_counter() - start
        val_acc = [float(v) for v in hist.history["val_accuracy"]]
        loss = [float(v) for v in hist.history["loss"]]
        curves[name] = {"val_accuracy": val_acc, "loss": loss}
        reached = [i + 1 for i, a in enumerate(val_acc) if a >= args.target]
        row: dict[str, Any] = {
            "activation": name,
            "float_accuracy": val_acc[-1],
            "final_loss": loss[-1],
            "epochs_to_target": reached[0] if reached else None,
            "train_time_s": seconds,
        }
        if not args.no_export:
            row.update(_export_columns(model, ds, args))
        rows.append(row)
        print(_one_line(row))
        keras.backend.clear_session()

    _write(out_dir, args, ds, rows, curves, argv)
    return {"dataset": data.as_dict(ds), "rows": rows, "curves": curves}


def _export_columns(model: Any, ds: data.Dataset, args: argparse.Namespace) -> dict[str, Any]:
    from keras_acts.export import evaluate, to_tflite

    rep = ds.x_train[:200]
    cols: dict[str, Any] = {}
    try:
        res = to_tflite(model, quantization="int8", representative_data=rep, input_type="int8", output_type="int8")
        ev = evaluate(res.content, ds.x_test, ds.y_test)
        cols.update(
            ptq_int8_accuracy=ev.accuracy,
            int8_size_kb=res.size_bytes / 1024.0,
            int8_latency_ms=ev.latency_ms,
            int8_xnnpack_partitions=res.report.xnnpack.partitions,
            int8_float_islands=[o.op for o in res.report.float_islands],
        )
    except Exception as err:  # a failed export is a result of this comparison
        cols.update(ptq_int8_accuracy=None, int8_size_kb=None, int8_latency_ms=None,
                    ptq_error=f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")
    cols["qat_int8_accuracy"], cols["qat_note"] = _qat(model, ds, args, rep)
    cols["edgetpu"] = _edgetpu_verdict(model, rep)
    return cols


def _qat(model: Any, ds: data.Dataset, args: argparse.Namespace, rep: np.ndarray) -> tuple[float | None, str]:
    """QAT fine-tuning and int8 export; (accuracy, note) or (None, why not).

    tf_keras: tfmot with keras_acts's QuantizeConfigs; Keras 3: keras_acts's own QAT engine.
    The note also gives the int8 model's largest disagreement with the QAT model (output LSB).
    """
    try:
        from keras_acts.export import evaluate, to_tflite
        from keras_acts.quantization import quantize_model

        # Quantizer ranges from the calibration images, as PTQ uses (tfmot's default start of
        # [-6, 6] clips wide activations for the whole fine-tune; see docs/QAT.md).
        qat_model = quantize_model(model, calibration_data=rep)
        qat_model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
        qat_model.fit(ds.x_train, ds.y_train, epochs=args.qat_epochs, batch_size=args.batch_size, verbose=0)
        res = to_tflite(qat_model, quantization="int8", input_type="int8", output_type="int8")
        ev = evaluate(res.content, ds.x_test, ds.y_test, reference=qat_model)
        engine = "tfmot" if keras_acts.FRONTEND == "tf_keras" else "keras_acts engine"
        note = (
            f"{engine}, {args.qat_epochs} QAT epochs, ranges calibrated on {len(rep)} images, "
            f"int8 vs QAT model max {ev.max_diff_lsb:.2f} LSB, float islands {[o.op for o in res.report.float_islands]}"
        )
        return float(ev.accuracy), note
    except Exception as err:  # the error is the documented answer for this activation
        return None, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"


def _edgetpu_verdict(model: Any, rep: np.ndarray) -> str:
    from keras_acts.export import to_tflite

    try:
        res = to_tflite(model, target="edgetpu", representative_data=rep)
    except Exception as err:
        return f"refused by the export ({str(err).splitlines()[0][:120].rstrip(':. ')})"
    e = res.report.edgetpu
    if e is None:
        return "unknown (no Edge TPU checker installed)"
    if e.compatible:
        return f"compatible ({e.source} check, {e.num_ops} ops)"
    first = e.unsupported[0] if e.unsupported else None
    where = f"; first unsupported: {first.op}" if first is not None else ""
    return f"partial: {e.mapped_fraction:.0%} of ops mapped{where}"


def _fmt(v: Any, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _one_line(r: dict[str, Any]) -> str:
    return (
        f"{r['activation']:>11}: acc {r['float_accuracy']:.3f}, loss {r['final_loss']:.3f}, "
        f"to target {r['epochs_to_target']}, {r['train_time_s']:.0f} s, "
        f"PTQ {_fmt(r.get('ptq_int8_accuracy'), '.3f')}, QAT {_fmt(r.get('qat_int8_accuracy'), '.3f')}, "
        f"Edge TPU {r.get('edgetpu', 'n/a')}"
    )


def _write(out_dir, args, ds, rows, curves, argv) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    command = "python examples/compare_activations.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"ResNet-{6 * args.blocks + 2} (width {args.width}), {args.epochs} epochs, Adam {args.lr} with cosine decay, "
        f"batch {args.batch_size}, seed {args.seed}, frontend {keras_acts.FRONTEND}. {ds.describe()}.",
        f"Command: `{command.strip()}`. Latency: LiteRT's default CPU runtime (XNNPACK delegate), 1 "
        "thread, median ms per sample in batches of 32.",
        "",
        f"| activation | float acc | final loss | epochs to {args.target:.0%} | train time (s) | PTQ int8 acc "
        "| QAT int8 acc | int8 size (KB) | int8 latency (ms) | Edge TPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        qat = _fmt(r.get("qat_int8_accuracy"), ".3f")
        if r.get("qat_int8_accuracy") is None and r.get("qat_note"):
            qat = f"failed: {r['qat_note'][:80]}"
        islands = r.get("int8_float_islands")
        ptq = _fmt(r.get("ptq_int8_accuracy"), ".3f")
        if islands:
            ptq += f" (float: {', '.join(sorted(set(islands)))})"
        lines.append(
            f"| {r['activation']} | {r['float_accuracy']:.3f} | {r['final_loss']:.3f} | "
            f"{r['epochs_to_target'] if r['epochs_to_target'] is not None else 'not reached'} | "
            f"{r['train_time_s']:.1f} | {ptq} | {qat} | {_fmt(r.get('int8_size_kb'), '.1f')} | "
            f"{_fmt(r.get('int8_latency_ms'), '.3f')} | {r.get('edgetpu', 'n/a')} |"
        )
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    (out_dir / "results.json").write_text(
        json.dumps({"dataset": data.as_dict(ds), "command": command.strip(), "rows": rows, "curves": curves},
                   indent=2, default=str)
    )

    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    for name, c in curves.items():
        epochs = np.arange(1, len(c["loss"]) + 1)
        ax_acc.plot(epochs, c["val_accuracy"], label=name)
        ax_loss.plot(epochs, c["loss"], label=name)
    ax_acc.set_title(f"test accuracy ({ds.name})")
    ax_loss.set_title("training loss")
    ax_loss.set_yscale("log")
    for ax in (ax_acc, ax_loss):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    ax_acc.legend(fontsize=8)
    fig.savefig(out_dir / "curves.png", dpi=110)
    print(f"wrote {out_dir / 'results.md'}, {out_dir / 'results.csv'}, {out_dir / 'curves.png'}")


if __name__ == "__main__":
    main()
