"""Training diagnostics: dead units and gradient flow, measured on a probe batch.

Both callbacks work with Keras 3 and tf_keras, on Sequential and Functional models,
and write one number per monitored layer into the epoch ``logs`` (so it appears in
``model.fit(...).history``) and into their own ``history`` dict.

* :class:`DeadUnitMonitor` -- "dying ReLU" made measurable. A unit (a Dense neuron or
  a convolution channel) is *dead* on a probe batch when its pre-activation is at or
  below the activation's dead threshold (registry ``dead_below``: 0 for relu, -3 for
  hard_swish, ...) for every probe sample and every spatial position: its output is
  then constant and its gradient zero, so it cannot learn from these inputs
  (Lu et al., 2019, "Dying ReLU and Initialization", arXiv:1903.06733).
* :class:`GradientFlowMonitor` -- the norm of the loss gradient per layer, the
  quantity whose decay with depth is the vanishing-gradient problem (Glorot & Bengio,
  2010; Hochreiter, 1991).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from keras_acts import _ops, registry
from keras_acts.backend import is_keras3, keras


def _entry_of_activation(fn: Any) -> registry.Activation | None:
    """The registry entry of an activation function (keras_acts or a same-math built-in)."""
    if fn is None:
        return None
    entry = registry.find_by_function(fn)
    if entry is not None:
        return entry
    name = getattr(getattr(fn, "func", fn), "__name__", None)
    if not isinstance(name, str) or name == "linear":
        return None
    try:
        entry = registry.lookup(name)
    except (ValueError, TypeError):
        return None
    frontend = "keras3" if is_keras3() else "tf_keras"
    builtin = entry.builtins.get(frontend)
    # A Keras built-in is trusted only when the registry says it has the same math.
    if builtin is not None and builtin.same_math:
        return entry
    return None


def monitored_layers(model: Any, threshold: float | None = None) -> list[tuple[Any, registry.Activation, str]]:
    """Layers whose activation has a dead region, as ``(layer, entry, kind)``.

    With ``threshold`` given, every registry activation layer is returned, also those
    without a dead region (leaky_relu, PReLU, elu, ...): see :func:`dead_unit_fractions`.

    ``kind`` is ``"input"`` for keras_acts activation layers (the pre-activation is the
    layer's input) and ``"fused"`` for layers with an ``activation=`` argument (Dense,
    Conv*, ...), whose pre-activation is recomputed with the activation switched off.
    """
    from keras_acts.layers.base import Activation as ActivationLayer
    from keras_acts.layers.base import RegistryActivation
    from keras_acts.layers.prelu import PReLU

    out = []
    for layer in _flat_layers(model):
        entry = None
        kind = "input"
        if isinstance(layer, PReLU):
            entry = registry.lookup("prelu")
        elif isinstance(layer, RegistryActivation):
            entry = registry.lookup(layer.activation_name)
        elif isinstance(layer, ActivationLayer):
            entry = registry.lookup(layer._entry_name)
        elif isinstance(layer, keras.layers.Activation):
            entry = _entry_of_activation(layer.activation)
        elif hasattr(layer, "activation") and callable(getattr(layer, "activation", None)):
            entry = _entry_of_activation(layer.activation)
            kind = "fused"
        if entry is not None and (threshold is not None or entry.dead_below is not None):
            out.append((layer, entry, kind))
    return out


def _flat_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ValueError(
                f"model {model.name!r} contains the nested model {layer.name!r}; the monitors need a flat "
                "Sequential or Functional model. Build the model without nesting, or monitor the inner model."
            )
        layers.append(layer)
    return layers


def _input_model(model: Any, layers: Sequence[Any]) -> Any:
    try:
        inputs = model.inputs
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        tensors = [layer.input for layer in layers]
    except (AttributeError, ValueError) as err:
        raise ValueError(
            f"cannot read the inputs of the layers of {model.name!r} ({err}). The monitors need a built "
            "Sequential or Functional model (subclassed models have no layer graph): build it with "
            "keras.Input(...) first, or call it once on data."
        ) from err
    return keras.Model(inputs, tensors)


def _pre_activation(layer: Any, x: Any) -> np.ndarray:
    """Calls a layer with its ``activation`` temporarily set to identity."""
    original = layer.activation
    try:
        object.__setattr__(layer, "activation", keras.activations.linear)
        return _ops.to_numpy(layer(x, training=False))
    finally:
        object.__setattr__(layer, "activation", original)


def dead_unit_fractions(model: Any, x: Any, threshold: float | None = None) -> dict[str, float]:
    """The share of dead units per monitored layer of ``model`` on the probe batch ``x``.

    A unit is a position along the last axis (Dense neuron, conv channel). It is dead
    when its pre-activation is ``<= dead_below`` for all probe samples and positions.

    Args:
        model: a built Sequential or Functional model.
        x: probe inputs (a NumPy array or tensor).
        threshold: count units whose pre-activation is ``<= threshold`` everywhere, in
            every registry activation layer, instead of each activation's own
            ``dead_below``. ``threshold=0.0`` compares the ReLU family: such a unit is
            dead under relu, while under leaky_relu or PReLU it still passes a
            (small) gradient -- "would be dead with relu", not dead.

    Returns:
        ``{layer_name: fraction in [0, 1]}``; empty when no layer has an activation
        with a dead region (e.g. only tanh, elu, leaky_relu or PReLU) and no
        ``threshold`` is given.
    """
    watched = monitored_layers(model, threshold)
    if not watched:
        return {}
    feed = _input_model(model, [layer for layer, _, _ in watched])
    inputs = feed(x, training=False)
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    out = {}
    for (layer, entry, kind), inp in zip(watched, inputs):
        pre = _ops.to_numpy(inp) if kind == "input" else _pre_activation(layer, inp)
        units = pre.reshape(-1, pre.shape[-1])
        limit = entry.dead_below if threshold is None else threshold
        dead = np.all(units <= limit, axis=0)
        out[layer.name] = float(dead.mean())
    return out


def gradient_norms(
    model: Any,
    x: Any,
    y: Any,
    loss: Callable[..., Any] | str | None = None,
) -> dict[str, float]:
    """The L2 norm of the loss gradient w.r.t. each layer's trainable weights.

    ``norm(layer) = sqrt(sum over the layer's weights w of ||dL/dw||^2)``, computed on
    one probe batch in inference mode (dropout off, BatchNorm statistics frozen).

    Args:
        model: a built model.
        x: probe inputs.
        y: probe targets.
        loss: a Keras loss (name or callable). Default: the model's compiled loss.

    Returns:
        ``{layer_name: norm}`` for every layer with trainable weights.
    """
    if loss is None and getattr(model, "loss", None) is None:
        raise ValueError(
            "gradient_norms needs a loss: compile the model first or pass loss=..., "
            "e.g. loss='sparse_categorical_crossentropy'."
        )
    loss_fn = keras.losses.get(loss if loss is not None else model.loss)
    x = _ops.convert_to_tensor(x)
    y = _ops.convert_to_tensor(y)
    layers = [layer for layer in model.layers if layer.trainable_weights]
    variables = [w for layer in layers for w in layer.trainable_weights]
    grads = _loss_gradients(model, loss_fn, x, y, variables)
    out = {}
    i = 0
    for layer in layers:
        n = len(layer.trainable_weights)
        squares = [float(np.sum(np.square(_ops.to_numpy(g).astype(np.float64)))) for g in grads[i : i + n] if g is not None]
        i += n
        out[layer.name] = float(np.sqrt(sum(squares))) if squares else 0.0
    return out


def _loss_gradients(model: Any, loss_fn: Callable[..., Any], x: Any, y: Any, variables: list) -> list:
    """d mean(loss(y, model(x))) / d v for each of ``variables`` (None where it does not depend on
    v), with the backend's own autodiff: ``tf.GradientTape``, ``jax.grad`` of the model's
    stateless call, or torch autograd."""
    if _ops.BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss_fn(y, model(x, training=False)))
        grads = tape.gradient(value, variables)
        return [None if g is None else tf.convert_to_tensor(g) for g in grads]  # IndexedSlices -> dense
    ops = keras.ops
    if _ops.BACKEND == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def value(tv: list) -> Any:
            y_pred, _ = model.stateless_call(tv, non_trainable, x, training=False)
            return ops.mean(loss_fn(y, y_pred))

        by_id = {id(v): g for v, g in zip(model.trainable_variables, jax.grad(value)(trainable))}
        return [by_id.get(id(v)) for v in variables]
    if _ops.BACKEND == "torch":
        import torch

        value = ops.mean(loss_fn(y, model(x, training=False)))
        return list(torch.autograd.grad(value, [v.value for v in variables], allow_unused=True))
    raise NotImplementedError(
        f"gradient_norms needs autodiff, which the {_ops.BACKEND!r} backend does not offer; "
        "use KERAS_BACKEND=tensorflow, jax or torch."
    )


class DeadUnitMonitor(keras.callbacks.Callback):
    """Logs the share of dead units per layer at the end of every epoch.

    Works for every registry activation with a dead region (``dead_below`` is set:
    relu, relu6, hard_swish, hard_sigmoid, hard_mish, ...), used either as a keras_acts
    activation layer or as ``activation=`` of Dense/Conv layers (keras_acts functions
    or Keras built-ins with the same math). Values go into ``logs`` as
    ``"{prefix}{layer_name}"`` (and so into ``History``) and into :attr:`history`.

    Args:
        probe_x: a fixed probe batch of inputs (a few hundred samples is typical).
        prefix: key prefix in ``logs``.
        verbose: print one line per epoch.
        threshold: one pre-activation threshold for every registry activation layer
            instead of each activation's ``dead_below`` (see :func:`dead_unit_fractions`);
            ``0.0`` makes relu, leaky_relu and PReLU networks comparable.

    Attributes:
        history: ``{layer_name: [fraction per epoch]}``.
    """

    def __init__(
        self, probe_x: Any, prefix: str = "dead/", verbose: bool = False, threshold: float | None = None
    ) -> None:
        super().__init__()
        self.probe_x = probe_x
        self.threshold = threshold
        self.prefix = prefix
        self.verbose = verbose
        self.history: dict[str, list[float]] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = {}
        if not monitored_layers(self.model, self.threshold):
            raise ValueError(
                "DeadUnitMonitor found no layer with a dead region in this model: its activations have "
                "none (e.g. tanh, elu, leaky_relu, PReLU) or are not keras_acts/Keras built-in "
                "activations. Use it with relu-like activations (registry `dead_below` is set), "
                "pass threshold=0.0 to count units below 0 in any registry activation, or drop the callback."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        fractions = dead_unit_fractions(self.model, self.probe_x, self.threshold)
        for name, value in fractions.items():
            self.history.setdefault(name, []).append(value)
            if logs is not None:
                logs[self.prefix + name] = value
        if self.verbose:
            text = ", ".join(f"{k}={v:.2f}" for k, v in fractions.items())
            print(f"epoch {epoch + 1}: dead units {text}")


class GradientFlowMonitor(keras.callbacks.Callback):
    """Logs the per-layer gradient norm on a probe batch at the end of every epoch.

    See :func:`gradient_norms`. Values go into ``logs`` as ``"{prefix}{layer_name}"``
    and into :attr:`history`; the norms at initialization (before the first epoch) are
    kept in :attr:`initial`.

    Args:
        probe_x: probe inputs.
        probe_y: probe targets.
        loss: a Keras loss; default the model's compiled loss.
        prefix: key prefix in ``logs``.
        verbose: print one line per epoch.

    Attributes:
        initial: ``{layer_name: norm}`` at the start of training.
        history: ``{layer_name: [norm per epoch]}``.
    """

    def __init__(
        self,
        probe_x: Any,
        probe_y: Any,
        loss: Callable[..., Any] | str | None = None,
        prefix: str = "grad_norm/",
        verbose: bool = False,
    ) -> None:
        super().__init__()
        self.probe_x = probe_x
        self.probe_y = probe_y
        self.loss = loss
        self.prefix = prefix
        self.verbose = verbose
        self.initial: dict[str, float] = {}
        self.history: dict[str, list[float]] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = {}
        self.initial = gradient_norms(self.model, self.probe_x, self.probe_y, self.loss)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        norms = gradient_norms(self.model, self.probe_x, self.probe_y, self.loss)
        for name, value in norms.items():
            self.history.setdefault(name, []).append(value)
            if logs is not None:
                logs[self.prefix + name] = value
        if self.verbose:
            text = ", ".join(f"{k}={v:.2e}" for k, v in norms.items())
            print(f"epoch {epoch + 1}: gradient norms {text}")
