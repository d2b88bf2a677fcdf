"""Measures the Edge TPU forms: ops, float error and int8 error per activation.

Run ``python -m keras_acts.export.edgetpu.measure`` (add ``--markdown`` for tables).
For every registry activation with an Edge TPU form (``Activation.edgetpu_form()``: the
first of its explicit Edge TPU form, its micro form and its cpu form whose ops are all on
Coral's table), the function is traced under
``lowering_target("edgetpu")`` on a 1x16x16x4 input, converted to a fully int8 TFLite
model (int8 I/O) calibrated on an evenly spaced grid over [-8, 8], and run with the
LiteRT reference kernels on that grid. Reported: the TFLite ops, the worst float error
of the form against the registry's NumPy reference (float64, on a 200,001-point grid
over [-10, 10]), the worst int8 error at the float grid points (input rounding
included), in output quantization steps (LSB) and absolute, and the fidelity-budget
measure of the tests: :func:`keras_acts.export.fidelity.measure_int8_fidelity` with
``target="edgetpu"`` (``to_tflite``, every int8 input code, error at the dequantized
input; budget 1.5 LSB). The grid is the input, not data: it probes the function, and
no accuracy claim is made from it.

The activations the Edge TPU target refuses are listed with the ops of their forms that
are not on Coral's table, and with the best Coral-only forms tried for them
(:data:`CORAL_ATTEMPTS`), measured the same way: each is over the budget, which is why
none is registered.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

SHAPE = (1, 16, 16, 4)
RANGE = 8.0


def _edge_fn(entry: Any) -> Any:
    import tensorflow as tf  # noqa: PLC0415

    from keras_acts.lowering import lowering_target  # noqa: PLC0415

    if entry.learnable:  # prelu: a per-channel alpha, as PReLU(shared_axes=[1, 2]) has
        alpha = tf.constant(np.full((1, 1, SHAPE[-1]), 0.25, np.float32))

        def fn(x: Any) -> Any:
            with lowering_target("edgetpu"):
                return entry.fn(x, alpha)

        return fn

    def fn(x: Any) -> Any:
        with lowering_target("edgetpu"):
            return entry.fn(x)

    return fn


def _reference(entry: Any) -> Any:
    if entry.learnable:
        return lambda x: entry.reference(x, alpha=0.25)
    return entry.reference


def convert_int8(fn: Any, grid: np.ndarray) -> bytes:
    """Converts ``fn`` (traced on float32 inputs shaped like ``grid``) to an int8 TFLite model."""
    import tensorflow as tf  # noqa: PLC0415
    from tensorflow.python.framework.convert_to_constants import (  # noqa: PLC0415
        convert_variables_to_constants_v2,
    )

    concrete = tf.function(fn).get_concrete_function(tf.TensorSpec(grid.shape, tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.representative_dataset = lambda: iter([[grid]])
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def run_int8(content: bytes, x: np.ndarray) -> tuple[np.ndarray, float, list[str]]:
    """Runs an int8-I/O single-input model on float ``x``; returns (output, output scale, op names)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    it = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    s, z = inp["quantization"]
    it.set_tensor(inp["index"], np.clip(np.round(x / s + z), -128, 127).astype(np.int8))
    it.invoke()
    s2, z2 = out["quantization"]
    y = (it.get_tensor(out["index"]).astype(np.float64) - z2) * s2
    return y, float(s2), [o["op_name"] for o in it._get_ops_details()]


def measure(entry: Any) -> dict[str, Any]:
    """Ops and errors of one activation's Edge TPU lowering (see the module docstring)."""
    import tensorflow as tf  # noqa: PLC0415

    fn, ref = _edge_fn(entry), _reference(entry)
    dense = np.linspace(-10.0, 10.0, 200001)
    x64 = tf.constant(dense.reshape(1, -1, 1, 1) * np.ones((1, 1, 1, SHAPE[-1])))
    float_out = fn(x64).numpy()[..., 0].ravel() if not entry.learnable else None
    if float_out is None:  # the prelu lowering is traced in float32 with a float32 alpha
        float_out = fn(tf.cast(x64, tf.float32)).numpy()[..., 0].ravel().astype(np.float64)
    float_err = float(np.max(np.abs(float_out - ref(dense))))
    grid = np.linspace(-RANGE, RANGE, int(np.prod(SHAPE))).astype(np.float32).reshape(SHAPE)
    content = convert_int8(fn, grid)
    y, scale, ops = run_int8(content, grid)
    err = np.abs(y - ref(grid.astype(np.float64)))
    return {
        "name": entry.name,
        "status": entry.edgetpu_form().status,
        "ops": ops,
        "float_max_abs_error": float_err,
        "int8_max_abs_error": float(err.max()),
        "int8_max_error_lsb": float(err.max() / scale),
        "content": content,
    }


def _exp_by_squaring(x: Any) -> Any:
    """``exp(x) = (p(x / 8))^8``: p a quintic fit of exp on [-1, 1] (MUL/ADD), then three squarings (MUL)."""
    from keras_acts.activations._int8_forms import horner  # noqa: PLC0415

    v = np.linspace(-1.0, 1.0, 2001)
    e = horner(x * 0.125, [float(c) for c in np.polynomial.polynomial.polyfit(v, np.exp(v), 5)])
    for _ in range(3):
        e = e * e
    return e


def _softsign_by_rsqrt(x: Any) -> Any:
    """``x / (1 + |x|) = 1/(1 + relu(-x)) - 1/(1 + relu(x))``, each ``1/u`` as ``rsqrt(u)^2`` (RSQRT is a Coral op)."""
    import tensorflow as tf  # noqa: PLC0415

    p, q = tf.nn.relu(x), tf.nn.relu(x * -1.0)
    gp, gq = tf.math.rsqrt(1.0 + p), tf.math.rsqrt(1.0 + q)
    return gq * gq - gp * gp


# Coral-only forms tried for the activations that have none registered (each over the 1.5 LSB budget).
CORAL_ATTEMPTS: dict[str, tuple[Any, str]] = {
    "exponential": (_exp_by_squaring, "(p(x/8))^8, p a quintic of exp on [-1, 1]: MUL/ADD only"),
    "softsign": (_softsign_by_rsqrt, "rsqrt(1 + relu(-x))^2 - rsqrt(1 + relu(x))^2: RELU, ADD, RSQRT, MUL, SUB"),
}


def measure_attempt(name: str) -> dict[str, Any]:
    """The fidelity measure (``measure_int8_fidelity``) of the Coral-only form tried for ``name``."""
    from keras_acts import registry  # noqa: PLC0415
    from keras_acts.backend import keras  # noqa: PLC0415
    from keras_acts.export.fidelity import measure_int8_fidelity  # noqa: PLC0415

    fn, _ = CORAL_ATTEMPTS[name]
    return measure_int8_fidelity(keras.layers.Lambda(fn), reference=registry.lookup(name).reference, target=None)


def budget(entry: Any) -> dict[str, Any]:
    """``measure_int8_fidelity`` of ``entry`` exported with ``to_tflite(target="edgetpu")`` (the tests' measure)."""
    from keras_acts import layers  # noqa: PLC0415
    from keras_acts.backend import keras  # noqa: PLC0415
    from keras_acts.export.fidelity import measure_int8_fidelity  # noqa: PLC0415

    if entry.learnable:  # as tests/test_int8_lowerings.py: PReLU with alphas drawn from [0, 0.6]
        act = layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.6, seed=3))
        return measure_int8_fidelity(act, target="edgetpu")
    return measure_int8_fidelity(entry.name, target="edgetpu")


def main(argv: list[str] | None = None) -> None:
    """Prints the measurements for every registry activation (Edge TPU forms, then the refused ones)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    from keras_acts import registry  # noqa: PLC0415
    from keras_acts.export.edgetpu.check import check_edgetpu  # noqa: PLC0415
    from keras_acts.export.edgetpu.optable import OPS  # noqa: PLC0415

    capable = [e for e in registry.entries() if e.edgetpu_form().status != "unsupported"]
    refused = [e for e in registry.entries() if e.edgetpu_form().status == "unsupported"]
    if args.markdown:
        print(
            "| activation | Edge TPU | form | TFLite ops (int8) | float max abs error | int8 max error at grid points "
            "(LSB / abs) | to_tflite int8 max LSB (budget 1.5) | static check |"
        )
        print("|---|---|---|---|---|---|---|---|")
    for e in capable:
        r, b = measure(e), budget(e)
        ok = "pass" if check_edgetpu(r["content"]).compatible and check_edgetpu(b["content"]).compatible else "FAIL"
        src = e.edgetpu_form().source
        if args.markdown:
            print(
                f"| {r['name']} | {r['status']} | {src} | {', '.join(r['ops'])} | {r['float_max_abs_error']:.3g} | "
                f"{r['int8_max_error_lsb']:.2f} / {r['int8_max_abs_error']:.3f} | {b['max_lsb']:.2f} | {ok} |"
            )
        else:
            print(
                f"{r['name']:12s} {r['status']:12s} {src:8s} float {r['float_max_abs_error']:.2e}  int8 "
                f"{r['int8_max_error_lsb']:.2f} LSB ({r['int8_max_abs_error']:.4f})  budget measure "
                f"{b['max_lsb']:.2f} LSB  {ok}  {' '.join(r['ops'])}"
            )
    if refused:
        print()
        if args.markdown:
            print("| refused | ops not on Coral's table, per form | Coral-only form tried | its ops | its max LSB |")
            print("|---|---|---|---|---|")
    for e in refused:
        off = "; ".join(f"{t}: {', '.join(ops)}" for t, ops in e.edgetpu_form().off_table.items() if ops)
        if e.name in CORAL_ATTEMPTS:
            a = measure_attempt(e.name)
            if not set(a["ops"]) <= set(OPS):
                raise RuntimeError(f"the Coral-only form tried for {e.name} converted to {a['ops']}")
            tried, ops, lsb = CORAL_ATTEMPTS[e.name][1], " ".join(a["ops"]), f"{a['max_lsb']:.2f}"
        else:
            tried, ops, lsb = "none", "", ""
        if args.markdown:
            print(f"| {e.name} | {off} | {tried} | {ops} | {lsb} |")
        else:
            print(f"{e.name:12s} refused: {off}; Coral-only form tried: {tried} -> {lsb} LSB ({ops})")


if __name__ == "__main__":
    main()
