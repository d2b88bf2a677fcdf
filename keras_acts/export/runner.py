"""Running TFLite models: interpreter creation and :func:`evaluate`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


def make_interpreter(content: bytes, *, num_threads: int = 1, xnnpack: bool = False) -> Any:
    """A TFLite interpreter for ``content``, tensors allocated.

    Uses the LiteRT interpreter (``ai_edge_litert``) and falls back to
    ``tf.lite.Interpreter`` only when LiteRT is not installed.

    Args:
        content: the flatbuffer bytes.
        num_threads: CPU threads.
        xnnpack: apply the default delegates (XNNPACK). Off by default, so the
            interpreter runs and lists the model's real builtin ops.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the install
        import tensorflow as tf  # noqa: PLC0415

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    from keras_acts import _quiet

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C++: kept out of
    # the terminal unless asked for (keras_acts._quiet); shown when creating the interpreter fails.
    error: Exception | None = None
    with _quiet.captured_stderr(not _quiet.verbose_requested(), replay_on_error=False) as log:
        try:
            interpreter = Interpreter(
                model_content=bytes(content), num_threads=num_threads, experimental_op_resolver_type=resolver
            )
            interpreter.allocate_tensors()
        except Exception as err:  # noqa: BLE001 - re-raised below, after LiteRT's own lines
            error = err
    if error is not None:
        _quiet.replay(log.text)
        raise error
    return interpreter


@dataclass
class EvalResult:
    """What :func:`evaluate` measured.

    Attributes:
        num_samples: samples run.
        outputs: the model outputs, dequantized to float32 (a list when the model has several).
        accuracy: fraction correct when labels were given, else None.
        reference_accuracy: the reference (Keras) model's own accuracy on the same samples,
            when labels and a reference were given, else None.
        max_abs_diff: largest |tflite - reference| over all outputs, or None without a reference.
        mean_abs_diff: mean |tflite - reference|, or None.
        max_diff_lsb: ``max_abs_diff`` in output quantization steps, for quantized outputs
            and for float outputs dequantized from int8 (the int8 tensor's scale); else None.
        mean_diff_lsb: ``mean_abs_diff`` in output quantization steps.
        p99_diff_lsb: the 99th percentile of the per-element difference in output steps:
            what a deep network's int8 kernels and its float (or fake-quant) reference
            disagree by for all but 1 % of the outputs.
        within_2_lsb: share of output elements within 2 output steps of the reference.
        top1_agreement: share of samples whose arg-max class is the reference's (first
            output with several classes; None otherwise).
        latency_ms: median wall time per sample, in milliseconds.
        batch_size: samples per interpreter invocation.
        runtime: what ran the model, e.g. ``"LiteRT CPU, XNNPACK delegate, 1 thread"``.
    """

    num_samples: int
    outputs: Any
    accuracy: float | None = None
    reference_accuracy: float | None = None
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    max_diff_lsb: float | None = None
    mean_diff_lsb: float | None = None
    p99_diff_lsb: float | None = None
    within_2_lsb: float | None = None
    top1_agreement: float | None = None
    latency_ms: float = 0.0
    batch_size: int = 1
    runtime: str = ""
    _extra: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The scalar results as a JSON-serializable dict (no outputs)."""
        return {
            "num_samples": self.num_samples,
            "accuracy": self.accuracy,
            "reference_accuracy": self.reference_accuracy,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.mean_abs_diff,
            "max_diff_lsb": self.max_diff_lsb,
            "mean_diff_lsb": self.mean_diff_lsb,
            "p99_diff_lsb": self.p99_diff_lsb,
            "within_2_lsb": self.within_2_lsb,
            "top1_agreement": self.top1_agreement,
            "latency_ms": self.latency_ms,
            "batch_size": self.batch_size,
            "runtime": self.runtime,
        }

    def __str__(self) -> str:
        parts = [f"{self.num_samples} samples"]
        if self.accuracy is not None:
            ref = f" (reference {self.reference_accuracy:.4f})" if self.reference_accuracy is not None else ""
            parts.append(f"accuracy {self.accuracy:.4f}{ref}")
        if self.max_abs_diff is not None:
            parts.append(f"max |diff| {self.max_abs_diff:.4g} (mean {self.mean_abs_diff:.4g})")
        if self.max_diff_lsb is not None:
            parts.append(
                f"{self.max_diff_lsb:.2f} LSB max ({self.mean_diff_lsb:.3f} mean, p99 {self.p99_diff_lsb:.2f}, "
                f"{self.within_2_lsb:.2%} within 2 LSB)"
            )
        if self.top1_agreement is not None:
            parts.append(f"top-1 agreement {self.top1_agreement:.2%}")
        parts.append(f"{self.latency_ms:.3f} ms/sample ({self.runtime})" if self.runtime else f"{self.latency_ms:.3f} ms/sample")
        return ", ".join(parts)


@dataclass(frozen=True)
class InputCodes:
    """The int8 input codes of a model whose dequantized values fall in a range.

    Attributes:
        codes: the codes in ``[lo - scale/2, hi + scale/2]``, ascending.
        x: their dequantized values (float64).
        full_range: the dequantized values of codes -128 and 127.
        covers: whether the codes reach both ends of ``[lo, hi]`` (within one step).
            The converter may give the input a narrower range than calibrated (e.g. when
            an op that requires equal input/output scales, like MINIMUM, propagates its
            output range back to the model input): inputs outside it are then clipped,
            which an error measured at the dequantized input cannot show.
    """

    codes: np.ndarray
    x: np.ndarray
    full_range: tuple[float, float]
    covers: bool


def input_codes_in_range(detail: dict, lo: float, hi: float) -> InputCodes:
    """Every int8 input code of ``detail`` (an interpreter input) inside ``[lo, hi]``."""
    scale, zero_point = detail["quantization"]
    codes = np.arange(-128, 128)
    x_all = (codes - zero_point) * np.float64(scale)
    keep = (x_all >= lo - scale / 2) & (x_all <= hi + scale / 2)
    return InputCodes(
        codes=codes[keep],
        x=x_all[keep],
        full_range=(float(x_all.min()), float(x_all.max())),
        covers=bool(x_all.min() <= lo + scale and x_all.max() >= hi - scale),
    )


def float_ops_and_int8(op_details: Sequence[dict], inp: dict, out: dict) -> tuple[list[str], bool]:
    """The ops computing in float32, and whether the model is int8 end to end.

    Args:
        op_details: per-op dicts with ``op`` and ``outputs`` (dtype names), as
            ``keras_acts.export.fidelity.op_details`` gives them.
        inp: the interpreter's input detail.
        out: the interpreter's output detail.
    """
    float_ops = [d["op"] for d in op_details if "float32" in d["outputs"]]
    return float_ops, not float_ops and inp["dtype"] == np.int8 and out["dtype"] == np.int8


def interleaved_latency_rounds(interpreters: dict[str, Any], *, repeats: int, invokes: int) -> dict[str, list[float]]:
    """Microseconds per invoke of each ready interpreter in each of ``repeats`` interleaved rounds.

    Each round invokes every interpreter ``invokes`` times in turn, so drifts of the machine's
    load fall on all of them alike; round ``i`` of two interpreters is a paired comparison.
    """
    times: dict[str, list[float]] = {k: [] for k in interpreters}
    for _ in range(repeats):
        for key, it in interpreters.items():
            t0 = time.perf_counter()
            for _ in range(invokes):
                it.invoke()
            times[key].append((time.perf_counter() - t0) / invokes * 1e6)
    return times


def interleaved_latency_us(interpreters: dict[str, Any], *, repeats: int, invokes: int) -> dict[str, float]:
    """Median microseconds per invoke of each ready interpreter, timed in interleaved rounds.

    Each round invokes every interpreter ``invokes`` times in turn, so drifts of the machine's
    load fall on all of them alike.
    """
    rounds = interleaved_latency_rounds(interpreters, repeats=repeats, invokes=invokes)
    return {k: float(np.median(v)) for k, v in rounds.items()}


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype, copy=False)
    scale, zp = detail["quantization"]
    if not scale:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    # Ties round up, as TensorFlow's FakeQuant rounds a QAT model's input (floor(v + 0.5)).
    q = np.floor(x.astype(np.float64) / scale + 0.5) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.dtype(detail["dtype"]).kind == "f":
        return y.astype(np.float32, copy=False)
    scale, zp = detail["quantization"]
    if not scale:
        return y.astype(np.float32)
    return ((y.astype(np.float64) - zp) * scale).astype(np.float32)


def _as_inputs(x: Any, n_inputs: int) -> list[np.ndarray]:
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        arrays = [np.asarray(a) for a in x]
        if len(arrays) != n_inputs:
            raise ValueError(
                f"the model has {n_inputs} input(s) but x has {len(arrays)} array(s); pass one array per input."
            )
    else:
        if n_inputs != 1:
            raise ValueError(f"the model has {n_inputs} inputs; pass x as a tuple of {n_inputs} arrays.")
        arrays = [np.asarray(x)]
    counts = {a.shape[0] if a.ndim else 0 for a in arrays}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(
            "x must hold at least one sample along the first axis, the same number for every input; got "
            f"shapes {[a.shape for a in arrays]}."
        )
    return arrays


def evaluate(
    path_or_bytes: Any,
    x: Any,
    y: Any = None,
    *,
    reference: Any = None,
    batch_size: int | None = None,
    num_threads: int = 1,
    xnnpack: bool = True,
) -> EvalResult:
    """Runs a TFLite model on ``x`` and measures it.

    Float inputs are quantized with the input tensor's scale and zero point when the
    model has int8/uint8 inputs, and quantized outputs are dequantized, so ``x`` and
    the results are always in float.

    Args:
        path_or_bytes: a ``.tflite`` path, bytes, or an ExportResult.
        x: samples along the first axis (a tuple of arrays for several inputs).
        y: optional labels: class indices, one-hot rows, or 0/1 for a single sigmoid
            output. Accuracy uses argmax for several classes and threshold 0.5 for one.
        reference: optional Keras model (the float original); its outputs on ``x``
            give the differences, and with ``y`` its own accuracy
            (:attr:`EvalResult.reference_accuracy`), shown beside the TFLite model's.
        batch_size: samples per invocation when the batch axis is dynamic (default 32);
            a static batch-1 model runs sample by sample.
        num_threads: interpreter threads.
        xnnpack: run as LiteRT's CPU runtime does by default, with the XNNPACK delegate
            (default; what users' apps and the Python interpreter run). False runs the
            builtin kernels alone (what runtimes without XNNPACK run).

    Returns:
        An :class:`EvalResult`. ``max_diff_lsb``/``mean_diff_lsb`` are set only for
        quantized outputs: the difference divided by the output scale.
    """
    from keras_acts.export.report import read_model_bytes

    content, _ = read_model_bytes(path_or_bytes)
    interpreter = make_interpreter(content, num_threads=num_threads, xnnpack=xnnpack)
    in_details = interpreter.get_input_details()
    arrays = _as_inputs(x, len(in_details))
    n = int(arrays[0].shape[0])
    for a, d in zip(arrays, in_details):
        want = tuple(int(s) for s in d["shape_signature"][1:])
        if a.shape[1:] != tuple(w if w > 0 else g for w, g in zip(want, a.shape[1:])) or a.ndim != len(want) + 1:
            raise ValueError(
                f"x for input {d['name']!r} has samples of shape {a.shape[1:]}, the model expects "
                f"{tuple(s if s > 0 else None for s in want)}."
            )
    static_batch = all(int(d["shape_signature"][0]) > 0 for d in in_details)
    if static_batch:
        step = int(in_details[0]["shape"][0])
    else:
        step = int(batch_size or 32)
    if batch_size is not None and static_batch and batch_size != step:
        raise ValueError(f"the model has a static batch of {step}; batch_size={batch_size} cannot be used.")
    outputs: list[list[np.ndarray]] | None = None
    times: list[float] = []
    current = None
    for start in range(0, n, step):
        chunk = [a[start : start + step] for a in arrays]
        m = int(chunk[0].shape[0])
        if static_batch and m != step:  # pad the last static batch
            chunk = [np.concatenate([c, np.repeat(c[-1:], step - m, axis=0)]) for c in chunk]
        if not static_batch and current != m:
            for d, c in zip(in_details, chunk):
                interpreter.resize_tensor_input(d["index"], [m, *c.shape[1:]], strict=False)
            interpreter.allocate_tensors()
            current = m
        for d, c in zip(interpreter.get_input_details(), chunk):
            interpreter.set_tensor(d["index"], _quantize(np.asarray(c, np.float32), d))
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - t0) * 1000.0 / m)
        out_details = interpreter.get_output_details()
        outs = [_dequantize(interpreter.get_tensor(d["index"]), d)[:m] for d in out_details]
        if outputs is None:
            outputs = [[] for _ in outs]
        for acc, o in zip(outputs, outs):
            acc.append(o)
    assert outputs is not None
    merged = [np.concatenate(o, axis=0) for o in outputs]
    out_details = interpreter.get_output_details()
    result = EvalResult(
        num_samples=n,
        outputs=merged[0] if len(merged) == 1 else merged,
        latency_ms=float(np.median(times)),
        batch_size=step,
        runtime=runtime_name(xnnpack, num_threads),
    )
    if y is not None:
        result.accuracy = _accuracy(merged[0], np.asarray(y))
    if reference is not None:
        refs = _compare(result, merged, out_details, interpreter, reference, arrays)
        if y is not None:
            result.reference_accuracy = _accuracy(refs[0], np.asarray(y))
    return result


def runtime_name(xnnpack: bool, num_threads: int) -> str:
    """How a latency was measured, for reports: delegate and threads."""
    kernels = "LiteRT CPU, XNNPACK delegate" if xnnpack else "LiteRT builtin kernels, no delegate"
    return f"{kernels}, {num_threads} thread{'s' if num_threads != 1 else ''}"


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    pred = pred.reshape(pred.shape[0], -1)
    if pred.shape[1] == 1:
        labels = (pred[:, 0] >= 0.5).astype(np.int64)
        truth = y.reshape(-1).astype(np.int64)
    else:
        labels = pred.argmax(axis=1)
        truth = y.reshape(y.shape[0], -1).argmax(axis=1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1)
    if truth.shape[0] != labels.shape[0]:
        raise ValueError(f"y has {truth.shape[0]} labels but x has {labels.shape[0]} samples.")
    return float(np.mean(labels == truth.astype(np.int64)))


def _dequantized_scale(interpreter: Any, detail: dict) -> float:
    """The int8 scale behind a float output produced by a final DEQUANTIZE, else 0."""
    try:
        for op in interpreter._get_ops_details():
            if op["op_name"] == "DEQUANTIZE" and detail["index"] in list(op["outputs"]):
                src = interpreter._get_tensor_details(int(op["inputs"][0]), 0)
                if np.dtype(src["dtype"]).kind in "iu":
                    return float(src["quantization"][0])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 0.0
    return 0.0


def _compare(result: EvalResult, merged: Sequence[np.ndarray], out_details: Sequence[dict], interpreter: Any, reference: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Fills the difference fields of ``result``; returns the reference outputs."""
    if not callable(reference) and not hasattr(reference, "predict"):
        raise TypeError(f"reference must be a Keras model, got {type(reference).__name__}.")
    inputs = arrays[0] if len(arrays) == 1 else list(arrays)
    ref = reference(inputs, training=False) if hasattr(reference, "layers") else reference(inputs)
    if isinstance(ref, dict):
        ref = [ref[k] for k in sorted(ref)]
    refs = [np.asarray(r, np.float32) for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    if len(refs) != len(merged):
        raise ValueError(f"reference has {len(refs)} output(s) but the TFLite model has {len(merged)}.")
    diffs = []
    lsb = []
    for r, o, d in zip(refs, merged, out_details):
        if r.shape != o.shape:
            raise ValueError(f"reference output shape {r.shape} differs from the TFLite output shape {o.shape}.")
        diff = np.abs(o.astype(np.float64) - r.astype(np.float64))
        diffs.append(diff.ravel())
        scale = d["quantization"][0] if np.dtype(d["dtype"]).kind != "f" else _dequantized_scale(interpreter, d)
        if scale:
            lsb.append(diff.ravel() / scale)
    all_d = np.concatenate(diffs)
    result.max_abs_diff = float(all_d.max())
    result.mean_abs_diff = float(all_d.mean())
    if lsb:
        all_l = np.concatenate(lsb)
        result.max_diff_lsb = float(all_l.max())
        result.mean_diff_lsb = float(all_l.mean())
        result.p99_diff_lsb = float(np.percentile(all_l, 99))
        # 1e-3 LSB of slack: float32 rounding of the dequantized comparison itself
        result.within_2_lsb = float(np.mean(all_l <= 2.0 + 1e-3))
    first, ref0 = merged[0], refs[0]
    if first.ndim >= 2 and int(np.prod(first.shape[1:])) > 1:
        result.top1_agreement = float(
            np.mean(first.reshape(len(first), -1).argmax(axis=1) == ref0.reshape(len(ref0), -1).argmax(axis=1))
        )
    return refs
