"""Edge values of every registry activation, forward and gradient, against an independent reference.

Parametrized over :func:`keras_acts.registry.entries`: a new activation is collected here at
once and fails until it has a reference in :data:`REFERENCES` below. The references are
PyTorch's (``torch.nn.functional``, float64, autograd for the derivative) where PyTorch has
the function, and the paper's piecewise definition in NumPy otherwise. None of them is
keras_acts's own NumPy reference or TF code.

Inputs: +-inf, NaN, +-0.0, +-1e30, every breakpoint of the activation and points 1e-3 either
side of it, and a few ordinary values; in float16, bfloat16, float32 and float64 (each input
is first rounded to the dtype, and the reference sees the rounded value).

What is asserted (docs/EDGE_VALUES.md lists where keras_acts and PyTorch differ, and why):

* NaN in gives NaN out.
* At +-inf the value and the derivative are the limits of the function and of its
  derivative (the reference evaluated at +-1e300, and a magnitude above 1e200 read as inf):
  e.g. a saturating function's derivative at +-inf is 0 or its asymptotic slope, never NaN.
  PyTorch itself returns NaN for several of these (e.g. ``silu(-inf)``); the limit is the
  mathematically right answer there.
* Everywhere else the value and the derivative match the reference, rounded to the dtype,
  within a tolerance of a few of the dtype's rounding units; where the true value overflows
  the dtype, inf is expected, and nowhere does a NaN or inf appear where the math is finite.
* Exactly at a kink, any derivative between the one-sided derivatives is accepted (PyTorch
  and TensorFlow pick different subgradients there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

import keras_acts
from keras_acts import registry

ENTRIES = registry.entries(include_layers=True)
IDS = [e.name for e in ENTRIES]

DTYPES = {"float16": tf.float16, "bfloat16": tf.bfloat16, "float32": tf.float32, "float64": tf.float64}
# Value tolerance: a couple of the dtype's rounding units (several roundings per formula).
RTOL = {"float64": 1e-12, "float32": 4e-6, "float16": 4 * 2.0**-10, "bfloat16": 4 * 2.0**-7}
ATOL = {"float64": 1e-15, "float32": 2e-7, "float16": 2.0**-10, "bfloat16": 2.0**-7}
# Derivatives round more often (the backward pass re-evaluates the gate and multiplies).
GRAD_RTOL = {"float64": 1e-10, "float32": 2e-5, "float16": 8 * 2.0**-10, "bfloat16": 8 * 2.0**-7}
GRAD_ATOL = {"float64": 1e-13, "float32": 1e-6, "float16": 4 * 2.0**-10, "bfloat16": 4 * 2.0**-7}

SPECIAL = [-math.inf, -1e30, -0.0, 0.0, 1e30, math.inf]
ORDINARY = [-10.0, -1.5, -0.5, 0.5, 1.5, 10.0]
PRELU_ALPHA = 0.25


# -- the independent references --------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """An independent definition of one activation.

    Attributes:
        source: ``"torch"`` or ``"paper"`` (NumPy piecewise definition).
        value: float64 NumPy array -> float64 NumPy array, with the activation's parameters.
        grad: its derivative, same signature.
        kinks: the breakpoints for given parameters.
        variants: non-default parameter sets checked as well.
    """

    source: str
    value: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]
    kinks: Callable[..., tuple[float, ...]]
    variants: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _torch(fn: Callable[..., torch.Tensor], kinks: Callable[..., tuple[float, ...]] = lambda **p: (),
           variants: tuple[dict[str, Any], ...] = ()) -> Reference:
    """A reference computed by PyTorch in float64: ``fn(x_tensor, **params)`` and its autograd derivative."""

    def value(x: np.ndarray, **params: Any) -> np.ndarray:
        with torch.no_grad():
            return fn(torch.tensor(x, dtype=torch.float64), **params).numpy()

    def grad(x: np.ndarray, **params: Any) -> np.ndarray:
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        fn(t, **params).sum().backward()
        return t.grad.numpy()

    return Reference("torch", value, grad, kinks, variants)


def _hard_mish_value(x: np.ndarray) -> np.ndarray:
    """Hard mish from its piecewise definition: 0 for x <= -2, x (x + 2) / 2 on (-2, 0), x for x >= 0."""
    return np.where(x <= -2.0, 0.0, np.where(x < 0.0, 0.5 * x * (x + 2.0), x))


def _hard_mish_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of hard mish: 0 for x < -2, x + 1 on (-2, 0), 1 for x > 0."""
    return np.where(x <= -2.0, 0.0, np.where(x < 0.0, x + 1.0, 1.0))


def _swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    return F.silu(x) if beta == 1.0 else x * torch.sigmoid(beta * x)


def _hard_sigmoid(x: torch.Tensor, slope: float = 1.0 / 6.0) -> torch.Tensor:
    # Not F.hardsigmoid: its float64 derivative is 1/6 rounded to float32 (0.16666667163...).
    return F.hardtanh(slope * x + 0.5, 0.0, 1.0)


REFERENCES: dict[str, Reference] = {
    "relu": _torch(F.relu, lambda: (0.0,)),
    "relu6": _torch(F.relu6, lambda: (0.0, 6.0)),
    "leaky_relu": _torch(
        lambda x, negative_slope=0.01: F.leaky_relu(x, negative_slope), lambda **p: (0.0,),
        ({"negative_slope": 0.2},),
    ),
    "hard_tanh": _torch(F.hardtanh, lambda: (-1.0, 1.0)),
    "prelu": _torch(
        lambda x, alpha=PRELU_ALPHA: F.prelu(x, torch.tensor([alpha], dtype=torch.float64)), lambda **p: (0.0,)
    ),
    "elu": _torch(lambda x, alpha=1.0: F.elu(x, alpha), lambda **p: (0.0,), ({"alpha": 0.5},)),
    "celu": _torch(lambda x, alpha=1.0: F.celu(x, alpha), variants=({"alpha": 0.5},)),
    "selu": _torch(F.selu, lambda: (0.0,)),
    "softplus": _torch(F.softplus),
    "sigmoid": _torch(torch.sigmoid),
    "tanh": _torch(torch.tanh),
    "softsign": _torch(F.softsign),
    "exponential": _torch(torch.exp),
    "mish": _torch(F.mish),
    "gelu": _torch(
        lambda x, approximate=False: F.gelu(x, approximate="tanh" if approximate else "none"),
        variants=({"approximate": True},),
    ),
    "gelu_tanh": _torch(lambda x: F.gelu(x, approximate="tanh")),
    "swish": _torch(_swish, variants=({"beta": 2.0},)),
    "hard_swish": _torch(F.hardswish, lambda: (-3.0, 3.0)),
    "hard_sigmoid": _torch(
        _hard_sigmoid, lambda slope=1.0 / 6.0: (-0.5 / slope, 0.5 / slope), ({"slope": 0.2},)
    ),
    "hard_mish": Reference(
        "paper", lambda x: _hard_mish_value(x), lambda x: _hard_mish_grad(x), lambda: (-2.0, 0.0)
    ),
}


def _cases() -> list[tuple[registry.Activation, dict[str, Any]]]:
    cases = []
    for e in ENTRIES:
        ref = REFERENCES.get(e.name)
        for params in ({},) + (ref.variants if ref else ()):
            cases.append((e, params))
    return cases


CASES = _cases()
CASE_IDS = [e.name + "".join(f"-{k}={v}" for k, v in p.items()) for e, p in CASES]


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's fixture: pure functions need no Keras session reset."""
    np.random.seed(0)
    yield


def _reference(entry: registry.Activation) -> Reference:
    ref = REFERENCES.get(entry.name)
    if ref is None:
        pytest.fail(
            f"{entry.name} has no independent edge-value reference: add one to REFERENCES in "
            "tests/test_edge_values.py (torch.nn.functional if PyTorch has it, else the paper's piecewise formula)."
        )
    return ref


def _call(entry: registry.Activation, t: tf.Tensor, params: dict[str, Any]) -> tf.Tensor:
    if entry.learnable:  # prelu as a function of x and alpha
        return entry.fn(t, tf.constant(PRELU_ALPHA, t.dtype))
    return entry.fn(t, **params)


def _inputs(kinks: tuple[float, ...]) -> np.ndarray:
    near = [k + d for k in kinks for d in (-1e-3, 0.0, 1e-3)]
    return np.array(SPECIAL + ORDINARY + near, np.float64)


def _in_dtype(x: np.ndarray, dtype: tf.DType) -> np.ndarray:
    """The float64 values ``dtype`` represents for ``x`` (inf where ``x`` overflows it)."""
    return tf.cast(tf.constant(x, tf.float64), dtype).numpy().astype(np.float64) if dtype != tf.float64 else x


def _limit(f: Callable[[np.ndarray], np.ndarray], sign: float) -> float:
    """``lim f(x)`` for ``x -> sign * inf``: f at +-1e300 (else at smaller magnitudes if that is NaN)."""
    for mag in (1e300, 1e100, 1e30):
        with np.errstate(all="ignore"):
            v = float(f(np.array([sign * mag]))[0])
        if not math.isnan(v):
            return math.copysign(math.inf, v) if abs(v) > 1e200 else v
    return math.nan


def _expected(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``f`` at the finite inputs, its limit at +-inf, NaN at NaN."""
    out = np.full_like(x, np.nan)
    finite = np.isfinite(x)
    with np.errstate(all="ignore"):
        out[finite] = f(x[finite])
    out[x == math.inf] = _limit(f, 1.0)
    out[x == -math.inf] = _limit(f, -1.0)
    return out


def _mismatches(got, want, lo, hi, dtype_name: str, rtol: float, atol: float, what: str, x) -> list[str]:
    """Where ``got`` is not ``want`` rounded to the dtype within tolerance (inside [lo, hi] where those are set)."""
    got = np.asarray(got, np.float64)
    dtype = DTYPES[dtype_name]
    want_d = _in_dtype(want, dtype)
    bad = np.zeros(got.shape, bool)
    nan = np.isnan(want)
    bad |= nan != np.isnan(got)
    inf = np.isinf(want_d) & ~nan
    bad |= inf & (got != want_d)
    fin = ~nan & ~inf
    tol = rtol * np.abs(want_d) + atol
    with np.errstate(invalid="ignore"):
        tol = np.where(np.isnan(lo), tol, rtol * np.maximum(np.abs(lo), np.abs(hi)) + atol)
    with np.errstate(invalid="ignore"):
        interval = ~np.isnan(lo)
        off = np.abs(got - want_d) > tol
        outside = (got < np.minimum(lo, hi) - tol) | (got > np.maximum(lo, hi) + tol) | ~np.isfinite(got)
    bad |= fin & ~interval & (off | ~np.isfinite(got))
    bad |= fin & interval & outside
    if not bad.any():
        return []
    i = np.flatnonzero(bad)
    return [
        f"{what} [{dtype_name}]: {bad.sum()} of {bad.size} values wrong; x={np.asarray(x)[i].tolist()}, "
        f"got={got[i].tolist()}, want={want_d[i].tolist()} (at kinks: between {lo[i].tolist()} and {hi[i].tolist()})"
    ]


# -- tests ------------------------------------------------------------------------------------


def test_every_entry_has_an_independent_reference():
    missing = [e.name for e in ENTRIES if e.name not in REFERENCES]
    assert not missing, f"add references for {missing} to REFERENCES (torch.nn.functional or the paper's formula)"
    assert set(REFERENCES) <= {e.name for e in ENTRIES}, "a reference for an activation the registry no longer has"


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("entry,params", CASES, ids=CASE_IDS)
def test_forward_and_gradient_at_edge_values(entry, params, dtype_name):
    ref = _reference(entry)
    dtype = DTYPES[dtype_name]
    kinks = ref.kinks(**params)
    x = _in_dtype(_inputs(kinks), dtype)
    x_in = np.concatenate([x, [math.nan]])

    t = tf.constant(x_in, dtype)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = _call(entry, t, params)
    g = tape.gradient(y, t)
    assert y.dtype == dtype and g is not None and g.dtype == dtype, (y.dtype, g)
    y = tf.cast(y, tf.float64).numpy()
    g = tf.cast(g, tf.float64).numpy()

    what = entry.name + (f"{params}" if params else "")
    nan = np.full(x_in.shape, np.nan)
    # forward: the value, its limits at +-inf, and NaN for NaN
    want = np.concatenate([_expected(lambda v: ref.value(v, **params), x), [math.nan]])
    errors = _mismatches(y, want, nan, nan, dtype_name, RTOL[dtype_name], ATOL[dtype_name], f"{what} value", x_in)

    # gradient (not at NaN, whose derivative is undefined): the derivative, its limits at +-inf,
    # and at a kink anything between the one-sided derivatives.
    dwant = _expected(lambda v: ref.grad(v, **params), x)
    lo, hi = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    # In float16/bfloat16 a point a rounding unit away from a kink can land on it inside the
    # formula (3 - 2^-9 + 3 rounds to 6 in float16): there, too, either one-sided derivative.
    window = 0.0 if dtype_name in ("float32", "float64") else 2.0 * RTOL[dtype_name]
    for k in kinks:
        at = np.abs(x - k) <= window * max(1.0, abs(k))
        if at.any():
            lo[at] = ref.grad(np.array([k - 1e-13 * max(1.0, abs(k))]), **params)[0]
            hi[at] = ref.grad(np.array([k + 1e-13 * max(1.0, abs(k))]), **params)[0]
    errors += _mismatches(
        g[:-1], dwant, lo, hi, dtype_name, GRAD_RTOL[dtype_name], GRAD_ATOL[dtype_name], f"{what} gradient", x
    )
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_layer_agrees_with_function_at_edge_values(entry):
    """The frontend's layer (Keras 3 or tf_keras) computes the same values, NaN and inf included."""
    if entry.learnable:
        layer = keras_acts.layers.get(
            entry.name, alpha_initializer=keras_acts.keras.initializers.Constant(PRELU_ALPHA)
        )
    else:
        layer = keras_acts.layers.get(entry.name)
    x = np.array([SPECIAL + ORDINARY + [math.nan]], np.float32)
    got = np.asarray(layer(tf.constant(x)), np.float64)
    want = _call(entry, tf.constant(x), {}).numpy().astype(np.float64)
    np.testing.assert_array_equal(got, want)
