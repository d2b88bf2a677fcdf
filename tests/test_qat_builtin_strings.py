"""QAT of every built-in activation string of tf_keras: ``Conv2D(..., activation=s)`` and
``Dense(..., activation=s)`` train quantization-aware and convert to all-int8 TFLite.

The strings are read from tf_keras's own source (every ``keras.activations.*`` function it
exports, minus get/serialize/deserialize), so a new tf_keras string is tested without editing
this file. Under tf_keras the models are tf_keras models (tfmot QAT); under Keras 3 the same
strings, which Keras 3 also defines, go through keras_acts's own QAT engine.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import quantization
from keras_acts.lowering import lowering_target
from keras_acts.quantization.engine.integer import exporting

keras = keras_acts.keras
TF_KERAS = keras_acts.FRONTEND == "tf_keras"
_NOT_ACTIVATIONS = {"get", "serialize", "deserialize"}


def tf_keras_activation_strings() -> list[str]:
    """The names tf_keras exports as ``keras.activations.<name>`` functions, from its source."""
    spec = importlib.util.find_spec("tf_keras")
    assert spec is not None and spec.origin, "tf_keras is not installed: pip install -e '.[all]'"
    source = pathlib.Path(spec.origin).parent / "src" / "activations.py"
    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "keras_export":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("keras.activations."):
                    names.add(str(arg.value).rsplit(".", 1)[1])
    return sorted(names - _NOT_ACTIVATIONS)


STRINGS = tf_keras_activation_strings()
X = np.random.default_rng(0).uniform(-2.0, 2.0, (64, 6, 6, 2)).astype(np.float32)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    tf.random.set_seed(0)
    yield


def test_the_string_list_is_tf_keras_s_and_complete():
    """The source scan finds tf_keras's known strings (and, under tf_keras, exactly its public functions)."""
    assert {"relu", "softmax", "linear", "hard_sigmoid", "swish", "softsign", "exponential"} <= set(STRINGS)
    if TF_KERAS:
        import tf_keras

        public = {n for n in dir(tf_keras.activations) if not n.startswith("_")} - _NOT_ACTIVATIONS
        assert set(STRINGS) == public
        for s in STRINGS:
            assert tf_keras.activations.get(s).__name__ == s


def _model(activation: str):
    inp = keras.Input(X.shape[1:])
    x = keras.layers.Conv2D(4, 3, activation=activation, name="conv")(inp)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation=activation, name="dense")(x)
    return keras.Model(inp, x)


def _convert(model) -> bytes:
    """int8 TFLite of the QAT model from its FakeQuant ranges alone (tests/test_qat.py's fast path:
    a frozen concrete function traced for export, as ``keras_acts.export.to_tflite`` traces it)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    with lowering_target("int8"), exporting():
        fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


_CONTENT: dict[str, bytes] = {}


def _last_input_scale(activation: str) -> float:
    """The int8 scale of the last EXP op's input (exponential only)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=_CONTENT[activation])
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    exp = [op for op in it._get_ops_details() if op["op_name"] == "EXP"][-1]
    return float(tensors[exp["inputs"][0]]["quantization"][0])


def _run(content: bytes, x: np.ndarray) -> tuple[list[str], list[str], np.ndarray, float, int, np.ndarray]:
    """(ops, float islands, int8 output, out scale, out zero point, dequantized input)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops, islands = [], []
    for op in it._get_ops_details():
        ops.append(op["op_name"])
        if op["op_name"] in ("DEQUANTIZE", "QUANTIZE") or any(
            tensors[i]["dtype"] == np.float32 for i in op["outputs"] if i >= 0
        ):
            islands.append(op["op_name"])
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(i["index"], x.shape)
    it.allocate_tensors()
    s_in, z_in = i["quantization"]
    q_in = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
    it.set_tensor(i["index"], q_in)
    it.invoke()
    s, z = o["quantization"]
    return ops, islands, it.get_tensor(o["index"]).astype(np.int32), s, z, (q_in.astype(np.float32) - z_in) * s_in


@pytest.mark.parametrize("activation", STRINGS)
def test_builtin_activation_string_trains_quantization_aware_and_converts_all_int8(activation):
    model = _model(activation)
    q = quantization.quantize_model(model, calibration_data=X)
    # one training step (eager: fit would spend seconds tracing): finite gradients reach the weights
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(q(tf.constant(X), training=True)))
    variables = q.trainable_variables
    grads = tape.gradient(loss, variables)
    kernels = [g for g, v in zip(grads, variables) if "kernel" in v.name]
    assert len(kernels) == 2 and all(np.all(np.isfinite(g)) for g in kernels), activation
    assert any(np.any(np.asarray(g) != 0) for g in kernels), f"{activation!r}: no gradient reaches the kernels"
    keras.optimizers.SGD(1e-3, clipnorm=0.1).apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])

    _CONTENT[activation] = content = _convert(q)
    ops, islands, out, s, z, x_deq = _run(content, X)
    assert not islands, f"{activation!r}: float islands {islands} in {ops}"
    # the int8 model computes what the QAT model computes, up to int8 rounding: at most 2 output
    # steps, plus for exp the output change of one step of its int8 input (exp's slope is exp)
    got = np.asarray(q(tf.constant(x_deq), training=False))
    lsb = np.abs(out - (np.round(got / s) + z))
    bound = 2.0 + (np.abs(got) * np.expm1(_last_input_scale(activation)) / s if activation == "exponential" else 0.0)
    assert np.mean(lsb <= 2) >= 0.99 and np.all(lsb <= bound + 2), f"{activation!r}: max {lsb.max()} LSB, ops {ops}"
