"""What running the TFLite converter in a worker process costs: wall time of to_tflite.

Two models: the quickstart CNN (hard_swish + PReLU) on scikit-learn's 8x8 digits, and
keras.applications MobileNetV3Small (96x96, weights=None) on the same digits upsampled to 96x96x3
(nearest neighbour). Both are exported to int8 with 100 calibration samples, ``validate=False``
(the conversion alone), in four settings, interleaved round by round:

- ``in_process``: ``isolate=False`` (the converter runs in this process);
- ``isolated_warm``: ``isolate=True`` with the worker already running (every export after the
  first in a process);
- ``isolated_cold``: ``isolate=True`` after stopping the worker (the first export of a process:
  the worker imports TensorFlow while this process traces);
- ``isolated_warm_validated``: the default, ``isolate=True, validate=True`` (adds the LiteRT run
  of the int8 model and the float model on the held-out samples).

Reports the median (and min/max) of ``--rounds`` runs per setting.

Usage:
    python benchmarks/bench_export_isolation.py [--rounds N] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import keras_acts
from keras_acts import data, keras
from keras_acts.export import isolation, to_tflite


def _quickstart_cnn(shape, classes):
    x_in = keras.Input(shape)
    h = keras.layers.Conv2D(16, 3, padding="same", activation=keras_acts.hard_swish)(x_in)
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same")(h)
    h = keras_acts.layers.PReLU(shared_axes=[1, 2])(h)
    h = keras.layers.Conv2D(32, 3, padding="same")(h)
    h = keras_acts.layers.HardSwish()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x_in, keras.layers.Dense(classes, activation="softmax")(h), name="quickstart_cnn")


SETTINGS = {
    "in_process": {"isolate": False, "validate": False},
    "isolated_warm": {"isolate": True, "validate": False},
    "isolated_cold": {"isolate": True, "validate": False},
    "isolated_warm_validated": {"isolate": True, "validate": True},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="1 round, the small CNN only")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    ds = data.load("digits")
    x8 = ds.x_train[:164].astype("float32")
    x96 = np.repeat(np.kron(x8, np.ones((1, 12, 12, 1), np.float32)), 3, axis=-1)
    models = {"quickstart_cnn (8x8x1)": (_quickstart_cnn(ds.input_shape, ds.num_classes), x8)}
    if not args.quick:
        mnv3 = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), weights=None, classes=10)
        models["MobileNetV3Small (96x96x3)"] = (mnv3, x96)
    rounds = 1 if args.quick else args.rounds
    results: dict = {}
    for name, (model, x) in models.items():
        to_tflite(model, quantization="int8", representative_data=x[:100], validate=False)  # warm-up
        times: dict[str, list[float]] = {k: [] for k in SETTINGS}
        for _ in range(rounds):
            for setting, kwargs in SETTINGS.items():
                if setting == "isolated_cold":
                    isolation.shutdown()
                elif kwargs["isolate"]:
                    isolation.prewarm()
                    to_tflite(model, quantization="none", validate=False)  # make sure the worker is up
                rep = x[:114] if kwargs["validate"] else x[:100]  # 114: 14 held out, 100 calibrate
                t0 = time.perf_counter()
                to_tflite(model, quantization="int8", representative_data=rep, **kwargs)
                times[setting].append(time.perf_counter() - t0)
        results[name] = {
            k: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "runs": len(v)}
            for k, v in times.items()
        }
        base = results[name]["in_process"]["median_s"]
        print(f"{name}: " + ", ".join(f"{k} {r['median_s']:.2f} s ({r['median_s'] / base:.2f}x)"
                                      for k, r in results[name].items()))
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "frontend": keras_acts.FRONTEND,
            "rounds": rounds, "load_average": os.getloadavg()}
    print(meta)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
