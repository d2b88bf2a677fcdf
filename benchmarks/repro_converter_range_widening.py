"""Minimal reproduction: the TFLite converter's int8 calibration widens a dead input's range.

Three elementwise ops on a float input ``x`` in [-8, 8]::

    t = x * 0.1          # calibrated range [-0.8, 0.8]
    u = t + 5.0          # [4.2, 5.8]
    y = u * 2.0          # the model output

``t`` is read only by the ADD (it is dead after it) and the ADD's output ``u`` is not a model
output. The script converts the model with full-integer quantization (calibration over the range)
and prints, for each tensor, the range implied by its int8 scale and zero point next to the range
the tensor really takes. Two controls change one condition each: ``t`` is read again after the ADD
(``y = u * 2 + t``), or ``u`` is itself a model output.

Part 2 (``--forms``) shows what it costs the automatic forms (``keras_acts.export.auto_lowering``): each
chosen form is converted alone (its output is the model output, as the search verifies it) and followed
by one more op (``* 1.3`` or ``+ 0.7``, so the form's last tensor is no longer a model output), and the
error of the model's output is measured in its LSB over every int8 input code.

    python benchmarks/repro_converter_range_widening.py [--forms]

Measured with TF 2.21 / ai-edge-litert 2.3.0 (see docs/AUTO_LOWERING.md): in the first model the
scale of ``t`` covers [-0.8, 5.8], the union of its own range and the ADD's output range (7.3x the
step it needs); in both controls it covers [-0.8, 0.8].
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

WIDTH = 256


def _convert(fn) -> bytes:
    spec = tf.TensorSpec((1, WIDTH), tf.float32)
    concrete = tf.function(fn).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], trackable_obj=None)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    grid = np.linspace(-8.0, 8.0, WIDTH, dtype=np.float32)[None]
    converter.representative_dataset = lambda: iter([[grid]])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _implied_ranges(content: bytes) -> list[tuple[str, str, float, float, float]]:
    """``(op, output tensor name, scale, lo, hi)`` of every op's output, in execution order."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - older installs
        Interpreter = tf.lite.Interpreter
    it = Interpreter(model_content=content)
    it.allocate_tensors()
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    rows = []
    for op in it._get_ops_details():
        for o in op["outputs"]:
            d = tensors[o]
            scale, zero = d["quantization"]
            if scale:
                rows.append((op["op_name"], d["name"], scale, (-128 - zero) * scale, (127 - zero) * scale))
    return rows


MODELS = {
    "t dead after the ADD, u not an output (the quirk)": lambda x: (x * 0.1 + 5.0) * 2.0,
    "control: t read again after the ADD": lambda x: (lambda t: (t + 5.0) * 2.0 + t)(x * 0.1),
    "control: u is a model output": lambda x: (lambda u: (u * 2.0, u))(x * 0.1 + 5.0),
}


def _forms() -> None:
    from keras_acts.export import auto_lowering as al
    from keras_acts.export.autolower import forms, verify

    functions = {
        "squareplus": lambda x: 0.5 * (x + tf.sqrt(x * x + 4.0)),
        "isru": lambda x: x / tf.sqrt(1.0 + x * x),
        "logish": lambda x: x * tf.math.log(1.0 + tf.math.sigmoid(x)),
    }
    tails = {"alone": lambda y: y, "then * 1.3": lambda y: y * 1.3, "then + 0.7": lambda y: y + 0.7}
    print("\nautomatic forms on [-8, 8], max error (output LSB, XNNPACK and builtin kernels)")
    for name, fn in functions.items():
        r = al.auto_lower(fn, name=name)
        if not r.ok:
            print(f"  {name}: no form ({r.best_lsb:.2f})")
            continue
        body = forms.body(r.spec)
        points = forms.ExportPoints()
        row = []
        for label, tail in tails.items():
            content = verify.convert(lambda t, tail=tail: tail(body(t, points)), -8.0, 8.0)
            ref = lambda v, tail=tail, fn=fn: np.asarray(tail(tf.constant(al.float64_values(fn, v))))
            row.append(f"{label} {verify.measure(content, ref, -8.0, 8.0, xnnpack=True)['max_lsb']:.2f}")
        print(f"  {name:10s} {r.chosen.form}: " + ", ".join(row))


def main() -> int:
    import sys

    print(f"TensorFlow {tf.__version__}; x calibrated on [-8, 8]; t = x * 0.1 really spans [-0.8, 0.8]")
    for title, fn in MODELS.items():
        print(f"\n{title}")
        for op, name, scale, lo, hi in _implied_ranges(_convert(fn)):
            print(f"  {op:10s} -> {name[:48]:48s} scale {scale:.5f}  covers [{lo:7.3f}, {hi:7.3f}]")
    if "--forms" in sys.argv[1:]:
        _forms()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
