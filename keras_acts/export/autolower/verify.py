"""Verifying a form on the installed LiteRT: convert it alone to int8, run it, time it.

The model is ``x (1, WIDTH) -> form(x)`` traced from a ``tf.function`` and converted the way
:func:`keras_acts.export.fidelity.convert_int8` converts the stock path (frozen graph,
``TFLITE_BUILTINS_INT8`` only, int8 input and output), calibrated on the input range. Every int8 input
code inside the range is fed; the dequantized output is compared with the float function at the
dequantized input (float64), in output LSB, like :func:`~keras_acts.export.fidelity.measure_int8_fidelity`.
For the ``cpu`` target the error is measured both with the builtin kernels and with XNNPACK (which
runs the model there) and the larger is reported; the XNNPACK partitions come from
:func:`keras_acts.export.xnnpack.xnnpack_plan`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from keras_acts.export.fidelity import op_details

WIDTH = 4096  # elements per invoke: every int8 code fits, and latency is not all call overhead
_CALIBRATION_ROWS = 8


def convert(fn: Callable[[Any], Any], lo: float, hi: float) -> bytes:
    """``fn`` (TF ops) on a ``(1, WIDTH)`` float input converted to a fully int8 TFLite model."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from keras_acts import _quiet

    spec = tf.TensorSpec((1, WIDTH), tf.float32)
    concrete = tf.function(fn).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    grid = np.linspace(lo, hi, WIDTH, dtype=np.float32)
    rng = np.random.default_rng(0)

    def samples():
        yield [grid[None]]
        for _ in range(_CALIBRATION_ROWS - 1):
            yield [rng.permutation(grid)[None]]

    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with _quiet.captured_stderr(not _quiet.verbose_requested()):
        return converter.convert()


def _run(interp: Any, codes: np.ndarray) -> np.ndarray:
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    row = np.resize(codes, WIDTH).astype(np.int8)[None]
    interp.set_tensor(inp["index"], row)
    interp.invoke()
    return interp.get_tensor(out["index"])[0][: len(codes)]


def measure(
    content: bytes,
    reference: Callable[[np.ndarray], np.ndarray],
    lo: float,
    hi: float,
    *,
    xnnpack: bool,
    latency_runs: int = 100,
) -> dict[str, Any]:
    """Error in output LSB, ops, int8-ness, XNNPACK partitions and latency of an int8 model.

    Args:
        content: the flatbuffer (one int8 input, one int8 output, shape ``(1, WIDTH)``).
        reference: float64 function the output is compared with.
        lo: low end of the range evaluated.
        hi: high end of the range evaluated.
        xnnpack: also run it under XNNPACK (the error is the worse of the two runs).
        latency_runs: timed invocations (median reported, XNNPACK when ``xnnpack``).
    """
    from keras_acts.export.runner import make_interpreter
    from keras_acts.export.xnnpack import plan_from_ops

    plain = make_interpreter(content)
    inp = plain.get_input_details()[0]
    out = plain.get_output_details()[0]
    s_in, z_in = inp["quantization"]
    s_out, z_out = out["quantization"]
    codes = np.arange(-128, 128)
    x_all = (codes - z_in) * s_in
    covers = bool(x_all.min() <= lo + s_in and x_all.max() >= hi - s_in)
    keep = (x_all >= lo - s_in / 2) & (x_all <= hi + s_in / 2)
    codes, x = codes[keep], x_all[keep]
    expect = reference(x)
    runs = [plain]
    fast = None
    if xnnpack:
        fast = make_interpreter(content, xnnpack=True)
        runs.append(fast)
    worst = 0.0
    worst_x = float(x[0])
    for interp in runs:
        y = (_run(interp, codes).astype(np.float64) - z_out) * s_out
        lsb = np.abs(y - expect) / s_out
        if lsb.max() >= worst:
            worst, worst_x = float(lsb.max()), float(x[int(np.argmax(lsb))])
    details = op_details(content)
    float_ops = [d["op"] for d in details if "float32" in d["outputs"]]
    timed = fast if fast is not None else plain
    row = np.resize(codes, WIDTH).astype(np.int8)[None]
    timed.set_tensor(timed.get_input_details()[0]["index"], row)
    for _ in range(5):
        timed.invoke()
    times = []
    for _ in range(latency_runs):
        t0 = time.perf_counter()
        timed.invoke()
        times.append(time.perf_counter() - t0)
    result = {
        "ops": [d["op"] for d in details],
        "max_lsb": worst,
        "worst_x": worst_x,
        "is_fully_int8": not float_ops and inp["dtype"] == np.int8 and out["dtype"] == np.int8,
        "float_ops": float_ops,
        "covers_range": covers,
        "output_scale": float(s_out),
        "latency_us": float(np.median(times) * 1e6),
    }
    if fast is not None:
        plan = plan_from_ops(fast._get_ops_details())
        result["partitions"] = plan.partitions
        result["outside"] = [name for _, name in plan.outside]
    return result
