"""Quickstart: train a small CNN with hard_swish and PReLU, ship it as float, int8 and Edge TPU TFLite.

Offline, in a couple of minutes on 2 CPU cores:

1. load real handwritten digits (scikit-learn's 8x8 digits, packaged, no download;
   see :mod:`keras_acts.data`),
2. train a small CNN whose activations are ``keras_acts.hard_swish`` (MobileNetV3's
   hard swish, as a Conv2D ``activation=`` and as a layer) and
   ``keras_acts.layers.PReLU(shared_axes=[1, 2])`` (one learned slope per channel --
   the form the TFLite PRELU op and the Edge TPU accept),
3. export it with :func:`keras_acts.export.to_tflite` three times -- float32, full
   int8 (int8 input/output, for LiteRT's CPU runtime) and int8 for the Coral Edge TPU --
   saving each file atomically into ``--out``,
4. run each file with LiteRT on the test images and print accuracy, size, latency (with
   LiteRT's default XNNPACK delegate, as apps run it), XNNPACK partitions and the Edge TPU
   verdict,
5. record every file in ``--out/manifest.json`` (sha256, command, data set,
   accuracies, size, ops, latency and how it was measured, Edge TPU verdict).

Run:  python examples/quickstart.py                    (writes out/quickstart/)
      python examples/quickstart.py --update-shipped   (rewrites the tracked tflite_models/,
                                                        which tests/test_tflite_models.py re-checks)
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import platform
import sys
import time
from typing import Any, Sequence

import numpy as np

import keras_acts  # keeps TensorFlow's start-up and converter log lines out of the terminal
from keras_acts import data

keras = keras_acts.keras

SCRIPT = "examples/quickstart.py"
VARIANTS = (
    # file suffix, to_tflite keyword arguments
    ("float", {"quantization": "none"}),
    ("int8", {"quantization": "int8", "input_type": "int8", "output_type": "int8"}),
    ("edgetpu", {"target": "edgetpu"}),
)


def build_model(input_shape: tuple, classes: int, filters: int = 16) -> Any:
    """The quickstart CNN: hard_swish and per-channel PReLU.

    Conv(3x3, hard_swish) -> Conv(3x3, stride 2) -> PReLU -> Conv(3x3) -> HardSwish
    -> global average pooling -> softmax.
    """
    x_in = keras.Input(input_shape, name="image")
    h = keras.layers.Conv2D(filters, 3, padding="same", activation=keras_acts.hard_swish, name="conv1")(x_in)
    h = keras.layers.Conv2D(2 * filters, 3, strides=2, padding="same", name="conv2")(h)
    h = keras_acts.layers.PReLU(shared_axes=[1, 2], name="prelu")(h)
    h = keras.layers.Conv2D(2 * filters, 3, padding="same", name="conv3")(h)
    h = keras_acts.layers.HardSwish(name="hard_swish")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(classes, activation="softmax", name="probabilities")(h)
    return keras.Model(x_in, out, name="quickstart_cnn")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--filters", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="use at most this many train/test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="folder for the .tflite files and manifest.json (default out/quickstart)")
    p.add_argument("--update-shipped", action="store_true",
                   help="write into the repository's tracked tflite_models/ (regenerates the shipped models)")
    p.add_argument("--prefix", default="quickstart", help="file name prefix")
    return p.parse_args(argv)


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Trains, exports, evaluates; returns ``{"dataset": ..., "float_accuracy": ..., "rows": [...]}``."""
    from keras_acts.export import evaluate, to_tflite
    from keras_acts.export.atomic import atomic_write_bytes

    args = parse_args(argv)
    if args.update_shipped and args.out is not None:
        raise SystemExit("use either --out DIR or --update-shipped (which writes tflite_models/), not both")
    root = pathlib.Path(__file__).resolve().parent.parent
    out_dir = root / "tflite_models" if args.update_shipped else pathlib.Path(args.out or "out/quickstart")
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = data.load("digits", limit=args.limit, seed=args.seed)
    print(ds.describe())

    keras.utils.set_random_seed(args.seed)
    model = build_model(ds.input_shape, ds.num_classes, args.filters)
    steps = args.epochs * int(np.ceil(len(ds.x_train) / 32))
    lr = keras.optimizers.schedules.CosineDecay(3e-3, max(steps, 1))
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=32, verbose=0)
    train_s = time.perf_counter() - start
    float_acc = float(model.evaluate(ds.x_test, ds.y_test, verbose=0)[1])
    print(f"trained {args.epochs} epochs in {train_s:.0f} s; Keras test accuracy {float_acc:.4f}")

    command = _command(argv)
    rows = []
    for suffix, kwargs in VARIANTS:
        rep = ds.x_train[:300] if kwargs.get("quantization") == "int8" or kwargs.get("target") == "edgetpu" else None
        res = to_tflite(model, representative_data=rep, **kwargs)
        path = res.save(out_dir / f"{args.prefix}_{suffix}.tflite")
        ev = evaluate(path, ds.x_test, ds.y_test)
        report = res.report
        edge = report.edgetpu
        rows.append(
            {
                "file": path.name,
                "variant": suffix,
                "sha256": sha256(path),
                "size_bytes": path.stat().st_size,
                "quantization": res.quantization,
                "target": res.target,
                "input_type": res.input_type,
                "output_type": res.output_type,
                "accuracy": float(ev.accuracy),
                "latency_ms": float(ev.latency_ms),
                "latency_runtime": ev.runtime,
                "xnnpack_partitions": report.xnnpack.partitions,
                "ops": report.op_names,
                "fully_int8": bool(report.is_fully_int8),
                "float_islands": [o.op for o in report.float_islands],
                "edgetpu": _edgetpu_dict(edge),
                # int8 exports: the int8 model against the Keras model on held-out samples
                "validation": res.validation.to_dict() if res.validation is not None else None,
                "validation_summary": res.validation.summary_lines()[0] if res.validation is not None else None,
            }
        )

    _print_table(float_acc, rows)
    manifest = out_dir / "manifest.json"
    _update_manifest(manifest, rows, ds, args, float_acc, train_s, command, atomic_write_bytes)
    print(f"wrote {', '.join(r['file'] for r in rows)} and {manifest}")
    return {"dataset": data.as_dict(ds), "float_accuracy": float_acc, "rows": rows, "manifest": str(manifest)}


def _command(argv: Sequence[str] | None) -> str:
    args = list(argv if argv is not None else sys.argv[1:])
    env = "TF_USE_LEGACY_KERAS=1 " if keras_acts.FRONTEND == "tf_keras" else ""
    return f"{env}python {SCRIPT} {' '.join(args)}".strip()


def _edgetpu_dict(edge: Any) -> dict[str, Any]:
    if edge is None:
        return {"compatible": None, "verdict": "not checked (no Edge TPU checker available)"}
    if edge.compatible:
        verdict = f"compatible ({edge.source} check)"
    else:
        first = edge.unsupported[0]
        verdict = f"not compatible ({edge.source} check): {first.op}: {first.reason.split(';')[0]}"
    return {
        "compatible": bool(edge.compatible),
        "verdict": verdict,
        "source": edge.source,
        "mapped_fraction": float(edge.mapped_fraction),
        "num_issues": len(edge.unsupported),
        "ops_with_issues": sorted({i.op for i in edge.unsupported}),
        "compiler_version": edge.compiler_version,
    }


def _print_table(float_acc: float, rows: list[dict[str, Any]]) -> None:
    print()
    print(f"{'model':<28} {'accuracy':>9} {'size':>9} {'latency':>11}  Edge TPU")
    print(f"{'Keras (float32)':<28} {float_acc:>9.4f} {'':>9} {'':>11}  -")
    for r in rows:
        print(
            f"{r['file']:<28} {r['accuracy']:>9.4f} {r['size_bytes'] / 1024:>7.1f}KB "
            f"{r['latency_ms']:>8.3f} ms  {r['edgetpu']['verdict'] if r['quantization'] == 'int8' else '- (float model)'}"
        )
    print(f"latency: median ms per sample, {rows[0]['latency_runtime']} (LiteRT's default CPU path)")
    for r in rows:
        check = f"; {r['validation_summary']}" if r.get("validation_summary") else ""
        print(f"  {r['file']}: {r['xnnpack_partitions']} XNNPACK partition(s){check}")
    print()


def _update_manifest(path, rows, ds, args, float_acc, train_s, command, write) -> None:
    import tensorflow as tf

    try:
        manifest = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = {}
    manifest.setdefault(
        "about",
        "TFLite models shipped with keras_acts. Every entry records the script and command that produced "
        "it; tests/test_tflite_models.py re-checks the sha256 and re-measures the accuracy.",
    )
    models = manifest.setdefault("models", {})
    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # pragma: no cover - depends on the install
        litert = None
    common = {
        "script": SCRIPT,
        "command": command,
        "frontend": keras_acts.FRONTEND,
        "dataset": {**data.as_dict(ds), "split_seed": args.seed, "limit": args.limit, "evaluated_on": "test"},
        "keras_float_accuracy": float_acc,
        "epochs": args.epochs,
        "train_time_s": round(train_s, 1),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "ai_edge_litert": litert,
                     "keras_acts": keras_acts.__version__},
    }
    for r in rows:
        models[r["file"]] = {**common, **{k: v for k, v in r.items() if k != "file"}}
    write(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())


if __name__ == "__main__":
    main()
