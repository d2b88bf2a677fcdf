"""The TF formulas convert to single fused TFLite ops: HARD_SWISH and PRELU, in both frontends.

Float conversion with the project's recipe (trace, freeze, from_concrete_functions), traced
inside ``keras_acts.lowering.lowering_target("float")``; the real ops are listed with the
LiteRT interpreter without its default delegates.
"""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_acts
from keras_acts.lowering import lowering_target

keras = keras_acts.keras


def _convert(model, shape) -> tuple[bytes, collections.Counter]:
    with lowering_target("float"):
        fn = tf.function(lambda x: model(x, training=False))
        concrete = fn.get_concrete_function(tf.TensorSpec((1, *shape), tf.float32))
        frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    flat = converter.convert()
    interp = Interpreter(model_content=flat,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return flat, collections.Counter(op["op_name"] for op in interp._get_ops_details())


def _run(flat: bytes, x: np.ndarray) -> np.ndarray:
    interp = Interpreter(model_content=flat,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def test_hard_swish_string_and_prelu_fuse():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        # Keras 3: its built-in hard_swish (hard_silu); tf_keras: the registry-resolved string.
        keras.layers.Conv2D(4, 3, activation="hard_swish"),
        keras_acts.layers.PReLU(shared_axes=[1, 2]),
    ])
    model.layers[-1].alpha.assign(np.array([0.1, 0.2, 0.3, 0.4], np.float32).reshape(1, 1, 4))
    flat, ops = _convert(model, (8, 8, 3))
    assert ops["HARD_SWISH"] == 1, ops
    assert ops["PRELU"] == 1, ops
    # Nothing of the decomposed formulas is left over.
    assert not set(ops) & {"MUL", "ADD", "SUB", "RELU", "RELU6", "NEG", "MAXIMUM", "MINIMUM", "DIV"}, ops
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype(np.float32) * 3
    np.testing.assert_allclose(_run(flat, x), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_keras_acts_functions_fuse():
    """keras_acts.get("hard_swish") as activation= and the HardSwish layer fuse as well."""
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(3, 1, activation=keras_acts.get("hard_swish")),
        keras_acts.layers.HardSwish(),
        keras_acts.layers.PReLU(shared_axes=[1, 2]),
    ])
    _, ops = _convert(model, (6, 6, 2))
    assert ops["HARD_SWISH"] == 2 and ops["PRELU"] == 1, ops
    assert not set(ops) & {"MUL", "ADD", "SUB", "RELU", "RELU6", "NEG"}, ops
