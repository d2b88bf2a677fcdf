"""The QAT formulation of an automatic form (:class:`keras_acts.quantization.formulations.QATForm`).

The form's ``body(x, q)`` is run with a ``q`` that fake-quantizes: ``q(t, name)`` applies the
moving-average range ``name`` (one per tensor the int8 graph requantizes to a calibrated range),
``q.fixed(t, lo, hi)`` the range the int8 kernel imposes (LOGISTIC ``[0, 255/256]``, TANH
``[-1, 127/128]``, the fused RELU6 ``[0, 6]``). The names a form uses are found by running it once
with a recorder.
"""

from __future__ import annotations

from typing import Any, Callable

from keras_acts.export.autolower.forms import FormSpec, body, ops_of
from keras_acts.quantization.formulations import QATForm, fixed


class _QATPoints:
    calibrates = False  # the fake-quant nodes fix every range: no guard read (forms._gate_body)

    def __init__(self, point: Callable[..., Any]) -> None:
        self._point = point

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        return self._point(t, name) if floor is None else self._point(t, name, floor=floor)

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        return fixed(t, lo, hi)


class _Names:
    def __init__(self, calibrates: bool = False) -> None:
        self.names: list[str] = []
        self.calibrates = calibrates

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        self.names.append(name)
        return t

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        return t


def moving_points(spec: FormSpec) -> tuple[str, ...]:
    """Names of the moving-average points of the form, in order."""
    import tensorflow as tf

    names = _Names()
    body(spec)(tf.zeros((1, 2), tf.float32), names)
    return tuple(dict.fromkeys(names.names))


def qat_ops(spec: FormSpec) -> tuple[str, ...]:
    """The int8 ops the QAT formulation of ``spec`` converts to (no guard read: see :class:`_QATPoints`)."""
    return ops_of(spec, calibrates=False)


def qat_form(spec: FormSpec, ops: tuple[str, ...] = ()) -> QATForm:
    """The :class:`QATForm` of ``spec``: ``fn(x, point)`` computes the form's int8 chain.

    The chain is the form's as a QAT graph converts it: every requantized tensor fake-quantized on its
    moving range (the gate family without its guard read, which only post-training calibration needs),
    and each operand of a data-dependent ADD/SUB floored at 1/256 of the sum's range (``point(t, name,
    floor=...)``), so XNNPACK keeps the ADD whatever input range training produces. ``ops`` is ignored
    (kept for callers); the QAT ops are :func:`qat_ops`.
    """
    run = body(spec)

    def fn(x: Any, point: Callable[..., Any], **_params: Any) -> Any:
        return run(x, _QATPoints(point))

    return QATForm(fn, moving=moving_points(spec), output_range=None, ops=qat_ops(spec))


def converter_range(lo: float, hi: float) -> tuple[float, float]:
    """The int8 range the TFLite converter gives a calibrated ``[lo, hi]`` (0 inside): its scale and zero point.

    The scale is ``(hi - lo) / 255``; the zero point ``-128 - lo / scale`` is rounded in float64 with a tie going up
    (measured, version 11: ``clip(., -1, 1)``'s ``[-1, 1]`` gets zero point 0, so 1 is stored as 127/127.5 and -1
    exactly; the input's ``[-8, 8]`` alike). TF's ``fake_quant_with_min_max_vars`` computes the same tie in float32
    as 127.49999 and rounds it the other way: half a step off at both ends, which at a clipped piece variable
    ``clip(k x + b, -1, 1)`` moved the centred ``ppoly`` of the shifted quadratic B-spline by up to 2 output LSB.
    """
    import math

    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 0.0:
        return lo, hi
    scale = (hi - lo) / 255.0
    zero = min(max(math.floor(-128.0 - lo / scale + 0.5), -128), 127)
    return (-128 - zero) * scale, (127 - zero) * scale


def fake_quant(t: Any, lo: float, hi: float, converter: Any) -> Any:
    """``t`` rounded to the int8 grid of ``[lo, hi]``: TF's nudging (``converter`` False) or the converter's
    (:func:`converter_range`) with a tie rounded ``"up"`` (XNNPACK's int8 kernels) or ``"away"`` from 0 (the
    builtin kernels' fixed-point rounding)."""
    import tensorflow as tf

    if not converter:
        return tf.quantization.fake_quant_with_min_max_vars(t, lo, max(hi, lo + 1e-9), num_bits=8)
    lo, hi = converter_range(lo, hi)
    scale = max(hi - lo, 1e-9) / 255.0
    zero = round(-128.0 - lo / scale)
    # in float64 (TF's float32 fake-quant turns exact ties, e.g. -0.375 on [-0.376, 0.374] at a clipped end, into
    # near-ties on either side); a value within 1e-6 step of a tie is a tie
    v = tf.cast(t, tf.float64) / scale
    if converter == "away":
        r = tf.sign(v) * tf.floor(tf.abs(v) + 0.5 + 1e-6)
    else:
        r = tf.floor(v + 0.5 + 1e-6)
    codes = tf.clip_by_value(r + zero, -128.0, 127.0)
    return tf.cast((codes - zero) * scale, t.dtype)


class _Calibrated:
    """``q`` with ranges from a first pass over the samples (``record=True``), then fake-quantizing.

    ``converter``: round on the converter's int8 grids (:func:`converter_range`, version 11) instead of TF's, ties
    ``"up"`` or ``"away"`` (:func:`fake_quant`)."""

    def __init__(self, converter: Any = False) -> None:
        self.ranges: dict[str, tuple[float, float]] = {}
        self.record = True
        self.converter = converter

    calibrates = True  # predicts the post-training conversion (floors are QAT-only)

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        import tensorflow as tf

        if self.record:
            lo, hi = float(tf.reduce_min(t)), float(tf.reduce_max(t))
            old = self.ranges.get(name)
            self.ranges[name] = (min(lo, 0.0), max(hi, 0.0)) if old is None else (min(old[0], lo), max(old[1], hi))
            return t
        lo, hi = self.ranges[name]
        return fake_quant(t, lo, hi, self.converter)

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        return t if self.record else fixed(t, lo, hi)


class _Tracer:
    """``q`` that names each point's tensor in a graph (a ``tf.identity``), to read the form's dataflow."""

    calibrates = True

    def __init__(self) -> None:
        self.points: dict[str, str] = {}  # identity op name -> point name
        self.fixed_ops: set[str] = set()

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        import tensorflow as tf

        out = tf.identity(t)
        self.points[out.op.name] = name
        return out

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        import tensorflow as tf

        out = tf.identity(t)
        self.fixed_ops.add(out.op.name)
        return out


def _trace(spec: FormSpec) -> tuple[_Tracer, list[Any], Any]:
    """The form's body traced on a ``(1, 4)`` placeholder: its points, its ops in creation order, its output."""
    import tensorflow as tf

    graph = tf.Graph()
    tracer = _Tracer()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (1, 4))
        y = body(spec)(x, tracer)
    return tracer, graph.get_operations(), y


def widened_points(spec: FormSpec, in_context: bool) -> list[tuple[str, str]]:
    """``(input point, output point)`` pairs whose calibrated ranges the TFLite converter merges.

    Measured (docs/AUTO_LOWERING.md, "Converter range widening"): the calibration runs the float model with
    LiteRT's buffer planner, which computes an elementwise op in place, in the buffer of an input, when that input
    is read by this op alone and the op's output is not a model output; the logger then reads the input after the
    op wrote into it, so the input's calibrated range becomes the union of its own and the op's output range.
    Version 11 (benchmarks/check_converter_widening.py, the int8 scale of every point of 27 ``ppoly`` / ``kpoly`` /
    ``cpoly`` / ``clip`` / ``abs`` forms read from the converted models, alone and in context: all as predicted):

    * of a binary op's inputs, the first that has exactly **one reader in the whole graph** (one input slot: ``h
      + h`` reads ``h`` twice) and is not a constant or the model input shares its buffer; an input read by other
      ops too (before or after) never does. Version 9/10's rule ("dead after the op") widened ``clip``'s ``v =
      relu6(k x) / 3`` and ``ppoly``'s piece variables, which the Horner chains read several times;
    * readers are counted after the converter merged identical ops (same type, same inputs, same constants:
      ``kpoly``'s ``c * 0.5`` for two knots is one MUL read by two SUBs);
    * the form's last op is a model output alone also when its output is a point (``ppoly``'s last partial sum).

    An input whose range the kernel fixes (LOGISTIC, TANH output) has several readers in every form. ``in_context``:
    the form's output feeds another op (then its last op widens too; the output point is ``"output"``). An op whose
    output is clipped by a fused RELU / RELU6 / RELU_N1_TO_1 widens to the clipped point's range.
    """
    import tensorflow as tf

    tracer, ops, y = _trace(spec)
    graph = y.graph
    # The converter merges identical ops (same type, same inputs, same constants: kpoly's c * 0.5 for two knots,
    # ppoly's x * k for pieces of one slope) before it plans buffers: tensors are counted after that merge.
    marks = set(tracer.points) | tracer.fixed_ops
    canon: dict[str, Any] = {}

    def key_of(t: Any) -> Any:
        return canon.get(t.name, t.name)

    first: dict[Any, Any] = {}  # canonical op key -> the first op with it
    op_key: dict[str, Any] = {}
    for op in ops:
        if op.name in marks:  # the tracer's identities are not ops of the model
            canon[op.outputs[0].name] = key_of(op.inputs[0])
            continue
        if op.type == "Const":
            value = tf.make_ndarray(op.get_attr("value"))
            k: Any = ("Const", str(value.dtype), value.shape, value.tobytes())
        else:
            k = (op.type, tuple(key_of(t) for t in op.inputs))
        first.setdefault(k, op)
        op_key[op.name] = k
        for i, t in enumerate(op.outputs):
            canon[t.name] = (k, i)
    unique = [op for op in ops if op.name in op_key and first[op_key[op.name]] is op]
    # readers of each tensor, one per input slot (``h + h`` reads h twice: TFLite's planner counts both)
    readers: dict[Any, int] = {}
    for op in unique:
        for t in op.inputs:
            readers[key_of(t)] = readers.get(key_of(t), 0) + 1
    names_of: dict[Any, list[str]] = {}  # canonical tensor -> the points on it
    for ident, name in tracer.points.items():
        t = graph.get_operation_by_name(ident).outputs[0]
        names_of.setdefault(key_of(t), []).append(name)

    fused = ("Relu", "Relu6", "Minimum", "Maximum")  # activations the converter fuses into the op before them

    def landing(t: Any) -> str | None:
        """The point an op's output ``t`` is requantized at: its own, or its fused activation's (``"output"``
        for the form's output); None when it is not a point (e.g. a fixed RELU6 range)."""
        while True:
            if t is y:
                return "output"
            readers_of = t.consumers()
            points = [c for c in readers_of if c.name in tracer.points]
            if points:
                if points[0].outputs[0] is y:
                    return "output"
                # an activation read only by RELU / RELU6 / clip is fused into this op: the op's int8 output
                # is the clipped tensor (the guard's relu(-g), ~0, lies inside g's range: no widening)
                after = points[0].outputs[0].consumers()
                if len(after) == 1 and after[0].type in fused:
                    nxt = landing(after[0].outputs[0])
                    if nxt is not None:
                        return nxt
                return tracer.points[points[0].name]
            if len(readers_of) != 1 or readers_of[0].type not in fused:
                return None
            t = readers_of[0].outputs[0]

    pairs: list[tuple[str, str]] = []
    for op in unique:
        if op.type not in ("Mul", "AddV2", "Add", "Sub"):
            continue
        out_point = landing(op.outputs[0])
        if out_point is None or (out_point == "output" and not in_context):
            continue  # not a requantized point, or a model output (never computed in place)
        for t in op.inputs:
            if t.op.type in ("Const", "Placeholder"):
                continue
            if readers.get(key_of(t)) != 1:
                continue  # read by another op too (before or after this one): never shared (version 11)
            # the first input read by this op alone shares its buffer with the output: its logged range is widened
            pairs += [(name, out_point) for name in names_of.get(key_of(t), [])]
            break
    return pairs


def widened_points_v10(spec: FormSpec, in_context: bool) -> list[tuple[str, str]]:
    """Version 9/10's rule (the ranking's, kept so the ranking is unchanged): an op's input widens when it is dead
    after that op (the first such input that is not the model input, LOGISTIC/TANH outputs passed over). Wrong for
    inputs read by other ops before (``clip``'s ``v``, ``ppoly``'s ``t_j``, the completed-square gate's ``t * t``) and
    for merged ops; see :func:`widened_points`."""
    tracer, ops, y = _trace(spec)
    order = {op.name: i for i, op in enumerate(ops)}
    last_use: dict[str, int] = {}
    for op in ops:
        for t in op.inputs:
            last_use[t.name] = max(last_use.get(t.name, -1), order[op.name])
    pairs: list[tuple[str, str]] = []
    for op in ops:
        if op.type not in ("Mul", "AddV2", "Add", "Sub"):
            continue
        out = op.outputs[0]
        if out is y:
            if not in_context:
                continue
            out_point = "output"
        else:
            marks = [c for c in out.consumers() if c.name in tracer.points]
            if not marks:
                continue
            out_point = tracer.points[marks[0].name]
            # an activation read only by RELU / RELU6 / RELU_N1_TO_1 is fused into this op: the op's int8
            # output is the clipped tensor (the guard's relu(-g), ~0, lies inside g's range: no widening)
            after = marks[0].outputs[0].consumers()
            if len(after) == 1 and after[0].type in ("Relu", "Relu6", "ClipByValue"):
                fused = [c for c in after[0].outputs[0].consumers() if c.name in tracer.points]
                if fused:
                    out_point = tracer.points[fused[0].name]
        for t in op.inputs:
            if t.op.type in ("Const", "Placeholder") or t.op.name in tracer.fixed_ops:
                continue
            if last_use.get(t.name) != order[op.name]:
                continue
            # this input's buffer takes the output: its logged range is widened
            if t.op.name in tracer.points:
                pairs.append((tracer.points[t.op.name], out_point))
            break
    return pairs


def simulate(spec: FormSpec, reference: Any, lo: float, hi: float) -> float:
    """Predicted int8 error (output LSB) of the form: its QAT chain with ranges calibrated on ``[lo, hi]``.

    Every requantized tensor is fake-quantized on its calibrated range, as the converter quantizes
    it; the input on ``[lo, hi]`` and the output on its own range. Used to rank candidates before
    they are converted and measured on LiteRT (the int8 kernels round MUL/ADD the same way, LOGISTIC/TANH
    tables too). Algorithm version 9, for the ``gate`` family: the converter's calibration widening
    (:func:`widened_points`) is applied to the ranges, alone and with the form followed by each op of
    ``verify.CONTEXTS`` (as the search verifies
    it: the form's output then widened to the union with that op's range; version 12 reads the error there on
    the form's output, as :func:`keras_acts.export.autolower.verify.measure_in_context` does); the largest error
    is returned. Without it the ranker predicted 1.4-1.5 LSB for ``A(s) + x B(s)`` forms
    that measured 4.1 (TanhExp). The worst of :meth:`Simulation.errors`.
    """
    return Simulation(reference, lo, hi).worst(spec)


def _structure(v: Any) -> Any:
    """``v`` with every number replaced by 0, 1 or "x": what decides the ops a form's body creates."""
    if isinstance(v, dict):
        return {k: _structure(w) for k, w in v.items()}
    if isinstance(v, (list, tuple)):
        return [_structure(w) for w in v]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    return 0 if v == 0 else 1 if v == 1 else "x"


class Simulation:
    """The int8 simulation of :func:`simulate` on one function and range, for many forms (version 10).

    The input codes, the reference values at them and the converter's widened points per form structure
    (:func:`widened_points`, which traces a graph) are computed once, so the near-miss refit
    (:mod:`keras_acts.export.autolower.refit`) can evaluate hundreds of coefficient variants of one form.

    Args:
        reference: the float64 function (NumPy in, NumPy out).
        lo: low end of the input range.
        hi: high end of the input range.
        inputs: the dequantized int8 input codes to evaluate (default: the codes of ``[lo, hi]`` as TF's
            fake-quant nudges them, version 9's simulation). The near-miss refit passes the codes of the
            candidate's converted model (the converter rounds the input zero point the other way on -8..8).
        calibration: float samples the ranges are recorded on (default: ``inputs``, version 9's simulation).
            The refit passes the converter's calibration grid (``linspace(lo, hi, 4096)`` in float32), so
            the output range ends at ``f(hi)``, not at ``f`` of the last input code.
        widen_output: in context, the form's output takes the union of its range and the following op's
            (version 9's simulation, the default). Measured (version 10, docs/AUTO_LOWERING.md "Near misses"):
            in the search's in-context models the following op's output is the model output, and the converter
            leaves the form's output range as it is alone (the widening needs the reading op's output not to be
            a model output); TanhExp's near miss simulated 1.69 / 1.59 LSB after ``* 1.3`` / ``+ 0.7`` with the
            widening, 1.18 / 1.51 without, measured 1.18 / 1.51. The refit passes False.
        all_families: simulate the converter's widening (:func:`widened_points`) and the in-context ops for every
            family, not only ``gate``, and round on the converter's int8 grids (:func:`converter_range`) (version 11;
            the near-miss refit passes True). Default False: the ranking keeps version 10's simulation (other
            families alone, without the widening; TF's fake-quant grids).
    """

    def __init__(
        self, reference: Any, lo: float, hi: float, *, inputs: Any = None, calibration: Any = None,
        widen_output: bool = True, all_families: bool = False,
    ) -> None:
        import numpy as np
        import tensorflow as tf

        if inputs is None:
            grid = np.linspace(lo, hi, 2049).astype(np.float32)
            xq = tf.quantization.fake_quant_with_min_max_vars(tf.constant(grid), min(lo, 0.0), max(hi, 0.0), num_bits=8)
            # every int8 input code inside the range once (the 2049 samples of version 9 hit each of them)
            inputs = xq.numpy()
        self.x = np.unique(np.asarray(inputs, np.float32))
        self._xq = tf.constant(self.x)
        self._cal = None if calibration is None else tf.constant(np.asarray(calibration, np.float32))
        self.expect = np.asarray(reference(self.x.astype(np.float64)), np.float64)
        self._pairs: dict[tuple[str, bool], list[tuple[str, str]]] = {}
        self._widen_output = widen_output
        self._all_families = all_families

    def _widened(self, spec: FormSpec, in_context: bool) -> list[tuple[str, str]]:
        import json

        key = (json.dumps([spec.kind, _structure(spec.params)], sort_keys=True), in_context)
        if key not in self._pairs:
            # version 11's rule in the converter-faithful simulation; the ranking keeps version 10's (switching it
            # verifies the completed-square gates, which version 10's rule wrongly widened, and changes Smish's choice
            # to a faster 8-op form at 1.49 LSB instead of 1.28; docs/AUTO_LOWERING.md, version 11)
            rule = widened_points if self._all_families else widened_points_v10
            self._pairs[key] = rule(spec, in_context)
        return self._pairs[key]

    def errors(self, spec: FormSpec) -> dict[str, Any]:
        """Per-input error (output LSB) of each setting: ``"alone"`` and, for the ``gate`` family, each op of
        ``verify.CONTEXTS`` (``"then * 1.3"``, ``"then + 0.7"``), as NumPy arrays over :attr:`x`; also
        ``"chain"``, the form's int8 chain alone before its output is rounded (float64), and ``"step"``, the
        output LSB.

        With ``all_families`` (version 11) each error is the larger of two simulations that differ only in how an
        exact tie is rounded (XNNPACK's kernels round it up, the builtin kernels away from 0; the search measures
        both and keeps the worse), and ``"chain"`` is the first's."""
        import numpy as np

        if not self._all_families:
            return self._errors(spec, False)
        up, away = self._errors(spec, "up"), self._errors(spec, "away")
        return {k: (v if k in ("chain", "step") else np.maximum(v, away[k])) for k, v in up.items()}

    def _errors(self, spec: FormSpec, conv: Any) -> dict[str, Any]:
        import numpy as np
        import tensorflow as tf

        xq = self._xq
        expect = self.expect
        q = _Calibrated(conv)
        run = body(spec)
        y = run(xq if self._cal is None else self._cal, q)
        out_lo, out_hi = min(float(tf.reduce_min(y)), 0.0), max(float(tf.reduce_max(y)), 0.0)
        step = (out_hi - out_lo) / 255.0
        out: dict[str, Any] = {"step": step}
        recorded = dict(q.ranges, output=(out_lo, out_hi))
        q.record = False
        for in_context in ((False, True) if spec.kind == "gate" or self._all_families else (None,)):
            if in_context is None:  # other families: no widening, alone (version 8's simulation)
                y = run(xq, q)
                out["chain"] = y.numpy().astype(np.float64)
                yq = fake_quant(y, out_lo, out_hi, conv).numpy()
                out["alone"] = np.abs(yq.astype(np.float64) - expect) / step
                continue
            ranges = dict(recorded)
            for inp, outp in self._widened(spec, in_context):
                a, b = ranges[inp]
                c, d = recorded[outp]
                ranges[inp] = (min(a, c), max(b, d))
            q.ranges = {k: v for k, v in ranges.items() if k != "output"}
            y = run(xq, q)
            if not in_context:
                out["chain"] = y.numpy().astype(np.float64)
                yq = fake_quant(y, out_lo, out_hi, conv).numpy()
                out["alone"] = np.abs(yq.astype(np.float64) - expect) / step
                continue
            # followed by each op the search verifies in context (verify.CONTEXTS), with the inner ranges widened
            # as there; with ``widen_output`` the form's output, dead after that op, takes the union of its range
            # and the op's. Version 12: the error is the form's own output's (verify.measure_in_context), not the
            # op's output's (the op's own rounding is the next layer's)
            from keras_acts.export.autolower.verify import CONTEXTS

            for name, tail, _slope in CONTEXTS:
                t_lo, t_hi = sorted((float(tail(out_lo)), float(tail(out_hi))))
                t_lo, t_hi = min(t_lo, 0.0), max(t_hi, 0.0)
                y_lo, y_hi = (min(out_lo, t_lo), max(out_hi, t_hi)) if self._widen_output else (out_lo, out_hi)
                yq = fake_quant(y, y_lo, y_hi, conv).numpy()
                out[name] = np.abs(yq.astype(np.float64) - expect) / step
        return out

    def worst(self, spec: FormSpec) -> float:
        """The largest error over :meth:`errors`' settings (:func:`simulate`)."""
        return max(float(v.max()) for k, v in self.errors(spec).items() if k not in ("chain", "step"))
