"""What is inside a TFLite model: :func:`inspect` and the :class:`Report`.

The report lists the real ops (as the interpreter sees them, without delegates),
their input and output tensors with dtypes and quantization parameters, the *float
islands* of a quantized model (ops computing in float between int8 ops, such as the
``DEQUANTIZE -> ELU -> QUANTIZE`` the stock converter leaves for Keras's ELU), the
model's inputs and outputs, and — once :mod:`keras_acts.export.edgetpu` is
available — the Edge TPU verdict.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_FLOAT_DTYPES = ("float16", "float32", "float64", "bfloat16")
_INT8_DTYPES = ("int8", "uint8")
#: Ops that only convert between float and integer at the model boundary.
_CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the model.

    Attributes:
        name: tensor name.
        index: tensor index in the interpreter.
        shape: shape as allocated (batch 1 for dynamic batch axes).
        shape_signature: shape with -1 for dynamic axes.
        dtype: NumPy dtype name (``"int8"``, ``"float32"``, ...).
        scale: quantization scale (a list for per-channel quantization), or None.
        zero_point: quantization zero point (a list for per-channel), or None.
        is_constant: True for weights and other constant buffers.
    """

    name: str
    index: int
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    scale: float | list[float] | None = None
    zero_point: int | list[int] | None = None
    is_constant: bool = False

    @property
    def is_quantized(self) -> bool:
        """True when the tensor has quantization parameters."""
        return self.scale is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return {
            "name": self.name,
            "index": self.index,
            "shape": list(self.shape),
            "shape_signature": list(self.shape_signature),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
            "is_constant": self.is_constant,
        }

    def describe(self) -> str:
        """Short text: ``int8[1,8,8,4] s=0.0235 zp=-128``."""
        shape = ",".join("?" if d < 0 else str(d) for d in self.shape_signature)
        text = f"{self.dtype}[{shape}]"
        if isinstance(self.scale, list):
            text += f" per-channel({len(self.scale)})"
        elif self.scale is not None:
            text += f" s={self.scale:.4g} zp={self.zero_point}"
        return text + (" const" if self.is_constant else "")


@dataclass(frozen=True)
class OpInfo:
    """One op of the model (in execution order).

    Attributes:
        index: position in the subgraph.
        op: builtin op name (``"CONV_2D"``, ``"HARD_SWISH"``, ...).
        inputs: input tensors (constant weights included).
        outputs: output tensors.
    """

    index: int
    op: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @property
    def computes_in_float(self) -> bool:
        """True when an output is floating point."""
        return any(t.dtype in _FLOAT_DTYPES for t in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return {
            "index": self.index,
            "op": self.op,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }


@dataclass
class Report:
    """The inspection report of one TFLite model. See :func:`inspect`.

    Attributes:
        ops: every op of the main subgraph, in execution order.
        inputs: model inputs.
        outputs: model outputs.
        num_tensors: number of tensors in the main subgraph.
        num_subgraphs: number of subgraphs.
        size_bytes: size of the flatbuffer.
        edgetpu: the Edge TPU verdict (``keras_acts.export.edgetpu.check_edgetpu``), or None
            when that module is not available.
        xnnpack: how LiteRT's default CPU runtime partitions the model
            (:class:`keras_acts.export.xnnpack.XnnpackPlan`), or None when not asked for.
        source: the file inspected, or None for bytes.
        validation: for a fresh int8 export, the int8 model against the Keras model
            (:class:`keras_acts.export.validation.Validation`); None for files.
    """

    ops: list[OpInfo]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    num_tensors: int
    num_subgraphs: int
    size_bytes: int
    edgetpu: Any = None
    xnnpack: Any = None
    source: str | None = None
    validation: Any = None
    _constants: int = field(default=0, repr=False)

    @property
    def op_names(self) -> list[str]:
        """Op names in execution order, e.g. ``["QUANTIZE", "CONV_2D", "HARD_SWISH"]``."""
        return [o.op for o in self.ops]

    @property
    def is_quantized(self) -> bool:
        """True when activations (not only weights) are int8/uint8/int16 somewhere."""
        return any(
            t.dtype in _INT8_DTYPES + ("int16",) and not t.is_constant for o in self.ops for t in o.outputs
        )

    @property
    def float_islands(self) -> list[OpInfo]:
        """Ops computing in float inside a quantized model.

        In a model with integer activations, every op other than the boundary
        QUANTIZE/DEQUANTIZE that outputs a float tensor, e.g. the ELU in
        ``DEQUANTIZE -> ELU -> QUANTIZE``. Empty for float and dynamic-range models.
        """
        if not self.is_quantized:
            return []
        return [o for o in self.ops if o.op not in _CONVERSION_OPS and o.computes_in_float]

    @property
    def warnings(self) -> list[str]:
        """Performance problems a user should know about before shipping the model."""
        out = []
        plan = self.xnnpack
        if plan is not None and self.is_quantized and plan.splitting:
            ops = ", ".join(sorted({name for _, name in plan.splitting}))
            out.append(
                f"LiteRT's CPU runtime splits this int8 model into {plan.partitions} XNNPACK partitions "
                f"(ops in the middle of the graph outside XNNPACK: {ops}); int8 can then run slower than "
                "float. Export with "
                "target='cpu' (the default) to write activations with ops XNNPACK takes, or replace the "
                "layers producing those ops."
            )
        return out

    @property
    def is_fully_int8(self) -> bool:
        """True when no op outputs a floating-point tensor and the inputs are integer.

        Every op output is int8/uint8 (or an integer index/bias type such as int32).
        A model with float32 inputs/outputs is *not* fully int8 even when its interior is:
        its boundary QUANTIZE/DEQUANTIZE ops output float32 (see :attr:`float_islands`
        for the interior alone).
        """
        if not self.ops or not self.is_quantized:
            return False
        if any(t.dtype in _FLOAT_DTYPES for t in self.inputs):
            return False
        return not any(o.computes_in_float for o in self.ops)

    def op_counts(self) -> dict[str, int]:
        """How many times each op occurs."""
        counts: dict[str, int] = {}
        for name in self.op_names:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict of the whole report."""
        edgetpu = self.edgetpu
        if edgetpu is not None:
            if hasattr(edgetpu, "to_dict"):
                edgetpu = edgetpu.to_dict()
            elif not isinstance(edgetpu, (dict, str, bool, int, float, list)):
                edgetpu = str(edgetpu)
        return {
            "source": self.source,
            "size_bytes": self.size_bytes,
            "num_tensors": self.num_tensors,
            "num_subgraphs": self.num_subgraphs,
            "is_quantized": self.is_quantized,
            "is_fully_int8": self.is_fully_int8,
            "op_names": self.op_names,
            "op_counts": self.op_counts(),
            "float_islands": [{"index": o.index, "op": o.op} for o in self.float_islands],
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "ops": [o.to_dict() for o in self.ops],
            "edgetpu": edgetpu,
            "xnnpack": None if self.xnnpack is None else self.xnnpack.to_dict(),
            "warnings": self.warnings,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def _verdict(self) -> str:
        if not self.is_quantized:
            kinds = sorted({t.dtype for o in self.ops for t in o.outputs})
            return f"not quantized (activations {', '.join(kinds) or 'none'})"
        if self.float_islands:
            return f"quantized, with {len(self.float_islands)} float island(s)"
        if self.is_fully_int8:
            return "fully int8"
        return "int8 inside, float I/O"

    def to_markdown(self) -> str:
        """The report as a Markdown document (summary, I/O table, op table)."""
        lines = [
            "## TFLite model" + (f" `{self.source}`" if self.source else ""),
            "",
            f"- size: {self.size_bytes} bytes; tensors: {self.num_tensors}; ops: {len(self.ops)}",
            f"- verdict: {self._verdict()}",
        ]
        if self.float_islands:
            lines.append(
                "- float islands: " + ", ".join(f"#{o.index} {o.op}" for o in self.float_islands)
            )
        if self.xnnpack is not None:
            lines.append(f"- LiteRT CPU (XNNPACK): {self.xnnpack.summary()}")
        if self.edgetpu is not None:
            lines.append(f"- Edge TPU: {_one_line(self.edgetpu)}")
        lines += [f"- **warning:** {w}" for w in self.warnings]
        lines += ["", "| I/O | name | dtype | shape | scale | zero point |", "|---|---|---|---|---|---|"]
        for kind, tensors in (("input", self.inputs), ("output", self.outputs)):
            for t in tensors:
                lines.append(
                    f"| {kind} | {t.name} | {t.dtype} | {list(t.shape_signature)} | "
                    f"{_fmt_scale(t.scale)} | {'' if t.zero_point is None else t.zero_point} |"
                )
        lines += ["", "| # | op | inputs | outputs |", "|---|---|---|---|"]
        outside = self._outside_xnnpack()
        for o in self.ops:
            island = " **float island**" if o in self.float_islands else ""
            island += " (outside XNNPACK)" if o.index in outside else ""
            lines.append(
                f"| {o.index} | {o.op}{island} | {'; '.join(t.describe() for t in o.inputs)} | "
                f"{'; '.join(t.describe() for t in o.outputs)} |"
            )
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        head = f"TFLite model{' ' + self.source if self.source else ''}: {self.size_bytes} bytes, "
        head += f"{self.num_tensors} tensors, {len(self.ops)} ops — {self._verdict()}"
        lines = [head]
        for kind, tensors in (("input ", self.inputs), ("output", self.outputs)):
            for t in tensors:
                lines.append(f"  {kind} {t.name}: {t.describe()}")
        if self.xnnpack is not None:
            lines.append(f"  LiteRT CPU (XNNPACK): {self.xnnpack.summary()}")
        width = max((len(o.op) for o in self.ops), default=2)
        outside = self._outside_xnnpack()
        for o in self.ops:
            mark = "  <- float island" if o in self.float_islands else ""
            mark += "  <- outside XNNPACK" if o.index in outside else ""
            outs = ", ".join(t.describe() for t in o.outputs)
            lines.append(f"  {o.index:>3} {o.op:<{width}} -> {outs}{mark}")
        if self.edgetpu is not None:
            lines += ["  " + ln for ln in str(self.edgetpu).splitlines()]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _outside_xnnpack(self) -> set[int]:
        return set() if self.xnnpack is None else {i for i, _ in self.xnnpack.outside}


def _one_line(obj: Any) -> str:
    for attr in ("summary", "verdict"):
        v = getattr(obj, attr, None)
        if callable(v):
            try:
                v = v()
            except TypeError:
                v = None
        if isinstance(v, str) and v:
            return v
    return str(obj).splitlines()[0] if str(obj) else repr(obj)


def _fmt_scale(scale: Any) -> str:
    if scale is None:
        return ""
    if isinstance(scale, list):
        return f"per-channel ({len(scale)})"
    return f"{scale:.6g}"


def read_model_bytes(path_or_bytes: Any) -> tuple[bytes, str | None]:
    """Returns (flatbuffer bytes, source path or None), checking the TFLite identifier.

    Raises:
        FileNotFoundError: the path does not exist.
        IsADirectoryError: the path is a directory.
        TypeError: neither a path nor bytes.
        ValueError: not a TFLite flatbuffer.
    """
    source = None
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        content = bytes(path_or_bytes)
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = pathlib.Path(os.fspath(path_or_bytes)).expanduser()
        if path.is_dir():
            raise IsADirectoryError(f"{str(path)!r} is a directory; pass the path of a .tflite file.")
        if not path.exists():
            raise FileNotFoundError(f"no such TFLite file: {str(path)!r}.")
        content = path.read_bytes()
        source = str(path)
    elif hasattr(path_or_bytes, "content") and isinstance(getattr(path_or_bytes, "content"), bytes):
        content = path_or_bytes.content  # an ExportResult
    else:
        raise TypeError(
            f"expected a .tflite path or the model bytes, got {type(path_or_bytes).__name__}."
        )
    where = repr(source) if source else "the given bytes"
    if len(content) < 8 or content[4:8] != b"TFL3":
        got = content[4:8] if len(content) >= 8 else content[:8]
        raise ValueError(
            f"{where} is not a TFLite model: the flatbuffer identifier 'TFL3' is missing at bytes 4..8 "
            f"(found {got!r}, {len(content)} bytes). Pass a .tflite file produced by the TFLite converter "
            "(e.g. keras_acts.export.to_tflite(model).save('model.tflite'))."
        )
    return content, source


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the install
        from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415
    return schema


def _constant_tensors(content: bytes) -> tuple[set[int], int, int]:
    """(indices of tensors with constant data in subgraph 0, tensor count, subgraph count)."""
    schema = _schema()
    model = schema.Model.GetRootAs(content, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("the TFLite model has no subgraph.")
    sub = model.Subgraphs(0)
    consts: set[int] = set()
    for i in range(sub.TensorsLength()):
        buf_index = sub.Tensors(i).Buffer()
        if 0 < buf_index < model.BuffersLength():
            buf = model.Buffers(buf_index)
            if buf.DataLength() > 0 or buf.Offset() > 1:
                consts.add(i)
    return consts, sub.TensorsLength(), model.SubgraphsLength()


def inspect(path_or_bytes: Any, *, edgetpu: bool = True, xnnpack: bool = True) -> Report:
    """Reads a TFLite model and reports what is inside.

    Args:
        path_or_bytes: a ``.tflite`` path, the flatbuffer bytes, or an ExportResult.
        edgetpu: add the Edge TPU verdict when :mod:`keras_acts.export.edgetpu` exists.
        xnnpack: add how LiteRT's default CPU runtime (XNNPACK) partitions the model.

    Returns:
        A :class:`Report`.

    Raises:
        ValueError: the bytes are not a (valid) TFLite model.
        FileNotFoundError / IsADirectoryError: bad path.
    """
    from keras_acts.export.runner import make_interpreter

    content, source = read_model_bytes(path_or_bytes)
    try:
        consts, num_tensors, num_subgraphs = _constant_tensors(content)
        interpreter = make_interpreter(content)
        ops_details = interpreter._get_ops_details()
        tensor_details = {d["index"]: d for d in interpreter.get_tensor_details()}
    except Exception as err:  # noqa: BLE001 - flatbuffers/struct/interpreter errors alike
        where = repr(source) if source else "the given bytes"
        raise ValueError(
            f"{where} could not be read as a TFLite model ({str(err).strip().splitlines()[0] if str(err) else type(err).__name__}); "
            "the file is corrupt or truncated: export it again."
        ) from err

    cache: dict[int, TensorInfo] = {}

    def tensor(i: int) -> TensorInfo:
        if i not in cache:
            cache[i] = _tensor_info(interpreter, tensor_details.get(i), i, i in consts)
        return cache[i]

    ops = [
        OpInfo(
            index=int(d["index"]),
            op=str(d["op_name"]),
            inputs=[tensor(int(i)) for i in d["inputs"] if int(i) >= 0],
            outputs=[tensor(int(i)) for i in d["outputs"] if int(i) >= 0],
        )
        for d in ops_details
    ]
    report = Report(
        ops=ops,
        inputs=[tensor(int(d["index"])) for d in interpreter.get_input_details()],
        outputs=[tensor(int(d["index"])) for d in interpreter.get_output_details()],
        num_tensors=num_tensors,
        num_subgraphs=num_subgraphs,
        size_bytes=len(content),
        source=source,
        _constants=len(consts),
    )
    if edgetpu:
        report.edgetpu = _edgetpu_verdict(content)
    if xnnpack:
        from keras_acts.export.xnnpack import xnnpack_plan

        report.xnnpack = xnnpack_plan(content)
    return report


def _tensor_info(interpreter: Any, d: dict | None, index: int, is_constant: bool) -> TensorInfo:
    if d is None:  # tensors the Python API does not describe (rare): minimal info
        return TensorInfo(f"tensor_{index}", index, (), (), "unknown", is_constant=is_constant)
    q = d.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []), dtype=np.float64)
    zps = np.asarray(q.get("zero_points", []), dtype=np.int64)
    scale: Any = None
    zp: Any = None
    if scales.size == 1:
        scale, zp = float(scales[0]), int(zps[0]) if zps.size else 0
    elif scales.size > 1:
        scale, zp = [float(s) for s in scales], [int(z) for z in zps]
    return TensorInfo(
        name=str(d.get("name", "")),
        index=index,
        shape=tuple(int(s) for s in d.get("shape", ())),
        shape_signature=tuple(int(s) for s in d.get("shape_signature", d.get("shape", ()))),
        dtype=np.dtype(d["dtype"]).name,
        scale=scale,
        zero_point=zp,
        is_constant=is_constant,
    )


def _edgetpu_verdict(content: bytes) -> Any:
    try:
        from keras_acts.export import edgetpu as edgetpu_mod  # noqa: PLC0415 - optional module
    except ModuleNotFoundError as err:
        if err.name and err.name.endswith("keras_acts.export.edgetpu"):
            return None
        raise
    check = getattr(edgetpu_mod, "check_edgetpu", None)
    return None if check is None else check(content)
