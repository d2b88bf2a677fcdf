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
   Keras 3 and tf_keras models);
4. return an :class:`ExportResult` holding the bytes; files are written separately and
   atomically by :meth:`ExportResult.save`.
"""

from __future__ import annotations

import os
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from keras_acts import backend
from keras_acts.export import calibration
from keras_acts.export.atomic import atomic_write_bytes
from keras_acts.export.calibration import InputSpec
from keras_acts.export.substitution import Substitution, static_reshapes, substitute_builtins
from keras_acts.export.targets import DEFAULT_TARGET, TARGETS, get_target
from keras_acts.lowering import lowering_target

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
IO_TYPES = ("float32", "int8", "uint8")


class ExportError(RuntimeError):
    """The TFLite converter rejected the model; the message carries its reason."""


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
    _report: Any = field(default=None, repr=False)

    @property
    def report(self) -> Any:
        """The :class:`keras_acts.export.report.Report` of :attr:`content` (computed once)."""
        if self._report is None:
            from keras_acts.export.report import inspect

            self._report = inspect(self.content)
        return self._report

    @property
    def size_bytes(self) -> int:
        """Size of the flatbuffer in bytes."""
        return len(self.content)

    def save(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Writes :attr:`content` to ``path`` atomically and returns the path.

        A temporary file in the same directory is written, flushed, fsync-ed and
        renamed over ``path``: an existing file is replaced only by a complete new
        one, and left untouched if anything fails.

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
) -> ExportResult:
    """Converts a Keras model to TFLite with every activation in its export form.

    Args:
        model: a Keras 3 or tf_keras model: Sequential, functional, or subclassed
            with a known input signature (built, or ``call`` decorated with
            ``tf.function(input_signature=...)``). QAT models (tfmot) need no
            representative data.
        quantization: ``"none"`` (float32), ``"float16"`` (float16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"`` (full
            integer: TFLITE_BUILTINS_INT8 only). Default ``"none"``, or ``"int8"``
            for ``target="edgetpu"``.
        representative_data: calibration inputs for ``"int8"``: a NumPy array (a
            tuple of arrays for several inputs), a ``tf.data.Dataset`` or a callable
            returning an iterator; see :mod:`keras_acts.export.calibration`.
        target: the runtime the model is for (:mod:`keras_acts.export.targets`):
            ``"cpu"`` (default) - LiteRT's CPU runtime with XNNPACK (phones, computers,
            the Python interpreter): int8 activations use only ops XNNPACK delegates;
            ``"micro"`` - runtimes with one kernel per op (TFLite Micro/CMSIS-NN, NNAPI,
            GPU delegate): the fewest, fused ops (HARD_SWISH, PRELU);
            ``"edgetpu"`` - Coral (forces int8, static batch 1, int8 I/O by default, and
            runs the Edge TPU preflight on the model). Float exports are the same for all.
        input_type: ``"float32"`` (default; ``"int8"`` for the Edge TPU), ``"int8"`` or
            ``"uint8"``; strings, NumPy or tf dtypes. Only for int8 models.
        output_type: like ``input_type``, for the outputs.
        num_calibration_samples: use at most this many calibration samples
            (default 500).
        batch_size: fix the batch dimension (default: dynamic; 1 for the Edge TPU).
        progress: called as ``progress(done, total)`` while calibrating.

    Returns:
        An :class:`ExportResult`.

    Raises:
        TypeError: ``model`` is not a Keras model, or bad option/data types.
        ValueError: invalid options or representative data (the message names the fix).
        ExportError: the TFLite converter failed.
        keras_acts.backend.BackendError: Keras 3 runs on another backend than TensorFlow (the
            message gives the recipe: save ``.keras``, export in a TensorFlow-backend process).
    """
    backend.require_tensorflow_backend("keras_acts.export.to_tflite")
    import tensorflow as tf

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
    if target == "edgetpu":
        batch_size = 1

    if target == "edgetpu":
        _edgetpu_preflight(model)

    specs = _input_specs(model, batch_size)
    qat = _is_qat_model(model)
    data = None
    if quantization == "int8" and not qat:
        data = calibration.prepare(representative_data, specs, max_samples=num_calibration_samples)
    elif quantization == "int8" and qat and representative_data is not None:
        data = None  # QAT models carry their own ranges: calibration data is not needed.
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
    if not qat:
        model = _adopted(model)
    frozen, substitutions = _trace(model, specs, lowering)
    if quantization == "int8" and not qat and _graph_has_fake_quant(frozen):
        qat = True
        if lowering == "cpu":
            lowering = "int8"
            frozen, substitutions = _trace(model, specs, lowering)

    # QAT graphs too: the converter quantizes the frozen graph from its FakeQuant ranges
    # (same ops as its Keras path, measured 3.9 s instead of 46 s for MobileNetV3Small).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if not qat:
            # (The converter rejects INT8-only op sets without a representative dataset even
            # for QAT graphs; QAT graphs come out int8 from their fake-quant ranges.)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if data is not None:
            converter.representative_dataset = data.generator(progress)
        converter.inference_input_type = tf.as_dtype(in_type)
        converter.inference_output_type = tf.as_dtype(out_type)
    try:
        content = converter.convert()
    except Exception as err:  # the converter raises several private error types
        raise ExportError(_converter_message(err, quantization)) from err
    return ExportResult(
        content=bytes(content),
        quantization=quantization,
        target=target,
        input_type=in_type,
        output_type=out_type,
        lowering=lowering,
        num_calibration_samples=data.num_samples if data is not None else 0,
        qat=qat,
        substitutions=list(substitutions),
    )


def _converter_message(err: Exception, quantization: str) -> str:
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln and "failed while converting" not in ln]
    reason = (errors[0].split("error:", 1)[1].strip() if errors else (lines[-1] if lines else type(err).__name__))
    custom = [ln for ln in lines if ln.startswith("Custom ops:")]
    if custom:
        reason += f" ({custom[0]})"
    hint = (
        " Ops that are not TFLite builtins cannot be exported: replace them in the model "
        "(`keras-acts list` shows the activations with TFLite lowerings)."
    )
    return f"TFLite conversion failed: {reason.rstrip('.')}.{hint}"


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
    """The model's inputs with the batch axis set to ``batch_size`` (None = dynamic)."""
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
        raw = [(f"input_{i}", s) for i, s in enumerate(shapes)]
    specs = []
    seen: set[str] = set()
    for i, (name, shape) in enumerate(raw):
        if not shape:
            raise ValueError(f"model input {name!r} is a scalar; to_tflite needs inputs with a batch axis.")
        name = _sanitize(name.split(":")[0], i)
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        specs.append(InputSpec(name, (batch_size,) + tuple(shape[1:])))
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
