"""TFLite size, LiteRT latency and accuracy of float32, float16, dynamic-range and int8 exports.

Two models, trained briefly on real data (CIFAR-10 is not used: the digits of scikit-learn work
offline; `keras_acts.data.load` says which source it used):

- the quickstart CNN (hard_swish + PReLU, examples/quickstart.py) on 8x8 digits;
- a ResNet-20-style network (examples/compare_activations.py) on the same digits upsampled to
  32x32 (nearest neighbour), the CIFAR input size, so the compute per image is realistic.

Each model is exported four ways with keras_acts.export.to_tflite; the latency is the median time of
one batch-1 invocation with the LiteRT interpreter and its default XNNPACK delegate, at 1 and 2
threads, all variants of a model interleaved round by round. Ratios are against float32 in the
same run. Goals (issue 7): int8 size <= 0.27x float, int8 latency <= 0.5x float at 1 thread.

Usage:
    python benchmarks/bench_tflite.py [--quick] [--json PATH] [--markdown PATH] [--epochs N] [--rounds N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

import keras_acts
from keras_acts import data, keras
from keras_acts.export import evaluate, make_interpreter, to_tflite

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODES = {
    "float32": {"quantization": "none"},
    "float16": {"quantization": "float16"},
    "dynamic": {"quantization": "dynamic"},
    "int8": {"quantization": "int8", "input_type": "int8", "output_type": "int8"},
}


def _example(name: str) -> Any:
    """Imports examples/<name>.py as a module (the model builders live there)."""
    spec = importlib.util.spec_from_file_location(f"_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def upsample(x: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling of NHWC images by an integer factor."""
    return x.repeat(factor, axis=1).repeat(factor, axis=2) if factor > 1 else x


def models(ds: data.Dataset, quick: bool) -> list[tuple[str, Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, model, x_train, y_train, x_test, y_test) for the two benchmarked models."""
    shape = ds.x_train.shape[1:]
    classes = int(ds.y_train.max()) + 1
    quickstart = _example("quickstart").build_model(shape, classes)
    factor = 1 if quick else max(1, 32 // shape[0])
    xtr, xte = upsample(ds.x_train, factor), upsample(ds.x_test, factor)
    resnet = _example("compare_activations").build_resnet("relu", xtr.shape[1:], classes, blocks=1 if quick else 3)
    return [
        ("quickstart_cnn", quickstart, ds.x_train, ds.y_train, ds.x_test, ds.y_test),
        (f"resnet{6 * (1 if quick else 3) + 2}", resnet, xtr, ds.y_train, xte, ds.y_test),
    ]


def latency_ms(
    contents: dict[str, bytes], sample: np.ndarray, threads: int, rounds: int, invokes: int = 10
) -> dict[str, float]:
    """Median batch-1 latency per variant (LiteRT with XNNPACK), variants interleaved in every round."""
    interps = {}
    for name, content in contents.items():
        it = make_interpreter(content, num_threads=threads, xnnpack=True)
        d = it.get_input_details()[0]
        if int(d["shape_signature"][0]) < 0:
            it.resize_tensor_input(d["index"], [1, *sample.shape[1:]], strict=False)
            it.allocate_tensors()
            d = it.get_input_details()[0]
        x = sample[:1].astype(np.float32)
        if d["dtype"] != np.float32:
            scale, zero = d["quantization"]
            info = np.iinfo(d["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        for _ in range(5):
            it.invoke()
        interps[name] = it
    times: dict[str, list[float]] = {n: [] for n in interps}
    for r in range(rounds):
        order = list(interps) if r % 2 == 0 else list(reversed(interps))
        for name in order:
            t0 = time.perf_counter()
            for _ in range(invokes):
                interps[name].invoke()
            times[name].append((time.perf_counter() - t0) * 1000.0 / invokes)  # ms per invoke
    return {n: statistics.median(t) for n, t in times.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    ds = data.load("digits" if args.dataset == "digits" else args.dataset, limit=args.limit)
    print(f"data: {ds.name} from {ds.source}: {len(ds.x_train)} train / {len(ds.x_test)} test", flush=True)
    rows = []
    for name, model, xtr, ytr, xte, yte in models(ds, args.quick):
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(xtr, ytr, epochs=args.epochs, batch_size=32, verbose=0)
        keras_acc = float(model.evaluate(xte, yte, verbose=0)[1])
        contents = {}
        for mode, kwargs in MODES.items():
            rep = xtr[: min(len(xtr), 200)] if mode == "int8" else None
            contents[mode] = to_tflite(model, representative_data=rep, **kwargs).content
        lat = {t: latency_ms(contents, xte, t, args.rounds) for t in (1, 2)}
        for mode, content in contents.items():
            acc = evaluate(content, xte, yte).accuracy
            row = {
                "model": name,
                "mode": mode,
                "input": "x".join(map(str, xtr.shape[1:])),
                "keras_accuracy": round(keras_acc, 4),
                "accuracy": round(float(acc), 4),
                "size_bytes": len(content),
                "size_ratio": round(len(content) / len(contents["float32"]), 3),
                "latency_ms_1t": round(lat[1][mode], 4),
                "latency_ms_2t": round(lat[2][mode], 4),
                "latency_ratio_1t": round(lat[1][mode] / lat[1]["float32"], 3),
                "latency_ratio_2t": round(lat[2][mode] / lat[2]["float32"], 3),
            }
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    import tensorflow as tf

    return {
        "benchmark": "bench_tflite",
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d"),
        "frontend": keras_acts.FRONTEND,
        "dataset": {"name": ds.name, "source": ds.source, "train": len(ds.x_train), "test": len(ds.x_test)},
        "epochs": args.epochs,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "keras_acts": keras_acts.__version__},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "goals": {"int8_size_ratio_max": 0.27, "int8_latency_ratio_1t_max": 0.5},
        "rows": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a markdown table."""
    lines = [
        "| model | input | mode | accuracy (Keras float) | size KB | size ratio | ms @1 thread | ratio | ms @2 threads | ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['mode']} | {r['accuracy']:.4f} ({r['keras_accuracy']:.4f}) | "
            f"{r['size_bytes'] / 1024:.1f} | {r['size_ratio']:.3f} | {r['latency_ms_1t']:.3f} | "
            f"{r['latency_ratio_1t']:.2f} | {r['latency_ms_2t']:.3f} | {r['latency_ratio_2t']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny models and data: a smoke run for CI")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the results as a markdown table")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--rounds", type=int, default=30, help="interleaved latency rounds (10 invokes each)")
    p.add_argument("--dataset", default="digits", help="data set for keras_acts.data.load (default digits)")
    p.add_argument("--limit", type=int, default=None, help="use at most this many training samples")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.rounds, args.limit = 1, 3, args.limit or 300
    keras.utils.set_random_seed(0)
    result = run(args)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(markdown(result) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
