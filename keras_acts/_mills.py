"""The Gaussian tail ``Phi(-t) = phi(t) * R(t)`` with a rational ``R``: gelu's CDF without ``erfc``.

``R(t) = (1 - Phi(t)) / phi(t)`` is Mills' ratio of the standard normal distribution
(``Phi`` its CDF, ``phi(t) = exp(-t^2 / 2) / sqrt(2 pi)`` its density): smooth and positive on
``[0, inf)``, ``R(0) = sqrt(pi / 2)``, ``R(t) ~ 1 / t`` for large ``t``. Written as
``Phi(x) = phi(x) R(-x)`` for ``x < 0`` and ``1 - phi(x) R(x)`` for ``x >= 0``, the CDF costs one
``exp`` (the one gelu's derivative needs anyway for ``x phi(x)``, so that both share it), a
rational function and a select, and keeps full relative accuracy in the negative tail, where
``1 + erf(x / sqrt 2)`` cancels. XLA's ``erfc``, the other way to that accuracy, is an ``exp``,
three polynomials, a division and selects: jax's ``jit`` (and TensorFlow's XLA) ran gelu's
forward and backward pass 1.2-1.3x slower with it than Keras's ``erf`` form (docs/BENCHMARKS.md).
Used by :func:`keras_acts._ops.normal_cdf_and_pdf` on jax and under TensorFlow's XLA.

``R`` is a ``(4, 5)`` rational fitted here once, on first use, to ``math.erfc`` (float64): its
relative error is below 1e-8 on ``[0, T_MAX]``, under float32's rounding unit (6e-8), so the
float32 result is as accurate as its ``exp`` (the error of ``exp(-x^2 / 2)`` grows like
``x^2 / 2`` rounding units, as in every float32 ``erfc``). Not accurate enough for float64, which
keeps ``erfc``. Beyond ``T_MAX = 15``, ``phi`` is 0 in float32 (below its smallest subnormal),
so ``t`` is clamped there, which also keeps the polynomials from overflowing.
"""

from __future__ import annotations

import functools
import math

import numpy as np

T_MAX = 15.0  # phi(15) = 5.5e-50: 0 in float32 (smallest subnormal 1.4e-45)
DEGREES = (4, 5)  # numerator, denominator


def mills_ratio(t: np.ndarray) -> np.ndarray:
    """``(1 - Phi(t)) / phi(t) = sqrt(pi / 2) erfc(t / sqrt 2) exp(t^2 / 2)`` in float64 (``t <= 37``)."""
    t = np.asarray(t, dtype=np.float64)
    erfc = np.vectorize(math.erfc, otypes=[np.float64])(t * math.sqrt(0.5))
    return math.sqrt(math.pi / 2.0) * erfc * np.exp(0.5 * t * t)


@functools.lru_cache(maxsize=None)
def coefficients() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(p, q)``, constant term first, ``q[0] = 1``: ``R(t) ~ P(t) / Q(t)`` on ``[0, T_MAX]``.

    Weighted linear least squares on ``P(t) - R(t) Q(t)`` (Sanathanan-Koerner: weights
    ``1 / (R Q_previous)`` make it the relative error), with Lawson's reweighting towards the
    minimax fit, at 501 Chebyshev points. Deterministic; a few milliseconds.
    """
    n, m = DEGREES
    k = np.arange(501)
    t = 0.5 * T_MAX * (1.0 - np.cos(np.pi * (k + 0.5) / k.size))
    t = np.concatenate([[0.0], t, [T_MAX]])
    f = mills_ratio(t)
    basis_p = np.vander(t, n + 1, increasing=True)
    basis_q = -f[:, None] * np.vander(t, m + 1, increasing=True)[:, 1:]
    system = np.hstack([basis_p, basis_q])
    lawson = np.ones_like(t)
    q_prev = np.ones_like(t)
    for _ in range(30):
        w = lawson / (f * q_prev)
        sol = np.linalg.lstsq(system * w[:, None], f * w, rcond=None)[0]
        p, q = sol[: n + 1], np.concatenate([[1.0], sol[n + 1 :]])
        q_prev = np.polynomial.polynomial.polyval(t, q)
        err = np.abs(np.polynomial.polynomial.polyval(t, p) / q_prev / f - 1.0)
        lawson = lawson * np.sqrt(err / err.max() + 1e-3)
        lawson /= lawson.sum()
    return tuple(map(float, p)), tuple(map(float, q))


def max_relative_error(points: int = 200001) -> float:
    """The fit's largest relative error against :func:`mills_ratio` on ``[0, T_MAX]`` (float64)."""
    p, q = coefficients()
    t = np.linspace(0.0, T_MAX, points)
    r = np.polynomial.polynomial.polyval(t, p) / np.polynomial.polynomial.polyval(t, q)
    return float(np.max(np.abs(r / mills_ratio(t) - 1.0)))
