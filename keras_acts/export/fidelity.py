"""Numerical fidelity of an activation exported alone to a fully int8 TFLite model.

:func:`measure_int8_fidelity` builds the model ``Input((n,)) -> activation``, calibrates
it on the grid ``linspace(lo, hi, n)``, converts it with int8 inputs and outputs (under
:func:`keras_acts.lowering.lowering_target` so that keras_acts activations trace their
registered int8 lowering), then feeds *every* int8 input code whose dequantized value
lies in ``[lo, hi]`` and compares the dequantized int8 output with the float64
reference activation evaluated at the dequantized input. The error is reported in
output LSB (units of the output quantization scale): an ideal int8 model has a
maximum error of 0.5 LSB (one rounding).

The tests, ``benchmarks/bench_int8_fidelity.py`` and the benchmarks all use this one function.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from keras_acts import registry
from keras_acts.backend import keras
from keras_acts.export.runner import float_ops_and_int8, input_codes_in_range
from keras_acts.lowering import lowering_target

__all__ = ["measure_int8_fidelity", "convert_int8", "op_details", "build_activation_model"]

_TFLITE_FLOAT32 = 0  # TensorType.FLOAT32 in the flatbuffer schema; the interpreter reports np.float32


def build_activation_model(layer: Any, n: int) -> Any:
    """The functional model ``Input((n,)) -> layer`` in the frontend in use."""
    inputs = keras.Input((n,), dtype="float32")
    return keras.Model(inputs, layer(inputs))


def _layer_for(name_or_layer: Any, params: Mapping[str, Any] | None) -> tuple[Any, registry.Activation | None]:
    """Returns (layer, registry entry or None) for a registry name or a layer instance."""
    from keras_acts import layers as ka_layers

    if isinstance(name_or_layer, str):
        entry = registry.lookup(name_or_layer)
        if entry.learnable:
            return getattr(ka_layers, entry.layer)(**dict(params or {})), entry
        return ka_layers.Activation(entry.name, params=dict(params or {})), entry
    layer = name_or_layer
    if params:
        raise TypeError(
            "measure_int8_fidelity: `params` only applies to registry names; configure the layer "
            "instance itself instead (e.g. keras_acts.layers.ELU(alpha=0.5))."
        )
    name = getattr(layer, "activation_name", None) or getattr(layer, "_entry_name", None)
    if name is None and type(layer).__module__.startswith("keras_acts") and type(layer).__name__ == "PReLU":
        name = "prelu"
    return layer, (registry.lookup(name) if name else None)


def convert_int8(model: Any, representative: np.ndarray, *, target: str | None = "cpu", isolate: bool = True) -> bytes:
    """Converts ``model`` to a fully int8 TFLite flatbuffer (int8 input and output).

    With an export target (``"cpu"``, ``"micro"``, ``"edgetpu"``) this is
    :func:`keras_acts.export.to_tflite` (the package's export pipeline, which traces that
    target's int8 lowerings). With ``target=None`` it is the
    plain concrete-function recipe (trace, freeze variables, convert with
    ``TFLITE_BUILTINS_INT8`` only) *without* any keras_acts substitution, i.e. how a
    Keras activation exports the stock way.

    Args:
        model: a single-input Keras model.
        representative: calibration samples, shape ``(samples, *input_shape)``.
        target: the export target, or None for the training formulation (as a stock
            Keras activation would export).
        isolate: with a target, convert in to_tflite's worker process (default) or, False, in this
            process (no worker start-up; a converter crash would end this process).
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if target is not None:
        from keras_acts.export.converter import to_tflite

        return to_tflite(
            model,
            target=target,
            quantization="int8",
            representative_data=representative.astype(np.float32),
            input_type="int8",
            output_type="int8",
            batch_size=1,  # static shapes, as the Edge TPU needs; the rows are fed one at a time
            isolate=isolate,
        ).content
    spec = tf.TensorSpec((1, *representative.shape[1:]), tf.float32)
    from keras_acts.quantization.engine.integer import exporting

    with lowering_target(None), exporting():
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def samples():
        for row in representative:
            yield [row[None].astype(np.float32)]

    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _interpreter(content: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    return interp


def op_details(content: bytes) -> list[dict[str, Any]]:
    """Per op: ``{"op": name, "outputs": [numpy dtype names]}``, in execution order."""
    interp = _interpreter(content)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    out = []
    for op in interp._get_ops_details():
        dtypes = [np.dtype(tensors[i]["dtype"]).name for i in op["outputs"] if i in tensors]
        out.append({"op": op["op_name"], "outputs": dtypes})
    return out


def measure_int8_fidelity(
    name_or_layer: Any,
    *,
    lo: float = -8.0,
    hi: float = 8.0,
    n: int = 256,
    params: Mapping[str, Any] | None = None,
    reference: Callable[[np.ndarray], np.ndarray] | None = None,
    target: str | None = "cpu",
    isolate: bool = True,
) -> dict[str, Any]:
    """Exports one activation alone to int8 TFLite and measures its error in output LSB.

    Args:
        name_or_layer: a registry name or alias (``"selu"``), a keras_acts layer
            instance (``keras_acts.layers.PReLU()``), or any Keras layer together with
            ``reference`` (e.g. ``keras.layers.Activation("selu")`` for the stock export).
        lo: low end of the calibration/evaluation grid.
        hi: high end of the grid.
        n: model width and number of grid points (the int8 input has at most 256
            distinct codes, all of which are evaluated).
        params: activation parameters (registry names only), e.g. ``{"beta": 2.0}``.
        reference: float64 NumPy function of the exact activation; defaults to the
            registry entry's ``reference`` (for PReLU, with the layer's alpha).
        target: export target (``"cpu"``, ``"micro"``, ``"edgetpu"``); None exports the
            training formulation unchanged (the stock way).
        isolate: passed to :func:`convert_int8`.

    Returns:
        A dict with ``ops`` (builtin op names in order), ``max_lsb`` and ``mean_lsb``
        (error vs the reference at the dequantized inputs, in output scale units),
        ``max_abs`` (absolute error), ``is_fully_int8`` (no op outputs float32),
        ``float_ops`` (ops with a float32 output), ``input_scale``, ``output_scale``,
        ``output_zero_point``, ``codes`` (inputs evaluated), ``input_range`` (the
        dequantized range of the int8 input), ``covers_grid`` (whether that range covers
        ``[lo, hi]`` to within one input step; False means the converter clipped the
        input, a failure even when ``max_lsb`` is small), ``worst_x`` (input of the
        largest error) and ``content`` (the flatbuffer bytes).

    Raises:
        ValueError: ``lo >= hi``, ``n < 2``, or no reference is known for the layer.
    """
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"measure_int8_fidelity: need finite lo < hi, got lo={lo}, hi={hi}.")
    if n < 2:
        raise ValueError(f"measure_int8_fidelity: n must be >= 2 grid points, got {n}.")
    layer, entry = _layer_for(name_or_layer, params)
    model = build_activation_model(layer, n)
    if reference is None:
        if entry is None:
            raise ValueError(
                f"measure_int8_fidelity: {type(layer).__name__} is not a keras_acts activation; pass "
                "reference=<NumPy function of the exact activation>."
            )
        kwargs = dict(params or {})
        if entry.learnable:
            alpha = np.asarray(keras.ops.convert_to_numpy(layer.alpha) if hasattr(keras, "ops") else layer.alpha.numpy(), np.float64)
            kwargs = {"alpha": alpha.reshape(-1)}
        elif hasattr(layer, "activation_params"):
            kwargs = dict(layer.activation_params)

        def reference(x, _ref=entry.float64_function(), _kw=kwargs):
            return _ref(np.asarray(x, np.float64), **_kw)

    grid = np.linspace(lo, hi, n, dtype=np.float64)
    rng = np.random.default_rng(0)
    rep = np.stack([grid] + [rng.permutation(grid) for _ in range(15)]).astype(np.float32)
    content = convert_int8(model, rep, target=target, isolate=isolate)

    interp = _interpreter(content)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    s_in, z_in = inp["quantization"]
    s_out, z_out = out["quantization"]
    grid_codes = input_codes_in_range(inp, lo, hi)
    codes = grid_codes.codes
    # Every kept code once, padded to width n by repeating the first code (position-wise
    # alpha of PReLU is handled by evaluating each position's own reference below).
    reps = int(np.ceil(len(codes) / n)) if len(codes) > n else 1
    q_in = np.resize(codes, reps * n).reshape(reps, n).astype(np.int8)
    ys = []
    for row in q_in:
        interp.set_tensor(inp["index"], row[None])
        interp.invoke()
        ys.append(interp.get_tensor(out["index"])[0].astype(np.float64))
    y = (np.stack(ys) - z_out) * s_out
    x_q = (q_in.astype(np.float64) - z_in) * s_in
    expect = np.stack([reference(r) for r in x_q])
    err = np.abs(y - expect)
    lsb = err / s_out
    details = op_details(content)
    float_ops, fully_int8 = float_ops_and_int8(details, inp, out)
    worst = np.unravel_index(np.argmax(lsb), lsb.shape)
    return {
        "ops": [d["op"] for d in details],
        "max_lsb": float(lsb.max()),
        "mean_lsb": float(lsb.mean()),
        "max_abs": float(err.max()),
        "is_fully_int8": fully_int8,
        "float_ops": float_ops,
        "input_scale": float(s_in),
        "output_scale": float(s_out),
        "output_zero_point": int(z_out),
        "codes": int(len(codes)),
        "input_range": grid_codes.full_range,
        "covers_grid": grid_codes.covers,
        "worst_x": float(x_q[worst]),
        "content": content,
    }
