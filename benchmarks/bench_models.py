"""int8 speed on LiteRT's CPU runtime (XNNPACK): keras_acts vs the stock converter vs float.

The runtime users run: the LiteRT interpreter (``ai_edge_litert``) with its default XNNPACK
delegate, batch 1, at 1 and 2 threads. For every model three exports are timed side by side,
interleaved round by round in one process:

- ``float``: the stock ``tf.lite.TFLiteConverter.from_keras_model`` float32 model;
- ``stock int8``: the same converter with a representative dataset, full int8
  (``TFLITE_BUILTINS_INT8``, int8 input and output);
- ``keras_acts int8``: ``keras_acts.export.to_tflite(quantization="int8")`` with its default
  target, ``"cpu"`` (activations written with ops XNNPACK takes), int8 input and output.

Models (Keras 3):

- keras.applications MobileNetV2 (alpha 0.35), MobileNetV3Small, MobileNetV3Large and
  EfficientNetB0 at 96x96 and 224x224, ``weights=None`` with BatchNorm statistics re-estimated
  on the calibration images (:func:`settle_batchnorm`), so that tensor ranges are those of a
  normalized network;
- the ResNet-20 of examples/compare_activations.py (32x32x1);
- the per-activation sweep: a 6-convolution 32x32x3 CNN (conv-BN-activation, trained one epoch)
  for every registry activation and PReLU.

Calibration uses real images: scikit-learn's digits (upsampled, replicated to 3 channels and
scaled to 0..255 for the applications, which rescale their input themselves). Reported per
model: latency (median ms), ratios keras_acts/stock and int8/float, XNNPACK partitions of each
export, the ops left outside XNNPACK, and sizes.

Goals (issue 10): keras_acts int8 <= stock int8 and int8/float <= 0.5 at 1 thread, for every
model; one XNNPACK partition for every activation that has a delegable form.

Usage:
    python benchmarks/bench_models.py [--quick] [--json PATH] [--rounds N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time
from typing import Any, Callable

import numpy as np

import keras_acts
from keras_acts import data, keras, registry
from keras_acts.export import inspect, to_tflite
from keras_acts.export.xnnpack import form_is_delegable, litert_version, xnnpack_plan

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_tflite import _example, latency_ms, upsample  # noqa: E402

APPLICATIONS: dict[str, Callable[..., Any]] = {
    "MobileNetV2_a0.35": lambda shape: keras.applications.MobileNetV2(input_shape=shape, alpha=0.35, weights=None),
    "MobileNetV3Small": lambda shape: keras.applications.MobileNetV3Small(input_shape=shape, weights=None),
    "MobileNetV3Large": lambda shape: keras.applications.MobileNetV3Large(input_shape=shape, weights=None),
    "EfficientNetB0": lambda shape: keras.applications.EfficientNetB0(input_shape=shape, weights=None),
}


def images(ds: data.Dataset, size: int, channels: int, scale: float, n: int) -> np.ndarray:
    """``n`` real digit images resized (nearest) to size x size x channels, scaled by ``scale``."""
    x = ds.x_train[:n]
    factor = -(-size // x.shape[1])
    x = upsample(x, factor)[:, :size, :size, :]
    return (np.repeat(x, channels, axis=-1) * scale).astype(np.float32)


def settle_batchnorm(model: Any, x: np.ndarray) -> None:
    """Sets every BatchNormalization's moving statistics to those of the batch ``x``.

    With ``weights=None`` the moving statistics are 0 and 1, so activations shrink layer after
    layer (deep MobileNetV3 tensors end up around 1e-8), which no trained model does, and int8
    scales that small break XNNPACK's scale limits for reasons that have nothing to do with
    the activations. One forward pass in training mode with momentum 0 gives every layer the
    statistics of its real input (the usual BatchNorm re-estimation), so the ranges the
    converter calibrates are those of a normalized network. Weights are unchanged.
    """
    bns = [l for l in model._flatten_layers(include_self=False) if isinstance(l, keras.layers.BatchNormalization)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    model(x, training=True)
    for bn, m in zip(bns, saved):
        bn.momentum = m


def stock_exports(model: Any, rep: np.ndarray) -> dict[str, bytes]:
    """The plain TFLiteConverter's float32 and full-int8 models (int8 I/O)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    float_model = conv.convert()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([r[None]] for r in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return {"float": float_model, "stock int8": conv.convert()}


_HARD_SWISH_NAMES = ("hard_silu", "hard_swish")


def relu_twin(model: Any) -> Any | None:
    """``model`` with every hard-swish replaced by ReLU, same weights; None if it has no hard-swish.

    The twin is the floor of what an activation can cost: ReLU is fused into the convolution
    before it, so it costs no pass of its own. Its BatchNorm statistics are re-estimated by the
    caller (a ReLU network's tensors are distributed differently). keras.applications MobileNetV3 builds hard-swish
    from ``x + 3``, ReLU(6) and multiplies; :func:`keras_acts.adopt` turns those into activation
    layers first. The squeeze-excite gates (hard-sigmoid) are kept: they are not hard-swish.
    """
    adopted = keras_acts.adopt(model, builtins=False).model
    config = adopted.get_config()
    replaced = 0
    for layer in config["layers"]:
        cfg = layer["config"]
        act = cfg.get("activation") if layer["class_name"] == "Activation" else None
        act_name = act if isinstance(act, str) else json.dumps(act)
        is_hard_swish = layer["class_name"].endswith("HardSwish") or (
            act is not None and any(n in act_name for n in _HARD_SWISH_NAMES)
        )
        if is_hard_swish:
            layer.update(class_name="ReLU", module="keras.layers", registered_name=None)
            layer["config"] = {"name": cfg["name"], "trainable": cfg.get("trainable", True), "dtype": cfg.get("dtype")}
            replaced += 1
    if not replaced:
        return None
    twin = keras.Model.from_config(config)
    twin.set_weights(adopted.get_weights())
    return twin


def _count_ops(content: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in xnnpack_plan(content).ops:
        counts[op] = counts.get(op, 0) + 1
    return counts


def measure(name: str, model: Any, rep: np.ndarray, rounds: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Exports ``model`` three ways (plus its ReLU twin and the unfolded int8 export where it has
    hard-swish) and times them side by side; returns one result row."""
    contents = stock_exports(model, rep)
    res = to_tflite(model, quantization="int8", representative_data=rep, input_type="int8", output_type="int8")
    contents["keras_acts int8"] = res.content
    twin = relu_twin(model) if extra and extra.get("kind") == "keras.applications" else None
    if twin is not None:
        settle_batchnorm(twin, rep)  # the statistics a ReLU network has on these images
        contents["keras_acts int8 unfolded"] = to_tflite(
            model, quantization="int8", representative_data=rep, input_type="int8", output_type="int8", fold_scales=False
        ).content
        contents["relu twin float"] = stock_exports(twin, rep[:1])["float"]
        contents["relu twin int8"] = to_tflite(
            twin, quantization="int8", representative_data=rep, input_type="int8", output_type="int8"
        ).content
    sample = rep[:1]
    invokes = 10 if rep.shape[1] <= 96 else 3
    lat = {t: latency_ms(contents, sample, t, rounds, invokes=invokes) for t in (1, 2)}
    plans = {k: xnnpack_plan(c) for k, c in contents.items()}
    op_counts = {k: len(p.ops) for k, p in plans.items()}
    islands = {k: [o.op for o in inspect(c, edgetpu=False, xnnpack=False).float_islands] for k, c in contents.items()}
    row = {
        "model": name,
        "input": "x".join(map(str, rep.shape[1:])),
        **(extra or {}),
        "ms_1t": {k: round(v, 4) for k, v in lat[1].items()},
        "ms_2t": {k: round(v, 4) for k, v in lat[2].items()},
        "ka_vs_stock_1t": round(lat[1]["keras_acts int8"] / lat[1]["stock int8"], 3),
        "ka_vs_stock_2t": round(lat[2]["keras_acts int8"] / lat[2]["stock int8"], 3),
        "ka_vs_float_1t": round(lat[1]["keras_acts int8"] / lat[1]["float"], 3),
        "stock_vs_float_1t": round(lat[1]["stock int8"] / lat[1]["float"], 3),
        "partitions": {k: p.partitions for k, p in plans.items()},
        "outside_xnnpack": {k: p.outside_ops for k, p in plans.items()},
        "ops": op_counts,
        "float_islands": {k: v for k, v in islands.items() if k != "float"},
        "size_kb": {k: round(len(c) / 1024, 1) for k, c in contents.items()},
    }
    if twin is not None:
        m = lat[1]
        row["hard_swish_overhead_1t"] = {
            "float": round(m["float"] / m["relu twin float"], 3),
            "keras_acts int8": round(m["keras_acts int8"] / m["relu twin int8"], 3),
            "keras_acts int8 unfolded": round(m["keras_acts int8 unfolded"] / m["relu twin int8"], 3),
        }
        row["relu_twin_int8_vs_float_1t"] = round(m["relu twin int8"] / m["relu twin float"], 3)
        row["op_kinds"] = {k: _count_ops(c) for k, c in contents.items()}
        row["folded_multiplications"] = len(res.folding.folds) if res.folding is not None else 0
    print(
        f"{name:28s} {row['input']:>9s} float {lat[1]['float']:.3f} ms | stock int8 {lat[1]['stock int8']:.3f} | "
        f"keras_acts int8 {lat[1]['keras_acts int8']:.3f} | ka/stock {row['ka_vs_stock_1t']:.2f} "
        f"ka/float {row['ka_vs_float_1t']:.2f} | partitions {row['partitions']} | outside {row['outside_xnnpack']['keras_acts int8']}",
        flush=True,
    )
    if twin is not None:
        o = row["hard_swish_overhead_1t"]
        print(
            f"{'':28s} hard-swish vs ReLU twin: float {o['float']:.2f}, keras_acts int8 {o['keras_acts int8']:.2f} "
            f"(unfolded {o['keras_acts int8 unfolded']:.2f}); ops {op_counts}",
            flush=True,
        )
    return row


def sweep_model(entry: registry.Activation) -> Any:
    """Six conv-BN-activation blocks on 32x32x3 (two of them strided), global pooling, softmax."""
    from keras_acts import layers as ka_layers

    x_in = keras.Input((32, 32, 3))
    h = x_in
    for i, (filters, stride) in enumerate([(16, 1), (16, 1), (32, 2), (32, 1), (64, 2), (64, 1)]):
        h = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(h)
        h = keras.layers.BatchNormalization()(h)
        if entry.learnable:
            h = ka_layers.PReLU(shared_axes=[1, 2], name=f"act{i}")(h)
        else:
            h = ka_layers.Activation(entry.name, name=f"act{i}")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x_in, keras.layers.Dense(10, activation="softmax")(h))


def run(args: argparse.Namespace) -> dict[str, Any]:
    ds = data.load("digits")
    print(ds.describe(), flush=True)
    rows: list[dict[str, Any]] = []
    wanted = set(args.only or [])

    def want(name: str) -> bool:
        return not wanted or any(w.lower() in name.lower() for w in wanted)

    # --quick is CI's smoke run (every export path once, numbers not meaningful): the smallest input
    # MobileNetV3 takes, 16 calibration images (the minimum to_tflite accepts), and the sweep trained on 256 images
    sizes = [32] if args.quick else [96, 224]
    apps = ["MobileNetV3Small"] if args.quick else list(APPLICATIONS)
    for size in sizes:
        for app in apps:
            if not want(app):
                continue
            keras.utils.set_random_seed(0)
            model = APPLICATIONS[app]((size, size, 3))
            rep = images(ds, size, 3, 255.0, 16 if args.quick or size > 96 else 32)
            settle_batchnorm(model, rep)
            rows.append(measure(app, model, rep, args.rounds, {"kind": "keras.applications"}))
            keras.backend.clear_session()

    if want("resnet20"):
        keras.utils.set_random_seed(0)
        resnet = _example("compare_activations").build_resnet("relu", (32, 32, 1), 10, blocks=1 if args.quick else 3)
        rep = images(ds, 32, 1, 1.0, 64)
        settle_batchnorm(resnet, rep)
        rows.append(measure("resnet20_relu" if not args.quick else "resnet8_relu", resnet, rep, args.rounds,
                            {"kind": "example"}))

    x_train = images(ds, 32, 3, 1.0, 256 if args.quick else len(ds.x_train))
    entries = registry.entries(include_layers=True)
    if args.quick:
        entries = [e for e in entries if e.name in ("hard_swish", "prelu")]
    for entry in entries:
        if not want(f"sweep_{entry.name}"):
            continue
        keras.utils.set_random_seed(0)
        model = sweep_model(entry)
        model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
        model.fit(x_train, ds.y_train[: len(x_train)], epochs=1, batch_size=64, verbose=0)
        cpu = entry.lowering("cpu")
        rows.append(
            measure(
                f"sweep_{entry.name}",
                model,
                x_train[:64],
                args.rounds,
                {"kind": "activation sweep", "activation": entry.name, "cpu_ops": list(cpu.ops),
                 "delegable_form": form_is_delegable(cpu.ops), "form_note": cpu.note},
            )
        )
        keras.backend.clear_session()

    import tensorflow as tf

    return {
        "benchmark": "bench_models",
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d"),
        "frontend": keras_acts.FRONTEND,
        "runtime": f"{litert_version()} Interpreter, default delegates (XNNPACK), batch 1",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "keras_acts": keras_acts.__version__},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": __import__("os").cpu_count()},
        "calibration": ds.describe(),
        "rounds": args.rounds,
        "goals": {"ka_vs_stock_1t_max": 1.0, "ka_vs_float_1t_max": 0.5},
        "rows": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as markdown tables (models, then the activation sweep)."""

    def table(rows: list[dict[str, Any]], sweep: bool) -> list[str]:
        head = "| activation | int8 ops (cpu target) |" if sweep else "| model | input |"
        lines = [
            head + " float ms | stock int8 ms | keras_acts int8 ms | ka / stock | ka / float | "
            "stock / float | ms @2 threads (float / stock / ka) | XNNPACK partitions (stock / ka) | ops (float / stock / ka) "
            "| outside XNNPACK (ka) |",
            "|" + "---|" * 13,
        ]
        for r in rows:
            m1, m2, p = r["ms_1t"], r["ms_2t"], r["partitions"]
            outside = ", ".join(f"{k}×{v}" for k, v in r["outside_xnnpack"]["keras_acts int8"].items()) or "none"
            first = (f"| {r['activation']} | {' '.join(r['cpu_ops'])} |" if sweep else f"| {r['model']} | {r['input']} |")
            lines.append(
                f"{first} {m1['float']:.3f} | {m1['stock int8']:.3f} | {m1['keras_acts int8']:.3f} | "
                f"{r['ka_vs_stock_1t']:.2f} | {r['ka_vs_float_1t']:.2f} | {r['stock_vs_float_1t']:.2f} | "
                f"{m2['float']:.3f} / {m2['stock int8']:.3f} / {m2['keras_acts int8']:.3f} | "
                f"{p['stock int8']} / {p['keras_acts int8']} | "
                f"{r['ops']['float']} / {r['ops']['stock int8']} / {r['ops']['keras_acts int8']} | {outside} |"
            )
        return lines

    models = [r for r in result["rows"] if r["kind"] != "activation sweep"]
    sweep = [r for r in result["rows"] if r["kind"] == "activation sweep"]
    out = [f"Command: `{result['command']}` ({result['date']}, {result['runtime']}; {result['machine']['cpus']} CPUs).", ""]
    out += table(models, False) + [""] + table(sweep, True) if sweep else table(models, False)
    twins = [r for r in models if "hard_swish_overhead_1t" in r]
    if twins:
        out += [
            "",
            "Hard-swish overhead: each model against its ReLU twin (every hard-swish a ReLU, same weights), 1 thread.",
            "",
            "| model | input | float / twin float | ka int8 / twin int8 | unfolded ka int8 / twin int8 | ka int8 / float "
            "| twin int8 / twin float | ops: float / twin int8 / ka int8 / unfolded | MULs folded |",
            "|" + "---|" * 9,
        ]
        for r in twins:
            o, n = r["hard_swish_overhead_1t"], r["ops"]
            out.append(
                f"| {r['model']} | {r['input']} | {o['float']:.2f} | {o['keras_acts int8']:.2f} | "
                f"{o['keras_acts int8 unfolded']:.2f} | {r['ka_vs_float_1t']:.2f} | {r['relu_twin_int8_vs_float_1t']:.2f} | "
                f"{n['float']} / {n['relu twin int8']} / {n['keras_acts int8']} / {n['keras_acts int8 unfolded']} | "
                f"{r['folded_multiplications']} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one small application and two activations: a CI smoke run")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the results as markdown tables")
    p.add_argument("--rounds", type=int, default=15, help="interleaved latency rounds")
    p.add_argument("--only", nargs="*", help="run only models whose name contains one of these")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds = 3
    result = run(args)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(markdown(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
