"""The QAT layers of keras_acts's own QAT engine (no tfmot).

* :class:`FakeQuant` -- a per-tensor int8 range (moving average, or fixed) on one tensor;
  placed after model inputs and after Keras ops (``x + 3.0``) that compute new values.
* :class:`QuantizedWeights` -- Conv2D, DepthwiseConv2D or Dense with per-channel
  symmetric int8 weights, an optional BatchNorm folded in, an optional fused ReLU/ReLU6,
  and its output range.
* :class:`QuantizedOutput` -- any other computing layer (Add, Concatenate, Multiply,
  pooling, Rescaling, Normalization, a BatchNorm that cannot be folded, Softmax) run
  unchanged, with its output range.
* :class:`QuantizedActivation` -- a registry activation computed in its QAT formulation
  (:mod:`keras_acts.quantization.formulations`, shared with the tfmot path), with its
  output range; learnable PReLU alpha and Swish beta.

All layers are written against :data:`keras_acts.backend.keras` and :mod:`keras_acts._ops`
(``keras.ops`` on every Keras 3 backend; TensorFlow ops under tf_keras).
"""

from __future__ import annotations

from typing import Any

from keras_acts import _ops
from keras_acts.backend import keras, register_serializable
from keras_acts.quantization import formulations
from keras_acts.quantization.activation_weights import ActivationWeights
from keras_acts.quantization.engine import fake_quant, folding, graph, integer
from keras_acts.quantization.engine.ranges import DEFAULT_DECAY, RangeQuantizer, current_observer

_FUSED = {"linear": None, "relu": _ops.relu, "relu6": _ops.relu6, "hard_tanh": lambda y: _ops.clip(y, -1.0, 1.0)}


class _OutputRange:
    """Mixin: the output range of a layer, moving-average or fixed (``output_range``)."""

    def _init_output(self, quantize_output: bool, output_range: Any, decay: float) -> None:
        self.quantize_output = bool(quantize_output)
        self.output_range = tuple(float(v) for v in output_range) if output_range is not None else None
        self.decay = float(decay)
        self._out: RangeQuantizer | None = None

    def _build_output(self) -> None:
        if self.quantize_output and self.output_range is None:
            self._out = RangeQuantizer(self, "output", self.decay)

    def _quantize_output(self, y: Any, training: Any) -> Any:
        if not self.quantize_output:
            return y
        if self.output_range is not None:
            return formulations.fixed(y, *self.output_range)
        return self._out(y, training)

    def _output_config(self) -> dict[str, Any]:
        return {"quantize_output": self.quantize_output, "output_range": self.output_range, "decay": self.decay}

    def quantized_range(self) -> tuple[Any, Any] | None:
        """The (min, max) its output is quantized on in inference, or None if not quantized here."""
        if not self.quantize_output:
            return None
        if self.output_range is not None:
            return _ops.convert_to_tensor(self.output_range[0], "float32"), _ops.convert_to_tensor(self.output_range[1], "float32")
        if self._out is None:
            return None
        return _ops.convert_to_tensor(self._out.min), _ops.convert_to_tensor(self._out.max)


@register_serializable
class FakeQuant(_OutputRange, keras.layers.Layer):
    """Fake-quantizes its input per tensor (int8, asymmetric) on a learned or fixed range.

    Args:
        output_range: a fixed (lo, hi) range; None (default) learns a moving-average range.
        decay: moving-average decay per training step.
    """

    def __init__(self, output_range: Any = None, decay: float = DEFAULT_DECAY, **kwargs: Any) -> None:
        kwargs.pop("quantize_output", None)
        super().__init__(**kwargs)
        self._init_output(True, output_range, decay)

    def build(self, input_shape: Any) -> None:
        self._build_output()
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        return self._quantize_output(inputs, training)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        cfg = {**super().get_config(), **self._output_config()}
        cfg.pop("quantize_output")
        return cfg


def input_ranges(layer: Any) -> list[tuple[Any, Any]] | None:
    """The (min, max) each input of ``layer`` was quantized on, found through the model graph.

    Walks back from the layer's (single) inbound node through layout-only operations
    (max pooling, reshapes, padding, dropout), which keep the int8 scale, to the QAT layer
    whose output range quantized the tensor. None when the layer is not (or more than once)
    in a functional graph, or an input has no range of its own.
    """
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if len(nodes) != 1 or not graph.node_inputs(nodes[0]):
        return None
    ranges = [_tensor_range(t) for t in graph.node_inputs(nodes[0])]
    return None if any(r is None for r in ranges) else ranges


def _tensor_range(t: Any) -> tuple[Any, Any] | None:
    from keras_acts.quantization.engine.rewrite import OPS_PASSTHROUGH, PASSTHROUGH, op_name

    for _ in range(64):
        found = graph.producer(t)
        if found is None:
            return None
        op, node_index = found
        if isinstance(op, _OutputRange):
            return op.quantized_range()
        if isinstance(op, keras.layers.InputLayer) or not (isinstance(op, PASSTHROUGH) or op_name(op) in OPS_PASSTHROUGH):
            return None
        inbound = graph.node_inputs(op._inbound_nodes[node_index])
        if not inbound:
            return None
        t = inbound[0]
    return None


def _integer_inference(training: Any) -> bool:
    """Whether a QAT layer computes its int8 kernel's integer arithmetic (:mod:`.integer`):
    in inference, outside export tracing and calibration."""
    return not training and not integer.is_exporting() and current_observer() is None


def _fused_name(value: Any) -> str:
    """The fused activation's name. tf_keras's loader turns a config string naming a registered
    custom object ("relu6") into that object (keras_acts's function): map it back."""
    if callable(value):
        from keras_acts import registry

        entry = registry.find_by_function(value)
        value = entry.name if entry is not None else getattr(value, "__name__", value)
    if value not in _FUSED:
        raise ValueError(f"fused_activation must be one of {sorted(_FUSED)}, got {value!r}.")
    return value


class _Wrapping(_OutputRange, keras.layers.Layer):
    """Common part of the wrappers: the wrapped layer(s) serialized in the config."""

    def _sublayer(self, layer: Any) -> Any:
        if layer is None or isinstance(layer, keras.layers.Layer):
            return layer
        return keras.layers.deserialize(layer)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)


@register_serializable
class QuantizedWeights(_Wrapping):
    """A Conv2D, DepthwiseConv2D or Dense computed with fake-quantized (folded) weights.

    Forward: the kernel (times the folded BatchNorm scale ``gamma / sqrt(var + eps)``
    when ``batchnorm`` is given) is fake-quantized symmetric, narrow range, per output
    channel for convolutions and per tensor for Dense (measured: the converter fails with
    "'tfl.transpose' op has mismatched quantized axes" on a per-channel Dense kernel); the bias (folded: ``beta + (b - mean) * scale``) stays float, as the int32
    bias of the int8 kernel; then the fused activation (``"linear"``, ``"relu"``, ``"relu6"``
    or ``"hard_tanh"``, which the converter fuses into the op) and the output range.

    With a folded BatchNorm, training normalizes with the moving statistics (what the
    converter folds), and while the BatchNorm is trainable updates them from the batch
    statistics of the float convolution, as BatchNorm would.

    Args:
        layer: the Conv2D, DepthwiseConv2D or Dense (instance or serialized config), with a
            linear activation.
        batchnorm: the BatchNormalization folded into it, or None.
        fused_activation: ``"linear"``, ``"relu"``, ``"relu6"`` or ``"hard_tanh"`` (RELU_N1_TO_1).
        quantize_output: whether the output gets a range (False when a ReLU that the
            converter fuses into this op follows it).
        output_range: a fixed output range, or None for a moving-average one.
        decay: moving-average decay of the output range.
    """

    def __init__(
        self,
        layer: Any,
        batchnorm: Any = None,
        fused_activation: str = "linear",
        quantize_output: bool = True,
        output_range: Any = None,
        decay: float = DEFAULT_DECAY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layer = self._sublayer(layer)
        self.batchnorm = self._sublayer(batchnorm)
        self.fused_activation = _fused_name(fused_activation)
        self.depthwise = isinstance(self.layer, keras.layers.DepthwiseConv2D)
        self.dense = isinstance(self.layer, keras.layers.Dense)
        self._init_output(quantize_output, output_range, decay)

    def build(self, input_shape: Any) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
        if self.batchnorm is not None and not self.batchnorm.built:
            self.batchnorm.build(self.layer.compute_output_shape(input_shape))
        self._build_output()
        self.built = True

    def _kernel(self) -> Any:
        return getattr(self.layer, "depthwise_kernel", None) if self.depthwise and not hasattr(self.layer, "kernel") else self.layer.kernel

    def _op(self, x: Any, kernel: Any) -> Any:
        layer = self.layer
        if self.dense:
            return _ops.dense(x, kernel)
        if self.depthwise:
            return _ops.depthwise_conv2d(x, kernel, layer.strides, layer.padding, layer.dilation_rate)
        return _ops.conv2d(x, kernel, layer.strides, layer.padding, layer.dilation_rate)

    def _reduction(self, kernel: Any) -> int:
        """How many products each output of the op sums."""
        if self.dense:
            return int(kernel.shape[0])
        kh, kw = int(kernel.shape[0]), int(kernel.shape[1])
        return kh * kw if self.depthwise else kh * kw * int(kernel.shape[2])

    def _quantize_kernel(self, kernel: Any) -> Any:
        if self.dense:  # the converter cannot keep a per-channel axis through FC's kernel transpose
            return fake_quant.per_tensor_weight(kernel)
        if self.depthwise:
            kh, kw, cin, mult = kernel.shape
            flat = _ops.reshape(kernel, (kh, kw, 1, cin * mult))
            return _ops.reshape(fake_quant.per_channel_weights(flat), (kh, kw, cin, mult))
        return fake_quant.per_channel_weights(kernel)

    def _folded(self, x: Any, training: Any) -> tuple[Any, Any]:
        kernel = _ops.convert_to_tensor(self._kernel())
        bias = _ops.convert_to_tensor(self.layer.bias) if self.layer.use_bias else None
        bn = self.batchnorm
        if bn is None:
            return kernel, bias
        if training and bn.trainable:
            y = self._op(x, kernel)
            mean, var = folding.batch_moments(y if bias is None else y + bias)
            m = bn.momentum
            bn.moving_mean.assign(fake_quant.moving_average(_ops.convert_to_tensor(bn.moving_mean), _ops.stop_gradient(mean), m))
            bn.moving_variance.assign(
                fake_quant.moving_average(_ops.convert_to_tensor(bn.moving_variance), _ops.stop_gradient(var), m)
            )
        gamma = _ops.convert_to_tensor(bn.gamma) if bn.scale else None
        beta = _ops.convert_to_tensor(bn.beta) if bn.center else None
        scale = folding.bn_scale(gamma, _ops.convert_to_tensor(bn.moving_variance), bn.epsilon)
        return (
            folding.fold_kernel(kernel, scale, self.depthwise),
            folding.fold_bias(bias, scale, beta, _ops.convert_to_tensor(bn.moving_mean)),
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        kernel, bias = self._folded(inputs, training)
        if _integer_inference(training):
            in_ranges, out_range = input_ranges(self), self.quantized_range()
            if in_ranges is not None and out_range is not None:
                return self._integer_call(inputs, kernel, bias, in_ranges[0], out_range)
        y = self._op(inputs, self._quantize_kernel(kernel))
        if bias is not None:
            y = y + bias
        act = _FUSED[self.fused_activation]
        if act is not None:
            y = act(y)
        return self._quantize_output(y, training)

    def _integer_call(self, inputs: Any, kernel: Any, bias: Any, in_range: Any, out_range: Any) -> Any:
        """Inference as the int8 kernel computes it (:mod:`.integer`): integer accumulator,
        int32 bias, fp32 requantization with round-half-to-even, fused clamp."""
        s_in, z_in = integer.grid(*in_range)
        s_out, z_out = integer.grid(*out_range)
        if self.dense:
            s_w = integer.weight_scale(kernel, None)
        elif self.depthwise:
            kh, kw, cin, mult = kernel.shape
            s_w = _ops.reshape(integer.weight_scale(_ops.reshape(kernel, (kh, kw, 1, cin * mult)), -1), (cin, mult))
        else:
            s_w = integer.weight_scale(kernel, -1)
        w_int = _ops.round(_ops.divide_exact(self._quantize_kernel(kernel), _ops.cast(s_w, "float32")))  # the FakeQuant op's levels
        x_int = integer.levels(inputs, s_in)  # q - z of the quantized input, exactly
        # exact: float32 convolutions (oneDNN's Winograd, blocked sums) are not exact on integers
        acc = integer.integer_conv(self._op, x_int, w_int, self._reduction(kernel))
        s_w = _ops.reshape(s_w, (-1,))
        if bias is not None:  # the int32 bias, rounded on the double scale product as the converter does
            b_int = integer.round_half_away(_ops.divide_exact(_ops.cast(bias, integer.WIDE), integer.scale64(*in_range) * s_w))
            acc = acc + _ops.cast(b_int, _ops.dtype_name(acc))
        s_acc = s_in * _ops.cast(s_w, "float32")  # float32, as XNNPACK computes the requantization scale
        qmin, qmax = integer.output_bounds(self.fused_activation, s_out, z_out)
        q = integer.requantize(acc, _ops.divide_exact(s_acc, s_out), z_out, qmin, qmax)
        return (q - z_out) * s_out

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": keras.layers.serialize(self.layer),
            "batchnorm": keras.layers.serialize(self.batchnorm) if self.batchnorm is not None else None,
            "fused_activation": self.fused_activation,
            **self._output_config(),
        }


@register_serializable
class QuantizedOutput(_Wrapping):
    """Runs ``layer`` unchanged and fake-quantizes its output (moving or fixed range).

    In inference an Add or Multiply of two quantized tensors computes what XNNPACK's int8
    ADD / MUL kernels compute (:func:`.integer.add`, :func:`.integer.mul`).

    Args:
        layer: the wrapped layer (instance or serialized config).
        fused_activation: ``"linear"``, ``"relu"``, ``"relu6"`` or ``"hard_tanh"`` applied to the
            output (Add, Subtract and Multiply: the converter fuses it into the op).
        quantize_output: False when a ReLU the converter fuses into this op follows.
        output_range: a fixed output range (e.g. Softmax's [0, 255/256]), or None.
        decay: moving-average decay of the output range.
    """

    def __init__(
        self,
        layer: Any,
        fused_activation: str = "linear",
        quantize_output: bool = True,
        output_range: Any = None,
        decay: float = DEFAULT_DECAY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layer = self._sublayer(layer)
        self.fused_activation = _fused_name(fused_activation)
        self._init_output(quantize_output, output_range, decay)

    def build(self, input_shape: Any) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
        self._mid = RangeQuantizer(self, "scaled", self.decay) if _affine(self.layer) is not None else None
        self._identity = _identity_pooling(self.layer, input_shape)
        self._build_output()
        self.built = True

    def quantized_range(self) -> tuple[Any, Any] | None:
        if getattr(self, "_identity", False):  # the converter removes the op: its input's range
            ranges = input_ranges(self)
            return None if ranges is None else ranges[0]
        return super().quantized_range()

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if self._identity:  # averaging over a 1x1 map: the converter drops the op and its range
            return self.layer(inputs)
        affine = _affine(self.layer)
        if affine is not None:  # MUL then ADD in int8: the product needs its own range
            if training and isinstance(self.layer, keras.layers.BatchNormalization) and self.layer.trainable:
                self.layer(inputs, training=True)  # updates the moving statistics the affine form uses
            a, b = (fake_quant.constant(v) for v in affine)
            y = self._mid(inputs * a, training) + b
        else:
            kwargs = {"training": training} if _takes("training", self.layer) else {}
            if mask is not None and _takes("mask", self.layer):
                kwargs["mask"] = mask
            if _integer_inference(training):
                y = self._integer_call(inputs)
                if y is not None:
                    return y
            y = self.layer(inputs, **kwargs)
            act = _FUSED[self.fused_activation]
            if act is not None:
                y = act(y)
        return self._quantize_output(y, training)

    def _integer_call(self, inputs: Any) -> Any:
        """Add/Multiply of two int8 tensors as XNNPACK computes them, or None (float path)."""
        if isinstance(self.layer, (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D)):
            return self._integer_mean(inputs)
        kernel = {keras.layers.Add: integer.add, keras.layers.Multiply: integer.mul}.get(type(self.layer))
        if kernel is None or not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            return None
        if tuple(inputs[0].shape) != tuple(inputs[1].shape) and len(inputs[0].shape) != len(inputs[1].shape):
            return None
        in_ranges, out_range = input_ranges(self), self.quantized_range()
        if in_ranges is None or out_range is None:
            return None
        grids = [integer.grid(*r) for r in in_ranges]
        s_o, z_o = out = integer.grid(*out_range)
        qmin, qmax = integer.output_bounds(self.fused_activation, s_o, z_o)
        return kernel(inputs[0], inputs[1], grids[0], grids[1], out, qmin, qmax) * s_o

    def _integer_mean(self, inputs: Any) -> Any:
        """Global average pooling as XNNPACK's int8 MEAN computes it, or None."""
        cfg = self.layer.get_config()
        in_ranges, out_range = input_ranges(self), self.quantized_range()
        if cfg.get("data_format", "channels_last") != "channels_last" or in_ranges is None or out_range is None:
            return None
        s_o, z_o = out = integer.grid(*out_range)
        axes = list(range(1, len(inputs.shape) - 1))
        return integer.mean(inputs, axes, bool(cfg.get("keepdims")), integer.grid(*in_ranges[0]), out) * s_o

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": keras.layers.serialize(self.layer),
            "fused_activation": self.fused_activation,
            **self._output_config(),
        }


def _identity_pooling(layer: Any, input_shape: Any) -> bool:
    """Global average pooling over a single position (an identity the converter removes)."""
    if not isinstance(layer, (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D)):
        return False
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        return False
    spatial = tuple(input_shape)[1:-1]
    return all(d == 1 for d in spatial)


def _affine(layer: Any) -> tuple[Any, Any] | None:
    """(a, b) with ``layer(x) == x * a + b`` (inference) for Rescaling, Normalization and
    BatchNormalization (one that could not be folded into a conv), else None."""
    if isinstance(layer, keras.layers.Rescaling):
        if not layer.get_config().get("offset"):
            return None
        return _ops.cast(layer.scale, "float32"), _ops.cast(layer.offset, "float32")
    if isinstance(layer, keras.layers.BatchNormalization):  # inference form, as the converter folds it
        a = _ops.rsqrt(_ops.convert_to_tensor(layer.moving_variance) + layer.epsilon)
        if layer.scale:
            a = a * _ops.convert_to_tensor(layer.gamma)
        b = -_ops.convert_to_tensor(layer.moving_mean) * a
        return a, (b + _ops.convert_to_tensor(layer.beta)) if layer.center else b
    if isinstance(layer, keras.layers.Normalization) and not getattr(layer, "invert", False):
        inv = _ops.divide_exact(1.0, _ops.maximum(_ops.sqrt(_ops.convert_to_tensor(layer.variance)), 1e-7))
        return inv, -_ops.convert_to_tensor(layer.mean) * inv
    return None


def _takes(arg: str, layer: Any) -> bool:
    import inspect

    try:
        return arg in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


# --- automatic lowering hook (issue 21) ---------------------------------------------------------
def _auto_qat_form(activation: str, params: Any) -> Any:
    """The QAT formulation of the automatic int8 form of an activation registered without lowerings
    (:mod:`keras_acts.export.auto_lowering`, cpu target, -8..8), or None for every other activation."""
    from keras_acts import registry
    from keras_acts.export import auto_lowering

    entry = registry.lookup(activation)
    if not auto_lowering.applies(entry, "cpu"):
        return None
    try:
        key = (activation, tuple(sorted(dict(params or {}).items())))
        hash(key)
    except TypeError:  # a tensor parameter: no cache
        key = None
    if key is not None and key in _AUTO_QAT:
        return _AUTO_QAT[key]
    result = auto_lowering.lowering_for(entry, dict(params or {}), "cpu", auto_lowering.DEFAULT_RANGE)
    form = result.qat if result.ok else None
    if key is not None:
        _AUTO_QAT[key] = form
    return form


_AUTO_QAT: dict = {}  # (activation, params) -> QATForm or None, per process

#: A floored point's range is at least this fraction of its floor's: XNNPACK refuses an int8 ADD/SUB whose
#: input/output scale ratio is below 1/1024 (``xnnpack_ops.json``); 1/256 keeps a 4x margin and costs that
#: input at most 1/512 of an output step of rounding.
FLOOR_RATIO = 1.0 / 256.0


def _qat_form(activation: str, formulation: int, params: Any) -> Any:
    """``formulations.form``, or the automatic form's QAT formulation (see :func:`_auto_qat_form`)."""
    form = formulations.form(activation, formulation)
    return form if form is not None else _auto_qat_form(activation, params)
# --- end of the automatic lowering hook -----------------------------------------------------------


@register_serializable
class QuantizedActivation(ActivationWeights, _OutputRange, keras.layers.Layer):
    """A registry activation in its QAT formulation, with its output range.

    The formulation (``formulations.qat_activation``) is the one the tfmot path's
    ``QATActivation`` uses: fake-quants on every intermediate tensor the int8 graph
    requantizes; moving-average points are :class:`RangeQuantizer` s here.

    Args:
        activation: registry name of the activation.
        params: the activation's parameters.
        trainable_beta: Swish only: beta is a learned scalar (Swish-β).
        shared_axes: PReLU only: axes along which alpha is shared.
        alpha_initializer: PReLU only: initializer of alpha (default 0.25).
        quantize_output, output_range, decay: see :class:`QuantizedOutput`; the fixed
            range of LOGISTIC/TANH outputs is taken from the formulation by default.
        formulation: formulation version (default the current one; layers saved without it are 1).
    """

    def __init__(
        self,
        activation: str,
        params: dict[str, Any] | None = None,
        trainable_beta: bool = False,
        shared_axes: list[int] | None = None,
        alpha_initializer: Any = None,
        quantize_output: bool = True,
        output_range: Any = None,
        decay: float = DEFAULT_DECAY,
        formulation: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_activation(activation, params, trainable_beta, shared_axes, alpha_initializer, formulation)
        form = _qat_form(self.activation, self.formulation, self.params)
        if output_range is None and form is not None:
            output_range = form.output_range
        self._init_output(quantize_output, output_range, decay)
        self._points: dict[str, RangeQuantizer] = {}

    def build(self, input_shape: Any) -> None:
        self._build_activation_weights(input_shape)
        form = _qat_form(self.activation, self.formulation, self.params)
        for name in form.moving if form is not None else ():
            self._points[name] = RangeQuantizer(self, name, self.decay)
        self._build_output()
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        def point(t: Any, name: str, floor: str | None = None) -> Any:
            # floor: the point (or "output") whose range bounds this one's from below, so that an int8
            # ADD/SUB of this tensor keeps XNNPACK's input/output scale ratio (automatic forms only)
            if floor is None:
                return self._points[name](t, training)
            return self._points[name](t, training, min_width=self._floor_width(floor))

        if _integer_inference(training) and self.quantize_output:
            y = self._integer_call(inputs)
            if y is not None:
                return y
        auto = _auto_qat_form(self.activation, self.params)
        if auto is not None:
            y = auto.fn(inputs, point)
        else:
            y = formulations.qat_activation(
                self.activation, inputs, point, self._call_params(), alpha=self.alpha, version=self.formulation
            )
        return self._quantize_output(y, training)

    def _floor_width(self, floor: str) -> Any:
        """The smallest range width a point floored by ``floor`` may have (see :data:`FLOOR_RATIO`)."""
        if floor == "output":
            lo_hi = self.quantized_range()
            if lo_hi is None:
                return None
            lo, hi = lo_hi
        else:
            ref = self._points[floor]
            lo, hi = _ops.convert_to_tensor(ref.min), _ops.convert_to_tensor(ref.max)
        return (hi - lo) * FLOOR_RATIO

    def _integer_call(self, inputs: Any) -> Any:
        """LeakyReLU and PReLU as XNNPACK's int8 kernels compute them, or None (float path).

        The other activations' int8 kernels are lookup tables or fp32-requantized MULs, which the
        float formulation already reproduces; LEAKY_RELU's 8-bit multipliers and ADD's 21-bit
        ones round differently, so those two are computed integer for integer.
        """
        if self.activation not in ("leaky_relu", "prelu"):
            return None
        in_ranges, out_range = input_ranges(self), self.quantized_range()
        if in_ranges is None or out_range is None:
            return None
        g_in, g_out = integer.grid(*in_ranges[0]), integer.grid(*out_range)
        if self.activation == "leaky_relu":
            from keras_acts import registry

            slope = {p.name: p.default for p in registry.lookup("leaky_relu").params}
            slope.update(self.params)
            return integer.leaky_relu(inputs, float(slope["negative_slope"]), g_in, g_out) * g_out[0]
        # PReLU's cpu form (rectifiers._qat_prelu): MUL(x, -1)+RELU, MUL(1 - alpha, .), ADD(x, .)
        g_neg, g_scaled = (integer.grid(self._points[n].min, self._points[n].max) for n in ("negative", "scaled"))
        minus_one = _ops.convert_to_tensor(-1.0, "float32")
        neg = integer.mul(inputs, minus_one, g_in, integer.constant_grid(-1.0), g_neg, g_neg[1], 127.0) * g_neg[0]
        gain = formulations.prelu_gain(self.alpha, inputs.dtype)
        g_gain = integer.grid(*formulations.prelu_gain_range(self.alpha, inputs.dtype))
        scaled = integer.mul(gain, neg, g_gain, g_neg, g_scaled, -128.0, 127.0) * g_scaled[0]
        return integer.add(inputs, scaled, g_in, g_scaled, g_out, -128.0, 127.0) * g_out[0]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._activation_config(), **self._output_config()}


QAT_LAYERS = (FakeQuant, QuantizedWeights, QuantizedOutput, QuantizedActivation)
"""Every layer class of the engine (the exporter recognises QAT models by them)."""
