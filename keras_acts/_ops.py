"""The few tensor operations the activations' training math is written with, for every backend.

Under Keras 3 these are ``keras.ops`` (so the activations and layers run on the jax, torch and
tensorflow backends, as Keras's own layers do); under tf_keras they are the TensorFlow
equivalents. The activation modules (:mod:`keras_acts.activations`) write each formula once
with this namespace and never branch on the frontend or backend: the few places where a
backend needs its own op live here.

Besides thin aliases, these carry the edge-value guarantees cheaply:

* :func:`mul_no_nan` -- ``x * g`` with ``0`` wherever ``g == 0``, even for ``x = +-inf``: the
  guard of a self-gated ``x * gate(x)`` (``-inf * 0`` would be NaN). On TensorFlow this is one
  op (``MulNoNan``), so the guard costs no extra pass over memory; on jax and torch it is a
  select, which their compilers (``jit``) fuse into the product.
* :func:`custom_gradient` -- one signature (``fn(x) -> (y, grad(upstream))``) for
  ``keras.ops.custom_gradient``, whose backward function is called positionally on
  tensorflow and jax but with the saved inputs and ``upstream=`` as keyword on torch, and for
  ``tf.custom_gradient`` under tf_keras.
* :data:`FUSED` (torch) -- single ATen kernels for swish, hard_swish, gelu, mish and hard_sigmoid
  and their backward kernels, behind one read-only finiteness check per call
  (:func:`input_scope` shares it between the forward and the backward pass); and, in eager mode,
  hard_tanh and prelu as ``autograd.Function`` s whose backward passes are one to three ATen kernels
  (autograd's own ``clamp``/``clamp_min`` backward is a slow ``where``); softsign in one buffer.
* :func:`if_finite` -- in TensorFlow graphs without XLA, the unguarded (fusable) form where a
  reduction shows the input is finite, the guarded one otherwise.
* :func:`bn_safe_tanh` / :func:`bn_safe_softplus` -- a tanh and a softplus that TensorFlow
  2.21's CPU graph optimizer does not fuse with tf_keras's ``FusedBatchNorm`` into ops that
  have no kernel; plain ops everywhere else.

The QAT engine (:mod:`keras_acts.quantization`) adds, at the end of each frontend block, the
convolutions, reductions and moments it needs, :func:`divide_exact` (a correctly rounded
division, which XLA and torch do not give for scalar divisors) and fake quantization:
TensorFlow's FakeQuant ops on the TensorFlow backend and under tf_keras (the TFLite converter
reads them), their arithmetic in ``keras.ops`` on jax and torch, equal bit for bit.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
from typing import Any, Callable

import numpy as np

from keras_acts.backend import is_tf_keras, keras

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

# Single-kernel forms of some activations and their derivatives, where the backend has them and
# op-by-op evaluation is much slower (torch eager; filled in below). Keys: "silu", "hard_silu",
# "gelu", "mish", "hard_sigmoid", "celu", "hard_tanh", "softsign", "prelu" (``prelu(x, alpha)``, None where the
# composite form must run), "<name>_derivative" (``d(x)``) and "<name>_backward"
# (``upstream * d(x)`` in one kernel: ``backward(upstream, x)``). Empty on tensorflow (MulNoNan keeps the
# guard in one op and the graph optimizer fuses) and jax (every activation is jitted into one kernel).
FUSED: dict[str, Callable[..., Any]] = {}


class _NoScope:
    """The context :func:`input_scope` returns where there is nothing to remember (not torch)."""

    def __enter__(self) -> "_NoScope":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


_NO_SCOPE = _NoScope()


def input_scope(x: Any) -> Any:
    """A context around one activation call's forward (and again its backward) pass on ``x``.

    On torch the fused forms (:data:`FUSED`) find whether ``x`` is all finite at most once inside
    it; elsewhere it does nothing.
    """
    return _NO_SCOPE


def _tensorflow_fake_quant() -> tuple[Callable[..., Any], ...]:
    """TensorFlow's FakeQuant ops (what the TFLite converter reads) and its eagerness test.

    Used by tf_keras and by Keras 3's tensorflow backend; the other backends use the
    portable fake quantization below, which equals these bit for bit.
    """
    import tensorflow as tf

    def fake_quant(x: Any, lo: Any, hi: Any, narrow_range: bool = False) -> Any:
        return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=narrow_range)

    def fake_quant_per_channel(x: Any, lo: Any, hi: Any, narrow_range: bool = False) -> Any:
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(x, lo, hi, num_bits=8, narrow_range=narrow_range)

    def fake_quant_fixed(x: Any, lo: float, hi: float) -> Any:
        return tf.quantization.fake_quant_with_min_max_args(x, min=lo, max=hi, num_bits=8)

    return fake_quant, fake_quant_per_channel, fake_quant_fixed, tf.executing_eagerly


if is_tf_keras():
    import tensorflow as tf

    BACKEND = "tensorflow"

    def convert_to_tensor(x: Any, dtype: Any = None) -> Any:
        return tf.convert_to_tensor(x, dtype=dtype)

    def is_tensor(x: Any) -> bool:
        return tf.is_tensor(x)

    def dtype_name(x: Any) -> str:
        return tf.as_dtype(x.dtype).name

    def cast(x: Any, dtype: Any) -> Any:
        return tf.cast(x, dtype)

    relu = tf.nn.relu
    relu6 = tf.nn.relu6
    sigmoid = tf.math.sigmoid
    softsign = tf.nn.softsign
    abs = tf.math.abs
    exp = tf.math.exp
    expm1 = tf.math.expm1
    erfc = tf.math.erfc
    square = tf.math.square
    sqrt = tf.math.sqrt
    maximum = tf.maximum
    minimum = tf.minimum

    def where(cond: Any, a: Any, b: Any) -> Any:
        # A Python number takes the other branch's dtype (tf.where would make it float32).
        if isinstance(a, numbers.Number) and tf.is_tensor(b):
            a = tf.constant(a, b.dtype)
        elif isinstance(b, numbers.Number) and tf.is_tensor(a):
            b = tf.constant(b, a.dtype)
        return tf.where(cond, a, b)
    mul_no_nan = tf.math.multiply_no_nan
    tanh = tf.math.tanh
    softplus = tf.math.softplus
    isfinite = tf.math.is_finite
    elu = tf.nn.elu
    selu = tf.nn.selu

    def clip(x: Any, lo: Any, hi: Any) -> Any:
        return tf.clip_by_value(x, lo, hi)

    def leaky_relu(x: Any, negative_slope: float) -> Any:
        return tf.nn.leaky_relu(x, alpha=negative_slope)

    def bn_safe_tanh(x: Any) -> Any:
        # -tanh(-x) == tanh(x) exactly (tanh is odd); the negation keeps tf_keras's
        # FusedBatchNorm -> Tanh apart ("Fusion is not implemented: [FusedBatchNorm,Tanh]").
        # Eagerly there is no graph optimizer: the one Tanh op.
        if tf.executing_eagerly():
            return tf.math.tanh(x)
        return -tf.math.tanh(-x)

    def bn_safe_softplus(x: Any) -> Any:
        # relu(x) + log1p(exp(-|x|)): exact and stable, and not the Softplus op that the
        # optimizer fuses with FusedBatchNorm -> x * tanh(Softplus(x)) into a kernel-less op.
        # Eagerly there is no graph optimizer: TensorFlow's one Softplus op.
        if tf.executing_eagerly():
            return tf.math.softplus(x)
        return tf.nn.relu(x) + tf.math.log1p(tf.math.exp(-tf.math.abs(x)))

    def mish(x: Any) -> Any:
        # With bn_safe_softplus: tf_keras's FusedBatchNorm -> x * tanh(Softplus(x)) has no kernel.
        return x * tf.math.tanh(bn_safe_softplus(x))

    def custom_gradient(
        fn: Callable[[Any], tuple[Any, Callable[[Any], Any]]], plain: Callable[[Any], Any] | None = None
    ) -> Callable[[Any], Any]:
        return _skip_tape_when_idle(tf.custom_gradient(fn), fn, plain)

    # -- the QAT engine's tensor operations (keras_acts.quantization) ----------------------------
    # The TensorFlow ops the engine always used: fake quantization must stay TensorFlow's
    # FakeQuant ops, which the TFLite converter reads.
    WIDE_FLOAT = "float64"  # exact integer accumulators (below 2**53)
    floor = tf.math.floor
    round = tf.math.round  # half to even
    sign = tf.math.sign
    sqrt = tf.math.sqrt
    rsqrt = tf.math.rsqrt
    log = tf.math.log
    stop_gradient = tf.stop_gradient
    reshape = tf.reshape
    transpose = tf.transpose
    floor_divide = tf.math.floordiv
    power = tf.math.pow
    ones_like = tf.ones_like

    def divide_exact(x: Any, y: Any) -> Any:
        return x / y

    def reduce_sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def reduce_max(x: Any, axis: Any = None) -> Any:
        return tf.reduce_max(x, axis=axis)

    def reduce_min(x: Any, axis: Any = None) -> Any:
        return tf.reduce_min(x, axis=axis)

    def moments(x: Any, axes: list[int]) -> tuple[Any, Any]:
        return tf.nn.moments(x, axes=axes)

    def dense(x: Any, kernel: Any) -> Any:
        if len(x.shape) > 2:
            return tf.tensordot(x, kernel, axes=[[len(x.shape) - 1], [0]])
        return tf.matmul(x, kernel)

    def conv2d(x: Any, kernel: Any, strides: Any, padding: str, dilation_rate: Any) -> Any:
        return tf.nn.conv2d(x, kernel, (1, *strides, 1), padding.upper(), dilations=tuple(dilation_rate))

    def depthwise_conv2d(x: Any, kernel: Any, strides: Any, padding: str, dilation_rate: Any) -> Any:
        return tf.nn.depthwise_conv2d(x, kernel, (1, *strides, 1), padding.upper(), dilations=tuple(dilation_rate))

    fake_quant, fake_quant_per_channel, fake_quant_fixed, is_eager = _tensorflow_fake_quant()

    def to_numpy(x: Any) -> np.ndarray:
        return np.asarray(x)

else:
    ops = keras.ops
    BACKEND = keras.backend.backend()

    def convert_to_tensor(x: Any, dtype: Any = None) -> Any:
        return ops.convert_to_tensor(x, dtype=dtype)

    def is_tensor(x: Any) -> bool:
        return ops.is_tensor(x)

    def dtype_name(x: Any) -> str:
        return keras.backend.standardize_dtype(x.dtype)

    def cast(x: Any, dtype: Any) -> Any:
        return ops.cast(x, dtype)

    relu = ops.relu
    relu6 = ops.relu6
    sigmoid = ops.sigmoid
    softsign = ops.softsign
    abs = ops.abs
    exp = ops.exp
    expm1 = ops.expm1
    square = ops.square
    sqrt = ops.sqrt
    where = ops.where

    def maximum(x: Any, y: Any) -> Any:
        # A Python number as a scalar of x's dtype: Keras 3.15's torch backend computes
        # maximum(float64 tensor, 0.0) in float32.
        return ops.maximum(x, _scalar_like(y, x))

    def minimum(x: Any, y: Any) -> Any:
        return ops.minimum(x, _scalar_like(y, x))

    def _scalar_like(y: Any, x: Any) -> Any:
        if isinstance(y, numbers.Number):
            return ops.convert_to_tensor(y, dtype=dtype_name(x))
        return y
    clip = ops.clip
    tanh = ops.tanh
    softplus = ops.softplus
    isfinite = ops.isfinite
    elu = ops.elu
    selu = ops.selu
    bn_safe_tanh = ops.tanh  # the fusion trap is tf_keras's FusedBatchNorm only
    bn_safe_softplus = ops.softplus
    # Keras's own x * tanh(softplus(x)), which TensorFlow's graph optimizer fuses into one kernel.
    mish = keras.activations.mish

    def leaky_relu(x: Any, negative_slope: float) -> Any:
        return ops.leaky_relu(x, negative_slope=negative_slope)

    if BACKEND == "tensorflow":
        import tensorflow as tf

        mul_no_nan = tf.math.multiply_no_nan
        erfc = tf.math.erfc
    elif BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def mul_no_nan(x: Any, y: Any) -> Any:
            return jnp.where(y == 0, jnp.zeros((), y.dtype), x * y)

        erfc = jax.lax.erfc
    elif BACKEND == "torch":
        import torch

        def mul_no_nan(x: Any, y: Any) -> Any:
            return torch.where(y == 0, torch.zeros((), dtype=y.dtype, device=y.device), x * y)

        def erfc(x: Any) -> Any:
            return torch.special.erfc(x)

        # Keras 3.15's torch maximum, minimum and clip compute float64 inputs in float32 (and clip
        # rounds its bounds to float32): torch's own ops keep the input's dtype.
        def maximum(x: Any, y: Any) -> Any:
            return torch.clamp_min(x, y) if isinstance(y, numbers.Number) else torch.maximum(x, y)

        def minimum(x: Any, y: Any) -> Any:
            return torch.clamp_max(x, y) if isinstance(y, numbers.Number) else torch.minimum(x, y)

        def clip(x: Any, lo: Any, hi: Any) -> Any:
            return torch.clamp(x, lo, hi)

        # Keras's torch built-ins silu, hard_silu, gelu, mish and hard_sigmoid are single fused ATen
        # kernels; written op by op (with the mul_no_nan guard) the same math took 4-7x as long
        # in eager mode. These call the same kernels. The kernels compute ``-inf * 0 = NaN`` at
        # -inf (their derivatives ``inf * 0`` at +-inf, gelu's erf NaN at +inf), so:
        # * on CPU, op by op, one read-only reduction (``x.sum()``, no tensor written) tells
        #   whether ``x`` is all finite; if it is (the normal case) the kernel runs on ``x`` as
        #   Keras's does. A host sync is free on CPU; under torch.compile or on an accelerator the
        #   guarded form always runs (Inductor fuses its guard into the kernel; no sync: under
        #   torch.compile silu and hardswish select -0 where x is -inf on the kernel's output, fewer
        #   vector instructions than clamping the input).
        #   The answer is computed once per forward/backward pair (:func:`input_scope`).
        # * otherwise the input is clamped (-inf to the lowest finite value, where the kernel
        #   gives -0, the limit; NaN stays NaN; +inf gives +inf) and the kernel runs in place on
        #   the clamped copy (one allocation, as Keras's). Gradients are ATen's backward kernels
        #   applied to the upstream gradient directly (``<name>_backward``: one kernel, as
        #   Keras's autograd), on the input clamped to the finite range where it is not finite,
        #   which gives the limits 0 and 1 of the derivative instead of inf * 0.
        # Measured alternatives (docs/BENCHMARKS.md): the same check on the output, and the
        # check and kernel in cache-sized chunks, were slower; no ATen kernel computes these
        # products with the limit at -inf.
        import threading

        _F = torch.nn.functional
        _aten = torch.ops.aten
        _scope = threading.local()

        class _InputScope:
            """The finiteness of one input, found at most once inside ``with`` blocks (see input_scope)."""

            __slots__ = ("x", "version", "finite")

            def __init__(self, x: Any) -> None:
                self.x = x
                self.version = _version_of(x)
                self.finite: bool | None = None

            def __enter__(self) -> "_InputScope":
                _scopes().append(self)
                return self

            def __exit__(self, *exc: Any) -> None:
                _scopes().pop()

        def _version_of(x: Any) -> int | None:
            # Tensors made under torch.inference_mode have no version counter (reading ``_version``
            # raises); they never reach a backward pass, so the scope needs none.
            if not isinstance(x, torch.Tensor) or x.is_inference():
                return None
            return x._version

        def _scopes() -> list:
            stack = getattr(_scope, "stack", None)
            if stack is None:
                stack = _scope.stack = []
            return stack

        def _current_scope(x: Any) -> "_InputScope | None":
            stack = getattr(_scope, "stack", None)
            if stack:
                memo = stack[-1]
                if memo.x is x and memo.version == _version_of(x):
                    return memo
            return None

        def input_scope(x: Any) -> Any:
            """A context in which the fused forms check ``x``'s finiteness at most once.

            :func:`keras_acts.lowering._with_derivative` enters it around the forward pass and
            again around the backward pass of one call, so the backward kernel runs without a
            second reduction over the input. An in-place change of ``x`` in between (which
            autograd refuses anyway) is seen through ``x``'s version counter. Inside a scope for
            the same ``x`` it returns that scope.
            """
            if torch.compiler.is_compiling():
                # No check to share; Dynamo traces nullcontext (any other context manager breaks the graph).
                return contextlib.nullcontext()
            if not isinstance(x, torch.Tensor):
                return _NO_SCOPE
            return _current_scope(x) or _InputScope(x)

        def _check_finite(x: Any) -> bool:
            # A sum that overflows to inf only sends finite inputs down the guarded path.
            # .data: the sum is not recorded by autograd (about 1 us per call on small tensors).
            # float32/float64 sum in their own dtype (a dtype= argument costs ATen ~20 % more time);
            # float16/bfloat16 in float32, where a large finite input does not overflow the sum.
            x = x.data  # like detach(), a little cheaper; the sum only reads it
            if x.dtype in (torch.float32, torch.float64):
                return math.isfinite(x.sum().item())
            return math.isfinite(x.sum(dtype=torch.float32).item())

        def _surely_finite(x: Any) -> bool:
            if x.device.type != "cpu" or torch.compiler.is_compiling():
                return False
            memo = _current_scope(x)
            if memo is None:
                return _check_finite(x)
            if memo.finite is None:
                memo.finite = _check_finite(x)
            return memo.finite

        def _finite_lo(x: Any) -> Any:
            return torch.clamp_min(x, torch.finfo(x.dtype).min)

        def _finite(x: Any) -> Any:
            info = torch.finfo(x.dtype)
            return torch.clamp(x, info.min, info.max)

        def _ones_like(x: Any) -> Any:
            return torch.ones((), dtype=x.dtype, device=x.device).expand_as(x)

        def _fused(kernel: Callable[..., Any]) -> Callable[[Any], Any]:
            def fn(x: Any) -> Any:
                if _surely_finite(x):
                    return kernel(x)
                if torch.compiler.is_compiling():
                    # Inductor fuses either guard into the kernel, which is compute-bound (silu:
                    # Sleef exp and a division): a select on the output costs fewer vector
                    # instructions than clamping the input (NaN-propagating max). The kernels
                    # give NaN only at -inf (limit -0) among non-NaN inputs.
                    return torch.where(x == -math.inf, -0.0, kernel(x))
                return kernel(_finite_lo(x), inplace=True)

            return fn

        def _fused_backward(backward_op: Any, in_place: bool = True) -> Callable[[Any, Any], Any]:
            def backward(upstream: Any, x: Any) -> Any:
                if _surely_finite(x):
                    return backward_op.default(upstream, x)
                buf = _finite(x)
                if not in_place or upstream.dtype != buf.dtype:
                    return backward_op.default(upstream, buf)
                return backward_op.grad_input(upstream, buf, grad_input=buf)

            return backward

        def _hardswish_backward(upstream: Any, x: Any) -> Any:
            # 0 below -3, (2x + 3) / 6 up to 3, 1 above: +-inf fall in the outer branches, no guard.
            return _aten.hardswish_backward(upstream, x)

        def _derivative(backward: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
            # The derivative alone: the backward kernel with a stride-0 upstream of ones (no memory).
            return lambda x: backward(_ones_like(x), x)

        def _gelu(x: Any) -> Any:
            if _surely_finite(x):
                return _F.gelu(x)
            # ATen's vectorized erf gives NaN at +inf: +inf is written back (the limit), in place.
            y = _aten.gelu_(_finite_lo(x))
            return y.masked_fill_(torch.isposinf(x), math.inf)

        def _celu_backward(upstream: Any, x: Any, alpha: float) -> Any | None:
            # ATen's ELU backward with input scale 1/alpha; it takes the positive branch at NaN
            # (docs/EDGE_VALUES.md), so only for an all-finite input (None: use the derivative).
            if not _surely_finite(x):
                return None
            return _aten.elu_backward(upstream, alpha, 1.0, 1.0 / alpha, False, x)

        def _records_grad(*tensors: Any) -> bool:
            """An autograd node would be recorded for an op on ``tensors`` (eager, not traced by Dynamo)."""
            return (
                torch.is_grad_enabled()
                and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)
                and not torch.compiler.is_compiling()
            )

        class _HardTanhFn(torch.autograd.Function):
            """``clamp(x, -1, 1)`` with its gradient in one ATen kernel, passing it on the bounds.

            Autograd's own ``clamp`` backward takes four passes (two comparisons, their ``and`` and a
            ``where``: 10-13 ms per 2^22 float32 where ``hardtanh_backward`` takes 1.3 ms); ATen's
            ``hardtanh_backward`` zeroes the gradient at exactly +-1 (open interval). Called with bounds
            one ulp outside +-1 (``1 + eps`` of the dtype: no value of the dtype lies between), it passes
            the gradient on ``[-1, 1]`` as ``tf.clip_by_value`` and ``clamp`` do, and gives 0 at +-inf.
            """

            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return torch.clamp(x, -1.0, 1.0)

            @staticmethod
            def backward(ctx: Any, upstream: Any) -> Any:
                (x,) = ctx.saved_tensors
                bound = 1.0 + torch.finfo(x.dtype).eps
                return _aten.hardtanh_backward(upstream, x, -bound, bound)

        def _hard_tanh(x: Any) -> Any:
            if _records_grad(x):
                return _HardTanhFn.apply(x)
            return torch.clamp(x, -1.0, 1.0)  # no_grad, inference, or torch.compile (Inductor fuses clamp's backward)

        class _PReLUFn(torch.autograd.Function):
            """PReLU in one ATen kernel (``_prelu_kernel``: ``x if x > 0 else alpha * x``), alpha broadcast.

            The input gradient is ``upstream`` where ``x >= 0`` (derivative 1 at 0, as TensorFlow's
            ``maximum`` gives) and ``alpha * upstream`` below, each exact: ``p = threshold_backward(upstream,
            x, -s)`` (``s`` the smallest subnormal: ``x > -s`` is ``x >= 0``, -0 included) keeps ``upstream``
            where ``x >= 0`` and 0 elsewhere, and ``p + alpha * (upstream - p)`` adds ``alpha * upstream``
            only where ``p`` is 0. Three vectorized passes where autograd through
            ``max(x, 0) + (-alpha) * relu(-x)`` took eight (``clamp_min``'s backward is a ``where``, 15 ms
            per 2^22 float32), and ATen's own ``_prelu_kernel_backward`` (scalar loop, 23 ms) gives ``alpha``
            at 0. alpha's gradient: ``sum(upstream * min(x, 0))`` over the broadcast axes.
            """

            @staticmethod
            def forward(ctx: Any, x: Any, alpha: Any) -> Any:
                ctx.save_for_backward(x, alpha)
                return _aten._prelu_kernel(x, alpha)

            @staticmethod
            def backward(ctx: Any, upstream: Any) -> Any:
                x, alpha = ctx.saved_tensors
                d_x = d_alpha = None
                if ctx.needs_input_grad[0]:
                    info = torch.finfo(x.dtype)
                    kept = _aten.threshold_backward(upstream, x, -info.smallest_normal * info.eps)
                    d_x = kept.addcmul_(upstream - kept, alpha)
                if ctx.needs_input_grad[1]:
                    d_alpha = (upstream * torch.clamp_max(x, 0.0)).sum_to_size(alpha.shape)
                return d_x, d_alpha

        def _prelu(x: Any, alpha: Any) -> Any | None:
            """PReLU on torch in eager mode (see _PReLUFn); None where the composite form should run
            (torch.compile, or an alpha that broadcasts ``x`` to a larger shape)."""
            if torch.compiler.is_compiling():
                return None
            if not isinstance(alpha, torch.Tensor):
                alpha = torch.tensor(alpha, dtype=x.dtype, device=x.device)
            if alpha.dtype != x.dtype or torch.broadcast_shapes(x.shape, alpha.shape) != x.shape:
                return None
            if _records_grad(x, alpha):
                return _PReLUFn.apply(x, alpha)
            return _aten._prelu_kernel(x, alpha)

        class _MishFn(torch.autograd.Function):
            """``x * tanh(softplus(x))`` keeping ``t = tanh(softplus(x))`` for the backward pass, as Keras's
            op-by-op autograd does (the same two saved tensors, ``x`` and ``t``; no more memory than
            Keras's), but with no intermediate autograd nodes, ``tanh`` in place on softplus's output and
            the backward pass in one buffer: ``u = upstream * (1 - t^2)`` (``tanh_backward``), times
            ``sigmoid(x)`` (``softplus_backward``) and ``x`` in place, then ``+ upstream * t`` (four
            passes). ATen's ``mish_backward`` (only ``x`` saved) recomputes ``exp``, ``log1p``, ``tanh``
            and a sigmoid (18 ms per 2^22 float32, more than this whole backward pass). ``x`` comes last
            in the product, after the factor that vanishes where ``|x|`` is huge: Keras's order
            (``upstream * x`` first) overflows to ``inf * 0 = NaN`` near the dtype's largest values
            (``x = -3e38``, upstream 2 in float32). For finite float32/float64 inputs (at +-inf the
            product rule gives ``inf * 0``); gradients within a few ulps of Keras's.
            """

            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                t = torch.tanh_(_F.softplus(x))
                ctx.save_for_backward(x, t)
                return x * t

            @staticmethod
            def backward(ctx: Any, upstream: Any) -> Any:
                x, t = ctx.saved_tensors
                u = _aten.tanh_backward(upstream, t)
                _aten.softplus_backward.grad_input(u, x, 1.0, 20.0, grad_input=u)
                return u.mul_(x).add_(upstream * t)

        def _mish_finite(x: Any) -> Any:
            """mish of an all-finite ``x``: :class:`_MishFn` where a float32/float64 gradient is recorded,
            ATen's fused kernel otherwise."""
            if x.dtype in (torch.float32, torch.float64) and _records_grad(x):
                return _MishFn.apply(x)
            return _F.mish(x)

        def _mish(x: Any) -> Any:
            if _surely_finite(x):
                return _mish_finite(x)
            return _F.mish(_finite_lo(x), inplace=True)

        def _softsign(x: Any) -> Any:
            """``x / (|x| + 1)`` with +-1 at +-inf, in one buffer where no autograd is recorded.

            Keras's ``F.softsign`` makes three kernels and three fresh tensors; here ``|x|``, ``+ 1``
            and the division write one (``add_``, ``div(out=)``): the same arithmetic, bit for bit,
            with two 16 MB blocks (and their page faults) per 2^22 float32 less for the allocator.
            On CPU the guard reads the output once: ``y`` lies in ``[-1, 1]`` wherever ``x`` is
            finite, so a non-finite sum means a NaN (a NaN input, or ``inf / inf`` at +-inf) and
            the clamped form recomputes it (+-inf clamped to +-largest finite, whose softsign is
            exactly +-1; NaN stays NaN). Elsewhere (an accelerator: no host sync) the clamped form
            runs in two buffers. Where autograd records the ops (``out=`` is not differentiable)
            and under torch.compile (Inductor fuses the clamp into the kernel) it runs out of place.
            """
            if _records_grad(x) or torch.compiler.is_compiling():
                c = _finite(x)
                return c / (c.abs() + 1.0)
            if x.device.type == "cpu":
                d = torch.abs(x).add_(1.0)
                y = torch.div(x, d, out=d)
                wide = torch.float64 if x.dtype == torch.float64 else torch.float32
                if math.isfinite(y.sum(dtype=wide).item()):
                    return y
            c = _finite(x)
            d = torch.abs(c).add_(1.0)
            return torch.div(c, d, out=d)

        def _softsign_backward(upstream: Any, x: Any) -> Any:
            """``upstream / (|x| + 1)^2`` (0 at +-inf) in one buffer where no autograd is recorded
            (``torch.square`` is ``d * d``: the same values as the out-of-place form)."""
            if _records_grad(upstream, x) or torch.compiler.is_compiling() or upstream.dtype != x.dtype:
                return upstream / torch.square(x.abs() + 1.0)
            d = torch.abs(x).add_(1.0)
            d.mul_(d)
            return torch.div(upstream, d, out=d)

        _silu_backward = _fused_backward(_aten.silu_backward)
        _gelu_backward = _fused_backward(_aten.gelu_backward)
        _mish_backward = _fused_backward(_aten.mish_backward, in_place=False)  # no out= overload

        # One-pass kernels (keras_acts._torch_kernels, a C++ extension built on first use): silu and
        # hardswish with the -inf limit in the same pass as the activation, equal to ATen's kernels
        # bit for bit on finite inputs, for contiguous float32 CPU tensors in eager mode. They also
        # report whether the input was all finite, so their autograd node runs ATen's backward kernel
        # directly (or the guarded one) without the read pass. Opt-in for now: KERAS_ACTS_TORCH_KERNELS=1.
        from keras_acts import _torch_kernels

        def _one_pass_ready(x: Any) -> bool:
            return (
                x.dtype == torch.float32
                and x.is_cpu
                and x.is_contiguous()
                and not torch.compiler.is_compiling()
                and _torch_kernels.kernels() is not None
            )

        def _one_pass(
            op_name: str, fallback: Callable[[Any], Any], backward: Callable[[Any, Any, bool], Any]
        ) -> tuple[Callable[[Any], Any], str]:
            def forward(ctx: Any, x: Any) -> Any:
                y, finite = getattr(_torch_kernels.kernels(), op_name)(x, True)
                ctx.save_for_backward(x)
                ctx.finite = finite
                return y

            def backward_(ctx: Any, upstream: Any) -> Any:
                (x,) = ctx.saved_tensors
                return backward(upstream, x, ctx.finite)

            # Its autograd node is "<name>Backward" (named when the class is made).
            Function = type(
                f"KerasActs{op_name.capitalize()}",
                (torch.autograd.Function,),
                {"forward": staticmethod(forward), "backward": staticmethod(backward_)},
            )

            def fn(x: Any) -> Any:
                if not _one_pass_ready(x):
                    return fallback(x)
                if torch.is_grad_enabled() and x.requires_grad:
                    _scope.one_pass = True  # seen by custom_gradient: fn is this kernel
                    return Function.apply(x)
                return getattr(_torch_kernels.kernels(), op_name)(x, False)[0]  # no flag: no backward

            return fn, f"{Function.__name__}Backward"

        def _silu_backward_known(upstream: Any, x: Any, finite: bool) -> Any:
            if finite:
                return _aten.silu_backward.default(upstream, x)
            return _aten.silu_backward.default(upstream, _finite(x))

        def _hardswish_backward_known(upstream: Any, x: Any, finite: bool) -> Any:
            return _aten.hardswish_backward(upstream, x)  # right at +-inf (see _hardswish_backward)

        _silu_one_pass, _silu_node = _one_pass("silu", _fused(_F.silu), _silu_backward_known)
        _hard_silu_one_pass, _hard_silu_node = _one_pass("hardswish", _fused(_F.hardswish), _hardswish_backward_known)
        FUSED.update(
            silu=_silu_one_pass,
            silu_backward=_silu_backward,
            silu_derivative=_derivative(_silu_backward),
            hard_silu=_hard_silu_one_pass,
            hard_silu_backward=_hardswish_backward,
            hard_silu_derivative=_derivative(_hardswish_backward),
            gelu=_gelu,
            gelu_backward=_gelu_backward,
            gelu_derivative=_derivative(_gelu_backward),
            mish=_mish,
            mish_backward=_mish_backward,
            mish_derivative=_derivative(_mish_backward),
            hard_sigmoid=_F.hardsigmoid,
            hard_tanh=_hard_tanh,
            prelu=_prelu,
            # celu's kernel has the right value at every input (-alpha at -inf, NaN at NaN): no guard.
            celu=_F.celu,
            celu_backward=_celu_backward,
            softsign=_softsign,
            softsign_backward=_softsign_backward,
        )
    else:  # numpy, openvino: backend-neutral forms

        def mul_no_nan(x: Any, y: Any) -> Any:
            return ops.where(ops.equal(y, 0), ops.zeros_like(y), ops.multiply(x, y))

        def erfc(x: Any) -> Any:
            return 1.0 - ops.erf(x)

    def custom_gradient(
        fn: Callable[[Any], tuple[Any, Callable[[Any], Any]]],
        native_kernels: bool = False,
        plain: Callable[[Any], Any] | None = None,
    ) -> Callable[[Any], Any]:
        """``fn(x) -> (y, grad(upstream))`` as a function with that gradient.

        ``plain`` (optional): ``y`` alone, without the gradient's setup, for calls where no gradient
        can be recorded (torch: no grad mode or an input without ``requires_grad``; TensorFlow: eager
        with no tape active). Defaults to ``fn(x)[0]``.

        ``native_kernels`` (torch; package activations whose ``fn`` computes ``y`` with one fused
        ATen kernel, see :data:`FUSED`): where the input is finite, ``y`` keeps the kernel's own
        autograd node (``SiluBackward0`` and the like: the same backward kernel as ``grad``, and
        only ``x`` saved) instead of a Python ``autograd.Function``; learned on the first such
        call, and never for ``fn`` that compute ``y`` otherwise.
        """

        def forward(x: Any) -> Any:
            y, grad_fn = fn(x)

            def grad(*args: Any, upstream: Any = None) -> Any:
                # tensorflow and jax call grad(upstream); torch calls grad(*inputs, upstream=...).
                if upstream is None:
                    (upstream,) = args
                return grad_fn(upstream)

            return y, grad

        with_gradient = ops.custom_gradient(forward)
        if BACKEND == "tensorflow":
            return _skip_tape_when_idle(with_gradient, fn, plain)
        if BACKEND != "torch":
            return with_gradient

        native = [native_kernels]  # True: try the kernel's own autograd; False: never
        # Whether fn is a one-pass kernel (FUSED "silu"/"hard_silu" on a float32 CPU tensor), which
        # guards +-inf itself: None until the first such input shows it.
        one_pass: list[bool | None] = [None]
        # dtype -> the ATen kernel that fn's formula turned out to be for an all-finite
        # CPU input of that dtype (learned from the autograd node of a first call): later eager calls
        # check finiteness and call it directly, without the layers of Python between (about 13 us
        # of a 21 us call of swish on a small tensor; Keras's silu takes 4-6 us).
        # (Second item: the kernel's forward is right at every input, e.g. celu's: unrecorded calls need no
        # check and keep the plain form.)
        direct: dict[Any, tuple[Callable[[Any], Any], bool]] = {}
        probed: set[Any] = set()  # dtypes whose kernel a first unrecorded call has looked for

        def learn(x: Any) -> None:
            """Finds the kernel for ``x.dtype`` from a recorded call on one finite element (for inputs
            whose own calls record nothing: inference, torch.no_grad)."""
            probed.add(x.dtype)
            with torch.inference_mode(False), torch.enable_grad():  # also inside torch.inference_mode()
                call(torch.zeros(1, dtype=x.dtype, device=x.device, requires_grad=True))

        def direct_call(x: Any, kernel: Callable[[Any], Any]) -> Any:
            """``kernel(x)`` after the finiteness check, or None (non-finite, or not this path)."""
            if x.device.type != "cpu" or torch.compiler.is_compiling() or _torch_kernels.enabled():
                return None  # an accelerator (no host sync), a trace, or the one-pass kernels
            return kernel(x) if _check_finite(x) else None

        def call(x: Any) -> Any:
            learned = direct.get(x.dtype) if direct else None
            if learned is not None and type(x) is torch.Tensor:
                kernel, exact_forward = learned
                if not exact_forward or (torch.is_grad_enabled() and x.requires_grad):
                    y = direct_call(x, kernel)
                    if y is not None:
                        return y
            # torch runs op by op: where no gradient is recorded (inference, torch.no_grad, an input
            # that does not require grad) the autograd.Function and its saved tensors are skipped.
            if not (torch.is_grad_enabled() and x.requires_grad):
                if native[0] and x.dtype not in probed and type(x) is torch.Tensor and x.device.type == "cpu":
                    if not torch.compiler.is_compiling() and x.is_floating_point():
                        learn(x)
                        return call(x)
                return plain(x) if plain is not None else fn(x)[0]
            if not native[0] or torch.compiler.is_compiling():
                return with_gradient(x)  # torch.compile: the guarded form, which Inductor fuses
            with input_scope(x):
                if one_pass[0] is not False and _one_pass_ready(x):
                    _scope.one_pass = False
                    y = fn(x)[0]
                    if _scope.one_pass and _native_node(y, x):
                        one_pass[0] = True
                        return y  # no finiteness check: the kernel did it in its pass
                    one_pass[0] = False  # another kind of fn: the check below (once more on a first call)
                if _surely_finite(x):
                    # The formula alone (inside this input scope, so its check is not repeated); its
                    # kernel's autograd node when it is one fused kernel.
                    y = plain(x) if plain is not None else fn(x)[0]
                    if _native_node(y, x):
                        learned = _direct_kernel(y.grad_fn)
                        if learned is not None and x.device.type == "cpu":
                            direct[x.dtype] = learned
                        return y
                    native[0] = False  # fn is not one fused kernel (e.g. swish with beta != 1)
                return with_gradient(x)

        return call

    def _native_node(y: Any, x: Any) -> bool:
        """``y`` is one fused ATen activation kernel applied to ``x`` itself, with its own autograd."""
        node = y.grad_fn
        if node is None or type(node).__name__ not in _NATIVE_NODES or len(node.next_functions) != 1:
            return False
        parent = node.next_functions[0][0]
        return parent is x.grad_fn if x.grad_fn is not None else getattr(parent, "variable", None) is x

    def _direct_kernel(node: Any) -> tuple[Callable[[Any], Any], bool] | None:
        """The ATen activation kernel (with the arguments ``node`` saved: celu's ``alpha``) that recorded
        autograd ``node``, as a function of ``x``, and whether its forward pass is right at every input
        (+-inf, NaN); None for other nodes. Mish's (:class:`_MishFn`'s, or ATen's for float16/bfloat16) gives
        :func:`_mish_finite`, which takes the one the call needs."""
        kind = type(node).__name__
        if kind == "SiluBackward0":
            return torch.nn.functional.silu, False
        if kind == "HardswishBackward0":
            return torch.nn.functional.hardswish, False
        if kind == "GeluBackward0" and getattr(node, "_saved_approximate", None) == "none":
            return torch.nn.functional.gelu, False
        if kind in ("_MishFnBackward", "MishBackward0"):  # mish(-inf) is NaN in ATen's kernel: checked first
            return _mish_finite, False
        alpha = getattr(node, "_saved_alpha", None)
        if kind == "CeluBackward0" and isinstance(alpha, float):  # only the gradient needs the guard
            return functools.partial(torch.nn.functional.celu, alpha=alpha), True
        return None

    # The autograd nodes of the forms in FUSED for a finite input (mish: _MishFn, which saves tanh(softplus(x))
    # as Keras does; the others: the kernel's own node, whose backward is the FUSED "<name>_backward" kernel).
    _NATIVE_NODES = frozenset(
        {"SiluBackward0", "HardswishBackward0", "GeluBackward0", "MishBackward0", "_MishFnBackward", "CeluBackward0"}
    )
    if BACKEND == "torch":
        # and the one-pass kernels' nodes (ATen's backward kernel, after the forward's finiteness flag)
        _NATIVE_NODES = _NATIVE_NODES | {_silu_node, _hard_silu_node}

    # -- the QAT engine's tensor operations (keras_acts.quantization) ----------------------------
    # jax computes in float32 unless jax_enable_x64 is set: the engine's integer accumulators
    # then take another exact route (keras_acts.quantization.engine.integer).
    if BACKEND == "jax":
        import jax

        WIDE_FLOAT = "float64" if jax.config.jax_enable_x64 else "float32"
    else:
        WIDE_FLOAT = "float64"
    floor = ops.floor
    round = ops.round  # half to even on every backend
    sign = ops.sign
    sqrt = ops.sqrt
    rsqrt = ops.rsqrt
    log = ops.log
    stop_gradient = ops.stop_gradient
    reshape = ops.reshape
    transpose = ops.transpose
    floor_divide = ops.floor_divide
    power = ops.power
    ones_like = ops.ones_like

    def reduce_sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.sum(x, axis=axis, keepdims=keepdims)

    def reduce_max(x: Any, axis: Any = None) -> Any:
        return ops.max(x, axis=axis)

    def reduce_min(x: Any, axis: Any = None) -> Any:
        return ops.min(x, axis=axis)

    def moments(x: Any, axes: list[int]) -> tuple[Any, Any]:
        return ops.moments(x, axes=axes)

    def dense(x: Any, kernel: Any) -> Any:
        return ops.matmul(x, kernel)

    def conv2d(x: Any, kernel: Any, strides: Any, padding: str, dilation_rate: Any) -> Any:
        return ops.conv(x, kernel, strides=tuple(strides), padding=padding.lower(), dilation_rate=tuple(dilation_rate))

    def depthwise_conv2d(x: Any, kernel: Any, strides: Any, padding: str, dilation_rate: Any) -> Any:
        return ops.depthwise_conv(
            x, kernel, strides=tuple(strides), padding=padding.lower(), dilation_rate=tuple(dilation_rate)
        )

    if BACKEND == "jax":

        def divide_exact(x: Any, y: Any) -> Any:
            """``x / y`` correctly rounded. XLA's CPU compiler turns a division by a scalar (or a
            broadcast value) into a multiplication by its rounded reciprocal, off by one ulp on
            most float32 inputs (measured: 2,895 of 4,096 for ``x / 255``); a divisor of the full
            shape behind an optimization barrier is divided elementwise, exactly."""
            jnp = jax.numpy
            dtype = x.dtype if hasattr(x, "dtype") else (y.dtype if hasattr(y, "dtype") else "float32")
            x = jnp.asarray(x, dtype)
            y = jnp.asarray(y, dtype)
            shape = jnp.broadcast_shapes(x.shape, y.shape)
            return jnp.broadcast_to(x, shape) / jax.lax.optimization_barrier(jnp.broadcast_to(y, shape))

    else:

        def divide_exact(x: Any, y: Any) -> Any:
            """``x / y`` correctly rounded: a true division (torch's ``number / tensor`` is
            ``reciprocal(tensor) * number``, which is not)."""
            if isinstance(x, numbers.Number) and is_tensor(y):
                x = ops.convert_to_tensor(x, dtype=dtype_name(y))
            elif isinstance(y, numbers.Number) and is_tensor(x):
                y = ops.convert_to_tensor(y, dtype=dtype_name(x))
            return ops.divide(x, y)

    def _nudged(lo: Any, hi: Any, narrow_range: bool) -> tuple[Any, Any, Any, Any]:
        """TensorFlow's FakeQuant range nudging, in float32 like its kernel: (min, max, scale, 1/scale)
        with the zero point rounded half away from zero onto the integer grid."""
        qmin, qmax = (1.0 if narrow_range else 0.0), 255.0
        lo = ops.cast(lo, "float32")
        hi = ops.cast(hi, "float32")
        scale = divide_exact(hi - lo, qmax - qmin)
        inv_scale = divide_exact(qmax - qmin, hi - lo)
        zero_from_min = qmin - divide_exact(lo, scale)
        rounded = ops.sign(zero_from_min) * ops.floor(ops.abs(zero_from_min) + 0.5)
        zero = ops.where(zero_from_min < qmin, qmin, ops.where(zero_from_min > qmax, qmax, rounded))
        return (qmin - zero) * scale, (qmax - zero) * scale, scale, inv_scale

    def _fake_quant_portable(x: Any, lo: Any, hi: Any, narrow_range: bool, axis: int | None, divide: bool) -> Any:
        """TensorFlow's FakeQuant ops in keras.ops, values and gradients bit for bit.

        ``c = clamp(x)`` on the nudged range, then ``floor((c - min) * (1/scale) - zero + 0.5) * scale``
        in float32, where ``1/scale`` is ``255 / (max - min)`` (FakeQuantWithMinMaxArgs and
        ...PerChannel) -- or a true division by ``scale`` (``divide``: FakeQuantWithMinMaxVars, whose
        per-tensor kernel divides; measured, the two differ on about 1 input in 10**5). Straight-through
        gradient inside ``[min, max]`` (both ends included); the upstream gradient of the inputs
        strictly below min (above max) is summed into min (max), as TensorFlow's gradient kernels do.
        ``axis`` None: per tensor; -1: per channel on the last axis.
        """

        def forward(x: Any, lo: Any, hi: Any) -> Any:
            dtype = dtype_name(x)
            xf = ops.cast(x, "float32")
            n_min, n_max, scale, inv_scale = _nudged(lo, hi, narrow_range)
            quant_zero = ops.floor(-n_min * inv_scale + 0.5)
            shifted = ops.minimum(ops.maximum(xf, n_min), n_max) - n_min
            levels = divide_exact(shifted, scale) if divide else shifted * inv_scale
            y = ops.cast(ops.floor(levels - quant_zero + 0.5) * scale, dtype)
            reduce = None if axis is None else tuple(range(len(x.shape) - 1))

            def grad(*args: Any, upstream: Any = None) -> Any:
                if upstream is None:
                    (upstream,) = args
                up = ops.cast(upstream, "float32")
                zero = ops.zeros_like(up)
                inside = ops.logical_and(xf >= n_min, xf <= n_max)
                d_x = ops.cast(ops.where(inside, up, zero), dtype)
                d_lo = ops.sum(ops.where(xf < n_min, up, zero), axis=reduce)
                d_hi = ops.sum(ops.where(xf > n_max, up, zero), axis=reduce)
                return d_x, ops.cast(d_lo, dtype_name(lo)), ops.cast(d_hi, dtype_name(hi))

            return y, grad

        return ops.custom_gradient(forward)(x, ops.convert_to_tensor(lo), ops.convert_to_tensor(hi))

    if BACKEND == "tensorflow":
        # The converter reads TensorFlow's FakeQuant ops: keep them on this backend.
        fake_quant, fake_quant_per_channel, fake_quant_fixed, is_eager = _tensorflow_fake_quant()

    else:

        def fake_quant(x: Any, lo: Any, hi: Any, narrow_range: bool = False) -> Any:
            return _fake_quant_portable(x, lo, hi, narrow_range, None, True)

        def fake_quant_per_channel(x: Any, lo: Any, hi: Any, narrow_range: bool = False) -> Any:
            return _fake_quant_portable(x, lo, hi, narrow_range, -1, False)

        def fake_quant_fixed(x: Any, lo: float, hi: float) -> Any:
            # FakeQuantWithMinMaxArgs: the same arithmetic on a constant range (its gradient
            # to the constants is dropped).
            return _fake_quant_portable(x, float(lo), float(hi), False, None, False)

        def is_eager() -> bool:
            # jax and torch: a traced value fails in to_numpy, which the caller reports.
            return True

    def to_numpy(x: Any) -> np.ndarray:
        return np.asarray(ops.convert_to_numpy(x))


def _skip_tape_when_idle(
    with_gradient: Callable[[Any], Any], fn: Callable[[Any], tuple[Any, Any]], plain: Callable[[Any], Any] | None
) -> Callable[[Any], Any]:
    """TensorFlow: ``with_gradient`` (a ``tf.custom_gradient`` function), except in eager mode while no
    ``GradientTape`` or forward accumulator is active, where nothing can record the gradient and
    ``plain(x)`` (default ``fn(x)[0]``) gives the same values without ``tf.custom_gradient``'s eager bookkeeping (about 100 us of
    Python per call: the whole cost of an activation on a small tensor, e.g. ``model(x)`` eagerly).
    """
    try:  # TensorFlow's own check (tf.custom_gradient's eager path records through the same tape set)
        from tensorflow.python.eager import record

        tape_active = record.could_possibly_record
    except (ImportError, AttributeError):  # pragma: no cover - a TensorFlow without it: always record
        return with_gradient
    import tensorflow as tf

    forward = plain if plain is not None else (lambda x: fn(x)[0])

    def call(x: Any) -> Any:
        if tf.executing_eagerly() and not tape_active():
            return forward(x)
        return with_gradient(x)

    return call


def if_finite(x: Any, fast: Callable[[Any], Any], safe: Callable[[Any], Any]) -> Any:
    """``fast(x)`` where ``x`` is all finite, else ``safe(x)``: for TensorFlow graphs without XLA.

    For a guard that breaks a fusion of TensorFlow's graph optimizer (Grappler fuses Keras's
    ``x * sigmoid(x)`` into one kernel, ``MulNoNan`` keeps the two apart): one read-only
    reduction decides in the graph (``tf.cond``) whether the unguarded, fusable form can run.
    Eager, under XLA (which fuses the guard into the kernel; the ``tf.cond`` measured slower
    there) and on the other backends: ``safe(x)``. ``fast`` and ``safe`` must agree on finite inputs.
    """
    if BACKEND != "tensorflow" or _tf_eager_or_xla():
        return safe(x)
    import tensorflow as tf

    total = tf.reduce_sum(x if x.dtype in (tf.float32, tf.float64) else tf.cast(x, tf.float32))
    return tf.cond(tf.math.is_finite(total), lambda: fast(x), lambda: safe(x))


def clip_to_finite(x: Any) -> Any:
    """``x`` clipped to its dtype's finite range: +-inf become +-largest finite, NaN stays NaN.

    On TensorFlow one ``ClipByValue`` kernel (``tf.clip_by_value`` is a ``Minimum`` and a
    ``Maximum``, two passes over memory in graphs without XLA); elsewhere :func:`clip`.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        lo, hi = _tf_finite_bounds(x)
        return tf.raw_ops.ClipByValue(t=x, clip_value_min=lo, clip_value_max=hi)
    info = finfo(dtype_name(x))
    return clip(x, float(info.min), float(info.max))


_FINITE_BOUNDS: dict[Any, tuple[Any, Any]] = {}  # TensorFlow dtype -> eager (lowest, largest) constants


def _tf_finite_bounds(x: Any) -> tuple[Any, Any]:
    """TensorFlow constants (lowest, largest finite value) of ``x``'s dtype: made once per dtype when
    executing eagerly (two eager constants cost more than a small tensor's activation), per graph
    otherwise."""
    import tensorflow as tf

    eager = tf.executing_eagerly()
    bounds = _FINITE_BOUNDS.get(x.dtype) if eager else None
    if bounds is None:
        info = finfo(dtype_name(x))
        bounds = (tf.constant(info.min, x.dtype), tf.constant(info.max, x.dtype))
        if eager:
            _FINITE_BOUNDS[x.dtype] = bounds
    return bounds


def softsign_gradient(upstream: Any, x: Any) -> Any:
    """``upstream / (1 + |x|)^2`` (0 at +-inf): one ``SoftsignGrad`` kernel on TensorFlow."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.raw_ops.SoftsignGrad(gradients=upstream, features=x)
    if "softsign_backward" in FUSED:
        return FUSED["softsign_backward"](upstream, x)
    return upstream / square(abs(x) + 1.0)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def normal_cdf(x: Any) -> Any:
    """The standard normal CDF ``Phi(x) = erfc(-x / sqrt 2) / 2``, accurate in the negative tail.

    ``1 + erf(x / sqrt 2)`` would cancel there (0 below ``x ~ -5.7`` in float32). On jax and under
    TensorFlow's XLA (float16, bfloat16, float32) it is :func:`normal_cdf_and_pdf`'s Mills-ratio
    form; elsewhere ``erfc``.
    """
    if _mills_form(x):
        return _normal_cdf_and_pdf_mills(x)[0]
    return erfc(x * -_SQRT_HALF) * 0.5


def normal_cdf_and_pdf(x: Any) -> tuple[Any, Any]:
    """``(Phi(x), phi(x))``: the standard normal CDF (as :func:`normal_cdf`) and density.

    On jax and under TensorFlow's XLA (float16, bfloat16, float32), ``Phi`` is computed from
    ``phi`` and Mills' ratio (:mod:`keras_acts._mills`): one ``exp`` for both, and no ``erfc``,
    which XLA expands into an ``exp``, three polynomials and a division (jax ``jit``: gelu's
    forward and backward pass 1.3x Keras's ``erf`` form with it, 0.7-0.9x without). Same relative
    accuracy in the tail. float64 keeps ``erfc`` (the fit is float32-accurate); float16 and
    bfloat16 are computed in float32. TensorFlow graphs without XLA and eager TensorFlow keep
    ``Erfc``, one kernel there.
    """
    if _mills_form(x):
        return _normal_cdf_and_pdf_mills(x)
    return erfc(x * -_SQRT_HALF) * 0.5, exp(square(x) * -0.5) * _INV_SQRT_2PI


def _mills_form(x: Any) -> bool:
    """Where :func:`normal_cdf_and_pdf` uses the Mills-ratio form: jax's and TensorFlow's XLA.

    Not in TensorFlow graphs without XLA or eagerly, where ``Erfc`` is one kernel and the form's
    ten elementwise ops would each be one pass over memory; not on torch (ATen's fused gelu).
    """
    if dtype_name(x) == "float64":
        return False
    if BACKEND == "jax" and not is_tf_keras():
        return True
    return BACKEND == "tensorflow" and _tf_in_xla()


def _normal_cdf_and_pdf_mills(x: Any) -> tuple[Any, Any]:
    """``phi(x) R(|x|)`` below 0, ``1 - phi(x) R(x)`` above, ``R`` the fitted Mills ratio (float32)."""
    from keras_acts import _mills

    p, q = _mills.coefficients()
    v = x if dtype_name(x) == "float32" else cast(x, "float32")
    pdf = exp(square(v) * -0.5) * _INV_SQRT_2PI
    t = minimum(abs(v), _mills.T_MAX)  # NaN stays NaN; +-inf: phi = 0 and R finite
    num = p[-1]
    for c in reversed(p[:-1]):
        num = num * t + c
    den = q[-1]
    for c in reversed(q[:-1]):
        den = den * t + c
    tail = pdf * (num / den)  # Phi(-|x|)
    cdf = where(v < 0.0, tail, 1.0 - tail)
    if v is not x:
        return cast(cdf, dtype_name(x)), cast(pdf, dtype_name(x))
    return cdf, pdf


def _tf_in_xla() -> bool:
    """Tracing inside ``tf.function(jit_compile=True)`` (TensorFlow's own test for it)."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    try:
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):
        return False  # unknown: erfc, right everywhere


def _tf_eager_or_xla() -> bool:
    import tensorflow as tf

    if tf.executing_eagerly():
        return True
    try:  # TensorFlow's own test for tracing inside tf.function(jit_compile=True)
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):
        return True  # unknown: the guarded form, right everywhere


def no_neg_inf(x: Any) -> Any:
    """``max(x, lowest finite)``: -inf becomes the most negative finite value, NaN stays NaN.

    The guard of a self-gated ``x * gate(x)`` that is computed by a fused kernel (mish), where
    :func:`mul_no_nan` would break the fusion: one more elementwise op.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.math.maximum(x, _tf_finite_bounds(x)[0])
    return maximum(x, float(finfo(dtype_name(x)).min))


def fuse(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` compiled as one kernel where the backend does that per function: ``jax.jit`` on jax
    (jax's own ``jax.nn`` activations are jitted the same way; inside an outer ``jit`` it is
    inlined). Unchanged on tensorflow (``tf.function``/XLA compile the model) and torch."""
    if BACKEND == "jax" and not is_tf_keras():
        import jax

        return jax.jit(fn)
    return fn


def finfo(dtype: str) -> Any:
    """``np.finfo`` for a float dtype name, bfloat16 included (via ml_dtypes)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.finfo(ml_dtypes.bfloat16)
    return np.finfo(dtype)


def as_dtype_of(value: Any, x: Any) -> Any:
    """A parameter (Python number, tensor or variable) for arithmetic with ``x``.

    Python numbers stay Python numbers: every backend then converts them straight to
    ``x``'s dtype (a cast through float32 would lose float64 precision); tensors and
    variables are cast to ``x``'s dtype.
    """
    if isinstance(value, numbers.Number):
        return value
    return cast(value, dtype_name(x))


def concrete_float_types() -> tuple[frozenset[type], frozenset[Any]]:
    """The backend's concrete (eager) tensor types and its float dtypes as the tensors report them.

    For the activations' fast path (:mod:`keras_acts.lowering`): a tensor whose type and dtype are
    in these sets needs no conversion or dtype check. Symbolic and traced tensors are not listed.
    """
    if is_tf_keras() or BACKEND == "tensorflow":
        import tensorflow as tf

        types = frozenset({type(tf.constant(0.0))})
        dtypes = frozenset({tf.float16, tf.bfloat16, tf.float32, tf.float64})
    elif BACKEND == "torch":
        import torch

        types = frozenset({torch.Tensor, torch.nn.Parameter})
        dtypes = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
    elif BACKEND == "jax":
        import jax.numpy as jnp

        types = frozenset({type(jnp.zeros(()))})
        dtypes = frozenset(np.dtype(d) for d in ("float16", jnp.bfloat16, "float32", "float64"))
    else:
        types, dtypes = frozenset(), frozenset()
    return types, dtypes
