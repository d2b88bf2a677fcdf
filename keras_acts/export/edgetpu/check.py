"""Static Edge TPU compatibility check of a TFLite flatbuffer.

:func:`check_edgetpu` applies Coral's published requirements without the compiler:

* every tensor an op reads or writes is 8-bit (int8/uint8); int32 only where the op
  table allows it (biases, shapes, axes, paddings);
* static shapes: no ``-1`` in any ``shape_signature``;
* constant parameters: weights, biases and PReLU alphas are constant buffers;
* at most 3 dimensions larger than 1 in any tensor;
* only ops from :data:`~keras_acts.export.edgetpu.optable.OPS`, within their limits.

The compiler maps ops in execution order until the first one it cannot map and runs
everything from there on the CPU, so the report gives the index of that op and the
share of ops before it (``mapped_fraction``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from keras_acts.export.edgetpu import optable


class Issue(NamedTuple):
    """One reason the Edge TPU cannot run an op: ``(op, index, reason)``.

    ``index`` is the op's position in execution order, or None when unknown (compiler logs).
    """

    op: str
    index: int | None
    reason: str


@dataclass
class EdgeTPUReport:
    """The verdict for one model.

    Attributes:
        compatible: True when every op maps to the Edge TPU.
        unsupported: the problems, as ``(op, index, reason)`` tuples.
        first_unsupported_index: execution index of the op where the compiler cuts the
            graph (everything from it on runs on the CPU), or None.
        mapped_fraction: share of ops that would run on the Edge TPU.
        num_ops: number of ops.
        ops: op names in execution order (static check) or per log row (compiler).
        source: ``"static"`` (this checker) or ``"compiler"`` (edgetpu_compiler's log).
        ops_on_tpu: ops mapped to the Edge TPU.
        ops_on_cpu: ops left on the CPU.
        compiler_version: from the compiler log, else None.
        compiled_path: the ``*_edgetpu.tflite`` written by the compiler, else None.
        fixed_by_edgetpu_target: the model is not compatible, but every problem is an op that
            keras_acts activations emit only in forms that ``target="edgetpu"`` replaces by
            Coral-only forms (e.g. a LiteRT-CPU export with HARD_SWISH or LEAKY_RELU): the same
            model exported with ``to_tflite(model, target="edgetpu")`` runs there. Static
            check only.
    """

    compatible: bool
    unsupported: list[Issue]
    first_unsupported_index: int | None
    mapped_fraction: float
    num_ops: int
    ops: list[str] = field(default_factory=list)
    source: str = "static"
    ops_on_tpu: int = 0
    ops_on_cpu: int = 0
    compiler_version: str | None = None
    compiled_path: str | None = None
    fixed_by_edgetpu_target: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return {
            "compatible": self.compatible,
            "unsupported": [list(i) for i in self.unsupported],
            "first_unsupported_index": self.first_unsupported_index,
            "mapped_fraction": self.mapped_fraction,
            "num_ops": self.num_ops,
            "ops": list(self.ops),
            "source": self.source,
            "ops_on_tpu": self.ops_on_tpu,
            "ops_on_cpu": self.ops_on_cpu,
            "compiler_version": self.compiler_version,
            "compiled_path": self.compiled_path,
            "fixed_by_edgetpu_target": self.fixed_by_edgetpu_target,
        }

    def __str__(self) -> str:
        head = (
            f"Edge TPU ({self.source}): {'compatible' if self.compatible else 'NOT fully compatible'}; "
            f"{self.ops_on_tpu}/{self.num_ops} ops on the Edge TPU ({self.mapped_fraction:.0%})"
        )
        if self.first_unsupported_index is not None:
            head += f", graph cut at op {self.first_unsupported_index}"
        lines = [head] + [
            f"  {op}{'' if idx is None else f' #{idx}'}: {reason}" for op, idx, reason in self.unsupported
        ]
        if self.fixed_by_edgetpu_target:
            lines.append(
                "  every flagged op has a Coral-only form in keras_acts: export the model with "
                "to_tflite(model, target='edgetpu')"
            )
        return "\n".join(lines)


# --- reading the flatbuffer -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    constant: bool
    data: bytes | None


@dataclass(frozen=True)
class _Op:
    index: int
    name: str
    inputs: tuple[_Tensor | None, ...]
    outputs: tuple[_Tensor, ...]
    options: Any


def _load(path_or_bytes: str | os.PathLike | bytes | bytearray) -> Any:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        if not os.path.isfile(path_or_bytes):
            raise FileNotFoundError(
                f"check_edgetpu: no file at {os.fspath(path_or_bytes)!r}; pass the path of a .tflite file "
                "or its bytes (e.g. to_tflite(...).content)."
            )
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    else:
        raise TypeError(
            f"check_edgetpu expects a .tflite path or bytes, got {type(path_or_bytes).__name__}; "
            "pass e.g. to_tflite(...).content."
        )
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(
            "check_edgetpu: this is not a TFLite flatbuffer (no 'TFL3' identifier); pass a .tflite model "
            "such as the one keras_acts.export.to_tflite writes."
        )
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415 - heavy import

    return schema, schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0)), data


def _enum_names(enum: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _read_ops(path_or_bytes: Any) -> list[_Op]:
    schema, model, raw = _load(path_or_bytes)
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = _enum_names(schema.TensorType)
    graph = model.subgraphs[0]

    def tensor(i: int) -> _Tensor | None:
        if i < 0:
            return None
        t = graph.tensors[i]
        buf = model.buffers[t.buffer] if t.buffer is not None and t.buffer < len(model.buffers) else None
        data = None
        if buf is not None:
            if buf.data is not None and len(buf.data):
                data = bytes(np.asarray(buf.data, dtype=np.uint8))
            elif buf.offset:
                data = raw[buf.offset : buf.offset + buf.size]
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        sig = tuple(int(d) for d in t.shapeSignature) if t.shapeSignature is not None else shape
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        return _Tensor(i, name, type_names.get(t.type, str(t.type)), shape, sig, data is not None, data)

    ops = []
    for k, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            name = f"CUSTOM({custom})"
        ins = tuple(tensor(int(i)) for i in (op.inputs if op.inputs is not None else ()))
        outs = tuple(tensor(int(i)) for i in (op.outputs if op.outputs is not None else ()))
        ops.append(_Op(k, name, ins, tuple(t for t in outs if t is not None), op.builtinOptions))
    return ops


# --- the rules --------------------------------------------------------------------------------------


def _non1(shape: tuple[int, ...]) -> int:
    return sum(1 for d in shape if d != 1)


def _int_values(t: _Tensor | None) -> np.ndarray | None:
    if t is None or t.data is None or t.dtype not in ("INT32", "INT64"):
        return None
    return np.frombuffer(t.data, dtype=np.int32 if t.dtype == "INT32" else np.int64).reshape(t.shape or (-1,))


def _fused(op: _Op) -> str:
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415

    code = getattr(op.options, "fusedActivationFunction", 0) or 0
    return _enum_names(schema.ActivationFunctionType).get(code, str(code))


def _limit_fused_activation(op: _Op) -> str | None:
    act = _fused(op)
    if act not in optable.FUSED_ACTIVATIONS_OK:
        return f"fused activation {act} is not supported (only {', '.join(optable.FUSED_ACTIVATIONS_OK[1:])})"
    return None


def _limit_no_fused_activation(op: _Op) -> str | None:
    act = _fused(op)
    if act != "NONE":
        return f"{op.name} with a fused activation ({act}) is not supported; apply the activation as its own op"
    return None


def _limit_prelu_alpha_1d(op: _Op) -> str | None:
    alpha = op.inputs[1] if len(op.inputs) > 1 else None
    if alpha is not None and _non1(alpha.shape) > 1:
        return (
            f"PRELU alpha has shape {list(alpha.shape)} (per-element); the Edge TPU needs a 1-D alpha: "
            "build the PReLU layer with shared_axes=[1, 2] (one alpha per channel)"
        )
    return None


def _limit_same_dilation(op: _Op) -> str | None:
    h = getattr(op.options, "dilationHFactor", 1)
    w = getattr(op.options, "dilationWFactor", 1)
    if h != w:
        return f"dilation {h}x{w} differs in x and y; use the same dilation in both"
    return None


def _limit_fc_default_weights(op: _Op) -> str | None:
    fmt = getattr(op.options, "weightsFormat", 0)
    if fmt:
        return "only the default fully-connected weights format is supported"
    return None


def _limit_reduce_no_batch(op: _Op) -> str | None:
    axes = _int_values(op.inputs[1] if len(op.inputs) > 1 else None)
    rank = len(op.inputs[0].shape) if op.inputs and op.inputs[0] is not None else 0
    if axes is not None and any(int(a) % max(rank, 1) == 0 for a in axes.ravel()) and rank > 1:
        return f"{op.name} reduces over the batch dimension (axes {axes.ravel().tolist()}); reduce spatial axes only"
    return None


def _limit_pad_no_batch(op: _Op) -> str | None:
    pads = _int_values(op.inputs[1] if len(op.inputs) > 1 else None)
    if pads is not None and pads.ndim == 2 and pads.shape[0] > 1 and np.any(pads[0] != 0):
        return f"PAD pads the batch dimension ({pads[0].tolist()}); pad spatial axes only"
    return None


def _limit_softmax_1d(op: _Op) -> str | None:
    x = op.inputs[0] if op.inputs else None
    if x is None:
        return None
    if _non1(x.shape) > 1 or int(np.prod(x.shape or (1,))) > optable.SOFTMAX_MAX_ELEMENTS:
        return (
            f"SOFTMAX input has shape {list(x.shape)}; the Edge TPU supports only a 1-D input with at most "
            f"{optable.SOFTMAX_MAX_ELEMENTS} elements"
        )
    return None


def _limit_unit_strides(op: _Op) -> str | None:
    strides = _int_values(op.inputs[3] if len(op.inputs) > 3 else None)
    masks = (getattr(op.options, "ellipsisMask", 0) or 0, getattr(op.options, "newAxisMask", 0) or 0)
    if (strides is not None and np.any(strides != 1)) or any(masks):
        return "STRIDED_SLICE needs all strides 1 and no ellipsis or new-axis masks"
    return None


LIMIT_CHECKS: dict[str, Callable[[_Op], str | None]] = {
    "fused_activation": _limit_fused_activation,
    "no_fused_activation": _limit_no_fused_activation,
    "prelu_alpha_1d": _limit_prelu_alpha_1d,
    "same_dilation": _limit_same_dilation,
    "fc_default_weights": _limit_fc_default_weights,
    "reduce_no_batch": _limit_reduce_no_batch,
    "pad_no_batch": _limit_pad_no_batch,
    "softmax_1d": _limit_softmax_1d,
    "unit_strides": _limit_unit_strides,
}

_EIGHT_BIT = ("INT8", "UINT8")


def _op_problems(op: _Op) -> list[str]:
    spec = optable.OPS.get(op.name)
    if spec is None:
        hint = _registry_hint(op.name) or optable.UNSUPPORTED_HINTS.get(op.name)
        return [f"{op.name} is not on Coral's supported-op list" + (f": {hint}" if hint else "")]
    problems = []
    for pos, t in enumerate(op.inputs):
        if t is None:
            continue
        if t.dtype not in _EIGHT_BIT and not (t.dtype == "INT32" and pos in spec.int32_inputs and t.constant):
            problems.append(
                f"input {pos} '{t.name}' is {t.dtype}; the Edge TPU needs 8-bit tensors (int32 only for biases): "
                "export fully int8 (quantization='int8', int8 or uint8 input/output types)"
            )
        if pos in spec.constant_inputs and not t.constant:
            problems.append(
                f"input {pos} '{t.name}' is not a constant; weights, biases and alphas must be constant parameters"
            )
    for t in op.outputs:
        if t.dtype not in _EIGHT_BIT:
            problems.append(f"output '{t.name}' is {t.dtype}; the Edge TPU needs 8-bit tensors: export fully int8")
    for t in [t for t in op.inputs if t is not None and not t.constant] + list(op.outputs):
        if any(d < 0 for d in t.signature):
            problems.append(
                f"tensor '{t.name}' has a dynamic shape {list(t.signature)}; the Edge TPU needs static shapes "
                "(fixed input shape and batch size 1)"
            )
        if _non1(t.shape) > optable.MAX_NON_1_DIMS:
            problems.append(
                f"tensor '{t.name}' has {_non1(t.shape)} dimensions larger than 1 ({list(t.shape)}); the Edge TPU "
                f"allows at most {optable.MAX_NON_1_DIMS}: use batch size 1 and at most 3-D feature maps"
            )
    for limit in spec.limits:
        msg = LIMIT_CHECKS[limit](op)
        if msg:
            problems.append(msg)
    return list(dict.fromkeys(problems))


def _emitters(op_name: str) -> tuple[list[str], list[str]]:
    """Registry activations with a form that converts to ``op_name``: (with, without) a Coral-only form."""
    from keras_acts import registry  # noqa: PLC0415

    with_form, without = [], []
    for e in registry.entries():
        if any(op_name in (low.ops or ()) for low in e.lowerings.values()):
            (with_form if e.edgetpu_form().lowering is not None else without).append(e.name)
    return with_form, without


def retargetable_op(op_name: str) -> bool:
    """True when every registry activation that can emit ``op_name`` has a form built only from Coral's ops.

    Then ``to_tflite(model, target="edgetpu")`` writes those activations without ``op_name``.
    Derived from the registry, like the Edge TPU target's own choice of forms.
    """
    with_form, without = _emitters(op_name)
    return bool(with_form) and not without


def _registry_hint(op_name: str) -> str:
    """Names the registry activations that emit ``op_name`` and what to do about it."""
    with_form, without = _emitters(op_name)
    parts = []
    if with_form:
        parts.append(
            f"emitted by {', '.join(with_form)}, whose Edge TPU forms use only Coral ops: export with "
            "target='edgetpu' (keras-acts list shows the Edge TPU forms)"
        )
    if without:
        parts.append(
            f"{'also ' if with_form else ''}emitted by {', '.join(without)}, which "
            f"{'has' if len(without) == 1 else 'have'} no form built only from Coral ops: replace "
            f"{'it' if len(without) == 1 else 'them'} (keras-acts list shows the alternatives)"
        )
    return "; ".join(parts)


def check_edgetpu(path_or_bytes: str | os.PathLike | bytes) -> EdgeTPUReport:
    """Checks a TFLite model statically against Coral's Edge TPU requirements.

    Args:
        path_or_bytes: a ``.tflite`` path or the model's bytes.

    Returns:
        An :class:`EdgeTPUReport` (``source="static"``).

    Raises:
        FileNotFoundError, TypeError, ValueError: not a readable TFLite model.
    """
    ops = _read_ops(path_or_bytes)
    issues = [Issue(op.name, op.index, reason) for op in ops for reason in _op_problems(op)]
    off_table = {op.name for op in ops if op.name not in optable.OPS}
    retarget = bool(issues) and all(i.op in off_table and retargetable_op(i.op) for i in issues)
    first = min((i.index for i in issues), default=None)
    n = len(ops)
    on_tpu = n if first is None else first
    return EdgeTPUReport(
        compatible=not issues,
        unsupported=issues,
        first_unsupported_index=first,
        mapped_fraction=(on_tpu / n) if n else 0.0,
        num_ops=n,
        ops=[op.name for op in ops],
        source="static",
        ops_on_tpu=on_tpu,
        ops_on_cpu=n - on_tpu,
        fixed_by_edgetpu_target=retarget,
    )
