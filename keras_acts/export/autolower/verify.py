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

import math
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from keras_acts.export.fidelity import op_details

WIDTH = 4096  # elements per invoke: every int8 code fits, and latency is not all call overhead
_CALIBRATION_ROWS = 8
# Latency is compared on a realistically sized tensor: (LATENCY_ROWS, WIDTH) = 65536 elements, one
# (256, 256) feature map. At (1, WIDTH) an invoke is mostly fixed cost and hides what XNNPACK does per
# element (docs/AUTO_LOWERING.md, "Why some XNNPACK int8 elementwise chains are slow").
LATENCY_ROWS = 16


# Converted models by the caller's key (a form's JSON and its setting) and range: a form converts to the same
# bytes for every target, so a search for a second target of the same function reuses the first one's
# conversions (``auto_lowering.explain`` searches three targets). Bounded; cleared with the in-process cache.
_CONVERTED: dict[tuple[Any, float, float], bytes] = {}
_CONVERTED_MAX = 512


def clear_conversions() -> None:
    """Forgets the converted models kept by :func:`convert`'s ``memo_key``."""
    _CONVERTED.clear()


def convert(fn: Callable[[Any], Any], lo: float, hi: float, *, memo_key: Any = None) -> bytes:
    """``fn`` (TF ops) on a ``(1, WIDTH)`` float input converted to a fully int8 TFLite model.

    ``memo_key``: a hashable key that identifies ``fn``'s graph (e.g. a form's JSON); the converted bytes are
    kept in-process under it and the range, and returned again without converting. None: always converts.
    """
    if memo_key is not None:
        hit = _CONVERTED.get((memo_key, lo, hi))
        if hit is not None:
            return hit
        content = convert(fn, lo, hi)
        if len(_CONVERTED) >= _CONVERTED_MAX:
            _CONVERTED.pop(next(iter(_CONVERTED)))
        _CONVERTED[(memo_key, lo, hi)] = content
        return content
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


def _run(interp: Any, codes: np.ndarray, output: int = 0) -> np.ndarray:
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[output]
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
    lsb: float | None = None,
) -> dict[str, Any]:
    """Error in output LSB, ops, int8-ness, XNNPACK partitions and latency of an int8 model.

    Args:
        content: the flatbuffer (one int8 input, one int8 output, shape ``(1, WIDTH)``).
        reference: float64 function the output is compared with.
        lo: low end of the range evaluated.
        hi: high end of the range evaluated.
        xnnpack: also run it under XNNPACK (the error is the worse of the two runs).
        latency_runs: timed invocations (median reported, XNNPACK when ``xnnpack``); 0 skips timing
            (``latency_us`` is then 0).
        lsb: the step the error is expressed in (default: the output's quantization scale).
    """
    from keras_acts.export.runner import float_ops_and_int8, input_codes_in_range, make_interpreter
    from keras_acts.export.xnnpack import plan_from_ops

    plain = make_interpreter(content)
    inp = plain.get_input_details()[0]
    out = plain.get_output_details()[0]
    s_out, z_out = out["quantization"]
    grid_codes = input_codes_in_range(inp, lo, hi)
    codes, x, covers = grid_codes.codes, grid_codes.x, grid_codes.covers
    expect = reference(x)
    runs = [plain]
    fast = None
    if xnnpack:
        fast = make_interpreter(content, xnnpack=True)
        runs.append(fast)
    worst = 0.0
    worst_x = float(x[0])
    step = float(s_out) if lsb is None else float(lsb)
    for interp in runs:
        y = (_run(interp, codes).astype(np.float64) - z_out) * s_out
        err = np.abs(y - expect) / step
        if err.max() >= worst:
            worst, worst_x = float(err.max()), float(x[int(np.argmax(err))])
    details = op_details(content)
    float_ops, fully_int8 = float_ops_and_int8(details, inp, out)
    timed = fast if fast is not None else plain
    row = np.resize(codes, WIDTH).astype(np.int8)[None]
    timed.set_tensor(timed.get_input_details()[0]["index"], row)
    for _ in range(5 if latency_runs else 0):
        timed.invoke()
    times = [0.0]
    if latency_runs:
        times = []
    for _ in range(latency_runs):
        t0 = time.perf_counter()
        timed.invoke()
        times.append(time.perf_counter() - t0)
    result = {
        "ops": [d["op"] for d in details],
        "max_lsb": worst,
        "worst_x": worst_x,
        "is_fully_int8": fully_int8,
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


def compare_latency(
    contents: Mapping[str, bytes], *, rows: int = LATENCY_ROWS, repeats: int = 9, invokes: int = 10
) -> dict[str, float]:
    """Median microseconds per invoke of each int8 model under XNNPACK, 1 thread, timed interleaved.

    The medians of :func:`compare_latency_rounds` (same arguments).
    """
    rounds = compare_latency_rounds(contents, rows=rows, repeats=repeats, invokes=invokes)
    return {k: float(np.median(v)) for k, v in rounds.items()}


def compare_latency_rounds(
    contents: Mapping[str, bytes], *, rows: int = LATENCY_ROWS, repeats: int = 9, invokes: int = 10
) -> dict[str, list[float]]:
    """Median microseconds per invoke of each int8 model under XNNPACK, 1 thread, timed interleaved.

    Every model is an elementwise ``(1, WIDTH)`` int8 model; its input is resized to ``(rows, WIDTH)``
    and filled with the int8 codes, tiled. The models run in turn in each of ``repeats`` rounds of
    ``invokes`` calls (so a load change on a shared machine hits all of them alike); the median over the
    rounds is returned.

    Args:
        contents: ``{key: flatbuffer}``.
        rows: rows of ``WIDTH`` elements per invoke.
        repeats: interleaved rounds.
        invokes: calls per model per round.

    Returns:
        ``{key: [microseconds per invoke in each round]}``.
    """
    from keras_acts.export.runner import interleaved_latency_rounds, make_interpreter

    interps: dict[str, Any] = {}
    for key, content in contents.items():
        it = make_interpreter(content, num_threads=1, xnnpack=True)
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], [rows, WIDTH], strict=False)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        codes = np.resize(np.arange(-128, 128, dtype=np.int8), rows * WIDTH).reshape(rows, WIDTH)
        it.set_tensor(d["index"], codes.astype(d["dtype"]))
        for _ in range(3):
            it.invoke()
        interps[key] = it
    return interleaved_latency_rounds(interps, repeats=repeats, invokes=invokes)


SIGN_TEST_ALPHA = 0.05
"""Significance level of :func:`slower_than`."""


def slower_than(a: Sequence[float], b: Sequence[float], alpha: float = SIGN_TEST_ALPHA) -> bool:
    """Whether model ``a`` is measurably slower than ``b``, from their paired interleaved rounds.

    A one-sided sign test: under "equally fast" each round is slower for ``a`` with probability 1/2
    (the rounds are paired: the two models ran back to back in each, so a change of the machine's load
    hits both), and ``a`` counts as slower only when it lost so many rounds that this has probability
    ``alpha`` or less (9 rounds, ``alpha`` 0.05: at least 8 of 9). Ties count for neither.
    """
    n = min(len(a), len(b))
    losses = sum(1 for i in range(n) if a[i] > b[i])
    wins = sum(1 for i in range(n) if a[i] < b[i])
    m = losses + wins
    if m == 0:
        return False
    p = sum(math.comb(m, k) for k in range(losses, m + 1)) / 2.0**m
    return p <= alpha


# Ops that follow the form in the in-context checks: ``(name, f(y), dy/d(form output))``. Inside a model
# an activation feeds another op; then the converter widens the calibrated range of the form's dead
# internal tensors (docs/AUTO_LOWERING.md, "Converter range widening"), which a model whose output is
# the form's output does not show. Each op is a MUL by a constant (``f(0) == 0``) or an ADD of one.
CONTEXTS: tuple[tuple[str, Callable[[Any], Any], float], ...] = (
    ("then * 1.3", lambda y: y * 1.3, 1.3),
    ("then + 0.7", lambda y: y + 0.7, 1.0),
)


def _on_int8_grid(v: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, float]:
    """``v`` rounded to the int8 grid the converter gives a calibrated ``[lo, hi]`` (ties up); its scale."""
    from keras_acts.export.autolower.qat import converter_range

    a, b = converter_range(lo, hi)
    scale = max(b - a, 1e-300) / 255.0
    zero = round(-128.0 - a / scale)
    codes = np.clip(np.floor(v / scale + 0.5) + zero, -128, 127)
    return (codes - zero) * scale, scale


def ideal_errors(reference: Callable[[np.ndarray], np.ndarray], lo: float, hi: float) -> dict[str, float]:
    """What an ideal form measures alone and in each of :data:`CONTEXTS`: the room the budget leaves.

    The ideal form is ``reference`` itself, rounded once to the int8 grid of its own output range (the
    converter's grid for the range it would calibrate, from the same samples as :func:`convert`). The errors
    are in the form's LSB at the int8 input codes in ``[lo, hi]``, as :func:`measure` and
    :func:`measure_in_context` give them, and equal what LiteRT measures for a form that is exact before its
    output's rounding. In a context the error is read on the form's own output tensor (version 12), whose grid
    is the one it has alone, so the ideal form measures the same there. (A form whose output range is wider
    than the function's has a coarser LSB, the unit of its errors, so this is the room of a form with the
    function's own range, not a bound for every form.)
    """
    from keras_acts.export.autolower.qat import converter_range

    samples = np.linspace(lo, hi, WIDTH, dtype=np.float32).astype(np.float64)  # convert()'s calibration
    calibration = np.asarray(reference(samples), np.float64)
    a, b = converter_range(lo, hi)  # the input's grid, its scale in float32 as the model stores it
    s_in = float(np.float32((b - a) / 255.0))
    x = (np.arange(-128, 128) - round(-128.0 - a / s_in)) * s_in
    x = x[(x >= lo - s_in / 2) & (x <= hi + s_in / 2)]
    f = np.asarray(reference(x), np.float64)
    y, scale = _on_int8_grid(f, float(calibration.min()), float(calibration.max()))
    alone = float(np.abs(y - f).max() / scale)
    return {"alone": alone, **{name: alone for name, _tail, _slope in CONTEXTS}}


def expose_tail_input(content: bytes, tail: Callable[[Any], Any], slope: float) -> bytes | None:
    """``content`` with the input of its last op added as a second model output, or None.

    The last op must be the tail of a context model: a MUL by ``slope`` (when ``tail(0) == 0``) or an ADD of
    ``tail(0)``, with a constant scalar operand (within its quantization step) and the other operand computed
    by the form. That operand is the form's output inside the model. Only the subgraph's output list changes:
    every tensor keeps the scale and zero point the converter calibrated with the tail in place, so a runtime
    computes the same values and also returns that tensor (XNNPACK too, which keeps its partition's inner
    tensors to itself). None when the converter merged the tail into the form's last op.
    """
    import flatbuffers

    from keras_acts.export.scale_folding import _Graph, _scale, _schema

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    g = _Graph(model, schema)
    outputs = [int(t) for t in g.sub.outputs]
    if len(outputs) != 1:
        return None
    last = next((i for i in range(len(g.ops)) if g.output(i) == outputs[0]), None)
    offset = float(tail(0.0))
    want_op, want_value = ("MUL", float(slope)) if offset == 0.0 else ("ADD", offset)
    if last is None or g.names[last] != want_op or g.fused_activation(last):
        return None
    produced = {g.output(i) for i in range(len(g.ops))} | {int(t) for t in g.sub.inputs}
    live = [t for t in g.inputs(last) if t in produced]
    consts = [t for t in g.inputs(last) if t not in produced]
    if len(live) != 1 or len(consts) != 1:
        return None
    value = g.scalar_constant(consts[0])
    if value is None or abs(value - want_value) > _scale(g, consts[0]):
        return None
    g.sub.outputs = outputs + live
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _form_tensor_error(
    content: bytes, reference: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, *, xnnpack: bool,
    lsb: float,
) -> float:
    """Max error of the second output of :func:`expose_tail_input`'s model (the form's own output tensor) vs
    ``reference``, in ``lsb``, over every int8 input code in ``[lo, hi]``; with ``xnnpack`` the worse of the
    builtin kernels and XNNPACK, as :func:`measure`."""
    from keras_acts.export.runner import input_codes_in_range, make_interpreter

    runs = [make_interpreter(content)] + ([make_interpreter(content, xnnpack=True)] if xnnpack else [])
    worst = 0.0
    for interp in runs:
        grid = input_codes_in_range(interp.get_input_details()[0], lo, hi)
        s, z = interp.get_output_details()[1]["quantization"]
        y = (_run(interp, grid.codes, output=1).astype(np.float64) - z) * s
        worst = max(worst, float(np.abs(y - reference(grid.x)).max() / lsb))
    return worst


def measure_in_context(
    fn: Callable[[Any], Any],
    reference: Callable[[np.ndarray], np.ndarray],
    lo: float,
    hi: float,
    *,
    xnnpack: bool,
    form_scale: float,
    memo_key: Any = None,
) -> dict[str, float]:
    """Error of ``fn``'s own output inside a model where it feeds each op of :data:`CONTEXTS`, in its LSB alone.

    Each setting is converted separately (``x -> tail(fn(x))``, the tail's output is the model output, as an
    activation inside a model: the converter then widens the calibrated ranges of the form's dead inner
    tensors). Version 12 reads the form's own output tensor in that model (:func:`expose_tail_input`) and
    compares it with ``reference(x)`` at every int8 input code, in ``form_scale`` (the output scale of ``fn``
    converted alone): the error the activation hands to the next layer. The tail's own rounding is the next
    op's, which every int8 model pays whatever the activation's form; up to version 11 it was counted here (the
    tail's output compared with ``tail(reference(x))``, divided by its slope), which left a function on
    ``[0, M]`` followed by ``+ 0.7`` as little as 0.24 LSB of the budget even for an exact form
    (docs/AUTO_LOWERING.md, "The room a form has"). When the converter merged the tail into the form's last op
    (no tensor to read) that measure is kept.

    ``memo_key``: :func:`convert`'s, for ``fn`` (each setting is kept under it and the setting's name).

    Returns:
        ``{context name: max error}``; ``inf`` for a setting that failed to convert.
    """
    out: dict[str, float] = {}
    for name, tail, slope in CONTEXTS:
        key = None if memo_key is None else (memo_key, name)
        content = convert(lambda t, tail=tail: tail(fn(t)), lo, hi, memo_key=key)
        exposed = expose_tail_input(content, tail, slope)
        if exposed is not None:
            out[name] = _form_tensor_error(exposed, reference, lo, hi, xnnpack=xnnpack, lsb=form_scale)
            continue
        m = measure(
            content, lambda v, tail=tail: np.asarray(tail(reference(v)), dtype=np.float64), lo, hi,
            xnnpack=xnnpack, latency_runs=0, lsb=slope * form_scale,
        )
        out[name] = m["max_lsb"]
    return out
