"""Rewriting a Keras functional/Sequential model into its QAT model, layer by layer.

Every operation of the model's graph is classified (:func:`plan`): weighted layers
(Conv2D, DepthwiseConv2D, Dense) become :class:`~.layers.QuantizedWeights` with a
following BatchNorm folded in; activations become :class:`~.layers.QuantizedActivation`;
computing layers and Keras ops get their output range; layout-only layers (pooling by
max, reshapes, padding, dropout) pass the quantized tensor through, as the int8 kernels
keep its scale. A ReLU/ReLU6 that is the only consumer of a conv, dense or add output
is where that output's range sits (the converter fuses it into the op).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from keras_acts.backend import keras, model_frontend
from keras_acts.quantization.engine import activations as acts
from keras_acts.quantization.engine import graph as g
from keras_acts.quantization.errors import QuantizationError
from keras_acts.quantization.engine.layers import FakeQuant, QuantizedActivation, QuantizedOutput, QuantizedWeights

_L = keras.layers
WEIGHTED = (_L.Conv2D, _L.DepthwiseConv2D, _L.Dense)
OUTPUT = tuple(
    getattr(_L, n)
    for n in (
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
        "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "Rescaling", "Normalization", "BatchNormalization", "UpSampling2D",
    )
    if hasattr(_L, n)
)
PASSTHROUGH = tuple(
    getattr(_L, n)
    for n in (
        "InputLayer", "MaxPooling1D", "MaxPooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Reshape",
        "Flatten", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Identity", "Permute", "ActivityRegularization",
    )
    if hasattr(_L, n)
)
FUSES_RELU = tuple(getattr(_L, n) for n in ("Add", "Subtract", "Multiply") if hasattr(_L, n))
# Keras ops called on symbolic tensors (``x + 3.0`` in keras.applications.MobileNetV3).
OPS_OUTPUT = {"Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum", "Mean"}
OPS_PASSTHROUGH = {"Reshape", "Transpose", "ExpandDims", "Squeeze", "Flatten", "GetItem"}
OPS_FUSES_RELU = {"Add", "Subtract", "Multiply"}
# tf_keras records the same ops as TFOpLambda layers named by their TensorFlow symbol.
_TF_SYMBOLS = {
    "__operators__.add": "Add", "math.add": "Add", "math.subtract": "Subtract", "math.multiply": "Multiply",
    "math.truediv": "TrueDivide", "math.divide": "Divide", "math.maximum": "Maximum", "math.minimum": "Minimum",
    "math.reduce_mean": "Mean", "reshape": "Reshape", "compat.v1.transpose": "Transpose", "transpose": "Transpose",
    "expand_dims": "ExpandDims", "compat.v1.squeeze": "Squeeze", "squeeze": "Squeeze",
    "__operators__.getitem": "GetItem",
}


def op_name(op: Any) -> str:
    """The Keras 3 op class name of a graph operation (tf_keras TFOpLambdas mapped onto them)."""
    if type(op).__name__ == "TFOpLambda":
        return _TF_SYMBOLS.get(getattr(op, "symbol", ""), f"TFOpLambda {getattr(op, 'symbol', '?')}")
    return type(op).__name__


def _is_op(op: Any) -> bool:
    """A Keras op on symbolic tensors (Keras 3 operation, tf_keras TFOpLambda), not a layer."""
    return not _is_layer(op) or type(op).__name__ == "TFOpLambda"


@dataclass
class Plan:
    """Decisions for the whole graph, by ``id(operation)``."""

    kinds: dict[int, str] = field(default_factory=dict)
    activations: dict[int, acts.Act] = field(default_factory=dict)
    fold: dict[int, Any] = field(default_factory=dict)  # conv id -> BatchNormalization
    folded: set = field(default_factory=set)  # ids of BatchNorms folded away
    no_output: set = field(default_factory=set)  # ids whose output range a fused ReLU takes
    fused: dict[int, str] = field(default_factory=dict)  # weighted layer id -> ReLU/ReLU6 fused into it
    absorbed: set = field(default_factory=set)  # ids of activations fused into the weighted layer before


def _is_layer(op: Any) -> bool:
    return isinstance(op, _L.Layer)


def classify(op: Any) -> tuple[str, acts.Act | None]:
    """(kind, activation) of one graph operation; kind ``"unsupported: why"`` if it has none."""
    name = type(op).__name__
    if isinstance(op, keras.Model):
        return f"unsupported: a nested model ({name}); pass the inner model's layers in one functional model", None
    if _is_op(op):
        name = op_name(op)
        if name in OPS_OUTPUT:
            return "op_output", None
        if name in OPS_PASSTHROUGH:
            return "passthrough", None
        return f"unsupported: keras op {name} has no int8 QAT scheme", None
    act = acts.from_layer(op)
    if act is not None:
        return "activation", act
    if isinstance(op, (_L.Activation, _L.ReLU, _L.Softmax)):
        return f"unsupported: activation {getattr(op, 'activation', op.get_config())!r} has no int8 QAT scheme", None
    if isinstance(op, WEIGHTED):
        cfg = op.get_config()
        if cfg.get("data_format", "channels_last") != "channels_last":
            return "unsupported: channels_first; int8 TFLite convolutions are channels_last", None
        if cfg.get("groups", 1) != 1:
            return "unsupported: grouped convolution (groups > 1)", None
        act = acts.from_function(getattr(op, "activation", None))
        if act is None:
            return f"unsupported: activation={getattr(op.activation, '__name__', op.activation)!r} has no int8 QAT scheme", None
        return "weighted", act
    if isinstance(op, OUTPUT):
        return "output", None
    if isinstance(op, PASSTHROUGH):
        return "passthrough", None
    return f"unsupported: {name} has no int8 QAT scheme", None


def _graph(model: Any) -> Any:
    from keras_acts.backend import FRONTEND

    if model_frontend(model) != FRONTEND:
        raise QuantizationError(
            f"the keras_acts QAT engine rewrites models of the Keras frontend in use ({FRONTEND}); got "
            f"{type(model).__module__}.{type(model).__name__}. Build the model with keras_acts.keras."
        )
    if type(model).__name__ == "Sequential" and FRONTEND == "keras3":
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise QuantizationError(
                f"quantize_model needs the Sequential model {model.name!r} built on an input shape: start it "
                "with keras.Input((...)) (or call model.build((None, ...))) before quantizing."
            )
        return fn
    if not hasattr(model, "_nodes_by_depth") or not getattr(model, "inputs", None):
        raise QuantizationError(
            f"quantize_model needs a Sequential or functional model; {model.name!r} is a subclassed "
            f"{type(model).__name__} with no functional graph. Rebuild it with keras.Sequential or the "
            "functional API (keras.Model(inputs, outputs))."
        )
    return model


def plan(model: Any) -> Plan:
    """Classifies every operation of ``model`` and decides BatchNorm folds and ReLU fusions."""
    graph = _graph(model)
    p = Plan()
    consumers: dict[int, int] = {}
    nodes = g.nodes(graph)
    uses: dict[int, int] = {}
    for n in nodes:
        uses[id(g.node_op(n))] = uses.get(id(g.node_op(n)), 0) + 1
        for t in g.node_inputs(n):
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    for t in graph.outputs:
        consumers[id(t)] = consumers.get(id(t), 0) + 1
    bad = []
    for n in nodes:
        op = g.node_op(n)
        kind, act = classify(op)
        if kind.startswith("unsupported"):
            bad.append(f"{op.name} ({type(op).__name__}: {kind.split(': ', 1)[1]})")
        p.kinds[id(op)] = kind
        if act is not None:
            p.activations[id(op)] = act
    if bad:
        raise QuantizationError(
            f"cannot make these layers quantization-aware: {'; '.join(bad)}. Replace them with supported layers "
            "(Conv2D, DepthwiseConv2D, Dense, BatchNormalization, Add/Concatenate/Multiply, pooling, Reshape, "
            "Flatten, Rescaling, ZeroPadding2D, Dropout) or keras_acts activations (keras_acts.list_activations())."
        )

    def producer(t: Any) -> Any:
        return g.producer(t)[0]

    for n in nodes:  # BatchNorm right after a linear conv/dense that only feeds it: fold
        op = g.node_op(n)
        if not isinstance(op, _L.BatchNormalization) or len(g.node_inputs(n)) != 1:
            continue
        t = g.node_inputs(n)[0]
        src = producer(t)
        if (
            p.kinds.get(id(src)) == "weighted"
            and p.activations[id(src)].name == "linear"
            and consumers.get(id(t)) == 1
            and uses[id(src)] == 1
            and uses[id(op)] == 1
            and op.get_config().get("axis") in (-1, [-1], len(t.shape) - 1, [len(t.shape) - 1])
            and not isinstance(src, _L.Dense)
        ):
            p.fold[id(src)] = op
            p.folded.add(id(op))
    for n in nodes:  # a ReLU/ReLU6 alone after a fusing op carries that op's output range
        act = p.activations.get(id(g.node_op(n)))
        ins = g.node_inputs(n)
        if act is None or not act.fusable or len(ins) != 1 or consumers.get(id(ins[0])) != 1:
            continue
        src = producer(ins[0])
        if id(src) in p.folded:
            src = g.node_op(next(s for s in nodes if p.fold.get(id(g.node_op(s))) is src))
        k = p.kinds.get(id(src))
        fuses = (k == "weighted" and p.activations[id(src)].name == "linear") or isinstance(src, FUSES_RELU) or (
            k == "op_output" and op_name(src) in OPS_FUSES_RELU
        )
        if uses[id(g.node_op(n))] == 1 and (
            (k == "weighted" and p.activations[id(src)].name == "linear") or isinstance(src, FUSES_RELU)
        ):
            # conv/dense/add/mul -> ReLU: one QAT layer, as the converter makes one op (and
            # its integer inference then clamps exactly as the fused kernel does)
            p.fused[id(src)] = act.name
            p.absorbed.add(id(g.node_op(n)))
        elif fuses:
            p.no_output.add(id(src))
    return p


def _clone(layer: Any, **overrides: Any) -> Any:
    cfg = keras.layers.serialize(layer)
    cfg["config"].update(overrides)
    return keras.layers.deserialize(cfg)


def _replacement(op: Any, p: Plan, made: dict[int, Callable]) -> Callable[..., Any]:
    key = id(op)
    if key in made:
        return made[key]
    kind = p.kinds[key]
    q_out = key not in p.no_output
    if kind == "passthrough":
        fn: Callable = _clone(op) if _is_layer(op) else op
    elif key in p.folded or key in p.absorbed:
        fn = lambda x, **_: x  # noqa: E731 - folded/fused into the conv before it
    elif kind == "op_output":
        fq = FakeQuant(name=f"{op.name}_quant") if q_out else None
        fn = (lambda *a, **k: fq(op(*a, **k))) if fq is not None else op
    elif kind == "output":
        fn = QuantizedOutput(_clone(op), fused_activation=p.fused.get(key, "linear"), quantize_output=q_out, name=op.name)
    elif kind == "activation":
        fn = _activation(op, p.activations[key], q_out, op.name)
        made[("layer", key)] = fn  # type: ignore[index]
    else:  # weighted
        act = p.activations[key]
        fused = p.fused.get(key) or (act.name if act.fusable else "linear")
        w = QuantizedWeights(
            _clone(op, activation="linear"),
            batchnorm=_clone(p.fold[key]) if key in p.fold else None,
            fused_activation=fused,
            quantize_output=q_out or fused != "linear",
            name=op.name,
        )
        after = None if act.name in ("linear",) or act.fusable else _activation(None, act, True, f"{op.name}_{act.name}")
        fn = w if after is None else (lambda x, **k: after(w(x)))
        made[("layer", key)] = w  # type: ignore[index]
    if kind != "passthrough" and kind != "output":
        inner = fn
        fn = lambda *a, mask=None, **k: inner(*a, **k)  # noqa: E731 - QAT layers do not propagate masks
    made[key] = fn
    return fn


def _activation(op: Any, act: acts.Act, quantize_output: bool, name: str) -> Any:
    if act.name == "linear":
        return lambda x, **_: x
    if act.name == "softmax":
        return QuantizedOutput(_L.Softmax(name=f"{name}_softmax"), output_range=acts.SOFTMAX_RANGE, name=name)
    return QuantizedActivation(act.name, act.params, quantize_output=quantize_output, name=name, **act.extra)


def rewrite(model: Any) -> Any:
    """The QAT model of ``model`` (new layers; weights copied, the original is untouched)."""
    p = plan(model)
    graph = _graph(model)
    made: dict[Any, Callable] = {}
    new_inputs = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=_input_name(t, i)) for i, t in enumerate(graph.inputs)]
    quantized = [FakeQuant(name=f"{x.name}_quant")(x) for x in new_inputs]
    outputs = g.replay(graph, quantized, lambda op: _replacement(op, p, made))
    qat = keras.Model(new_inputs if len(new_inputs) > 1 else new_inputs[0], outputs, name=f"{model.name}_qat")
    _copy_weights(graph, p, made)
    return qat


def _input_name(t: Any, i: int) -> str:
    found = g.producer(t)
    return getattr(found[0] if found else None, "name", None) or f"input_{i}"


def _copy_weights(graph: Any, p: Plan, made: dict[Any, Callable]) -> None:
    for op in graph.operations if hasattr(graph, "operations") else graph.layers:
        key = id(op)
        new = made.get(("layer", key)) or made.get(key)
        if not _is_layer(op) or new is None or not isinstance(new, _L.Layer):
            continue
        if isinstance(new, QuantizedWeights):
            new.layer.set_weights(op.get_weights())
            if new.batchnorm is not None:
                new.batchnorm.set_weights(p.fold[key].get_weights())
        elif isinstance(new, QuantizedOutput):
            new.layer.set_weights(op.get_weights())
        elif isinstance(new, QuantizedActivation):
            acts.copy_weights(p.activations[key], new)
        elif op.get_weights():
            new.set_weights(op.get_weights())
