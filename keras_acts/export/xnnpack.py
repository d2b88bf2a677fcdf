"""What LiteRT's CPU runtime does with a model: XNNPACK partitions, and the measured op table.

LiteRT's default ``Interpreter`` hands every op its XNNPACK delegate supports to XNNPACK and
runs the rest on the builtin kernels. Each op it refuses splits the graph: the model then runs
as several XNNPACK partitions with builtin ops between them, and in int8 a refused op can cost
more than quantization saves (an int8 RELU that is not fused into the op before it runs at
1.7x the float model's time in our measurements).

* :func:`xnnpack_plan` reports how a given model is partitioned (used by
  :func:`keras_acts.export.inspect` and the export report);
* :func:`measure_op_table` measures, for the LiteRT installed, which builtin ops XNNPACK takes
  in int8 and in float, one single-op model per op; the result is kept in
  ``xnnpack_ops.json`` beside this module (:func:`op_table`), regenerated with
  ``python -m keras_acts.export.xnnpack --write`` and checked against the installed LiteRT by
  ``tests/test_xnnpack.py``. The registry's ``"cpu"`` lowerings are built from the ops it lists
  as taken in int8.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

TABLE_PATH = pathlib.Path(__file__).with_name("xnnpack_ops.json")


@dataclass(frozen=True)
class XnnpackPlan:
    """How LiteRT's CPU runtime (with its default XNNPACK delegate) runs one model.

    Attributes:
        partitions: number of XNNPACK partitions (DELEGATE nodes); 0 when XNNPACK takes nothing.
        delegated: indices of the model's ops that run inside XNNPACK.
        outside: ``(index, op name)`` of every op that runs on the builtin kernels instead.
        num_threads: threads the interpreter was created with.
        ops: every op name of the model, by index.
    """

    partitions: int
    delegated: tuple[int, ...]
    outside: tuple[tuple[int, str], ...]
    num_threads: int = 1
    ops: tuple[str, ...] = ()
    partition_of: tuple[int, ...] = ()

    def partition(self, index: int) -> int | None:
        """The XNNPACK partition (0, 1, ... in execution order) that runs op ``index``, or None
        when the op runs on the builtin kernels (or the plan was made without partition ids)."""
        if 0 <= index < len(self.partition_of) and self.partition_of[index] >= 0:
            return self.partition_of[index]
        return None

    @property
    def splitting(self) -> tuple[tuple[int, str], ...]:
        """The ops outside XNNPACK that split the model's body: each has delegated compute after it.

        An op outside XNNPACK at the very end (e.g. an int8 SOFTMAX, followed at most by the
        output's DEQUANTIZE) costs one small op; one in the middle sends every tensor after it
        through another partition boundary.
        """
        boundary = {"QUANTIZE", "DEQUANTIZE"}
        return tuple(
            (i, name)
            for i, name in self.outside
            if any(j > i and self.ops[j] not in boundary for j in self.delegated if j < len(self.ops))
        )

    @property
    def is_whole(self) -> bool:
        """True when XNNPACK runs the whole model as one partition."""
        return self.partitions == 1 and not self.outside

    @property
    def outside_ops(self) -> dict[str, int]:
        """How many ops of each kind run outside XNNPACK."""
        counts: dict[str, int] = {}
        for _, name in self.outside:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def summary(self) -> str:
        """One line, e.g. ``1 XNNPACK partition, every op delegated``."""
        head = f"{self.partitions} XNNPACK partition{'s' if self.partitions != 1 else ''}"
        if not self.outside:
            return head + ", every op delegated"
        kinds = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(self.outside_ops.items()))
        return f"{head}; {len(self.outside)} op(s) outside XNNPACK: {kinds}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return {
            "partitions": self.partitions,
            "delegated": list(self.delegated),
            "outside": [{"index": i, "op": n} for i, n in self.outside],
            "splitting": [{"index": i, "op": n} for i, n in self.splitting],
            "num_threads": self.num_threads,
            "partition_of": list(self.partition_of),
        }


def plan_from_ops(ops_details: list[dict[str, Any]], num_threads: int = 1) -> XnnpackPlan:
    """The :class:`XnnpackPlan` from a delegated interpreter's ``_get_ops_details()``.

    The interpreter lists the model's own ops first and then one DELEGATE node per partition,
    with the partition's boundary tensors as its inputs and outputs. An op is inside a partition
    when it lies on a path from the partition's inputs to its outputs: walking back from each
    output through the ops that produce it, stopping at the partition's inputs, finds them all.
    """
    own = [d for d in ops_details if d["op_name"] != "DELEGATE"]
    delegates = [d for d in ops_details if d["op_name"] == "DELEGATE"]
    producer: dict[int, int] = {}
    for d in own:
        for t in d["outputs"]:
            producer[int(t)] = int(d["index"])
    by_index = {int(d["index"]): d for d in own}
    inside: set[int] = set()
    groups: list[set[int]] = []
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        seen: set[int] = set()
        group: set[int] = set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            group.add(node)
            stack.extend(int(u) for u in by_index[node]["inputs"] if int(u) >= 0)
        inside |= group
        groups.append(group)
    outside = tuple((int(d["index"]), str(d["op_name"])) for d in own if int(d["index"]) not in inside)
    names = tuple(str(d["op_name"]) for d in sorted(own, key=lambda d: int(d["index"])))
    partition_of = [-1] * len(names)
    for number, group in enumerate(sorted((g for g in groups if g), key=min)):
        for i in group:
            if 0 <= i < len(partition_of):
                partition_of[i] = number
    return XnnpackPlan(len(delegates), tuple(sorted(inside)), outside, num_threads, names, tuple(partition_of))


def xnnpack_plan(content: bytes, *, num_threads: int = 1) -> XnnpackPlan:
    """How LiteRT's default CPU runtime partitions the model ``content`` (TFLite bytes)."""
    from keras_acts.export.runner import make_interpreter

    interpreter = make_interpreter(content, num_threads=num_threads, xnnpack=True)
    return plan_from_ops(interpreter._get_ops_details(), num_threads)


# --- the measured op table ---------------------------------------------------------------

_SHAPE = (1, 8, 8, 16)


@dataclass(frozen=True)
class _Probe:
    """One single-op model: ``fn`` on an input of ``shape`` converts to ``op``."""

    label: str
    op: str
    fn: Callable[[Any], Any]
    shape: tuple[int, ...] = _SHAPE
    positive: bool = False
    note: str = ""


def _const(shape: tuple[int, ...], seed: int, scale: float = 0.5) -> Any:
    import tensorflow as tf

    return tf.constant(np.random.default_rng(seed).normal(0.0, scale, shape).astype(np.float32))


def _probes() -> list[_Probe]:
    import tensorflow as tf

    c = _SHAPE[-1]
    vec = _SHAPE[1:]
    return [
        _Probe("CONV_2D", "CONV_2D", lambda x: tf.nn.conv2d(x, _const((3, 3, c, c), 1), 1, "SAME")),
        _Probe(
            "DEPTHWISE_CONV_2D",
            "DEPTHWISE_CONV_2D",
            lambda x: tf.nn.depthwise_conv2d(x, _const((3, 3, c, 1), 2), [1, 1, 1, 1], "SAME"),
        ),
        _Probe("FULLY_CONNECTED", "FULLY_CONNECTED", lambda x: tf.matmul(x, _const((c, c), 3)), shape=(1, c)),
        _Probe("ADD", "ADD", lambda x: x + _const(vec, 4)),
        _Probe("ADD+RELU", "ADD", lambda x: tf.nn.relu(x + _const(vec, 4)), note="fused RELU"),
        _Probe("ADD+RELU6", "ADD", lambda x: tf.nn.relu6(x + 3.0), note="fused RELU6"),
        _Probe("SUB", "SUB", lambda x: x - _const(vec, 5)),
        _Probe("MUL", "MUL", lambda x: x * _const(vec, 6)),
        _Probe("MUL+RELU", "MUL", lambda x: tf.nn.relu(x * -1.0), note="fused RELU"),
        _Probe("MEAN", "MEAN", lambda x: tf.reduce_mean(x, [1, 2], keepdims=True)),
        _Probe("AVERAGE_POOL_2D", "AVERAGE_POOL_2D", lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID")),
        _Probe("MAX_POOL_2D", "MAX_POOL_2D", lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID")),
        _Probe("PAD", "PAD", lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])),
        _Probe("CONCATENATION", "CONCATENATION", lambda x: tf.concat([x, x * _const(vec, 7)], -1)),
        _Probe("RESHAPE", "RESHAPE", lambda x: tf.reshape(x, (1, -1)) * _const((1, int(np.prod(vec))), 8)),
        _Probe("RELU", "RELU", tf.nn.relu, note="standalone: not fused into the op before it"),
        _Probe("RELU6", "RELU6", tf.nn.relu6, note="standalone"),
        _Probe("RELU_N1_TO_1", "RELU_N1_TO_1", lambda x: tf.clip_by_value(x, -1.0, 1.0), note="standalone"),
        _Probe("LEAKY_RELU", "LEAKY_RELU", lambda x: tf.nn.leaky_relu(x, 0.1)),
        _Probe(
            "PRELU",
            "PRELU",
            lambda x: tf.nn.relu(x) + (-tf.abs(_const((1, 1, c), 9, 0.1))) * tf.nn.relu(-x),
        ),
        _Probe("HARD_SWISH", "HARD_SWISH", lambda x: x * (tf.nn.relu6(x + 3.0) / 6.0)),
        _Probe("LOGISTIC", "LOGISTIC", tf.math.sigmoid),
        _Probe("TANH", "TANH", tf.math.tanh),
        _Probe("ELU", "ELU", tf.nn.elu, note="the converter leaves ELU in float in int8 models"),
        _Probe("GELU", "GELU", lambda x: tf.nn.gelu(x, approximate=False)),
        _Probe("EXP", "EXP", tf.math.exp),
        _Probe("LOG", "LOG", tf.math.log, positive=True),
        _Probe("MINIMUM", "MINIMUM", lambda x: tf.minimum(x, _const(vec, 10))),
        _Probe("MAXIMUM", "MAXIMUM", lambda x: tf.maximum(x, _const(vec, 11))),
        _Probe("ABS", "ABS", tf.math.abs),
        _Probe("SOFTMAX", "SOFTMAX", tf.nn.softmax),
    ]


def _convert(probe: _Probe, int8: bool) -> bytes:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(probe.fn, autograph=False).get_concrete_function(tf.TensorSpec(probe.shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(concrete)])
    if int8:
        rng = np.random.default_rng(0)

        def data():
            for _ in range(16):
                x = rng.uniform(-4.0, 4.0, probe.shape).astype(np.float32)
                yield [np.abs(x) + 0.1 if probe.positive else x]

        _full_int8(converter, data)
    return converter.convert()


def _full_int8(converter: Any, data: Callable[[], Any]) -> None:
    """Sets ``converter`` to full int8 (int8 ops and I/O) calibrated on ``data``."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8


def _taken(probe: _Probe, content: bytes, dtype: str) -> bool | None:
    """True/False: XNNPACK takes the probed op; None: the model has no such op computing in ``dtype``.

    (The converter leaves some ops in float inside int8 models, e.g. ELU: such an op is not
    an int8 op, whatever XNNPACK does with it.)
    """
    from keras_acts.export.report import inspect

    ops = inspect(content, edgetpu=False, xnnpack=False).ops
    mine = [o.index for o in ops if o.op == probe.op and all(t.dtype == dtype for t in o.outputs)]
    if not mine:
        return None
    plan = xnnpack_plan(content)
    return all(i in plan.delegated for i in mine)


# --- XNNPACK's int8 requantization limits ---------------------------------------------------

#: The int8 scale-ratio limits of LiteRT's XNNPACK delegate, as written in its source
#: (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.cc, VisitAddNode / VisitSubNode /
#: VisitMulNode): an op is refused when ``ratio < min`` or ``ratio >= max``. ADD and SUB check
#: each input's scale against the output's, MUL the product of its two input scales.
#: :func:`measure_scale_limits` measures the same limits on the installed LiteRT;
#: ``xnnpack_ops.json`` records the measurement and the report uses it.
SOURCE_SCALE_LIMITS: dict[str, dict[str, Any]] = {
    "ADD": {"ratio": "input/output", "min": 1.0 / 1024.0, "max": 256.0},
    "SUB": {"ratio": "input/output", "min": 1.0 / 1024.0, "max": 256.0},
    "MUL": {"ratio": "input1*input2/output", "min": 1.0 / 65536.0, "max": 256.0},
}


def _binary_probe(op: str) -> bytes:
    """A model of one int8 ``op`` with two int8 inputs of shape (1, 4, 4, 8) and int8 I/O."""
    import tensorflow as tf

    fn = {"ADD": tf.add, "SUB": tf.subtract, "MUL": tf.multiply}[op]
    shape = (1, 4, 4, 8)
    spec = [tf.TensorSpec(shape, tf.float32), tf.TensorSpec(shape, tf.float32)]
    concrete = tf.function(lambda a, b: fn(a, b), autograph=False).get_concrete_function(*spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    rng = np.random.default_rng(0)

    def data():
        for _ in range(8):
            yield [rng.uniform(-2.0, 2.0, shape).astype(np.float32) for _ in range(2)]

    _full_int8(converter, data)
    return converter.convert()


def _scale_views(content: bytearray, op_name: str) -> tuple[list[Any], list[Any]]:
    """Writable NumPy views of the scales of the inputs and outputs of the first ``op_name`` op.

    The views alias ``content``: assigning to them edits the flatbuffer in place.
    """
    from keras_acts.export.report import _schema

    schema = _schema()
    model = schema.Model.GetRootAs(content, 0)
    sub = model.Subgraphs(0)
    codes = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if codes.get(builtin) != op_name:
            continue

        def views(indices: Any) -> list[Any]:
            return [sub.Tensors(int(t)).Quantization().ScaleAsNumpy() for t in indices]

        return views(op.InputsAsNumpy()), views(op.OutputsAsNumpy())
    raise ValueError(f"no {op_name} op in the probe model")


def _delegated_with_ratio(template: bytes, op: str, ratio: float) -> bool:
    """Whether XNNPACK takes the probe ``op`` once its scales are set so that its ratio is ``ratio``."""
    content = bytearray(template)
    (in1, in2), (out,) = _scale_views(content, op)
    # ADD/SUB: each input's scale over the output's; MUL: the product over the output's. With
    # both input scales 1, either ratio is 1 / output scale.
    in1[0], in2[0], out[0] = 1.0, 1.0, 1.0 / ratio
    plan = xnnpack_plan(bytes(content))
    return plan.partitions >= 1 and not plan.outside


def _bisect_log(template: bytes, op: str, inside: float, outside: float, steps: int = 30) -> float:
    """The ratio between ``inside`` (delegated) and ``outside`` (refused) where delegation stops."""
    lo, hi = np.log2(inside), np.log2(outside)
    for _ in range(steps):
        mid = (lo + hi) / 2.0
        if _delegated_with_ratio(template, op, float(2.0**mid)):
            lo = mid
        else:
            hi = mid
    return float(2.0 ** ((lo + hi) / 2.0))


_LOW, _HIGH = 2.0**-24, 2.0**12


def measure_scale_limits() -> dict[str, dict[str, Any]]:
    """Measures XNNPACK's int8 ADD/SUB/MUL scale-ratio limits on the installed LiteRT.

    For each op, a single-op int8 model is converted, its quantization scales are rewritten in
    the flatbuffer to give a chosen ratio, and the interpreter (with its default XNNPACK delegate)
    says whether it takes the op; a bisection in log2 finds the lower and upper limits.

    Returns:
        ``{op: {"ratio": what is divided, "min": lowest ratio taken, "max": first ratio refused
        above}}``, rounded to 6 significant digits (the source gives ``min <= ratio < max``).

    Raises:
        RuntimeError: the probe at ratio 1 is not delegated (nothing to measure against).
    """
    out: dict[str, dict[str, Any]] = {}
    for op, spec in SOURCE_SCALE_LIMITS.items():
        template = _binary_probe(op)
        if not _delegated_with_ratio(template, op, 1.0):
            raise RuntimeError(f"XNNPACK does not take the int8 {op} probe even at scale ratio 1.")
        lo = hi = None
        # The brackets stay where LiteRT's builtin kernels still accept the scales (a refused op
        # falls back to them, and their multiplier checks abort on ratios like 2**20 for ADD).
        if not _delegated_with_ratio(template, op, _LOW):
            lo = _bisect_log(template, op, 1.0, _LOW)
        if not _delegated_with_ratio(template, op, _HIGH):
            hi = _bisect_log(template, op, 1.0, _HIGH)
        out[op] = {
            "ratio": spec["ratio"],
            "min": None if lo is None else float(f"{lo:.6g}"),
            "max": None if hi is None else float(f"{hi:.6g}"),
        }
    return out


def scale_limits() -> dict[str, dict[str, Any]]:
    """The recorded int8 scale-ratio limits (``xnnpack_ops.json``, see :func:`measure_scale_limits`)."""
    return op_table().get("scale_limits") or {}


def scale_ratios(op: Any) -> list[float]:
    """The int8 scale ratios XNNPACK checks for an ADD, SUB or MUL ``OpInfo`` (empty otherwise).

    ADD/SUB: each non-scalar-or-scalar input's scale over the output's; MUL: the product of the
    two input scales over the output's. Only per-tensor int8/uint8 tensors count.
    """
    if op.op not in SOURCE_SCALE_LIMITS or len(op.inputs) < 2 or not op.outputs:
        return []
    tensors = [op.inputs[0], op.inputs[1], op.outputs[0]]
    if any(t.dtype not in ("int8", "uint8") or not isinstance(t.scale, float) or t.scale <= 0 for t in tensors):
        return []
    a, b, o = (t.scale for t in tensors)
    if op.op == "MUL":
        return [a * b / o]
    return [a / o, b / o]


@dataclass(frozen=True)
class Refusal:
    """Why XNNPACK runs one op outside its graph, measured against the installed LiteRT.

    Attributes:
        index: the op's position in execution order.
        op: the op name.
        kind: ``"op type"``, ``"dtype"``, ``"scale ratio"``, ``"shape"`` or ``"unknown"``; ops
            with the same ``op`` and ``kind`` are one problem in the report.
        reason: one sentence with the measured facts (e.g. the ratio and the limit).
        value: the offending ratio for ``"scale ratio"``, else None.
    """

    index: int
    op: str
    kind: str
    reason: str
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return {"index": self.index, "op": self.op, "kind": self.kind, "reason": self.reason, "value": self.value}


#: XNNPACK handles tensors of at most this rank (XNN_MAX_TENSOR_DIMS).
MAX_RANK = 6


def _table_row(op: str) -> dict[str, Any] | None:
    rows = [row for label, row in _recorded()["ops"].items() if row["op"] == op and "+" not in label]
    return rows[0] if rows else None


def explain_refusal(op: Any) -> Refusal:
    """Why XNNPACK refuses ``op`` (an :class:`~keras_acts.export.report.OpInfo` outside XNNPACK).

    Checked in order against the recorded measurements of the installed LiteRT
    (``xnnpack_ops.json``): the op type in its dtype (single-op probes), the int8 scale-ratio
    limits of ADD/SUB/MUL (measured by :func:`measure_scale_limits`), tensor rank, and a
    standalone RELU/RELU6 that the converter could not fuse into the op before it.
    """
    version = _recorded().get("litert", "the installed LiteRT")
    dtypes = sorted({t.dtype for t in op.outputs if not t.is_constant})
    dtype = dtypes[0] if dtypes else "unknown"
    row = _table_row(op.op)
    key = "int8" if dtype in ("int8", "uint8") else "float32" if dtype == "float32" else None
    if row is not None and key is not None and row.get(key) is False:
        what = "a standalone " if op.op in _FUSABLE else ""
        note = " (not fused into the op before it)" if op.op in _FUSABLE else ""
        return Refusal(op.index, op.op, "op type",
                       f"XNNPACK does not take {what}{key} {op.op}{note} (single-op probe, {version})")
    if key is None or (row is not None and row.get(key) is None):
        return Refusal(op.index, op.op, "dtype", f"{op.op} computes in {dtype}, a type XNNPACK does not take for it")
    limits = (_recorded().get("scale_limits") or {}).get(op.op)
    if limits:
        for ratio in scale_ratios(op):
            lo, hi = limits.get("min"), limits.get("max")
            if (lo is not None and ratio < lo) or (hi is not None and ratio >= hi):
                return Refusal(
                    op.index, op.op, "scale ratio",
                    f"int8 {op.op}'s {limits['ratio']} scale ratio {ratio:.2g} is outside XNNPACK's "
                    f"[{_fmt_limit(lo, '0')}, {_fmt_limit(hi, 'inf')}) (measured, {version})",
                    value=float(ratio),
                )
    rank = max((len(t.shape_signature) for t in op.inputs + op.outputs if not t.is_constant), default=0)
    if rank > MAX_RANK:
        return Refusal(op.index, op.op, "shape", f"{op.op} has a rank-{rank} tensor; XNNPACK takes at most rank {MAX_RANK}")
    if row is None:
        ins = sorted({t.dtype for t in op.inputs if not t.is_constant})
        types = f" ({'/'.join(ins) or '-'} -> {dtype})"
        return Refusal(op.index, op.op, "op type",
                       f"XNNPACK does not take this {op.op}{types}; the op is not in the measured op table ({version})")
    return Refusal(
        op.index, op.op, "unknown",
        f"XNNPACK takes {key} {op.op} in the single-op probe but not here: a parameter of this instance "
        "(shape, broadcast, constant operand) is outside its limits",
    )


def _fmt_limit(x: float | None, none: str = "none") -> str:
    if x is None:
        return none
    exp = np.log2(x)
    if abs(exp - round(exp)) < 1e-3 and x < 1:
        return f"1/{int(round(1 / x))}"
    return f"{x:.4g}"


def measure_op_table() -> dict[str, Any]:
    """Measures which ops the installed LiteRT's XNNPACK delegate takes, int8 and float32.

    Returns:
        ``{"litert": version, "ops": {label: {"op", "int8", "float32", "note"}}}`` where
        ``int8``/``float32`` are True (delegated), False (runs outside XNNPACK) or None
        (the converter produces no such op computing in that type).
    """
    rows: dict[str, Any] = {}
    for probe in _probes():
        rows[probe.label] = {
            "op": probe.op,
            "int8": _taken(probe, _convert(probe, int8=True), "int8"),
            "float32": _taken(probe, _convert(probe, int8=False), "float32"),
            "note": probe.note,
        }
    return {"litert": litert_version(), "ops": rows, "scale_limits": measure_scale_limits()}


def litert_version() -> str:
    """The installed ai-edge-litert version (or TensorFlow's, when LiteRT is absent)."""
    from importlib import metadata

    try:
        return f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - depends on the install
        import tensorflow as tf

        return f"tensorflow {tf.__version__} (tf.lite)"


def op_table() -> dict[str, Any]:
    """The recorded op table (``xnnpack_ops.json``): see :func:`measure_op_table`."""
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _recorded() -> dict[str, Any]:
    """:func:`op_table`, read once (for the per-op lookups of :func:`explain_refusal`; not to be mutated)."""
    return op_table()


def delegated_int8_ops() -> set[str]:
    """Labels of the ops the recorded table lists as taken by XNNPACK in int8."""
    return {label for label, row in op_table()["ops"].items() if row["int8"]}


# Activation ops that the converter fuses into the op before them (CONV_2D, DEPTHWISE_CONV_2D,
# FULLY_CONNECTED, ADD, SUB, MUL) when that op's output has no other reader.
_FUSABLE = {"RELU", "RELU6", "RELU_N1_TO_1"}


def form_is_delegable(ops: tuple[str, ...] | list[str]) -> bool:
    """Whether an activation exported as ``ops`` (int8) stays inside XNNPACK's graph.

    A single RELU, RELU6 or RELU_N1_TO_1 counts as delegated: it fuses into the op before it
    (a convolution, dense layer, ADD or MUL). Otherwise every op must be taken in int8
    according to the recorded table.
    """
    ops = list(ops)
    if len(ops) == 1 and ops[0] in _FUSABLE:
        return True
    taken = delegated_int8_ops()
    return all(op in taken for op in ops)


def table_markdown(table: dict[str, Any] | None = None) -> str:
    """The op table as Markdown (for docs)."""
    table = table or op_table()
    mark = {True: "yes", False: "**no: splits the graph**", None: "– (no such op)"}
    lines = [
        f"Measured with {table['litert']} (`python -m keras_acts.export.xnnpack --write`).",
        "",
        "| op | int8 | float32 | note |",
        "|---|---|---|---|",
    ]
    for label, row in table["ops"].items():
        lines.append(f"| {label} | {mark[row['int8']]} | {mark[row['float32']]} | {row['note']} |")
    limits = table.get("scale_limits") or {}
    if limits:
        lines += [
            "",
            "int8 scale-ratio limits (measured by bisection; an op outside them runs outside XNNPACK):",
            "",
            "| op | ratio | lowest taken | refused from |",
            "|---|---|---|---|",
        ]
        for op, lim in limits.items():
            lines.append(f"| {op} | {lim['ratio']} | {_fmt_limit(lim['min'])} | {_fmt_limit(lim['max'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m keras_acts.export.xnnpack [--write]``: measure and print (or record) the table."""
    parser = argparse.ArgumentParser(prog="python -m keras_acts.export.xnnpack", description=main.__doc__)
    parser.add_argument("--write", action="store_true", help=f"record the table in {TABLE_PATH.name}")
    args = parser.parse_args(argv)
    table = measure_op_table()
    print(table_markdown(table))
    if args.write:
        TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
        _recorded.cache_clear()
        print(f"wrote {TABLE_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
