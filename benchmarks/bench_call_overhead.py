"""Per-call cost of every activation on small eager tensors, against Keras's built-in of the same math.

``bench_activations.py`` times 2^22-element tensors inside ``tf.function``/``jit``/``torch.compile``, where
Python runs once and the kernels dominate. This benchmark times what that hides: one eager call on a
small tensor (a Dense layer's output, 64 x 128 = 8,192 float32 by default, and 16 elements), where the
Python around the kernels (validation, dispatch, the custom gradient, the finiteness guard) is most of
the time. That is every training step on torch, ``model(x)`` on TensorFlow and jax outside ``jit``, and
tf_keras/Keras models with ``run_eagerly=True``.

For each frontend/backend (each in its own child process: Keras 3 on tensorflow, jax and torch, and
tf_keras) and activation with a built-in: the time of ``calls`` back-to-back calls of keras_acts's
function and of Keras's, interleaved ``repeats`` times; forward alone, and forward+backward (the
gradient with respect to the input: ``tf.GradientTape``, ``torch.autograd.grad``, ``jax.vjp``). The ratio
is the median of the per-pair ratios of microseconds per call (below 1.0: keras_acts is faster).

Usage:
    python benchmarks/bench_call_overhead.py [--frontend keras3-tensorflow|keras3-jax|keras3-torch|tf_keras|all]
        [--sizes 8192 16] [--repeats 15] [--calls 200] [--activations NAME ...] [--json PATH] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

FRONTENDS = ("keras3-tensorflow", "keras3-jax", "keras3-torch", "tf_keras")


def _environment(frontend: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_USE_LEGACY_KERAS", None)
    if frontend == "tf_keras":
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env["KERAS_BACKEND"] = frontend.split("-", 1)[1]
    return env


def _steps(ours: Callable, theirs: Callable, x: Any, backward: bool) -> tuple[Callable, Callable, Any]:
    """Callables running one forward (or forward+backward) call of each side, and the input to use."""
    from keras_acts.backend import is_tf_keras, keras_backend

    backend = "tensorflow" if is_tf_keras() else keras_backend()
    if not backward:
        if backend == "torch":
            import torch

            def no_grad(f: Callable) -> Callable:
                def step(v: Any) -> Any:
                    with torch.no_grad():
                        return f(v)

                return step

            return no_grad(ours), no_grad(theirs), x
        return ours, theirs, x
    if backend == "tensorflow":
        import tensorflow as tf

        def with_tape(f: Callable) -> Callable:
            def step(v: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(v)
                    y = f(v)
                return tape.gradient(y, v)

            return step

        return with_tape(ours), with_tape(theirs), x
    if backend == "torch":
        import torch

        leaf = x.detach().clone().requires_grad_(True)

        def with_autograd(f: Callable) -> Callable:
            def step(v: Any) -> Any:
                y = f(v)
                return torch.autograd.grad(y, v, grad_outputs=torch.ones_like(y))[0]

            return step

        return with_autograd(ours), with_autograd(theirs), leaf
    import jax
    import jax.numpy as jnp

    def with_vjp(f: Callable) -> Callable:
        def step(v: Any) -> Any:
            y, pullback = jax.vjp(f, v)
            return pullback(jnp.ones_like(y))[0]

        return step

    return with_vjp(ours), with_vjp(theirs), x


def _wait(out: Any) -> None:
    from keras_acts import _ops

    _ops.to_numpy(out).ravel()[:1]


def _per_call_us(step: Callable, x: Any, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls - 1):
        step(x)
    _wait(step(x))
    return (time.perf_counter() - t0) / calls * 1e6


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Rows for the frontend of this process (see the module docstring)."""
    import numpy as np

    import keras_acts
    from keras_acts import _ops, registry

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_activations import keras_builtin  # the same baselines as the large-tensor benchmark

    frontend = os.environ.get("BENCH_FRONTEND", "")
    rows = []
    for entry in registry.entries():
        if args.activations and entry.name not in args.activations:
            continue
        theirs = keras_builtin(entry)
        if theirs is None:
            continue
        ours = keras_acts.get(entry.name)
        for size in args.sizes:
            data = np.random.default_rng(0).uniform(-8, 8, size).astype(np.float32)
            x = _ops.convert_to_tensor(data)
            for backward in (False, True):
                step_ours, step_theirs, xin = _steps(ours, theirs, x, backward)
                for _ in range(3):  # warm both (first-call setup, caches)
                    _per_call_us(step_ours, xin, 5)
                    _per_call_us(step_theirs, xin, 5)
                a, b = [], []
                for i in range(args.repeats):
                    pair = ((step_ours, a), (step_theirs, b)) if i % 2 == 0 else ((step_theirs, b), (step_ours, a))
                    for step, sink in pair:
                        sink.append(_per_call_us(step, xin, args.calls))
                rows.append({
                    "frontend": frontend, "activation": entry.name, "elements": size,
                    "pass": "fwd+bwd" if backward else "fwd",
                    "ours_us": statistics.median(a), "theirs_us": statistics.median(b),
                    "ratio": statistics.median(p / q for p, q in zip(a, b)),
                })
                r = rows[-1]
                print(f"{frontend:<18} {r['activation']:<13} {size:>6} {r['pass']:<7} ours {r['ours_us']:8.1f} us  "
                      f"keras {r['theirs_us']:8.1f} us  x{r['ratio']:.2f}", flush=True)
    return {"rows": rows}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| frontend | activation | elements | pass | keras_acts µs/call | Keras µs/call | ratio |",
             "|---|---|---:|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['frontend']} | {r['activation']} | {r['elements']} | {r['pass']} | {r['ours_us']:.1f} | "
                     f"{r['theirs_us']:.1f} | {r['ratio']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frontend", choices=(*FRONTENDS, "all"), default="all")
    p.add_argument("--sizes", type=int, nargs="+", default=[8192, 16], help="elements per tensor")
    p.add_argument("--repeats", type=int, default=15, help="interleaved pairs per measurement")
    p.add_argument("--calls", type=int, default=200, help="back-to-back calls per timing")
    p.add_argument("--activations", nargs="*", help="restrict to these registry names")
    p.add_argument("--quick", action="store_true", help="a smoke run for CI: two activations, few calls")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--markdown", metavar="PATH")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.activations = args.activations or ["swish", "hard_sigmoid"]
        args.sizes, args.repeats, args.calls = [64], 3, 20
    if args.child:
        result = measure(args)
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        return 0
    frontends = FRONTENDS if args.frontend == "all" else (args.frontend,)
    rows: list[dict[str, Any]] = []
    passthrough = ["--sizes", *map(str, args.sizes), "--repeats", str(args.repeats), "--calls", str(args.calls)]
    if args.activations:
        passthrough += ["--activations", *args.activations]
    for frontend in frontends:
        env = dict(_environment(frontend), BENCH_FRONTEND=frontend)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *passthrough],
                              env=env, stdout=subprocess.PIPE, text=True, check=False)
        results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        for line in proc.stdout.splitlines():
            if not line.startswith("RESULT "):
                print(line)
        if proc.returncode != 0 or not results:
            raise SystemExit(f"{frontend}: the measurement failed (exit code {proc.returncode}); see the output above.")
        rows += json.loads(results[-1][len("RESULT "):])["rows"]
    command = " ".join(["python", "benchmarks/bench_call_overhead.py", *(sys.argv[1:] if argv is None else argv)])
    out = {"benchmark": "bench_call_overhead", "command": command, "date": time.strftime("%Y-%m-%d"),
           "machine": {"cpus": os.cpu_count(), "load_average_at_end": list(os.getloadavg())}, "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
