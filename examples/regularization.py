"""Activations together with L1/L2, Dropout and BatchNorm in a small CNN.

Every combination of ``--activations`` x ``--regularizers`` trains the same small CNN
(two 3x3 convolutions, global average pooling, softmax) on real images (the packaged
8x8 digits offline, see :mod:`keras_acts.data`) with the same seed and schedule, and
reports test accuracy, test loss, the train-test accuracy gap (overfitting) and the
share of dead units at the end of training (:class:`keras_acts.callbacks.DeadUnitMonitor`,
only for activations with a dead region).

Regularizers:
    none: no regularization.
    l1l2: L1 1e-5 and L2 1e-4 penalties on every kernel (``keras.regularizers.L1L2``).
    dropout: Dropout(0.3) after each convolution block and before the classifier.
    batchnorm: BatchNormalization between each convolution and its activation
        (Ioffe & Szegedy, 2015); convolutions then have no bias.

Outputs in ``--out``: ``results.md``, ``results.csv``, ``results.json``.

Run:  python examples/regularization.py --epochs 20 --out results/regularization
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pathlib
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_acts  # noqa: E402
from keras_acts import callbacks, data, registry  # noqa: E402

keras = keras_acts.keras

DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "swish", "hard_swish")
REGULARIZERS = ("none", "l1l2", "dropout", "batchnorm")


def activation_layer(name: str, layer_name: str) -> Any:
    """A keras_acts activation layer; PReLU gets one alpha per channel."""
    entry = registry.lookup(name)
    if entry.name == "prelu":
        return keras_acts.layers.PReLU(shared_axes=[1, 2], name=layer_name)
    # keras_acts.layers.get(name, **kwargs) cannot take the layer's own `name=`, so use the class.
    return getattr(keras_acts.layers, entry.layer)(name=layer_name)


def build_cnn(activation: str, regularizer: str, input_shape: tuple, classes: int, filters: int = 32) -> Any:
    """The small CNN of this example with one activation and one regularizer."""
    if regularizer not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {regularizer!r}; use one of {', '.join(REGULARIZERS)}.")
    kernel_reg = keras.regularizers.L1L2(l1=1e-5, l2=1e-4) if regularizer == "l1l2" else None
    bn = regularizer == "batchnorm"
    x_in = keras.Input(input_shape)
    h = x_in
    for i, (f, stride) in enumerate([(filters, 1), (2 * filters, 2)]):
        h = keras.layers.Conv2D(
            f, 3, strides=stride, padding="same", use_bias=not bn, kernel_initializer="he_normal",
            kernel_regularizer=kernel_reg, name=f"conv{i + 1}",
        )(h)
        if bn:
            h = keras.layers.BatchNormalization(name=f"bn{i + 1}")(h)
        h = activation_layer(activation, f"act{i + 1}")(h)
        if regularizer == "dropout":
            h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    if regularizer == "dropout":
        h = keras.layers.Dropout(0.3)(h)
    out = keras.layers.Dense(classes, activation="softmax", kernel_regularizer=kernel_reg, name="classifier")(h)
    return keras.Model(x_in, out, name=f"cnn_{activation}_{regularizer}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activations", default=",".join(DEFAULT_ACTIVATIONS))
    p.add_argument("--regularizers", default=",".join(REGULARIZERS))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--filters", type=int, default=32, help="filters of the first convolution")
    p.add_argument("--limit", type=int, default=None, help="use at most this many train/test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/regularization")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the grid; returns ``{"dataset": ..., "rows": [...]}``."""
    args = parse_args(argv)
    acts = [registry.lookup(n).name for n in args.activations.split(",") if n.strip()]
    regs = [r.strip() for r in args.regularizers.split(",") if r.strip()]
    for r in regs:
        if r not in REGULARIZERS:
            raise SystemExit(f"unknown regularizer {r!r}; use a comma-separated subset of {','.join(REGULARIZERS)}.")
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = data.load("digits", limit=args.limit, seed=args.seed)
    print(ds.describe())
    probe = ds.x_train[:256]

    rows = []
    for act in acts:
        for reg in regs:
            keras.utils.set_random_seed(args.seed)
            model = build_cnn(act, reg, ds.input_shape, ds.num_classes, args.filters)
            model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
            cbs = []
            dead = None
            if registry.lookup(act).dead_below is not None:
                dead = callbacks.DeadUnitMonitor(probe)
                cbs.append(dead)
            start = time.perf_counter()
            hist = model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=32, verbose=0, callbacks=cbs)
            seconds = time.perf_counter() - start
            test_loss, test_acc = (float(v) for v in model.evaluate(ds.x_test, ds.y_test, verbose=0)[:2])
            train_acc = float(model.evaluate(ds.x_train, ds.y_train, verbose=0)[1])
            dead_share = None
            if dead is not None and dead.history:
                dead_share = max(v[-1] for v in dead.history.values())
            row = {
                "activation": act,
                "regularizer": reg,
                "test_accuracy": test_acc,
                "test_loss": test_loss,
                "train_accuracy": train_acc,
                "gap": train_acc - test_acc,
                "final_train_loss": float(hist.history["loss"][-1]),
                "max_dead_share": dead_share,
                "train_time_s": seconds,
            }
            rows.append(row)
            print(
                f"{act:>12} + {reg:<9}: test acc {test_acc:.3f}, gap {row['gap']:+.3f}, "
                f"dead {'n/a' if dead_share is None else f'{dead_share:.2f}'}, {seconds:.1f} s"
            )
            keras.backend.clear_session()

    _write(out_dir, args, ds, rows, argv)
    return {"dataset": data.as_dict(ds), "rows": rows}


def _write(out_dir: pathlib.Path, args, ds, rows, argv) -> None:
    keys = list(rows[0]) if rows else []
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    command = "python examples/regularization.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"{ds.describe()}. {args.epochs} epochs, Adam 1e-3, batch 32, seed {args.seed}, frontend "
        f"{keras_acts.FRONTEND}. Command: `{command.strip()}`.",
        "",
        "| activation | regularizer | test acc | test loss | train acc - test acc | dead units (max layer) | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dead = "n/a" if r["max_dead_share"] is None else f"{r['max_dead_share']:.2f}"
        lines.append(
            f"| {r['activation']} | {r['regularizer']} | {r['test_accuracy']:.3f} | {r['test_loss']:.3f} "
            f"| {r['gap']:+.3f} | {dead} | {r['train_time_s']:.1f} |"
        )
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    (out_dir / "results.json").write_text(json.dumps({"dataset": data.as_dict(ds), "rows": rows}, indent=2))
    print(f"wrote {out_dir / 'results.md'}")


if __name__ == "__main__":
    main()
