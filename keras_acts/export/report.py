"""What is inside a TFLite model: :func:`inspect` and the :class:`Report`.

The report lists the real ops (as the interpreter sees them, without delegates),
their input and output tensors with dtypes and quantization parameters, the *float
islands* of a quantized model (ops computing in float between int8 ops, such as the
``DEQUANTIZE -> ELU -> QUANTIZE`` the stock converter leaves for Keras's ELU), the
model's inputs and outputs, and — once :mod:`keras_acts.export.edgetpu` is
available — the Edge TPU verdict.

``print(report)`` is a summary that fits a screen, followed by each :class:`Problem` once (with
the ops it concerns, the first op and a fix); which problems count depends on the report's
``target`` (the export's, or given to :func:`inspect`). Every op is in :meth:`Report.table`,
:meth:`Report.to_dict` and the HTML view (:meth:`Report.save_html`, :mod:`keras_acts.export.html`).
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


@dataclass(frozen=True)
class Problem:
    """One problem of a model, with every op it concerns. See :attr:`Report.problems`.

    Attributes:
        area: ``"XNNPACK"``, ``"precision"``, ``"Edge TPU"`` or ``"validation"``.
        title: what is wrong, e.g. ``"ADD: scale ratio"``.
        reason: the measured facts, one sentence.
        fix: what to do about it.
        indices: the ops concerned (execution order); empty for model-wide problems.
    """

    area: str
    title: str
    reason: str
    fix: str = ""
    indices: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        """How many ops the problem concerns (0 for model-wide problems)."""
        return len(self.indices)

    @property
    def first_index(self) -> int | None:
        """The first op concerned, or None."""
        return min(self.indices) if self.indices else None

    def where(self) -> str:
        """``"17 ops, first #25"``, ``"op #3"`` or ``""``."""
        if not self.indices:
            return ""
        return f"op #{self.indices[0]}" if self.count == 1 else f"{self.count} ops, first #{self.first_index}"

    def text(self) -> str:
        """One line: area, ops, reason and fix."""
        where = self.where()
        head = f"[{self.area}] {self.title}" + (f" ({where})" if where else "")
        return f"{head}: {self.reason}" + (f". Fix: {self.fix}" if self.fix else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return {
            "area": self.area,
            "title": self.title,
            "reason": self.reason,
            "fix": self.fix,
            "count": self.count,
            "first_index": self.first_index,
            "indices": list(self.indices),
        }


#: Targets a report can be made for (``None``: a file of unknown origin). ``"generic"`` is the
#: earlier name of ``"micro"``.
REPORT_TARGETS = ("cpu", "micro", "edgetpu")


def _check_target(target: str | None) -> str | None:
    if target is None:
        return None
    name = str(target).strip().lower()
    if name == "generic":
        return "micro"
    if name not in REPORT_TARGETS:
        raise ValueError(
            f"unknown target {target!r}: use one of {', '.join(repr(t) for t in REPORT_TARGETS)} or None "
            "(a model of unknown origin: LiteRT's CPU runtime problems, a one-line Edge TPU verdict)."
        )
    return name


@dataclass
class Report:
    """The inspection report of one TFLite model. See :func:`inspect`.

    ``print(report)`` gives a summary that fits a screen: size, I/O, precision, op counts, XNNPACK
    partitions, validation (when present), then each problem once with its op count, first op and
    fix. The full per-op table is :meth:`table` (and :meth:`to_markdown`, :meth:`to_dict`,
    :meth:`save_html`).

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
        target: the export target the model was made for (``"cpu"``, ``"micro"``,
            ``"edgetpu"``), or None when unknown (a file). It decides which problems count:
            XNNPACK's for ``"cpu"`` and None, the Edge TPU's for ``"edgetpu"``.
        validation: the post-export validation (an object with ``summary_lines()``,
            ``warnings`` and ``to_dict()``), or None.
        content: the flatbuffer bytes (used by :meth:`save_html` to measure errors), or None.
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
    _constants: int = field(default=0, repr=False)
    target: str | None = None
    validation: Any = None
    content: bytes | None = field(default=None, repr=False)

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

    def _shows_xnnpack_problems(self) -> bool:
        return self.target in (None, "cpu")

    def _shows_edgetpu_problems(self, edgetpu: bool | None) -> bool:
        return bool(edgetpu) if edgetpu is not None else self.target == "edgetpu"

    def xnnpack_refusals(self) -> list[Any]:
        """Why each op outside XNNPACK is refused (:class:`keras_acts.export.xnnpack.Refusal`),
        measured against the installed LiteRT; empty without an XNNPACK plan."""
        if self.xnnpack is None:
            return []
        from keras_acts.export.xnnpack import explain_refusal

        by_index = {o.index: o for o in self.ops}
        return [explain_refusal(by_index[i]) for i, _ in self.xnnpack.outside if i in by_index]

    def problems_for(self, *, edgetpu: bool | None = None) -> list[Problem]:
        """:attr:`problems`, with the Edge TPU's included when ``edgetpu`` is True (or excluded
        when False; None: only for the ``"edgetpu"`` target)."""
        out: list[Problem] = []
        islands: dict[str, list[int]] = {}
        for o in self.float_islands:
            islands.setdefault(o.op, []).append(o.index)
        for name, idx in islands.items():
            out.append(
                Problem(
                    "precision",
                    f"{name} in float",
                    f"{name} computes in float between int8 ops (a float island: DEQUANTIZE, {name}, QUANTIZE), "
                    "the converter has no int8 form for it",
                    _island_fix(name),
                    tuple(idx),
                )
            )
        if self.xnnpack is not None and self._shows_xnnpack_problems():
            splitting = {i for i, _ in self.xnnpack.splitting}
            groups: dict[tuple[str, str], list[Any]] = {}
            for r in self.xnnpack_refusals():
                if r.index in splitting:
                    groups.setdefault((r.op, r.kind), []).append(r)
            for (name, kind), refs in groups.items():
                out.append(self._xnnpack_problem(name, kind, refs))
        if self.edgetpu is not None and self._shows_edgetpu_problems(edgetpu):
            out += _edgetpu_problems(self.edgetpu)
        for w in getattr(self.validation, "warnings", None) or []:
            out.append(Problem("validation", "int8 vs float", str(w)))
        return out

    @property
    def problems(self) -> list[Problem]:
        """Each problem once, with the ops it concerns and a fix.

        Float islands always; ops that split the XNNPACK graph (with the reason measured against
        the installed LiteRT) for the ``"cpu"`` target and for files of unknown target; the Edge
        TPU's for the ``"edgetpu"`` target; the validation's warnings when a validation is set.
        """
        return self.problems_for()

    def _xnnpack_problem(self, name: str, kind: str, refs: list[Any]) -> Problem:
        indices = tuple(sorted(r.index for r in refs))
        n = len(refs)
        if kind == "scale ratio":
            values = sorted(r.value for r in refs if r.value is not None)
            first = min(refs, key=lambda r: r.index)
            reason = first.reason
            if n > 1 and values:
                reason = reason.replace(f"ratio {first.value:.2g}", f"ratio ({values[0]:.2g} to {values[-1]:.2g})")
            low = bool(values) and values[0] < 1
            fix = (
                "the op's input range is tiny next to its output's: the values reaching it are almost zero "
                "on the calibration data (an untrained model, or BatchNorm moving statistics never estimated "
                "on real data, e.g. keras.applications with weights=None); train or re-estimate the BatchNorm "
                "statistics, and calibrate with real samples"
                if low
                else "the op's input range is far wider than its output's: check the calibration data and the "
                "layer's constants"
            )
            title = f"{name}: scale ratio"
        else:
            reason = refs[0].reason
            title = f"{name}: {kind}"
            fix = self._type_fix(name, kind)
        return Problem("XNNPACK", title, f"{reason}; each splits LiteRT's CPU graph", fix, indices)

    def _type_fix(self, name: str, kind: str) -> str:
        if kind == "dtype":
            return "export fully int8 (quantization='int8') so the op computes in int8"
        if kind == "shape":
            return "reshape to at most rank 6 before the op"
        if kind == "unknown":
            return "compare the op with the single-op probe (python -m keras_acts.export.xnnpack) or change the layer"
        if self.target == "cpu":
            return (
                f"the cpu target already writes keras_acts activations with ops XNNPACK takes; {name} comes "
                "from a layer it does not rewrite: replace that layer (keras-acts list shows int8 forms per target)"
            )
        return (
            f"export with target='cpu' (the default), which writes activations without {name}, or replace the "
            "layer producing it"
        )

    @property
    def warnings(self) -> list[str]:
        """:attr:`problems` as one line each (the same text ``print(report)`` shows)."""
        return [p.text() for p in self.problems]

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
        """A JSON-serializable dict of the whole report (every op, every problem)."""
        edgetpu = self.edgetpu
        if edgetpu is not None:
            if hasattr(edgetpu, "to_dict"):
                edgetpu = edgetpu.to_dict()
            elif not isinstance(edgetpu, (dict, str, bool, int, float, list)):
                edgetpu = str(edgetpu)
        validation = self.validation
        if validation is not None:
            validation = validation.to_dict() if hasattr(validation, "to_dict") else str(validation)
        return {
            "source": self.source,
            "target": self.target,
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
            "xnnpack_refusals": [r.to_dict() for r in self.xnnpack_refusals()],
            "validation": validation,
            "problems": [p.to_dict() for p in self.problems],
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
        """The report as a Markdown document (summary, problems, I/O table, per-op table)."""
        lines = [
            "## TFLite model" + (f" `{self.source}`" if self.source else ""),
            "",
            f"- size: {self.size_bytes} bytes; tensors: {self.num_tensors}; ops: {len(self.ops)}",
            f"- verdict: {self._verdict()}",
        ]
        if self.target:
            lines.append(f"- target: {self.target}")
        if self.float_islands:
            lines.append(
                "- float islands: " + ", ".join(f"#{o.index} {o.op}" for o in self.float_islands)
            )
        if self.xnnpack is not None:
            lines.append(f"- LiteRT CPU (XNNPACK): {self.xnnpack.summary()}")
        if self.edgetpu is not None:
            lines.append(f"- Edge TPU: {_one_line(self.edgetpu)}")
        lines += [f"- validation: {ln}" for ln in _validation_lines(self.validation)]
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
        islands = {o.index for o in self.float_islands}
        for o in self.ops:
            island = " **float island**" if o.index in islands else ""
            island += " (outside XNNPACK)" if o.index in outside else ""
            lines.append(
                f"| {o.index} | {o.op}{island} | {'; '.join(t.describe() for t in o.inputs)} | "
                f"{'; '.join(t.describe() for t in o.outputs)} |"
            )
        return "\n".join(lines) + "\n"

    def summary_lines(self, *, edgetpu: bool | None = None) -> list[str]:
        """The summary part of :meth:`text` (no problems), one string per line."""
        where = f" {self.source}" if self.source else ""
        target = f", target {self.target!r}" if self.target else ""
        lines = [
            f"TFLite model{where}{target}: {_fmt_size(self.size_bytes)}, {len(self.ops)} ops, "
            f"{self.num_tensors} tensors" + (f", {self.num_subgraphs} subgraphs" if self.num_subgraphs > 1 else "")
        ]
        for kind, tensors in (("input ", self.inputs), ("output", self.outputs)):
            for t in tensors[:_MAX_IO]:
                lines.append(f"  {kind} {t.name}: {t.describe()}")
            if len(tensors) > _MAX_IO:
                lines.append(f"  ... and {len(tensors) - _MAX_IO} more {kind.strip()}s (report.table())")
        lines.append(f"  precision: {self._precision()}")
        counts = sorted(self.op_counts().items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("  ops: " + _wrap_counts(counts))
        if self.xnnpack is not None:
            lines.append(f"  LiteRT CPU (XNNPACK): {self._xnnpack_line()}")
            splitting = {i for i, _ in self.xnnpack.splitting}
            tail: dict[str, list[Any]] = {}
            for r in self.xnnpack_refusals():
                if r.index not in splitting:
                    tail.setdefault(r.reason, []).append(r)
            for reason, refs in tail.items():
                ids = ", ".join(f"#{r.index}" for r in refs[:4]) + (" ..." if len(refs) > 4 else "")
                lines.append(f"    {refs[0].op} {ids} after the last partition (costs one op): {reason}")
        for ln in _validation_lines(self.validation):
            lines.append(f"  validation: {ln}")
        if self.edgetpu is not None:
            verdict = _one_line(self.edgetpu)
            if verdict.startswith("Edge TPU (") and "): " in verdict:  # "Edge TPU (static): ..."
                kind, _, verdict = verdict[len("Edge TPU (") :].partition("): ")
            else:
                kind = "static"
            if self._shows_edgetpu_problems(edgetpu):
                lines.append(f"  Edge TPU ({kind} check): {verdict}")
            elif self.target is None:
                n = len(getattr(self.edgetpu, "unsupported", []) or [])
                more = f"; {n} issue(s): report.text(edgetpu=True)" if n else ""
                lines.append(f"  Edge TPU ({kind} check): {verdict}{more}")
        return lines

    def text(self, *, edgetpu: bool | None = None, verbose: bool = False) -> str:
        """The report as text: summary, then each problem once, then (``verbose``) every op.

        Args:
            edgetpu: show the Edge TPU's problems (True), hide them (False), or show them only for
                the ``"edgetpu"`` target (None, the default).
            verbose: append :meth:`table`.
        """
        lines = self.summary_lines(edgetpu=edgetpu)
        problems = self.problems_for(edgetpu=edgetpu)
        if problems:
            lines.append(f"problems ({len(problems)}):")
            for p in problems:
                where = p.where()
                lines.append(f"  warning: [{p.area}] {p.title}" + (f" ({where})" if where else "") + f": {p.reason}")
                if p.fix:
                    lines.append(f"    fix: {p.fix}")
        else:
            lines.append("problems: none found")
        if verbose:
            lines += ["", self.table()]
        else:
            lines.append("every op: report.table() or keras-acts inspect --verbose; report.save_html('model.html')")
        return "\n".join(lines)

    def table(self) -> str:
        """Every op in execution order with its output tensors and marks, then the Edge TPU verdict."""
        head = f"TFLite model{' ' + self.source if self.source else ''}: {self.size_bytes} bytes, "
        head += f"{self.num_tensors} tensors, {len(self.ops)} ops — {self._verdict()}"
        lines = [head]
        for kind, tensors in (("input ", self.inputs), ("output", self.outputs)):
            for t in tensors:
                lines.append(f"  {kind} {t.name}: {t.describe()}")
        if self.xnnpack is not None:
            lines.append(f"  LiteRT CPU (XNNPACK): {self.xnnpack.summary()}")
        width = max((len(o.op) for o in self.ops), default=2)
        reasons = {r.index: r for r in self.xnnpack_refusals()}
        islands = {o.index for o in self.float_islands}
        for o in self.ops:
            mark = "  <- float island" if o.index in islands else ""
            if o.index in reasons:
                mark += f"  <- outside XNNPACK ({reasons[o.index].kind})"
            outs = ", ".join(t.describe() for t in o.outputs)
            lines.append(f"  {o.index:>3} {o.op:<{width}} -> {outs}{mark}")
        if self.edgetpu is not None:
            lines += ["  " + ln for ln in str(self.edgetpu).splitlines()]
        return "\n".join(lines)

    def save_html(self, path: Any, **kwargs: Any) -> pathlib.Path:
        """Writes a self-contained HTML view of the model (atomically) and returns its path.

        See :func:`keras_acts.export.html.render_html` for the keyword arguments (e.g. a float
        reference and samples to measure each tensor's int8 error).
        """
        from keras_acts.export.atomic import atomic_write_bytes
        from keras_acts.export.html import render_html

        return atomic_write_bytes(path, render_html(self, **kwargs).encode("utf-8"))

    def __str__(self) -> str:
        return self.text()

    def _precision(self) -> str:
        ins = sorted({t.dtype for t in self.inputs})
        outs = sorted({t.dtype for t in self.outputs})
        io = f"I/O {'/'.join(ins) or '-'} -> {'/'.join(outs) or '-'}"
        if not self.is_quantized:
            consts = sorted({t.dtype for o in self.ops for t in o.inputs if t.is_constant and t.dtype != "int32"})
            return f"{self._verdict()}; weights {'/'.join(consts) or '-'}; {io}"
        return f"{self._verdict()}; {io}" + ("" if self.float_islands else "; no float islands")

    def _xnnpack_line(self) -> str:
        plan = self.xnnpack
        note = "" if self._shows_xnnpack_problems() or not plan.outside else f" (not a problem for target {self.target!r})"
        return plan.summary() + note

    def _outside_xnnpack(self) -> set[int]:
        return set() if self.xnnpack is None else {i for i, _ in self.xnnpack.outside}


_MAX_IO = 4


def _fmt_size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} bytes"


def _wrap_counts(counts: list[tuple[str, int]], limit: int = 10) -> str:
    text = ", ".join(f"{n} {c}" for n, c in counts[:limit])
    if len(counts) > limit:
        text += f", {len(counts) - limit} more kinds"
    return text


def _validation_lines(validation: Any) -> list[str]:
    if validation is None:
        return []
    fn = getattr(validation, "summary_lines", None)
    lines = fn() if callable(fn) else [str(validation)]
    return [str(ln) for ln in lines]


def _island_fix(op: str) -> str:
    from keras_acts import registry  # noqa: PLC0415

    names = [e.name for e in registry.entries() if op.lower() in (e.name, *getattr(e, "aliases", ()))]
    if names:
        return (
            f"export with keras_acts.export.to_tflite, which writes {names[0]} with int8 ops "
            "(Keras's own activations are swapped for keras_acts's during export)"
        )
    return "replace the layer producing it with one that has an int8 form (keras-acts list shows the activations')"


def _edgetpu_problems(verdict: Any) -> list[Problem]:
    """The Edge TPU verdict's issues, each kind once: issues that differ only in tensor names and
    shapes are one problem, with the ops they concern and the first one as the example."""
    import re  # noqa: PLC0415

    groups: dict[str, list[tuple[str, int | None, str]]] = {}
    for issue in getattr(verdict, "unsupported", None) or []:
        op, index, reason = str(issue[0]), issue[1], str(issue[2])
        key = re.sub(r"\[[-0-9, ]*\]", "[…]", re.sub(r"'[^']*'", "'…'", reason))
        groups.setdefault(key, []).append((op, index, reason))
    out = []
    for issues in groups.values():
        ops = sorted({op for op, _, _ in issues}, key=lambda n: -sum(1 for o, _, _ in issues if o == n))
        indices = tuple(sorted({int(i) for _, i, _ in issues if i is not None}))
        reason, _, fix = issues[0][2].partition("; ")
        if len(issues) > 1:
            reason += f" (the first of {len(issues)} such issues)"
        title = ", ".join(ops[:4]) + (f" and {len(ops) - 4} more" if len(ops) > 4 else "")
        out.append(Problem("Edge TPU", title, reason, fix, indices))
    return out


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


def inspect(
    path_or_bytes: Any, *, edgetpu: bool = True, xnnpack: bool = True, target: str | None = None
) -> Report:
    """Reads a TFLite model and reports what is inside.

    Args:
        path_or_bytes: a ``.tflite`` path, the flatbuffer bytes, or an ExportResult (whose
            ``target`` is used when ``target`` is not given).
        edgetpu: add the Edge TPU verdict when :mod:`keras_acts.export.edgetpu` exists.
        xnnpack: add how LiteRT's default CPU runtime (XNNPACK) partitions the model.
        target: the runtime the model is for: ``"cpu"`` (LiteRT's CPU runtime: XNNPACK problems),
            ``"micro"`` (single-op-kernel runtimes: XNNPACK's splits are not problems),
            ``"edgetpu"`` (the Edge TPU's problems in full), or None — a file of unknown origin:
            XNNPACK problems (LiteRT's CPU runtime is the default runtime) and a one-line Edge TPU
            verdict (``report.text(edgetpu=True)`` for its problems).

    Returns:
        A :class:`Report`.

    Raises:
        ValueError: the bytes are not a (valid) TFLite model.
        FileNotFoundError / IsADirectoryError: bad path.
    """
    from keras_acts.export.runner import make_interpreter

    if target is None and hasattr(path_or_bytes, "content") and isinstance(getattr(path_or_bytes, "target", None), str):
        target = path_or_bytes.target
    target = _check_target(target)
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
        target=target,
        content=content,
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
