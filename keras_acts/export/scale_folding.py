"""A pass on converted int8 models: multiplications by a constant become free.

Hard-swish in its LiteRT-CPU form is ``(x * 1/6) * relu6(x + 3)`` (ADD with a fused RELU6,
MUL, MUL: every int8 op XNNPACK delegates; its int8 HARD_SWISH is refused). The squeeze-excite
gate of MobileNetV3 is ``x * (relu6(s + 3) * 1/6)``. The ``* 1/6`` is a full elementwise pass
over the tensor for a factor that an int8 graph can carry for free in its quantization scales.

An int8 tensor is integers ``q`` with a label ``(scale, zero_point)``: ``real = scale * (q - zp)``.
The producer requantizes onto the label, the consumers read through it. For ``t = k * a``
(``k > 0`` a constant) the pass deletes that MUL and lets every reader of ``t`` read ``a``
instead, so each of them sees its input ``1/k`` times too large. The factor is then carried
forward, op by op, until it is absorbed:

* a **MUL** of that tensor with another tensor, a **MEAN**, a pooling op, **RESHAPE**,
  **SQUEEZE** or **PAD** is linear in it: its output *label* is multiplied by ``1/k``. Its
  integers stay what they were (the op requantizes onto the new label), only what they mean
  carries the factor on;
* a **CONV_2D**, **DEPTHWISE_CONV_2D** or **FULLY_CONNECTED** reading such a tensor absorbs it:
  its weight scales are multiplied by ``k``. Its input scale is ``1/k`` larger and its weight
  scale ``k`` smaller, so their product, which is all the kernel uses (the int32 bias is
  quantized on it and the output multiplier is ``s_in * s_w / s_out``), is unchanged: the op
  computes exactly the integers it computed before.

Everything downstream of the absorbing layers is bit-for-bit what it was. The only integers that
change are those of the op that now reads ``a`` directly: it requantizes once where the original
graph requantized twice (``round(round(k * a) * r)`` became ``round(k * a * r)``), which can move
an output by one step, and is closer to the real value. A fold is applied only when every path
from the deleted MUL ends in an absorbing layer: never through ADD/SUB/CONCATENATION (their
inputs must carry the same factor), fused activations (a clamp sits at a fixed real value),
lookup-table ops (LOGISTIC, TANH: their input scale is part of the function) or a model output
(the caller reads its label). The converter only ever sees the graph it produced; the pass works
on its flatbuffer with the schema's object API.

Measured (keras.applications MobileNetV3Small 96x96, LiteRT 2.3.0, XNNPACK, 1 thread): 28 of
the 57 MULs are folded, the model has 122 ops instead of 150 and runs 1.25x faster; see
``benchmarks/bench_models.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Ops that absorb a factor into their weight scales, with the index of their weight input.
ABSORBING = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1}
#: Single-input ops whose output is linear in their input: the factor moves to their output label.
PASSING = ("MEAN", "RESHAPE", "SQUEEZE", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD")
_NO_ACTIVATION = 0  # ActivationFunctionType.NONE


@dataclass(frozen=True)
class Fold:
    """One constant multiplication removed from the graph.

    Attributes:
        op_index: index of the deleted MUL in the original graph.
        factor: the constant ``k`` it multiplied by.
        relabelled: how many tensor labels now carry the factor.
        absorbed_by: indices (in the original graph) of the layers whose weight scales took it.
    """

    op_index: int
    factor: float
    relabelled: int
    absorbed_by: tuple[int, ...]


@dataclass
class FoldResult:
    """The rewritten model and what was done to it.

    Attributes:
        content: the flatbuffer (the input bytes unchanged when nothing was folded).
        folds: one :class:`Fold` per deleted MUL.
        skipped: ``(op index, reason)`` for constant MULs that could not be folded.
    """

    content: bytes
    folds: list[Fold] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict of what was folded and skipped (without the model bytes)."""
        return {
            "folds": [
                {"op_index": f.op_index, "factor": f.factor, "relabelled": f.relabelled, "absorbed_by": list(f.absorbed_by)}
                for f in self.folds
            ],
            "skipped": [[i, reason] for i, reason in self.skipped],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], content: bytes) -> "FoldResult":
        """The inverse of :meth:`to_dict`, for ``content`` (the folded model)."""
        folds = [Fold(int(f["op_index"]), float(f["factor"]), int(f["relabelled"]), tuple(f["absorbed_by"])) for f in data["folds"]]
        return cls(content, folds, [(int(i), str(r)) for i, r in data["skipped"]])

    def summary(self) -> str:
        """One line for reports."""
        if not self.folds:
            return "no constant multiplications folded"
        return (
            f"{len(self.folds)} constant multiplication(s) folded into the scales of "
            f"{len({i for f in self.folds for i in f.absorbed_by})} layer(s)"
        )


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the install
        from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415
    return schema


class _Graph:
    """Subgraph 0 of a ModelT with op names, producers and readers."""

    def __init__(self, model: Any, schema: Any) -> None:
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.model = model
        self.schema = schema
        self.sub = model.subgraphs[0]
        self.tensors = self.sub.tensors
        self.ops = list(self.sub.operators)
        self.names = []
        for op in self.ops:
            code = model.operatorCodes[op.opcodeIndex]
            self.names.append(names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"))
        self.readers: dict[int, list[int]] = {}
        for i, op in enumerate(self.ops):
            for t in self._inputs(i):
                self.readers.setdefault(t, []).append(i)
        self.graph_outputs = {int(t) for t in self.sub.outputs}

    def _inputs(self, i: int) -> list[int]:
        return [int(t) for t in (self.ops[i].inputs if self.ops[i].inputs is not None else []) if int(t) >= 0]

    def inputs(self, i: int) -> list[int]:
        return self._inputs(i)

    def output(self, i: int) -> int:
        return int(self.ops[i].outputs[0])

    def fused_activation(self, i: int) -> int:
        return int(getattr(self.ops[i].builtinOptions, "fusedActivationFunction", _NO_ACTIVATION) or 0)

    def is_int8(self, t: int) -> bool:
        tensor = self.tensors[t]
        q = tensor.quantization
        return tensor.type == self.schema.TensorType.INT8 and q is not None and q.scale is not None and len(q.scale) > 0

    def scalar_constant(self, t: int) -> float | None:
        """The real value of a constant int8 scalar tensor, or None."""
        tensor = self.tensors[t]
        buf = self.model.buffers[tensor.buffer] if tensor.buffer < len(self.model.buffers) else None
        data = getattr(buf, "data", None)
        if data is None or len(data) != 1 or not self.is_int8(t) or len(tensor.quantization.scale) != 1:
            return None
        q = int(np.asarray(data, dtype=np.uint8).view(np.int8)[0])
        zp = int(tensor.quantization.zeroPoint[0]) if tensor.quantization.zeroPoint is not None else 0
        return float(tensor.quantization.scale[0]) * (q - zp)


def _scale(g: _Graph, t: int) -> float:
    return float(np.asarray(g.tensors[t].quantization.scale, dtype=np.float64).reshape(-1)[0])


_MEASURED: Any = object()  # read the limits from keras_acts/export/xnnpack_ops.json


def _mul_ratio_allowed(g: _Graph, op: int, out: int, a: int, o: int, k: float, limits: Any) -> bool:
    """Whether MUL ``op``, which will read ``a`` instead of ``out``, stays within XNNPACK's limits.

    XNNPACK refuses an int8 MUL whose input-scale product over its output scale leaves a range
    (measured on the installed LiteRT, ``xnnpack_ops.json``). A MUL further down keeps its ratio
    exactly (its input and output labels both carry the factor); the first reader's ratio becomes
    ``s_a * s_other / (s_out / k)``, close to the old one, and is checked.
    """
    if not limits:
        return True
    ins = [a if t == out else t for t in g.inputs(op)]
    ratio = _scale(g, ins[0]) * _scale(g, ins[1]) / (_scale(g, o) / k)
    return float(limits["min"]) <= ratio < float(limits["max"])


def _plan(g: _Graph, mul: int, limits: Any) -> tuple[float, int, dict[int, int], list[int], list[int]] | str:
    """What folding MUL ``mul`` needs: (k, a, {tensor: op that relabels it}, weight tensors, absorbers) or why not."""
    if g.names[mul] != "MUL":
        return "not a MUL"
    ins = g.inputs(mul)
    if len(ins) != 2:
        return "not a binary MUL"
    consts = [g.scalar_constant(t) for t in ins]
    if (consts[0] is None) == (consts[1] is None):
        return "no single constant scalar operand"
    k = consts[0] if consts[0] is not None else consts[1]
    a = ins[1] if consts[0] is not None else ins[0]
    out = g.output(mul)
    if not (k > 0.0 and np.isfinite(k)):
        return f"constant {k:g} is not positive"
    if g.fused_activation(mul) != _NO_ACTIVATION:
        return "has a fused activation"
    if not (g.is_int8(a) and g.is_int8(out)):
        return "not int8"
    if out in g.graph_outputs:
        return "its output is a model output"
    relabel: dict[int, int] = {}
    weights: list[int] = []
    absorbers: list[int] = []
    frontier = [(r, out) for r in g.readers.get(out, [])]
    if not frontier:
        return "its output is not read"
    visited: set[tuple[int, int]] = set()
    while frontier:
        op, via = frontier.pop()
        if (op, via) in visited:
            continue
        visited.add((op, via))
        name = g.names[op]
        ins = g.inputs(op)
        if name in ABSORBING:
            if via == out:
                return f"read directly by {name} (its bias would need requantizing)"
            if ins[0] != via or via in ins[1:]:
                return f"reaches {name} #{op} other than as its input"
            w = ins[ABSORBING[name]]
            if len(g.readers.get(w, [])) != 1 or not g.is_int8(w):
                return f"{name} #{op} has shared or non-int8 weights"
            weights.append(w)
            absorbers.append(op)
            continue
        if name == "MUL":
            if ins.count(via) != 1 or g.fused_activation(op) != _NO_ACTIVATION:
                return f"MUL #{op} squares the tensor or clamps its output"
        elif name in PASSING:
            if ins[0] != via:
                return f"reaches {name} #{op} other than as its input"
        elif name == "DEQUANTIZE":
            return f"reaches a float tensor (DEQUANTIZE #{op}), e.g. a model output"
        else:
            return f"reaches {name} #{op}, which cannot carry a scale factor"
        o = g.output(op)
        if o in g.graph_outputs:
            return f"reaches a model output through {name} #{op}"
        if not g.is_int8(o):
            return f"{name} #{op} has a non-int8 output"
        if o in relabel:  # reached twice: it would carry the factor twice
            return "two paths reach the same tensor"
        if name == "MUL" and via == out and not _mul_ratio_allowed(g, op, out, a, o, k, limits):
            return f"MUL #{op}'s scale ratio would leave the range XNNPACK's int8 MUL takes"
        relabel[o] = op
        frontier.extend((r, o) for r in g.readers.get(o, []))
    if len(set(weights)) != len(weights):
        return "a weight tensor would take the factor twice"
    return k, a, relabel, weights, absorbers


def fold_constant_multipliers(content: bytes, *, mul_limits: Any = _MEASURED) -> FoldResult:
    """Deletes every int8 MUL by a positive constant whose factor the graph can carry in its scales.

    Args:
        content: a TFLite flatbuffer.
        mul_limits: XNNPACK's int8 MUL scale-ratio limits (``{"min": ..., "max": ...}``) that a MUL
            reading the unscaled tensor must stay within; default: the limits measured for the
            installed LiteRT (:func:`keras_acts.export.xnnpack.scale_limits`); None: no check.

    Returns:
        A :class:`FoldResult`; ``content`` is returned unchanged when nothing can be folded (float
        models, models with several subgraphs, constants that reach an output, ...).
    """
    if mul_limits is _MEASURED:
        from keras_acts.export.xnnpack import scale_limits  # noqa: PLC0415

        mul_limits = scale_limits().get("MUL")
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    if model.subgraphs is None or len(model.subgraphs) != 1:
        return FoldResult(content, skipped=[(-1, "several subgraphs")])
    g = _Graph(model, schema)
    result = FoldResult(content)
    removed: set[int] = set()
    for mul in range(len(g.ops)):
        if g.names[mul] != "MUL" or mul in removed:
            continue
        plan = _plan(g, mul, mul_limits)
        if isinstance(plan, str):
            if "constant scalar" not in plan:
                result.skipped.append((mul, plan))
            continue
        # Folds compose: each is planned on the graph the earlier ones left, and factors multiply
        # (MobileNetV3's hard-swish and squeeze-excite gate both reach the block's MUL).
        k, a, relabel, weights, absorbers = plan
        out = g.output(mul)
        for op in g.readers.get(out, []):
            g.ops[op].inputs = np.array([a if int(t) == out else int(t) for t in g.ops[op].inputs], dtype=np.int32)
            g.readers.setdefault(a, []).append(op)
        g.readers[a] = [r for r in g.readers[a] if r != mul]
        g.readers[out] = []
        for t in relabel:
            q = g.tensors[t].quantization
            q.scale = (np.asarray(q.scale, dtype=np.float64) / k).astype(np.float32)
        for w in weights:
            q = g.tensors[w].quantization
            q.scale = (np.asarray(q.scale, dtype=np.float64) * k).astype(np.float32)
        removed.add(mul)
        result.folds.append(Fold(mul, float(k), len(relabel), tuple(sorted(absorbers))))
    if not removed:
        return result
    g.sub.operators = [op for i, op in enumerate(g.ops) if i not in removed]
    import flatbuffers  # noqa: PLC0415 - a dependency of tensorflow and ai-edge-litert

    builder = flatbuffers.Builder(len(content) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    result.content = bytes(builder.Output())
    return result
