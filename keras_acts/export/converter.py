"""Keras model -> TFLite flatbuffer, with keras_acts lowerings: :func:`to_tflite`.

The pipeline, in order:

1. validate every option and the representative data (errors name the fix);
2. trace ``model(x, training=False)`` into a concrete function while
   :func:`keras_acts.lowering.lowering_target` is active (``"float"`` for
   none/float16/dynamic, ``"int8"`` for int8, ``"edgetpu"`` for the Edge TPU), and while
   :func:`keras_acts.export.substitution.substitute_builtins` maps Keras's own
   activations onto the registry, so every activation is traced in its export form;
3. freeze the variables into constants and convert with
   ``tf.lite.TFLiteConverter.from_concrete_functions`` (the path that works for both
   Keras 3 and tf_keras models) - by default in a worker process
   (:mod:`keras_acts.export.isolation`), so that a converter crash (segfault, abort) becomes an
   :class:`ExportError` instead of ending the caller's process;
4. for int8, validate: run the int8 model with LiteRT and the Keras model on validation
   samples (:mod:`keras_acts.export.validation`);
5. return an :class:`ExportResult` holding the bytes; files are written separately and
   atomically by :meth:`ExportResult.save`.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from keras_acts import backend
from keras_acts.export import calibration, validation
from keras_acts.export.atomic import atomic_write_bytes
from keras_acts.export.calibration import InputSpec
from keras_acts.export.substitution import Substitution, static_reshapes, substitute_builtins
from keras_acts.export.targets import DEFAULT_TARGET, TARGETS, get_target
from keras_acts.lowering import lowering_target

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
IO_TYPES = ("float32", "int8", "uint8")


_LOG = logging.getLogger("keras_acts.export")


class ExportError(RuntimeError):
    """The TFLite converter rejected the model or crashed; the message carries its reason.

    A crash of the converter (a signal such as SIGSEGV or SIGABRT in its worker process) is
    reported as an ExportError too: the message names the model, quantization, target and
    signal, what to try, and ends with the tail of the converter's log.
    """


@dataclass
class ExportResult:
    """A converted model.

    Attributes:
        content: the TFLite flatbuffer.
        quantization: ``"none"``, ``"float16"``, ``"dynamic"`` or ``"int8"``.
        target: the export target (``"cpu"``, ``"micro"`` or ``"edgetpu"``; see
            :mod:`keras_acts.export.targets`).
        input_type: NumPy dtype name of the model inputs (``"float32"``, ``"int8"``, ``"uint8"``).
        output_type: NumPy dtype name of the model outputs.
        lowering: the lowering target the model was traced for.
        num_calibration_samples: samples used for int8 calibration (0 if none).
        qat: True when the model was quantization-aware trained (no calibration).
        substitutions: Keras built-in activations replaced by registry lowerings.
        validation: for int8 exports, the int8 model against the Keras model on validation
            samples (:class:`keras_acts.export.validation.Validation`); None for other
            quantizations and with ``validate=False``.
        converter_log: what the TFLite converter printed (kept out of the terminal unless
            ``verbose=True``).
        folding: the :class:`keras_acts.export.scale_folding.FoldResult` of an int8 export (which
            constant multiplications were folded into scales), or None.
    """

    content: bytes
    quantization: str
    target: str
    input_type: str
    output_type: str
    lowering: str
    num_calibration_samples: int = 0
    qat: bool = False
    substitutions: list[Substitution] = field(default_factory=list)
    validation: Any = None
    converter_log: str = field(default="", repr=False)
    folding: Any = None
    _report: Any = field(default=None, repr=False)

    @property
    def report(self) -> Any:
        """The :class:`keras_acts.export.report.Report` of :attr:`content` (computed once)."""
        if self._report is None:
            from keras_acts.export.report import inspect

            self._report = inspect(self.content, target=self.target)
            self._report.validation = self.validation
        return self._report

    @property
    def size_bytes(self) -> int:
        """Size of the flatbuffer in bytes."""
        return len(self.content)

    def save(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Writes :attr:`content` to ``path`` atomically and returns the path.

        A temporary file in the same directory is written, flushed, fsync-ed and
        renamed over ``path``: an existing file is replaced only by a complete new
        one, and left untouched if anything fails. Temporary files of earlier saves
        to the same path whose process was killed are removed
        (:func:`keras_acts.export.atomic.atomic_write_bytes`).

        Raises:
            IsADirectoryError: ``path`` is a directory.
            FileNotFoundError: its parent directory does not exist.
            PermissionError: the directory is not writable.
        """
        return atomic_write_bytes(path, self.content)

    def __repr__(self) -> str:
        return (
            f"ExportResult({self.size_bytes} bytes, quantization={self.quantization!r}, "
            f"target={self.target!r}, input_type={self.input_type!r}, output_type={self.output_type!r})"
        )


def to_tflite(
    model: Any,
    *,
    quantization: str | None = None,
    representative_data: Any = None,
    target: str = DEFAULT_TARGET,
    input_type: Any = None,
    output_type: Any = None,
    num_calibration_samples: int | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    validate: bool = True,
    validation_data: Any = None,
    isolate: bool = True,
    verbose: bool | None = None,
    fold_scales: bool = True,
) -> ExportResult:
    """Converts a Keras model to TFLite with every activation in its export form.

    Args:
        model: a Keras 3 or tf_keras model: Sequential, functional, or subclassed
            with a known input signature (built, or ``call`` decorated with
            ``tf.function(input_signature=...)``). QAT models (tfmot) need no
            representative data. Models holding NaN or inf weights are refused, naming
            the layer and variable.
        quantization: ``"none"`` (float32), ``"float16"`` (float16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"`` (full
            integer: TFLITE_BUILTINS_INT8 only). Default ``"none"``, or ``"int8"``
            for ``target="edgetpu"``.
        representative_data: calibration inputs for ``"int8"``: a NumPy array (a
            tuple of arrays for several inputs), a ``tf.data.Dataset`` or a callable
            returning an iterator; see :mod:`keras_acts.export.calibration`. With 64 or
            more samples, the last ``min(64, n // 8)`` are held out of calibration to
            validate the int8 model on (:mod:`keras_acts.export.validation`).
        target: the runtime the model is for (:mod:`keras_acts.export.targets`):
            ``"cpu"`` (default) - LiteRT's CPU runtime with XNNPACK (phones, computers,
            the Python interpreter): int8 activations use only ops XNNPACK delegates;
            ``"micro"`` - runtimes with one kernel per op (TFLite Micro/CMSIS-NN, NNAPI,
            GPU delegate): the fewest, fused ops (HARD_SWISH, PRELU);
            ``"edgetpu"`` - Coral (forces int8, static batch 1, int8 I/O by default, and
            runs the Edge TPU preflight on the model). Float exports are the same for all.
            ``"generic"``, the former name of ``"micro"``, still works in this release
            with a DeprecationWarning.
        input_type: ``"float32"`` (default; ``"int8"`` for the Edge TPU), ``"int8"`` or
            ``"uint8"``; strings, NumPy or tf dtypes. Only for int8 models.
        output_type: like ``input_type``, for the outputs.
        num_calibration_samples: use at most this many calibration samples
            (default 500).
        batch_size: fix the batch dimension. Default: the model's own batch size when
            its inputs have a fixed one (``keras.Input(..., batch_size=1)``), else
            dynamic; 1 for the Edge TPU.
        progress: called as ``progress(done, total)`` while calibrating.
        validate: for int8 exports, run the int8 model (LiteRT, XNNPACK) and the Keras
            model on validation samples and attach the comparison as
            :attr:`ExportResult.validation` (also ``result.report.validation``).
            ``False`` skips it (batch jobs that validate otherwise) and calibrates on
            every representative sample.
        validation_data: samples to validate on (same forms as ``representative_data``;
            at most 64 are used). Default: held out from ``representative_data``. A
            quantization-aware-trained model has no calibration data: pass this (or
            ``representative_data``) to have it validated.
        isolate: run the TFLite converter in a worker process (default), so that a
            converter crash raises :class:`ExportError` instead of ending this process.
            The first export of a process starts the worker (its TensorFlow import,
            about 3-6 s, overlaps with tracing); later exports reuse it. ``False``
            converts in this process: use it where starting a process is not possible
            (some sandboxes, frozen executables) or for debugging the converter with a
            debugger attached.
        verbose: show what TensorFlow and the converter print (normally kept out of the
            terminal and available as :attr:`ExportResult.converter_log`). Default: on
            when ``KERAS_ACTS_VERBOSE=1``, ``TF_CPP_MIN_LOG_LEVEL=0`` or the
            ``keras_acts`` logger is enabled for DEBUG.
        fold_scales: for int8 exports, delete every MUL by a constant whose factor the graph can
            carry in its quantization scales (the ``* 1/6`` of hard-swish and hard-sigmoid; see
            :mod:`keras_acts.export.scale_folding`): fewer ops, same integers after the layers that
            absorb the factor, one rounding fewer where a MUL now reads the unscaled tensor.
            Validation runs the folded model. Default True.

    Returns:
        An :class:`ExportResult`.

    Raises:
        TypeError: ``model`` is not a Keras model, or bad option/data types.
        ValueError: invalid options or representative data (the message names the fix).
        keras_acts.health.ModelHealthError: NaN/inf weights (naming the layer and
            variable), or a float model that outputs NaN/inf on the calibration data.
        ExportError: the TFLite converter failed or crashed.
        keras_acts.backend.BackendError: Keras 3 runs on another backend than TensorFlow (the
            message gives the recipe: save ``.keras``, export in a TensorFlow-backend process).
    """
    backend.require_tensorflow_backend("keras_acts.export.to_tflite")
    from keras_acts import _quiet, health

    frontend = backend.model_frontend(model)
    if frontend is None:
        raise TypeError(
            f"to_tflite expects a Keras model (keras.Model: Sequential, functional or subclassed, from "
            f"Keras 3 or tf_keras), got {type(model).__module__}.{type(model).__name__}. Load a saved "
            "model first with keras.models.load_model(path)."
        )
    target = get_target(target).name
    if quantization is None:
        quantization = "int8" if target == "edgetpu" else "none"
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"quantization={quantization!r} is not supported; use one of {', '.join(map(repr, QUANTIZATIONS))}."
        )
    if target == "edgetpu" and quantization != "int8":
        raise ValueError(
            f"target='edgetpu' needs a fully int8 model, but quantization={quantization!r}; use "
            "quantization='int8' (or leave it unset) with representative_data."
        )
    default_io = "int8" if target == "edgetpu" else "float32"
    in_type = _io_type(input_type, "input_type", default_io)
    out_type = _io_type(output_type, "output_type", default_io)
    if quantization != "int8" and (in_type != "float32" or out_type != "float32"):
        raise ValueError(
            f"input_type/output_type {in_type}/{out_type} need a fully integer model, but "
            f"quantization={quantization!r}; use quantization='int8' with representative_data, or "
            "leave input_type and output_type unset (float32)."
        )
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None (dynamic), got {batch_size!r}.")
    if target == "edgetpu" and batch_size not in (None, 1):
        raise ValueError(
            f"the Edge TPU needs static shapes with batch 1, got batch_size={batch_size}; leave it unset."
        )
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total), got {type(progress).__name__}.")
    if verbose is None:
        verbose = _quiet.verbose_requested()
    if target == "edgetpu":
        batch_size = 1
    if isolate:
        from keras_acts.export import isolation

        try:
            isolation.prewarm()  # the worker imports TensorFlow while this process traces
        except isolation.WorkerUnavailable as err:
            warnings.warn(
                f"to_tflite: the converter's worker process cannot be started ({err}); converting in this "
                "process, where a converter crash would end it. Pass isolate=False to convert here without "
                "this warning.",
                UserWarning,
                stacklevel=2,
            )
            isolate = False

    health.check_finite_weights(model, action="export")
    if target == "edgetpu":
        _edgetpu_preflight(model)

    specs = _input_specs(model, batch_size)
    qat = _is_qat_model(model)
    data = None
    val_arrays: list[np.ndarray] | None = None
    val_source, held_out = "", False
    if validation_data is not None and not (validate and quantization == "int8"):
        raise ValueError(
            "validation_data is only used to validate int8 exports; drop it, or use quantization='int8' "
            "with validate=True."
        )
    if quantization == "int8" and validate and validation_data is not None:
        val_arrays = calibration.prepare(
            validation_data, specs, max_samples=validation.MAX_SAMPLES, min_samples=2
        ).arrays
        val_source, held_out = "validation_data", True
    if quantization == "int8" and not qat:
        cap = calibration.DEFAULT_MAX_SAMPLES if num_calibration_samples is None else num_calibration_samples
        holding_out = validate and val_arrays is None
        data = calibration.prepare(
            representative_data, specs, max_samples=num_calibration_samples,
            extra_samples=validation.MAX_SAMPLES if holding_out else 0,
        )
        if holding_out:
            calib, val_arrays, held_out = validation.split(data.arrays, int(cap))
            data = calibration.CalibrationData(calib)
            val_source = "held out from representative_data" if held_out else "representative_data (also calibrated on)"
        else:
            data = calibration.CalibrationData([a[: int(cap)] for a in data.arrays])
    elif quantization == "int8" and qat and representative_data is not None:
        # QAT models carry their own ranges: calibration data is not needed, but it can validate.
        if validate and val_arrays is None:
            val_arrays = calibration.prepare(
                representative_data, specs, max_samples=validation.MAX_SAMPLES, min_samples=2
            ).arrays
            val_source, held_out = "representative_data", True
    elif representative_data is not None and quantization != "int8":
        raise ValueError(
            f"representative_data is only used for quantization='int8', not {quantization!r}; "
            "drop it or use quantization='int8'."
        )

    lowering = TARGETS[target].lowering if quantization == "int8" else "float"
    if qat and lowering == "cpu":
        # A QAT model computes its activations in its QAT formulations (hard_swish and PReLU in
        # their LiteRT-CPU forms), whose fake-quant ranges define the int8 graph; registry
        # lowerings of the remaining single-op activations are the same for both targets.
        lowering = "int8"
    traced = model if qat else _adopted(model)
    auto_ranges: dict = {}
    if quantization == "int8" and not qat:
        # Activations registered without a lowering get an automatic, verified one (issue 21), fitted
        # on the input range the calibration data gives each of them; failures warn (edgetpu: raise).
        from keras_acts.export import auto_lowering

        if auto_lowering.any_applies(lowering):
            auto_ranges = auto_lowering.prepare(model, data.arrays if data is not None else None, lowering)
    with _auto_ranges(auto_ranges), _quiet.captured_stderr(not verbose):  # grappler's "Starting new session" lines
        frozen, substitutions = _trace(traced, specs, lowering)
        if quantization == "int8" and not qat and _graph_has_fake_quant(frozen):
            qat = True
            if lowering == "cpu":
                lowering = "int8"
                frozen, substitutions = _trace(traced, specs, lowering)
    del traced
    if data is not None:
        # The traced float graph on the calibration samples (what the converter calibrates): NaN/inf
        # there would make every range meaningless, and an output that is the same for every sample
        # makes a degenerate int8 model.
        _check_float_outputs(model, frozen, specs, data.arrays)

    # QAT graphs too: the converter quantizes the frozen graph from its FakeQuant ranges
    # (same ops as its Keras path, measured 3.9 s instead of 46 s for MobileNetV3Small).
    fold = quantization == "int8" and fold_scales and not (qat and _has_v1_formulations(model))
    options = {
        "quantization": quantization,
        "qat": qat,
        "input_type": in_type,
        "output_type": out_type,
        "batch": _calibration_batch(specs),
        "fold_scales": _fold_options() if fold else None,
    }
    what = _describe(model, quantization, target, qat, data)
    arrays = data.arrays if data is not None else None
    run_inputs = val_arrays if (quantization == "int8" and validate and val_arrays is not None) else None
    run = None
    if isolate:
        from keras_acts.export import isolation

        graph_def = frozen.graph.as_graph_def().SerializeToString()
        names = ([t.name for t in frozen.inputs], [t.name for t in frozen.outputs])
        # The worker gets the only copy of the traced graph; this process drops its own
        # before the conversion runs, so the two processes do not both hold it.
        del frozen
        try:
            content, log, run, extras = isolation.convert(
                graph_def, names[0], names[1], options, arrays, progress, validation_inputs=run_inputs
            )
        except isolation.ConverterFailed as err:
            if verbose:
                _quiet.replay(err.log)
            raise ExportError(_converter_message(err.message, what)) from None
        except isolation.WorkerCrashed as err:
            if verbose:
                _quiet.replay(err.log)
            raise ExportError(_crash_message(model, what, quantization, qat, err, data)) from None
        folding = _folding_from(extras, content)
    else:
        content, log = _convert_here(frozen, options, arrays, progress, what, verbose)
        folding = None
        if fold:
            from keras_acts.export.scale_folding import fold_constant_multipliers

            folding = fold_constant_multipliers(content, mul_limits=options["fold_scales"]["mul_limits"])
            content = folding.content
        if run_inputs is not None:
            from keras_acts.export._worker import run_tflite

            with _quiet.captured_stderr(not verbose):
                run = run_tflite(content, run_inputs)
    _LOG.debug("TFLite converter output for %s:\n%s", what, log)
    if verbose:
        _quiet.replay(log)

    result = ExportResult(
        content=bytes(content),
        quantization=quantization,
        target=target,
        input_type=in_type,
        output_type=out_type,
        lowering=lowering,
        num_calibration_samples=data.num_samples if data is not None else 0,
        qat=qat,
        substitutions=list(substitutions),
        converter_log=log,
        folding=folding,
    )
    if quantization == "int8" and validate:
        result.validation = _validate(model, qat, val_arrays, run, val_source, held_out, data)
        for message in result.validation.warnings:
            warnings.warn(f"to_tflite: {message}", UserWarning, stacklevel=2)
    return result


def _calibration_batch(specs: Sequence[InputSpec]) -> int:
    """Samples per calibration step: the model's fixed batch size, else 1."""
    batch = specs[0].shape[0] if specs and specs[0].shape else None
    return int(batch) if batch else 1


def _fixed_batch(model: Any) -> int | None:
    """The batch size the Keras model's inputs fix, or None."""
    try:
        shapes = [_shape_tuple(t.shape) for t in (model.inputs or [])]
    except (AttributeError, ValueError, TypeError):
        return None
    batches = {s[0] for s in shapes if s}
    return int(batches.pop()) if len(batches) == 1 and None not in batches else None


def _describe(model: Any, quantization: str, target: str, qat: bool, data: Any) -> str:
    how = "QAT model" if qat else (f"calibrated on {data.num_samples} samples" if data is not None else "")
    return (
        f"model {getattr(model, 'name', type(model).__name__)!r} (quantization={quantization!r}, "
        f"target={target!r}{', ' + how if how else ''})"
    )


def _value_range(arrays: Sequence[np.ndarray]) -> str:
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    return f"[{lo:.4g}, {hi:.4g}]"


def _run_frozen(frozen: Any, specs: Sequence[InputSpec], arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Runs the frozen (traced, lowered) float graph on ``arrays``; one float64 array per output."""
    import tensorflow as tf

    from keras_acts.export.validation import run_in_batches

    fixed = specs[0].shape[0] if specs and specs[0].shape else None
    return run_in_batches(lambda xs: tf.nest.flatten(frozen(*[tf.constant(x) for x in xs])), arrays, 64, fixed)


def _check_float_outputs(model: Any, frozen: Any, specs: Sequence[InputSpec], arrays: Sequence[np.ndarray]) -> None:
    """Refuses NaN/inf outputs of the float graph on the calibration samples; warns on a constant output."""
    from keras_acts import health

    refs = _run_frozen(frozen, specs, arrays)
    for i, r in enumerate(refs):
        bad = ~np.isfinite(r.reshape(len(r), -1)).all(axis=1)
        if bad.any():
            raise health.ModelHealthError(
                f"the float model {getattr(model, 'name', '')!r} outputs NaN or inf (output {i}) on "
                f"{int(bad.sum())} of the {len(r)} calibration samples (first: sample {int(np.argmax(bad))}); "
                "int8 ranges calibrated on them would be meaningless. Check that representative_data is "
                f"scaled exactly as the training inputs (its values span {_value_range(arrays)}), and that "
                "model.predict on training data is finite (if not, training diverged: reload a good "
                "checkpoint or retrain with a lower learning rate)."
            )
    if len(refs[0]) >= 2 and health.is_constant(refs):
        warnings.warn(
            f"to_tflite: the float model {getattr(model, 'name', '')!r} gives the same output for every one of "
            f"the {len(refs[0])} calibration samples, so its int8 model will too. Check that representative_data "
            f"is scaled exactly as the training inputs (its values span {_value_range(arrays)}) and that the "
            "model is trained (briefly trained keras.applications models: re-estimate the BatchNorm "
            "statistics).",
            UserWarning,
            stacklevel=3,
        )


def _validate(model: Any, qat: bool, val_arrays: Any, run: Any, source: str, held_out: bool, data: Any) -> Any:
    if val_arrays is None or run is None:
        return validation.skipped(
            "QAT model exported without samples; pass validation_data=x[:64] to compare it with the int8 model"
            if qat else "no samples"
        )
    # The reference is the model as the user has it (training math), not the traced export forms.
    refs = validation.reference_outputs(model, val_arrays, fixed_batch=_fixed_batch(model))
    hint = f"Calibration data values span {_value_range(data.arrays)}." if data is not None else ""
    outputs, details = run
    return validation.validate(
        outputs, details, refs, num_samples=len(val_arrays[0]), source=source, held_out=held_out,
        reference="QAT model" if qat else "Keras float model", fix_hint=hint,
    )


def _convert_here(frozen: Any, options: dict, arrays: Any, progress: Any, what: str, verbose: bool) -> tuple[bytes, str]:
    """Converts in this process (``isolate=False``), keeping the converter's output out of the terminal."""
    import tensorflow as tf

    from keras_acts import _quiet
    from keras_acts.export._worker import configure

    absl = logging.getLogger("absl")
    level = absl.level
    error: Exception | None = None
    content = b""
    with _quiet.captured_stderr(not verbose, replay_on_error=False) as cap, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        if not verbose:
            absl.setLevel(logging.ERROR)  # "Please consider providing the trackable_obj argument ..."
        try:
            converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
            configure(converter, tf, options, arrays, progress)
            content = converter.convert()
        except Exception as err:  # noqa: BLE001 - the converter raises several private error types
            error = err
        finally:
            absl.setLevel(level)
    if error is not None:
        raise ExportError(_converter_message(str(error), what)) from error
    return bytes(content), cap.text


def _crash_message(model: Any, what: str, quantization: str, qat: bool, err: Any, data: Any = None) -> str:
    import tensorflow as tf

    tail = "\n".join([ln.rstrip() for ln in err.log.splitlines() if ln.strip()][-15:]) or "(nothing printed)"
    if getattr(err, "phase", "convert") == "validate":
        span = f" (the calibration data's values span {_value_range(data.arrays)})" if data is not None else ""
        return (
            f"the int8 model of {what} converted, but LiteRT's CPU runtime (XNNPACK) crashed ({err}) loading or "
            "running it: the model is broken, so it was not returned and no file was written. Its quantization "
            f"ranges are outside anything the runtime accepts{span}: calibrate on samples scaled exactly as the "
            "training inputs (e.g. x_train[:300] after the same preprocessing). This process is unaffected (the "
            f"model ran in the converter's worker process).\nWorker log (last lines):\n{tail}"
        )
    tries = []
    if _qat_engine(model) == "tfmot":
        tries.append(
            "this model was quantization-aware trained with tfmot: quantize the float model with keras_acts's "
            "engine instead, quantize_model(model, engine='keras_acts', calibration_data=...) (measured: tf_keras "
            "EfficientNetB0 with tfmot crashes the converter, with keras_acts's engine it converts)"
        )
    if quantization == "int8":
        tries.append(
            "export with quantization='none' (or 'dynamic') to see whether the crash is in int8 "
            "quantization or in the graph itself"
        )
    tries.append(f"try another TensorFlow version (installed: {tf.__version__})")
    tries.append("if it persists, report it to TensorFlow with the model and the log below")
    return (
        f"the TFLite converter crashed ({err}) while converting {what}. It ran in a separate worker "
        "process, so this process and your model are unaffected and no file was written. What to try: "
        + "; ".join(tries)
        + f".\nConverter log (last lines):\n{tail}"
    )


def _qat_engine(model: Any) -> str | None:
    """``"tfmot"`` or ``"keras_acts"`` for QAT models, else None."""
    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        layers = list(getattr(model, "layers", []))
    for layer in layers:
        module = type(layer).__module__
        if module.startswith("tensorflow_model_optimization") or type(layer).__name__.startswith("QuantizeWrapper"):
            return "tfmot"
        if module.startswith("keras_acts.quantization.engine"):
            return "keras_acts"
    return None


def _converter_message(text: str, what: str = "") -> str:
    text = str(text).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln and "failed while converting" not in ln]
    reason = (errors[0].split("error:", 1)[1].strip() if errors else (lines[-1] if lines else "unknown error"))
    custom = [ln for ln in lines if ln.startswith("Custom ops:")]
    if custom:
        reason += f" ({custom[0]})"
    hint = (
        " Ops that are not TFLite builtins cannot be exported: replace them in the model "
        "(`keras-acts list` shows the activations with TFLite lowerings)."
    )
    where = f" (converting {what})" if what else ""
    return f"TFLite conversion failed: {reason.rstrip('.')}.{hint}{where}"


def _io_type(value: Any, what: str, default: str) -> str:
    if value is None:
        return default
    name = None
    if isinstance(value, str):
        name = value.strip().lower()
    else:
        try:
            import tensorflow as tf

            name = tf.as_dtype(value).name
        except Exception:  # noqa: BLE001 - anything that is not a dtype
            try:
                name = np.dtype(value).name
            except TypeError:
                name = None
    if name == "float":
        name = "float32"
    if name not in IO_TYPES:
        raise ValueError(
            f"{what}={value!r} is not supported; use 'float32', 'int8' or 'uint8' (strings, NumPy or tf dtypes)."
        )
    return name


def _sanitize(name: str, index: int) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", str(name or f"input_{index}"))
    return name if re.match(r"[A-Za-z]", name) else f"input_{index}"


def _shape_tuple(shape: Any) -> tuple[int | None, ...]:
    if hasattr(shape, "as_list"):
        dims = shape.as_list()
        if dims is None:
            raise ValueError("unknown rank")
        return tuple(dims)
    return tuple(None if d is None else int(d) for d in shape)


def _input_specs(model: Any, batch_size: int | None) -> list[InputSpec]:
    """The model's inputs, the batch axis set to ``batch_size`` (None: the model's own, fixed or dynamic)."""
    raw: list[tuple[str, tuple[int | None, ...]]] = []
    sig = getattr(getattr(model, "call", None), "input_signature", None)
    inputs = None
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        for i, t in enumerate(inputs):
            raw.append((_input_name(t, i), _shape_tuple(t.shape)))
    elif sig:
        import tensorflow as tf

        for i, s in enumerate(tf.nest.flatten(sig)):
            raw.append((getattr(s, "name", None) or f"input_{i}", _shape_tuple(s.shape)))
    else:
        shapes = _built_shapes(model)
        if not shapes:
            raise ValueError(
                f"cannot tell the input shape of the subclassed model {type(model).__name__}: it has no "
                "inputs. Build it first with model.build((None, *sample_shape)) or by calling it on a "
                "batch, or decorate `call` with @tf.function(input_signature=[tf.TensorSpec(...)])."
            )
        # The batch a subclassed model was built or called with is not a fixed batch size.
        raw = [(f"input_{i}", (None,) + tuple(s[1:]) if s else s) for i, s in enumerate(shapes)]
    specs = []
    seen: set[str] = set()
    for i, (name, shape) in enumerate(raw):
        if not shape:
            raise ValueError(f"model input {name!r} is a scalar; to_tflite needs inputs with a batch axis.")
        name = _sanitize(name.split(":")[0], i)
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        batch = batch_size if batch_size is not None else shape[0]  # a fixed batch is kept
        specs.append(InputSpec(name, (batch,) + tuple(shape[1:])))
    return specs


def _input_name(t: Any, i: int) -> str:
    """The Input layer's name for a symbolic input (Keras 3 names the tensors generically)."""
    history = getattr(t, "_keras_history", None)
    op = getattr(history, "operation", None) or getattr(history, "layer", None)
    name = getattr(op, "name", None)
    return name or getattr(t, "name", None) or f"input_{i}"


def _built_shapes(model: Any) -> list[tuple[int | None, ...]]:
    d = getattr(model, "_build_shapes_dict", None)  # Keras 3
    if d:
        return [_shape_tuple(s) for s in d.values() if s is not None]
    s = getattr(model, "_build_input_shape", None)  # tf_keras
    if s is not None:
        try:
            import tensorflow as tf

            flat = tf.nest.flatten(s, expand_composites=False) if isinstance(s, (list, dict)) else [s]
            if flat and all(isinstance(v, (int, type(None))) for v in flat):
                flat = [s]
            return [_shape_tuple(v) for v in flat]
        except (TypeError, ValueError):
            return []
    try:
        spec = model._get_save_spec(dynamic_batch=True)  # tf_keras, after a call
    except Exception:  # noqa: BLE001
        spec = None
    if spec is not None:
        import tensorflow as tf

        return [_shape_tuple(v.shape) for v in tf.nest.flatten(spec)]
    return []


def _auto_ranges(ranges: dict) -> Any:
    """The automatic lowerings' calibrated input ranges for the block (a no-op without any)."""
    import contextlib

    if not ranges:
        return contextlib.nullcontext()
    from keras_acts.export.auto_lowering import calibrated_ranges

    return calibrated_ranges(ranges)


def _trace(model: Any, specs: Sequence[InputSpec], lowering: str) -> tuple[Any, list[Substitution]]:
    """Traces and freezes ``model`` for ``lowering``; returns (frozen fn, substitutions)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tensor_specs = [tf.TensorSpec(s.shape, tf.float32, name=s.name) for s in specs]
    multi = len(specs) > 1

    def forward(*xs: Any) -> Any:
        out = model(list(xs) if multi else xs[0], training=False)
        if isinstance(out, dict):
            return [out[k] for k in sorted(out)]
        return out

    from keras_acts.quantization.engine.integer import exporting

    with substitute_builtins(model) as substitutions, static_reshapes(model), lowering_target(lowering), exporting():
        fn = tf.function(forward, autograph=False)
        try:
            concrete = fn.get_concrete_function(*tensor_specs)
        except Exception as err:  # noqa: BLE001 - re-raised with the shapes
            shapes = ", ".join(f"{s.name}: {tuple(s.shape)}" for s in specs)
            raise ValueError(
                f"could not trace {type(model).__name__} on inputs [{shapes}]: {err}. Check the model "
                "runs on a batch of that shape (model.build / an input_signature on `call`)."
            ) from err
        subs = list(substitutions)
    frozen = convert_variables_to_constants_v2(concrete)
    return frozen, subs


def _adopted(model: Any) -> Any:
    """``model`` with generic-layer activation patterns as registry layers (:func:`keras_acts.adopt`).

    keras.applications MobileNetV3 builds hard-swish from ``x + 3``, ReLU(6) and multiplies;
    adopted, it gets the registry's int8/Edge TPU lowering of hard_swish. Keras's own
    activation layers and strings are left to :func:`substitute_builtins`. Models adopt
    cannot rewrite (subclassed, unserializable layers) are exported as they are.
    """
    from keras_acts.adopt import AdoptError, adopt

    try:
        return adopt(model, builtins=False).model
    except AdoptError:
        return model


def _is_qat_model(model: Any) -> bool:
    """True for QAT models: tfmot QuantizeWrapper layers or keras_acts QAT engine layers."""
    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        layers = list(getattr(model, "layers", []))
    for layer in layers:
        if type(layer).__name__.startswith("QuantizeWrapper"):
            return True
        if type(layer).__module__.startswith("tensorflow_model_optimization.python.core.quantization"):
            return True
        if type(layer).__module__.startswith("keras_acts.quantization.engine"):  # keras_acts's own QAT engine
            return True
    return False


def _fold_options() -> dict:
    """What the scale-folding pass needs, as JSON for the worker (which imports no keras_acts)."""
    from keras_acts.export.xnnpack import scale_limits

    return {"mul_limits": scale_limits().get("MUL")}


def _folding_from(extras: dict, content: bytes) -> Any:
    """The worker's folding summary as a :class:`~keras_acts.export.scale_folding.FoldResult`."""
    summary = (extras or {}).get("folding")
    if summary is None:
        return None
    from keras_acts.export.scale_folding import FoldResult

    return FoldResult.from_dict(summary, content)


def _has_v1_formulations(model: Any) -> bool:
    """True for QAT models saved before scale folding: their hard_swish/hard_sigmoid round ``* 1/6``.

    Folding those MULs away would make the int8 model differ from the QAT model by a step here
    and there; re-running ``quantize_model`` on the float model gives the folded formulation.
    """
    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        layers = list(getattr(model, "layers", []))
    return any(
        getattr(layer, "formulation", None) == 1 and getattr(layer, "activation", None) in ("hard_swish", "hard_sigmoid")
        for layer in layers
    )


def _graph_has_fake_quant(frozen: Any) -> bool:
    return any(op.type.startswith("FakeQuantWithMinMax") for op in frozen.graph.get_operations())


def _edgetpu_preflight(model: Any) -> None:
    """Runs keras_acts.export.edgetpu.preflight(model) once that module exists."""
    try:
        from keras_acts.export import edgetpu  # noqa: PLC0415 - optional, written separately
    except ModuleNotFoundError as err:
        if err.name and err.name.endswith("keras_acts.export.edgetpu"):
            return
        raise
    preflight = getattr(edgetpu, "preflight", None)
    if preflight is not None:
        preflight(model)
