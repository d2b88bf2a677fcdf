"""keras_acts's activations with torch-specific forms on Keras 3's torch backend against Keras's built-ins, in CPU time.

A by-hand check for the fused-ATen forms (``keras_acts._ops.FUSED``: swish, hard_swish, gelu, mish,
hard_sigmoid, hard_tanh, softsign, prelu) that stays readable on a machine shared with other jobs: one torch
thread, the thread's CPU time (``time.thread_time``) instead of wall time, 2^22 float32 elements
uniform in [-8, 8], 15 interleaved pairs, median of the per-pair ratios keras_acts / Keras. Eager
mode; forward under ``torch.no_grad``, forward+backward as the input gradient. PReLU compares the
layers ``keras_acts.layers.PReLU(shared_axes=[1, 2])`` and ``keras.layers.PReLU`` (same alpha 0.25)
on a (16, 64, 64, 64) input; its forward+backward is the gradient with respect to the input and alpha.

Each side's median count of minor page faults per call is reported too: glibc's allocator returns
large freed blocks to the system depending on the order of allocations in the whole process, so one
side can pay ~4,000 page faults (16 MB of fresh pages, ~3-6 ms here) per call where the other pays
none; a ratio with unequal fault counts measures the allocator, not the kernels.

To compare two versions of keras_acts, run it with each on ``PYTHONPATH`` (e.g. a ``git archive`` of
an older commit) and ``--label``.

Usage:
    PYTHONPATH=. python benchmarks/bench_torch_fused.py [--json PATH] [--label TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import torch  # noqa: E402

import keras_acts  # noqa: E402

PAIRS = {"swish": "silu", "hard_swish": "hard_silu", "gelu": "gelu", "mish": "mish", "hard_sigmoid": "hard_sigmoid",
         "hard_tanh": "hard_tanh", "softsign": "softsign", "prelu": "PReLU"}


def _prelu_layers(shape: tuple[int, ...]) -> tuple:
    """keras_acts's and Keras's PReLU layers (one alpha per channel, 0.25), built, as functions of x."""
    ours = keras_acts.layers.PReLU(shared_axes=[1, 2])
    theirs = keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25))
    for layer in (ours, theirs):
        layer.build(shape)
    return ours, theirs


def _forward(f):
    def step(x):
        with torch.no_grad():
            return f(x)

    return step


def _forward_backward(f, weights=()):
    def step(x):
        xr = x.detach().requires_grad_(True)
        y = f(xr)
        return torch.autograd.grad(y, [xr, *weights], torch.ones_like(y))

    return step


def _minor_faults() -> int:
    """This thread's minor page faults so far (fresh pages the kernel maps in; their cost is in thread_time)."""
    return resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)).ru_minflt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--label", default="", help="a name for this keras_acts version in the JSON")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--activations", nargs="+", choices=sorted(PAIRS), help="a subset (default: all)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    flat = torch.empty(1 << 22).uniform_(-8, 8, generator=torch.Generator().manual_seed(0))
    rows = []
    for name, builtin in PAIRS.items():
        if args.activations and name not in args.activations:
            continue
        if name == "prelu":
            x = flat.reshape(16, 64, 64, 64)
            layer_ours, layer_theirs = _prelu_layers(tuple(x.shape))
            fns = (layer_ours, layer_theirs)
            weights = ([w.value for w in layer_ours.trainable_weights], [w.value for w in layer_theirs.trainable_weights])
            baseline = "keras.layers.PReLU"
        else:
            x = flat
            fns = (keras_acts.get(name), getattr(keras.activations, builtin))
            weights = ((), ())
            baseline = f"keras.activations.{builtin}"
        for pas in ("fwd", "fwd+bwd"):
            if pas == "fwd":
                ours, theirs = _forward(fns[0]), _forward(fns[1])
            else:
                ours, theirs = _forward_backward(fns[0], weights[0]), _forward_backward(fns[1], weights[1])
            for f in (ours, theirs, ours, theirs):
                f(x)
            ta, tb, fa, fb = [], [], [], []
            for i in range(args.repeats):
                order = ((ours, ta, fa), (theirs, tb, fb)) if i % 2 == 0 else ((theirs, tb, fb), (ours, ta, fa))
                for f, sink, faults in order:
                    p0 = _minor_faults()
                    t0 = time.thread_time()
                    f(x)
                    sink.append(time.thread_time() - t0)
                    faults.append(_minor_faults() - p0)
            row = {"activation": name, "baseline": baseline, "pass": pas,
                   "ours_cpu_ms": 1e3 * statistics.median(ta), "theirs_cpu_ms": 1e3 * statistics.median(tb),
                   "cpu_ratio": statistics.median(a / b for a, b in zip(ta, tb)),
                   "ours_page_faults": statistics.median(fa), "theirs_page_faults": statistics.median(fb)}
            rows.append(row)
            print(f"{name:<13} {pas:<8} ours {row['ours_cpu_ms']:7.2f} ms  Keras {row['theirs_cpu_ms']:7.2f} ms  "
                  f"x{row['cpu_ratio']:.2f}  page faults/call {row['ours_page_faults']:.0f} / "
                  f"{row['theirs_page_faults']:.0f}", flush=True)
    result = {"benchmark": "bench_torch_fused", "label": args.label, "keras_acts": keras_acts.__file__,
              "command": " ".join([os.path.basename(sys.executable), *sys.argv]), "date": time.strftime("%Y-%m-%d"),
              "torch": torch.__version__, "keras": keras.__version__, "threads": 1, "elements": 1 << 22,
              "repeats": args.repeats, "load_average_at_end": [round(v, 2) for v in os.getloadavg()], "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
