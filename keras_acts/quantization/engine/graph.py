"""The few functional-graph accessors the engine needs, for Keras 3 and tf_keras alike.

Keras 3 nodes hold an ``operation`` and ``input_tensors``, and a tensor's ``_keras_history``
names its ``operation``; tf_keras nodes hold a ``layer`` and ``keras_inputs``, and the history
names the ``layer``. Keras 3 models replay their graph with ``_run_through_graph``; tf_keras
models are replayed here the way ``Functional._run_internal_graph`` does.
"""

from __future__ import annotations

from typing import Any, Callable


def node_op(node: Any) -> Any:
    """The layer (or Keras 3 operation) a node calls."""
    op = getattr(node, "operation", None)
    return op if op is not None else getattr(node, "layer", None)


def node_inputs(node: Any) -> list:
    """The symbolic input tensors of a node, as a list."""
    if hasattr(node, "keras_inputs"):  # tf_keras
        return list(node.keras_inputs)
    return list(node.input_tensors)


def producer(t: Any) -> tuple[Any, int] | None:
    """(layer or operation, node index) that produced symbolic tensor ``t``, or None."""
    history = getattr(t, "_keras_history", None)
    if history is None:
        return None
    op = getattr(history, "operation", None)
    return (op if op is not None else history.layer), history.node_index


def nodes(graph: Any) -> list:
    """The non-input nodes of a functional model, inputs first."""
    by_depth = graph._nodes_by_depth
    return [
        n
        for depth in sorted(by_depth, reverse=True)
        for n in by_depth[depth]
        if node_op(n) is not None and not n.is_input
    ]


def replay(graph: Any, inputs: list, operation_fn: Callable[[Any], Callable[..., Any]]) -> Any:
    """Runs ``graph`` on new (symbolic) ``inputs``, calling ``operation_fn(op)`` instead of each op."""
    if hasattr(graph, "_run_through_graph"):  # Keras 3
        return graph._run_through_graph(inputs if len(inputs) > 1 else inputs[0], operation_fn=operation_fn)
    import tensorflow as tf  # tf_keras only (Keras 3 models replay themselves above)

    usage = graph._tensor_usage_count
    tensors = {str(id(x)): [y] * usage[str(id(x))] for x, y in zip(graph.inputs, inputs)}
    for node in nodes(graph):
        if any(i not in tensors for i in node.flat_input_ids):
            continue
        args, kwargs = node.map_arguments(tensors)
        out = operation_fn(node.layer)(*args, **kwargs)
        for x_id, y in zip(node.flat_output_ids, tf.nest.flatten(out)):
            tensors[x_id] = [y] * usage[x_id]
    outputs = [tensors[str(id(x))].pop() for x in graph.outputs]
    return tf.nest.pack_sequence_as(graph._nested_outputs, outputs)
