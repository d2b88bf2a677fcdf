"""The first ``fit`` of a QAT model: traced twice as usual, once with the optimizer built first.

On TensorFlow without a distribution strategy, Keras 3 and tf_keras create the optimizer's variables (and those
of metrics given by name) inside the first trace of the train step; a ``tf.function`` whose first trace creates
variables is traced again. This compares, on the same keras.applications network (``weights=None``, real mnist5k
digits), quantized with ``quantize_model`` and fine-tuned for ``--steps`` steps:

* ``as usual``: ``compile(..., metrics=["accuracy"])`` then ``fit``;
* ``built first``: ``compile(..., metrics=[SparseCategoricalAccuracy()])``, ``optimizer.build(...)``, ``fit``.

It reports the wall time of ``fit`` and how many times ``train_step`` was traced (docs/QAT.md, "A short QAT
fine-tune"). The two runs alternate ``--rounds`` times, each on a fresh model from the same seed.

Usage:

    python benchmarks/bench_first_fit.py [--app MobileNetV2] [--steps 10] [--rounds 1] [--json PATH]
    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_first_fit.py ...
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras_acts  # noqa: E402
from keras_acts import data, quantization  # noqa: E402

keras = keras_acts.keras
KWARGS = {"MobileNetV2": {"alpha": 0.35}, "MobileNetV3Small": {"alpha": 0.75}}


def images(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    ds = data.load("mnist5k", offline=True)
    x = tf.image.resize(ds.x_train[:n], (size, size)).numpy()
    return (np.repeat(np.clip(x, 0.0, 1.0), 3, axis=-1) * 255.0).astype("float32"), ds.y_train[:n].astype("int32")


def one_fit(app: str, x: np.ndarray, y: np.ndarray, built_first: bool) -> dict[str, Any]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, app)(weights=None, input_shape=x.shape[1:], classes=10,
                                             classifier_activation=None, **KWARGS.get(app, {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the BatchNorm re-estimation notice of a weights=None network
        qat = quantization.quantize_model(model, calibration_data=x[:32])
    metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy") if built_first else "accuracy"
    qat.compile(keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[metric])
    traces = [0]
    step = qat.train_step

    def counted(*args: Any, **kwargs: Any) -> Any:
        traces[0] += 1  # runs once per trace: the train step is a tf.function
        return step(*args, **kwargs)

    qat.train_step = counted
    start = time.perf_counter()
    if built_first:
        qat.optimizer.build(qat.trainable_variables)
    hist = qat.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    return {"fit_s": time.perf_counter() - start, "traces": traces[0], "loss": float(hist.history["loss"][-1])}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app", default="MobileNetV2", help="a keras.applications constructor")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="fit steps of 16 images")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        p.error("--steps and --rounds must be >= 1")
    x, y = images(16 * args.steps, args.size)
    rows = []
    for r in range(args.rounds):
        for built_first in (False, True):
            row = {"round": r, "variant": "built first" if built_first else "as usual",
                   **one_fit(args.app, x, y, built_first)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = {"command": "python benchmarks/bench_first_fit.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "frontend": keras_acts.FRONTEND, "app": args.app, "size": args.size, "steps": args.steps, "rows": rows}
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
