"""How closely the exported int8 model follows its QAT Keras model, through a trained deep network.

Per layer and on small models, keras_acts's QAT and the int8 export agree within 2 output
LSB (tests/test_qat.py, tests/test_qat_keras3.py). Through a *trained* network the int8
kernels round some values the other way than float fake-quant does (fixed-point
requantization, int32 bias), and those 1-LSB differences travel through every later layer.
This benchmark measures how far that goes, on the network of the comparison example:

1. train the ResNet-20 of ``examples/compare_activations.py`` in float on real data
   (scikit-learn's 8x8 digits by default, or ``--dataset mnist5k``), seeded;
2. ``keras_acts.quantization.quantize_model(model, calibration_data=200 training images)``,
   fine-tune ``--qat-epochs`` with Adam 1e-4;
3. export int8 (int8 input and output, no calibration data) and run it with LiteRT on the
   test images next to the QAT Keras model.

Reported per activation: top-1 agreement, share of outputs within 2 output LSB, the 99th
percentile, mean and max difference in output LSB (the softmax output's step is 1/256), and
whether the model is all-int8. The QAT model comes from keras_acts's own engine (the default
in both frontends); under tf_keras (``TF_USE_LEGACY_KERAS=1``) ``--engine tfmot`` uses tfmot
with keras_acts's configs instead. Run them to compare on the same network, data and seed:

    python benchmarks/bench_qat_parity.py --json docs/benchmarks/qat_parity_keras3.json
    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat_parity.py --engine tfmot --json docs/benchmarks/qat_parity_tf_keras.json
    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat_parity.py --json docs/benchmarks/qat_parity_tf_keras_engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time
from typing import Any, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "hard_swish", "mish")


def measure(name: str, ds: Any, *, epochs: int, qat_epochs: int, blocks: int, seed: int, engine: str | None) -> dict[str, Any]:
    """Trains, QAT-fine-tunes and exports one ResNet; returns the parity numbers."""
    import compare_activations as ca

    import keras_acts
    from keras_acts.export import evaluate, to_tflite
    from keras_acts.quantization import quantize_model

    keras = keras_acts.keras
    t0 = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = ca.build_resnet(name, ds.input_shape, ds.num_classes, blocks=blocks)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=64, verbose=0)
    qat = quantize_model(model, calibration_data=ds.x_train[:200], engine=engine)
    qat.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    qat.fit(ds.x_train, ds.y_train, epochs=qat_epochs, batch_size=64, verbose=0)
    res = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8")
    ev = evaluate(res.content, ds.x_test, ds.y_test, reference=qat)
    return {
        "activation": name,
        "int8_accuracy": ev.accuracy,
        "top1_agreement": ev.top1_agreement,
        "within_2_lsb": ev.within_2_lsb,
        "p99_diff_lsb": ev.p99_diff_lsb,
        "mean_diff_lsb": ev.mean_diff_lsb,
        "max_diff_lsb": ev.max_diff_lsb,
        "all_int8": not res.report.float_islands,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--activations", default=",".join(DEFAULT_ACTIVATIONS), help="comma-separated registry names")
    p.add_argument("--dataset", default="digits", choices=("digits", "mnist5k"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--qat-epochs", type=int, default=2)
    p.add_argument("--blocks", type=int, default=3, help="basic blocks per stage (3 = ResNet-20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=("keras_acts", "tfmot"), default=None,
                   help="QAT engine (default: keras_acts in both frontends; tfmot: tf_keras only)")
    p.add_argument("--quick", action="store_true", help="one activation, ResNet-8, 1+1 epochs (a smoke run)")
    p.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.activations, args.epochs, args.qat_epochs, args.blocks = "hard_swish", 1, 1, 1

    import keras_acts
    from keras_acts import data, registry

    names = [registry.lookup(n.strip()).name for n in args.activations.split(",") if n.strip()]
    ds = data.load(args.dataset, seed=args.seed)
    print(ds.describe(), flush=True)
    t0 = time.perf_counter()
    rows = []
    print(f"{'activation':<12} {'int8 acc':>8} {'top-1 agr':>9} {'<=2 LSB':>8} {'p99':>6} {'mean':>6} {'max':>6}")
    for name in names:
        r = measure(name, ds, epochs=args.epochs, qat_epochs=args.qat_epochs, blocks=args.blocks, seed=args.seed, engine=args.engine)
        rows.append(r)
        print(
            f"{name:<12} {r['int8_accuracy']:>8.4f} {r['top1_agreement']:>9.2%} {r['within_2_lsb']:>8.2%} "
            f"{r['p99_diff_lsb']:>6.2f} {r['mean_diff_lsb']:>6.3f} {r['max_diff_lsb']:>6.1f}",
            flush=True,
        )
    import tensorflow as tf

    engine = args.engine or "keras_acts"
    result = {
        "command": "python " + " ".join([pathlib.Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "frontend": keras_acts.FRONTEND,
        "qat_path": "tfmot + keras_acts configs" if engine == "tfmot" else "keras_acts QAT engine",
        "tensorflow": tf.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "data": data.as_dict(ds),
        "network": f"ResNet-{6 * args.blocks + 2}",
        "epochs": args.epochs,
        "qat_epochs": args.qat_epochs,
        "seed": args.seed,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
