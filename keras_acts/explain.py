"""What keras_acts does with one activation, measured: ``keras_acts.explain(name)``.

For each export target -- ``cpu`` (LiteRT's CPU runtime with its default XNNPACK delegate),
``micro`` (int8 with one builtin kernel per op: TFLite Micro, NNAPI, the GPU delegate),
``edgetpu`` (Coral) and ``float`` -- the report gives the form the exporter traces (the
registry entry's ``lowering(target)``), and measures it on the installed LiteRT:

* the model ``Input((256,)) -> activation`` is converted the way :func:`keras_acts.export.to_tflite`
  converts it (int8 input and output, calibrated on ``linspace(lo, hi, 256)``), through
  :func:`keras_acts.export.fidelity.measure_int8_fidelity`;
* its TFLite ops as converted, whether every op computes in int8, and how many partitions
  XNNPACK runs it in (:func:`keras_acts.export.xnnpack.xnnpack_plan`);
* the largest error in output LSB over every int8 input code in ``[lo, hi]`` against the entry's
  float64 reference (the float target: the largest absolute error on the grid);
* its latency on LiteRT (1 thread, XNNPACK default delegate, the model's input resized to
  256 x 256 elements): the median over repeated rounds, all models interleaved in each round,
  and its ratio to the *stock* conversion of the same activation -- the plain
  ``tf.lite.TFLiteConverter`` on the activation's training function, with no keras_acts
  lowering, int8 for the int8 targets and float32 for ``float``.

It adds the Edge TPU verdict and reason (:meth:`keras_acts.registry.Activation.edgetpu_form`),
the formula, paper, parameters, aliases and the QAT formulation's ops
(:mod:`keras_acts.quantization.formulations`).

Measurements are cached in the process (per activation, parameters, range and target), so
explaining several activations, or one twice, converts each model once.

This module loads TensorFlow's converter only when :func:`explain` runs; ``import keras_acts``
does not import it (``keras_acts.explain`` loads lazily). The module is callable:
``keras_acts.explain("hard_swish")`` is :func:`explain`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import sys
import time
import types
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

__all__ = [
    "BUDGET_LSB",
    "EXPLAIN_TARGETS",
    "Explanation",
    "TargetResult",
    "automatic_form",
    "clear_cache",
    "explain",
    "target_forms",
]

#: The int8 fidelity budget of every form (issue 21; ``tests/test_int8_lowerings.py``): at most this
#: many output quantization steps from the float64 reference over the range.
BUDGET_LSB = 1.5

#: Report target -> the registry lowering its export traces (``"micro"`` traces ``"int8"``; see
#: :mod:`keras_acts.export.targets`).
EXPLAIN_TARGETS: dict[str, str] = {"cpu": "cpu", "micro": "int8", "edgetpu": "edgetpu", "float": "float"}

_RUNTIMES = {
    "cpu": "int8, LiteRT CPU (XNNPACK)",
    "micro": "int8, single-op kernels (TFLite Micro, NNAPI, GPU)",
    "edgetpu": "int8, Coral Edge TPU ops",
    "float": "float32",
}

_WIDTH = 256  # model width = grid points; every int8 code of the range is fed
_LATENCY_BATCH = 256  # latency runs the model on 256 x 256 elements


FormProvider = Callable[[Any, str], Any]


def automatic_form(entry: Any, target: str) -> Any:
    """The form found automatically for ``entry`` on registry lowering ``target``, or None.

    :func:`explain` calls this when ``entry.lowering(target)`` is None (the exporter would trace
    the training function, or, for ``"edgetpu"``, refuse the activation). It asks the automatic
    lowering search (``keras_acts.export.auto_lowering.find_form(entry, target)``) when that module
    exists and has that function; today it returns None otherwise.

    Args:
        entry: a :class:`keras_acts.registry.Activation`.
        target: a registry lowering target (``"cpu"``, ``"int8"``, ``"edgetpu"``, ``"float"``).

    Returns:
        A :class:`keras_acts.registry.Lowering` (its ``fn`` takes the activation's signature and its
        ``ops`` the ops it converts to), or None.
    """
    import importlib  # noqa: PLC0415

    try:
        auto = importlib.import_module("keras_acts.export.auto_lowering")
    except ImportError:
        return None
    find = getattr(auto, "find_form", None)
    return find(entry, target) if callable(find) else None


@dataclass(frozen=True)
class TargetResult:
    """One target's form and its measurement.

    Attributes:
        target: ``"cpu"``, ``"micro"``, ``"edgetpu"`` or ``"float"``.
        runtime: what the target is for, in a few words.
        source: which form the export traces: a registry lowering key (``"cpu"``, ``"int8"``,
            ``"edgetpu"``, ``"float"``), ``"automatic"`` (from the form provider), ``"training"``
            (no lowering: the training function is traced), or None when the target refuses the
            activation (Edge TPU without a Coral-only form).
        form_ops: the ops the form declares (``Lowering.ops``); empty without a form.
        note: the form's note (how it was designed and why).
        form_max_abs_error: the form's documented float error vs the exact function (0 = exact).
        ops: the TFLite ops the activation alone converts to, measured, in execution order.
        ops_match_form: whether ``ops`` are ``form_ops`` (as multisets), None without a form.
        fully_int8: no op computes in float (None for the float target).
        xnnpack_partitions: XNNPACK partitions (DELEGATE nodes) with LiteRT's default delegate.
        xnnpack_outside: the ops XNNPACK leaves to the builtin kernels.
        max_lsb: largest error in output LSB over the range (int8 targets), else None.
        mean_lsb: mean error in output LSB (int8 targets), else None.
        max_abs: largest absolute error vs the float64 reference.
        within_budget: ``max_lsb <= BUDGET_LSB`` and the int8 input covers the range (int8 targets).
        covers_range: the converted int8 input range covers the requested range (None for float).
        latency_us: median time of one invocation on the latency tensor, microseconds.
        stock_latency_us: the stock conversion's median on the same tensor.
        latency_ratio: ``latency_us / stock_latency_us`` (below 1: faster than stock).
        refused: why the target refuses the activation (only when ``source`` is None).
        error: why the form could not be converted or measured ("" when it was).
    """

    target: str
    runtime: str
    source: str | None
    form_ops: tuple[str, ...] = ()
    note: str = ""
    form_max_abs_error: float = 0.0
    ops: tuple[str, ...] = ()
    ops_match_form: bool | None = None
    fully_int8: bool | None = None
    xnnpack_partitions: int | None = None
    xnnpack_outside: tuple[str, ...] = ()
    max_lsb: float | None = None
    mean_lsb: float | None = None
    max_abs: float | None = None
    within_budget: bool | None = None
    covers_range: bool | None = None
    latency_us: float | None = None
    stock_latency_us: float | None = None
    latency_ratio: float | None = None
    refused: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (tuples become lists)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetResult:
        """Rebuilds a result from :meth:`to_dict`'s output."""
        tuples = {"form_ops", "ops", "xnnpack_outside"}
        return cls(**{k: (tuple(v) if k in tuples else v) for k, v in data.items()})


@dataclass(frozen=True)
class Explanation:
    """What keras_acts does with one activation: forms, ops, error and latency per target.

    Attributes:
        name: canonical registry name.
        aliases: other accepted names.
        formula: the formula as text.
        paper: the reference.
        params: the parameters explained (defaults filled in).
        param_docs: per parameter, its description and default.
        x_range: ``(lo, hi)``, the range measured.
        frontend: ``"keras3"`` or ``"tf_keras"``.
        litert: the installed LiteRT version.
        runtime: how latencies were measured.
        latency_elements: elements per invocation in the latency runs.
        targets: one :class:`TargetResult` per target explained.
        stock_ops: ops of the stock int8 conversion (plain converter, training function).
        stock_max_lsb: its largest error in output LSB over the range, or None.
        stock_fully_int8: whether every stock op computes in int8.
        stock_xnnpack_partitions: its XNNPACK partitions.
        stock_xnnpack_outside: the stock ops XNNPACK leaves to the builtin kernels.
        stock_error: why the stock conversion failed ("" when it converted).
        edgetpu_status: ``"native"``, ``"lowered"``, ``"approximate"``, ``"automatic"`` (no registered Coral
            form, but the automatic edgetpu form is within the budget and Coral-only: measured when
            ``"edgetpu"`` is among the targets, else as the automatic search verified it) or ``"unsupported"``.
        edgetpu_reason: one sentence saying why.
        edgetpu_note: the entry's Edge TPU note (alternatives, limits).
        qat_scheme: the QAT formulation keras_acts's engine trains: the entry's QAT scheme, or
            ``"automatic"`` for an activation registered without lowerings (the QAT chain of its automatic
            cpu form on -8..8, see ``docs/AUTO_LOWERING.md``).
        qat_ops: the int8 ops a QAT model of the activation converts to.
        qat_points: the formulation's moving-range quantization points (empty: output only).
        seconds: wall time of the measurement (0 when every number came from the cache).
    """

    name: str
    aliases: tuple[str, ...]
    formula: str
    paper: str
    params: dict[str, Any]
    param_docs: dict[str, str]
    x_range: tuple[float, float]
    frontend: str
    litert: str
    runtime: str
    latency_elements: int
    targets: tuple[TargetResult, ...]
    stock_ops: tuple[str, ...] = ()
    stock_max_lsb: float | None = None
    stock_fully_int8: bool | None = None
    stock_xnnpack_partitions: int | None = None
    stock_xnnpack_outside: tuple[str, ...] = ()
    stock_error: str = ""
    edgetpu_status: str = ""
    edgetpu_reason: str = ""
    edgetpu_note: str = ""
    qat_scheme: str = ""
    qat_ops: tuple[str, ...] = ()
    qat_points: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)

    def target(self, name: str) -> TargetResult:
        """The result for target ``name``; raises KeyError naming the targets explained."""
        for t in self.targets:
            if t.target == name:
                return t
        raise KeyError(f"{name!r} was not explained; targets here: {', '.join(t.target for t in self.targets)}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "targets":
                v = [t.to_dict() for t in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Rebuilds an explanation from :meth:`to_dict` (or parsed :meth:`to_json`) output."""
        kw = dict(data)
        kw["targets"] = tuple(TargetResult.from_dict(t) for t in kw["targets"])
        for k in ("aliases", "x_range", "stock_ops", "stock_xnnpack_outside", "qat_ops", "qat_points"):
            kw[k] = tuple(kw[k])
        return cls(**kw)

    def __str__(self) -> str:
        lo, hi = self.x_range
        params = ", ".join(f"{k}={_num(v)}" for k, v in self.params.items()) or "none"
        lines = [
            f"{self.name}: {self.formula}",
            f"  paper: {self.paper}",
            f"  aliases: {', '.join(self.aliases) or '-'}; params: {params}",
            f"int8 error on {_num(lo)}..{_num(hi)} in output LSB (budget {BUDGET_LSB}); {self.frontend}, "
            f"LiteRT {self.litert}",
            f"latency: median per call on {self.latency_elements} elements, {self.runtime}; "
            "x stock = vs the plain TFLiteConverter on the training function",
        ]
        rows = [("target", "form", "ops (as converted)", "int8", "XNNPACK", "max err", "latency", "x stock")]
        for t in self.targets:
            if t.source is None or t.error:
                what = "refused (see Edge TPU below)" if t.source is None else _clip(f"failed: {t.error}", 60)
                rows.append((t.target, t.source or "-", what, "-", "-", "-", "-", "-"))
                continue
            err = "-" if t.max_lsb is None and t.max_abs is None else (
                f"{t.max_lsb:.2f} LSB" if t.max_lsb is not None else f"{t.max_abs:.1e} abs"
            )
            if t.within_budget is False:
                err += " !"
            rows.append((
                t.target,
                t.source,
                _ops(t.ops),
                "-" if t.fully_int8 is None else ("yes" if t.fully_int8 else "NO"),
                _parts(t.xnnpack_partitions, t.xnnpack_outside),
                err,
                "-" if t.latency_us is None else f"{t.latency_us:.0f} us",
                "-" if t.latency_ratio is None else f"{t.latency_ratio:.2f}x",
            ))
        if self.stock_error:
            rows.append(("stock", "training", f"failed: {self.stock_error}"[:60], "-", "-", "-", "-", "-"))
        else:
            stock_lat = next(
                (t.stock_latency_us for t in self.targets if t.target != "float" and t.stock_latency_us), None
            )
            rows.append((
                "stock",
                "training",
                _ops(self.stock_ops),
                "-" if self.stock_fully_int8 is None else ("yes" if self.stock_fully_int8 else "NO"),
                _parts(self.stock_xnnpack_partitions, self.stock_xnnpack_outside),
                "-" if self.stock_max_lsb is None else f"{self.stock_max_lsb:.2f} LSB"
                + (" !" if self.stock_max_lsb > BUDGET_LSB else ""),
                "-" if stock_lat is None else f"{stock_lat:.0f} us",
                "1.00x" if stock_lat else "-",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if any(t.within_budget is False for t in self.targets) or (self.stock_max_lsb or 0.0) > BUDGET_LSB:
            lines.append(f"  ! over the {BUDGET_LSB} LSB budget, or the int8 input does not cover the range")
        lines.append(f"Edge TPU: {self.edgetpu_status} - {_clip(self.edgetpu_reason, 100)}")
        if self.edgetpu_note:
            lines.append(f"  {_clip(self.edgetpu_note, 110)}")
        points = f"; fake-quant points: {', '.join(self.qat_points)}" if self.qat_points else ""
        lines.append(f"QAT ({self.qat_scheme}): converts to {_ops(self.qat_ops) or '-'}{points}")
        seen: set[str] = set()
        for t in self.targets:
            if t.note and t.note not in seen:
                seen.add(t.note)
                lines.append(f"  {t.target} form: {_clip(t.note, 100)}")
        return "\n".join(lines)


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _ops(ops: Sequence[str], width: int = 48) -> str:
    text = " ".join(ops)
    if len(text) <= width:
        return text
    tail = f" ... ({len(ops)} ops)"
    return text[: width - len(tail)].rsplit(" ", 1)[0] + tail


def _parts(n: int | None, outside: Sequence[str]) -> str:
    if n is None:
        return "-"
    text = f"{n} part."
    return text + (f" +{len(outside)} out" if outside else "")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


# --- measurement --------------------------------------------------------------------------------

# (id(entry), params, lo, hi, kind) -> (entry, measurement dict). kind: a target, "stock", "stock_float".
_CACHE: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}


def clear_cache() -> None:
    """Forgets every cached measurement (e.g. after re-registering an activation)."""
    _CACHE.clear()


def _cached(entry: Any, key: tuple[Any, ...], measure: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    full = (id(entry), *key)
    hit = _CACHE.get(full)
    if hit is not None and hit[0] is entry:
        return hit[1], True
    value = measure()
    _CACHE[full] = (entry, value)
    return value, False


def _freeze(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


@contextlib.contextmanager
def _hushed(replay_on_error: bool = False) -> Iterator[None]:
    """Keeps the converter's C++ lines and absl's deprecation warnings out of the terminal (unless
    verbose output is asked for: KERAS_ACTS_VERBOSE=1, see :mod:`keras_acts._quiet`)."""
    from keras_acts import _quiet  # noqa: PLC0415

    quiet = not _quiet.verbose_requested()
    absl = logging.getLogger("absl")
    level = absl.level
    if quiet:
        absl.setLevel(logging.ERROR)
    try:
        with _quiet.captured_stderr(quiet, replay_on_error=replay_on_error), warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)


def _form_layer(low: Any, params: Mapping[str, Any]) -> Any:
    """A Keras layer that computes the form ``low.fn`` (for forms the exporter does not trace itself)."""
    from keras_acts.backend import keras  # noqa: PLC0415

    class _Form(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return low.fn(x, **params)

    return _Form()


def _reference(entry: Any, params: Mapping[str, Any], layer: Any = None) -> Callable[[Any], Any]:
    import numpy as np  # noqa: PLC0415

    kw = dict(params)
    if entry.learnable and layer is not None:
        kw = {"alpha": np.asarray(layer.alpha, np.float64).reshape(-1)}
    return lambda x: entry.reference(np.asarray(x, np.float64), **kw)


def _int8(entry: Any, params: dict[str, Any], lo: float, hi: float, target: str | None, low: Any = None) -> dict[str, Any]:
    """measure_int8_fidelity of the registry activation (``low``: of that form, via the plain converter)."""
    from keras_acts.export.fidelity import measure_int8_fidelity  # noqa: PLC0415
    from keras_acts.export.xnnpack import xnnpack_plan  # noqa: PLC0415

    # In this process (isolate=False): the one-activation models convert in ~0.1 s each, and the
    # converter's worker process would take seconds to start.
    with _hushed():
        if low is None:
            r = measure_int8_fidelity(entry.name, lo=lo, hi=hi, n=_WIDTH, params=params or None, target=target,
                                      isolate=False)
        else:
            r = measure_int8_fidelity(_form_layer(low, params), lo=lo, hi=hi, n=_WIDTH,
                                      reference=_reference(entry, params), target=None)
    plan = xnnpack_plan(r["content"])
    return {**r, "partitions": plan.partitions, "outside": [name for _, name in plan.outside]}


def _float(entry: Any, params: dict[str, Any], lo: float, hi: float, stock: bool, low: Any = None) -> dict[str, Any]:
    """The float32 export (``stock``: the plain converter on the training function): ops and abs error."""
    import numpy as np  # noqa: PLC0415

    from keras_acts.export.fidelity import _layer_for, build_activation_model, op_details  # noqa: PLC0415
    from keras_acts.export.runner import make_interpreter  # noqa: PLC0415
    from keras_acts.export.xnnpack import xnnpack_plan  # noqa: PLC0415

    layer, _ = _layer_for(entry.name, params or None) if low is None else (_form_layer(low, params), None)
    model = build_activation_model(layer, _WIDTH)
    with _hushed():
        if stock or low is not None:
            content = _plain_float(model)
        else:
            from keras_acts.export.converter import to_tflite  # noqa: PLC0415

            content = to_tflite(model, quantization="none", target="cpu", batch_size=1, isolate=False).content
    grid = np.linspace(lo, hi, _WIDTH, dtype=np.float32)
    it = make_interpreter(content, num_threads=1, xnnpack=False)
    it.set_tensor(it.get_input_details()[0]["index"], grid[None])
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])[0].astype(np.float64)
    err = np.abs(y - _reference(entry, params, layer if low is None else None)(grid))
    plan = xnnpack_plan(content)
    return {
        "ops": [d["op"] for d in op_details(content)],
        "max_abs": float(np.nanmax(err)) if np.all(np.isfinite(y)) else float("inf"),
        "partitions": plan.partitions,
        "outside": [name for _, name in plan.outside],
        "content": content,
    }


def _plain_float(model: Any) -> bytes:
    """The plain ``TFLiteConverter`` float32 conversion of the traced training function (no lowering)."""
    import tensorflow as tf  # noqa: PLC0415
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: PLC0415

    from keras_acts.lowering import lowering_target  # noqa: PLC0415

    spec = tf.TensorSpec((1, _WIDTH), tf.float32)
    with lowering_target(None):
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()


def _latencies(models: Mapping[str, tuple[bytes, bool]], repeats: int, invokes: int = 10) -> dict[str, tuple[float, int]]:
    """Median microseconds per invocation of each model, interleaved; ``{key: (us, elements)}``.

    Each model (bytes, is_int8) runs on LiteRT with XNNPACK, 1 thread, its input resized to
    ``(_LATENCY_BATCH, _WIDTH)`` (every op is elementwise) and filled with the int8 codes, or the
    float grid, tiled.
    """
    import numpy as np  # noqa: PLC0415

    from keras_acts.export.runner import interleaved_latency_us, make_interpreter  # noqa: PLC0415

    # Identical flatbuffers (e.g. a target whose form is another target's) are timed once.
    first: dict[bytes, str] = {}
    same = {key: first.setdefault(content, key) for key, (content, _) in models.items()}
    interps: dict[str, Any] = {}
    elements: dict[str, int] = {}
    for key, (content, is_int8) in models.items():
        if same[key] != key:
            continue
        it = make_interpreter(content, num_threads=1, xnnpack=True)
        d = it.get_input_details()[0]
        try:
            it.resize_tensor_input(d["index"], [_LATENCY_BATCH, _WIDTH], strict=False)
            it.allocate_tensors()
        except (RuntimeError, ValueError):  # a shape-dependent op: measure at the converted shape
            it = make_interpreter(content, num_threads=1, xnnpack=True)
        d = it.get_input_details()[0]
        shape = tuple(int(s) for s in d["shape"])
        n = int(np.prod(shape))
        if is_int8:
            x = np.resize(np.arange(-128, 128, dtype=np.int8), n).reshape(shape).astype(d["dtype"])
        else:
            x = np.resize(np.linspace(-8.0, 8.0, _WIDTH, dtype=np.float32), n).reshape(shape).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        for _ in range(3):
            it.invoke()
        interps[key], elements[key] = it, n
    median = interleaved_latency_us(interps, repeats=repeats, invokes=invokes)
    return {k: (median[same[k]], elements[same[k]]) for k in models}


def _form_for(entry: Any, target: str, provider: FormProvider | None) -> tuple[str | None, Any, str]:
    """``(source, lowering, refusal)`` of the form the export of ``target`` uses (see :class:`TargetResult`)."""
    key = EXPLAIN_TARGETS[target]
    low = entry.lowering(key)
    if low is not None:
        if key == "edgetpu":
            return entry.edgetpu_form().source, low, ""
        source = next((k for k, v in entry.lowerings.items() if v is low), key)
        return source, low, ""
    auto = provider(entry, key) if provider is not None else None
    if key == "edgetpu":
        reason = entry.edgetpu_form().reason
        if auto is None:
            return None, None, reason
        from keras_acts import registry  # noqa: PLC0415

        off = [op for op in auto.ops if op not in registry._edgetpu_ops()]
        if off:
            uses = ", ".join(dict.fromkeys(off))
            return None, None, f"{reason}; the automatic form uses {uses}, not on Coral's op table"
    if auto is not None:
        return "automatic", auto, ""
    return "training", None, ""


def target_forms(
    name: str, *, params: Mapping[str, Any] | None = None, form_provider: FormProvider | None = automatic_form
) -> dict[str, dict[str, Any]]:
    """The form each target's export uses, without measuring anything (cheap).

    Args:
        name: a registry name or alias.
        params: the activation's parameters (checked as :func:`explain` checks them).
        form_provider: as in :func:`explain`.

    Returns:
        ``{target: {"source": ..., "ops": [...], "note": ..., "refused": ...}}`` for ``"cpu"``,
        ``"micro"``, ``"edgetpu"`` and ``"float"`` (see :class:`TargetResult` for the fields).
    """
    from keras_acts import registry  # noqa: PLC0415

    entry = registry.lookup(name)
    entry.check_params(dict(params or {}))
    out = {}
    for t in EXPLAIN_TARGETS:
        source, low, refused = _form_for(entry, t, form_provider)
        out[t] = {"source": source, "ops": list(low.ops) if low is not None else [],
                  "note": low.note if low is not None else "", "refused": refused}
    return out


def _targets_arg(targets: str | Sequence[str] | None) -> list[str]:
    if targets is None:
        return list(EXPLAIN_TARGETS)
    chosen = [targets] if isinstance(targets, str) else list(targets)
    bad = [t for t in chosen if t not in EXPLAIN_TARGETS]
    if bad or not chosen:
        raise ValueError(
            f"explain: unknown target(s) {', '.join(map(repr, bad)) or '(none given)'}; use one or more of "
            f"{', '.join(map(repr, EXPLAIN_TARGETS))} (targets='cpu' or targets=('cpu', 'micro'))."
        )
    return list(dict.fromkeys(chosen))


def _range_arg(x_range: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in x_range)
    except (TypeError, ValueError):
        raise ValueError(f"explain: x_range must be two numbers (lo, hi), got {x_range!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"explain: x_range needs finite lo < hi, got x_range=({lo:g}, {hi:g}); e.g. x_range=(-8, 8).")
    return lo, hi


def explain(
    name: str,
    *,
    x_range: Sequence[float] = (-8.0, 8.0),
    targets: str | Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    repeats: int = 15,
    form_provider: FormProvider | None = automatic_form,
) -> Explanation:
    """Explains what keras_acts does with activation ``name`` on each export target, measured.

    Args:
        name: a registry name or alias (``"hard_swish"``, ``"hard_silu"``).
        x_range: ``(lo, hi)``: the int8 models are calibrated on ``linspace(lo, hi, 256)`` and the
            error is measured at every int8 input code in it.
        targets: one or more of ``"cpu"``, ``"micro"``, ``"edgetpu"``, ``"float"`` (default: all).
        params: the activation's parameters (e.g. ``{"beta": 2.0}``); defaults otherwise.
        repeats: latency rounds (each runs every model 10 times); the median is reported.
        form_provider: ``form_provider(entry, lowering_target)`` is called for a target the entry has no
            lowering for; a :class:`keras_acts.registry.Lowering` it returns is measured as that
            target's form (``source="automatic"``, converted with the plain converter from its
            ``fn``). Default :func:`automatic_form`; None: report the training function.

    Returns:
        An :class:`Explanation`: ``print(it)`` for a table, ``it.to_dict()`` / ``it.to_json()``.

    Raises:
        ValueError: unknown name (the message names the closest registered names), a bad
            parameter value, range or target.
        TypeError: an unknown parameter name (the message lists the accepted ones).
    """
    from keras_acts import FRONTEND, registry  # noqa: PLC0415

    entry = registry.lookup(name)
    given = entry.check_params(dict(params or {}))
    used = {**entry.defaults(), **given}
    lo, hi = _range_arg(x_range)
    chosen = _targets_arg(targets)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"explain: repeats must be a positive integer, got {repeats!r}.")
    t0 = time.perf_counter()
    frozen = _freeze(given)
    fresh = False

    def measured(kind: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        nonlocal fresh
        value, hit = _cached(entry, (frozen, lo, hi, kind), fn)
        fresh = fresh or not hit
        return value

    forms = {t: _form_for(entry, t, form_provider) for t in chosen}
    results: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    for t in chosen:
        source, low, _ = forms[t]
        if source is None:
            continue
        auto = low if source == "automatic" else None
        try:
            kind = f"{t}:{source}:{id(low)}"
            if t == "float":
                results[t] = measured(kind, lambda auto=auto: _float(entry, given, lo, hi, False, auto))
            else:
                results[t] = measured(kind, lambda t=t, auto=auto: _int8(entry, given, lo, hi, t, auto))
        except Exception as err:  # noqa: BLE001 - a form that does not convert is reported, not raised
            failures[t] = _first_line(err)
    stock = _stock(measured, "stock", lambda: _int8(entry, given, lo, hi, None))
    stock_float = None
    if "float" in results:
        stock_float = _stock(measured, "stock_float", lambda: _float(entry, given, lo, hi, True))

    # Latency: every model of this explanation not yet timed, interleaved in the same rounds.
    models: dict[str, tuple[bytes, bool]] = {}
    keys = {t: f"latency:{t}:{forms[t][0]}:{id(forms[t][1])}" for t in results}
    keys["stock"], keys["stock_float"] = "latency:stock", "latency:stock_float"
    contents = {**{t: (r["content"], t != "float") for t, r in results.items()}}
    if "content" in stock:
        contents["stock"] = (stock["content"], True)
    if stock_float is not None and "content" in stock_float:
        contents["stock_float"] = (stock_float["content"], False)
    timed: dict[str, tuple[float, int]] = {}
    for k, (content, is_int8) in contents.items():
        hit = _CACHE.get((id(entry), frozen, lo, hi, keys[k]))
        if hit is not None and hit[0] is entry:
            timed[k] = hit[1]["value"]
        else:
            models[k] = (content, is_int8)
    if models:
        fresh = True
        for k, v in _latencies(models, repeats).items():
            timed[k] = v
            _CACHE[(id(entry), frozen, lo, hi, keys[k])] = (entry, {"value": v})

    rows = []
    for t in chosen:
        source, low, refused = forms[t]
        if source is None:
            rows.append(TargetResult(t, _RUNTIMES[t], None, refused=refused))
            continue
        if t in failures:
            rows.append(TargetResult(t, _RUNTIMES[t], source, form_ops=tuple(low.ops) if low is not None else (),
                                     note=low.note if low is not None else "", error=failures[t]))
            continue
        r = results[t]
        int8 = t != "float"
        ref_key = "stock" if int8 else "stock_float"
        lat, n = timed[t]
        stock_lat = timed.get(ref_key)
        ratio = lat / stock_lat[0] if stock_lat and stock_lat[1] == n and stock_lat[0] > 0 else None
        rows.append(TargetResult(
            target=t,
            runtime=_RUNTIMES[t],
            source=source,
            form_ops=tuple(low.ops) if low is not None else (),
            note=low.note if low is not None else "",
            form_max_abs_error=float(low.max_abs_error) if low is not None else 0.0,
            ops=tuple(r["ops"]),
            ops_match_form=(sorted(low.ops) == sorted(r["ops"])) if low is not None else None,
            fully_int8=bool(r["is_fully_int8"]) if int8 else None,
            xnnpack_partitions=int(r["partitions"]),
            xnnpack_outside=tuple(r["outside"]),
            max_lsb=float(r["max_lsb"]) if int8 else None,
            mean_lsb=float(r["mean_lsb"]) if int8 else None,
            max_abs=float(r["max_abs"]),
            within_budget=bool(r["max_lsb"] <= BUDGET_LSB and r["covers_grid"]) if int8 else None,
            covers_range=bool(r["covers_grid"]) if int8 else None,
            latency_us=lat,
            stock_latency_us=stock_lat[0] if stock_lat else None,
            latency_ratio=ratio,
        ))

    verdict = entry.edgetpu_form()
    edgetpu_status, edgetpu_reason = _automatic_edgetpu_verdict(verdict.status, verdict.reason, rows, lo, hi)
    if "edgetpu" not in chosen and edgetpu_status == "unsupported":
        edgetpu_status, edgetpu_reason = _unmeasured_edgetpu_verdict(entry, verdict.reason, form_provider)
    qat_scheme, qat_ops, qat_points = _qat_formulation(entry, given, form_provider)
    try:
        import ai_edge_litert  # noqa: PLC0415

        litert = str(getattr(ai_edge_litert, "__version__", "installed"))
    except ImportError:  # pragma: no cover - the TensorFlow interpreter is used then
        litert = "from TensorFlow"
    from keras_acts.export.runner import runtime_name  # noqa: PLC0415

    return Explanation(
        name=entry.name,
        aliases=tuple(entry.aliases),
        formula=entry.formula,
        paper=entry.paper,
        params=used,
        param_docs={p.name: f"{p.doc} (default {p.default})" for p in entry.params},
        x_range=(lo, hi),
        frontend=FRONTEND,
        litert=litert,
        runtime=runtime_name(True, 1),
        latency_elements=max((n for _, n in timed.values()), default=0),
        targets=tuple(rows),
        stock_ops=tuple(stock.get("ops", ())),
        stock_max_lsb=stock.get("max_lsb"),
        stock_fully_int8=stock.get("is_fully_int8"),
        stock_xnnpack_partitions=stock.get("partitions"),
        stock_xnnpack_outside=tuple(stock.get("outside", ())),
        stock_error=stock.get("error", ""),
        edgetpu_status=edgetpu_status,
        edgetpu_reason=edgetpu_reason,
        edgetpu_note=entry.edgetpu.note,
        qat_scheme=qat_scheme,
        qat_ops=qat_ops,
        qat_points=qat_points,
        seconds=time.perf_counter() - t0 if fresh else 0.0,
    )


def _stock(measured: Callable[[str, Callable[[], dict[str, Any]]], dict[str, Any]], kind: str,
           fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The stock conversion's measurement, or ``{"error": why}`` when the plain converter fails (e.g. an
    op with no TFLite builtin, such as gelu's Erfc): a result too, not an exception."""
    try:
        with _hushed(replay_on_error=False):
            return measured(kind, fn)
    except Exception as err:  # noqa: BLE001
        return {"error": _first_line(err)}


def _first_line(err: BaseException) -> str:
    """``Type: first line``; for the converter's custom-op failures, the ops it has no builtin for."""
    text = str(err).strip()
    custom = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("Custom ops:", "Flex ops:"))]
    if custom:
        return f"{type(err).__name__}: no TFLite builtin for {'; '.join(c.split(':', 1)[1].strip() for c in custom)}"
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def _automatic_edgetpu_verdict(status: str, reason: str, rows: Sequence[TargetResult], lo: float, hi: float) -> tuple[str, str]:
    """The registry's Edge TPU verdict, or ``"automatic"`` when the registry has no Coral form but the
    measured automatic edgetpu form is all int8, within the budget and made of Coral ops only."""
    row = next((t for t in rows if t.target == "edgetpu" and t.source == "automatic"), None)
    if status != "unsupported" or row is None or not (row.within_budget and row.fully_int8):
        return status, reason
    from keras_acts.export.edgetpu.optable import OPS  # noqa: PLC0415

    if any(op not in OPS for op in row.ops if op not in ("QUANTIZE", "DEQUANTIZE")):
        return status, reason
    return "automatic", (
        f"automatic form {', '.join(row.form_ops)}, all Coral ops; {row.max_lsb:.2f} LSB on [{lo:g}, {hi:g}], "
        "verified on LiteRT (the Edge TPU compiler is not run)"
    )


def _unmeasured_edgetpu_verdict(entry: Any, reason: str, provider: FormProvider | None) -> tuple[str, str]:
    """The Edge TPU verdict when ``"edgetpu"`` is not among the targets explained and the registry has no
    Coral form: the form provider's automatic edgetpu form (searched and verified on LiteRT, not measured
    here), or ``"unsupported"`` saying what was (not) searched."""
    from keras_acts import registry  # noqa: PLC0415

    if not entry.lowerings and not entry.learnable:  # an activation the automatic search serves
        if provider is None:
            return "unsupported", (
                f"{reason}; the automatic Edge TPU form was not searched (form_provider=None): "
                f"keras_acts.explain({entry.name!r}, targets='edgetpu') searches and measures it"
            )
        low = provider(entry, "edgetpu")
        if low is None:
            return "unsupported", f"{reason}; the automatic search found no Coral-only int8 form within {BUDGET_LSB} LSB"
        off = [op for op in low.ops if op not in registry._edgetpu_ops()]
        if off:
            return "unsupported", f"{reason}; the automatic form uses {', '.join(dict.fromkeys(off))}, not on Coral's op table"
        return "automatic", (
            f"automatic form {', '.join(low.ops)}, all Coral ops ({low.note}; not re-measured here: "
            "targets='edgetpu' measures it; the Edge TPU compiler is not run)"
        )
    return "unsupported", reason


def _qat_formulation(entry: Any, params: Mapping[str, Any], provider: FormProvider | None) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(scheme, ops, moving points)`` of the QAT formulation keras_acts's engine trains for ``entry``.

    An activation registered without lowerings trains in the QAT chain of its automatic cpu form on
    -8..8 (``keras_acts.quantization.engine.layers._auto_qat_form``): scheme ``"automatic"``, its ops
    and fake-quant points; without such a form (or with ``provider=None``: not searched) the
    training function with an output fake-quant.
    """
    from keras_acts.quantization import formulations  # noqa: PLC0415

    if provider is not None and formulations.form(entry.name) is None and not entry.lowerings and not entry.learnable:
        from keras_acts.export import auto_lowering  # noqa: PLC0415

        result = auto_lowering.lowering_for(entry, dict(params), "cpu", auto_lowering.DEFAULT_RANGE)
        if result.ok:
            form = result.qat
            return "automatic", tuple(form.ops), tuple(form.moving)
        return f"{entry.qat}: no automatic cpu form, the training function trains", (), ()
    ops, points = _qat(entry)
    return entry.qat, ops, points


def _qat(entry: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ops, moving-range points) of the activation's QAT formulation; output-only activations convert to
    their micro (``"int8"``) form, as a QAT export traces."""
    from keras_acts.quantization import formulations  # noqa: PLC0415

    form = formulations.form(entry.name)
    if form is not None and getattr(form, "ops", ()):
        return tuple(form.ops), tuple(getattr(form, "moving", ()))
    low = entry.lowering("int8")
    return (tuple(low.ops) if low is not None else ()), ()


class _CallableModule(types.ModuleType):
    """``keras_acts.explain(...)`` calls :func:`explain` (the package loads this module lazily)."""

    def __call__(self, name: str, **kwargs: Any) -> Explanation:
        return explain(name, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
