"""Int8-aware refit of a near-miss form (automatic lowering, algorithm version 10).

A candidate that converts all-int8 in one XNNPACK partition but measures just over the budget on LiteRT was
fitted in float64 (near-minimax against the function); its int8 chain then adds the roundings of the gate
(LOGISTIC / TANH outputs are rounded to 1/256 or 1/128), of every requantized intermediate and of the output.
:func:`refit` keeps the form's structure (the same ops, the same QAT chain: only coefficients that were not 0
move) and moves its linear coefficients against the simulated int8 chain
(:class:`keras_acts.export.autolower.qat.Simulation` with the converted model's input codes, the converter's
calibration grid and no widening of the form's output in context, which matched LiteRT to 0.01 LSB on the gate
forms checked; version 11: the converter's widening for every family, by its buffer-sharing rule, on the converter's
int8 grids, see ``qat.widened_points`` and ``qat.converter_range``):

1. **Int8-gate fit on the input codes** (a second start): the form with its gates rounded as the int8 kernels
   round them is linear in the coefficients; its near-minimax fit on the input codes absorbs the gates'
   rounding, which is deterministic per input code.
2. **Nudges.** From the form's own coefficients and from that fit, coordinate steps on each coefficient that move
   the form by at most 1/2, 1/4, 1/8, 1/16 of an output step where that coefficient matters most, kept when
   the simulated worst error over the settings the search verifies (alone, ``* 1.3``, ``+ 0.7``) goes down: the
   roundings of the intermediates, the output and the following op depend on the coefficients in a way no
   float fit sees.

The search verifies every variant on LiteRT before it can be chosen (``auto_lowering._near_miss_round``).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from keras_acts.export.autolower import forms as _forms

__all__ = ["coefficient_paths", "refit", "with_values", "REFIT_EVALS", "REFIT_SECONDS"]

# Which numbers of each family's parameters are its linear coefficients (the last name on the path to them).
_LINEAR = {
    "gate": ("b", "a_coeffs"),
    "clip": ("coeffs",),
    "cpoly": ("coeffs",),
    "kpoly": ("coeffs", "w"),
    "ppoly": ("w", "c0"),
    "even": ("w", "c0"),
    "abs": ("coeffs",),
    "gate2": ("p1", "p2"),
    "poly": ("coeffs",),
    "split": ("pos", "neg", "c0"),
}
REFIT_EVALS = 240
"""Simulated variants per :func:`refit` (deterministic; one simulation takes ~10-30 ms)."""
REFIT_SECONDS = 20.0
"""Wall-clock safety limit of one :func:`refit` on a very loaded machine (the evaluation count binds first)."""
_NUDGES = (0.5, 0.25, 0.125, 0.0625)  # largest output change of one nudge, in output steps
_SWEEPS = 3


def coefficient_paths(spec: _forms.FormSpec) -> list[tuple[Any, ...]]:
    """Paths (keys and list indices into ``spec.params``) of the form's nonzero linear coefficients.

    A coefficient that is 0 stays 0 (it decides which ops the form has), and so does the exact rewrite
    ``x sigmoid(b x)`` (its ``B(s) = s``). Families without linear coefficients (``hinge``, exact) give none.
    """
    keys = _LINEAR.get(spec.kind)
    if not keys or (spec.kind == "gate" and list(spec.params["b"]) == [0.0, 1.0] and not spec.params["a_coeffs"]):
        return []
    out: list[tuple[Any, ...]] = []

    def walk(v: Any, path: tuple[Any, ...], owner: str | None) -> None:
        if isinstance(v, dict):
            for k in sorted(v):
                walk(v[k], path + (k,), k)
        elif isinstance(v, list):
            for i, w in enumerate(v):
                walk(w, path + (i,), owner)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v != 0 and owner in keys:
            out.append(path)

    walk(spec.params, (), None)
    return out


def _get(params: dict[str, Any], path: Sequence[Any]) -> float:
    v: Any = params
    for k in path:
        v = v[k]
    return float(v)


def with_values(spec: _forms.FormSpec, paths: Sequence[tuple[Any, ...]], values: Sequence[float]) -> _forms.FormSpec:
    """A copy of ``spec`` with the numbers at ``paths`` replaced by ``values``."""
    import copy

    params = copy.deepcopy(spec.params)
    for path, v in zip(paths, values):
        node: Any = params
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = float(v)
    return _forms.FormSpec(spec.kind, params)


def _jacobian(spec: _forms.FormSpec, paths: Sequence[tuple[Any, ...]], x: np.ndarray) -> np.ndarray:
    """d form / d coefficient on ``x`` (float64 evaluation, forward differences)."""
    base = np.array([_get(spec.params, p) for p in paths])
    y0 = _forms.evaluate(spec, x)
    cols = []
    for i in range(len(paths)):
        h = 1e-6 * max(1.0, abs(base[i]))
        v = base.copy()
        v[i] += h
        cols.append((_forms.evaluate(with_values(spec, paths, v), x) - y0) / h)
    return np.stack(cols, 1)


class _FixedRangesOnly:
    """``q`` for :func:`keras_acts.export.autolower.forms.body` that rounds only the tensors whose int8 range the
    kernel fixes (LOGISTIC / TANH outputs, RELU6), in float64: the form with its int8 gates, unrounded otherwise."""

    calibrates = True  # the export graph (guard reads included)

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        return t

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        import tensorflow as tf

        from keras_acts.quantization.formulations import fixed

        return tf.cast(fixed(tf.cast(t, tf.float32), lo, hi), tf.float64)


def _gated_values(spec: _forms.FormSpec, x: Any) -> np.ndarray:
    return np.asarray(_forms.body(spec)(x, _FixedRangesOnly()).numpy(), np.float64)


def _int8_gate_fit(spec: _forms.FormSpec, paths: Sequence[tuple[Any, ...]], sim: Any) -> np.ndarray:
    """The coefficients refitted near-minimax on the input codes with the kernels' rounded gates.

    The form's value at an input code with its LOGISTIC / TANH output rounded as the kernel rounds it (1/256,
    1/128; the version-9 int8-gate fit only saturated the ends) is linear in the coefficients, so the fit
    absorbs the gate's rounding, which is deterministic per input code (TanhExp's near miss: up to 0.54 LSB
    at x = -5.1, where ``tanh(0.6 x)`` moves by one code over several input codes).
    """
    import tensorflow as tf

    x = tf.constant(sim.x.astype(np.float64))
    theta = np.array([_get(spec.params, p) for p in paths])
    y0 = _gated_values(spec, x)
    cols = []
    for i in range(len(paths)):
        h = 1e-4 * max(1.0, abs(theta[i]))
        v = theta.copy()
        v[i] += h
        cols.append((_gated_values(with_values(spec, paths, v), x) - y0) / h)
    return theta + _minimax(np.stack(cols, 1), sim.expect - y0)


def _minimax(design: np.ndarray, target: np.ndarray, iters: int = 30) -> np.ndarray:
    """Near-minimax solution of ``design @ c ~ target`` (Lawson's reweighted least squares)."""
    w = np.ones(len(target))
    best, best_err = np.zeros(design.shape[1]), np.inf
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(design * sw[:, None], target * sw, rcond=None)
        err = np.abs(design @ c - target)
        m = float(err.max())
        if m < best_err:
            best, best_err = c, m
        if m == 0.0:
            break
        w = w * (err / m + 1e-12)
        w /= w.sum()
    return best


def _worst(errors: dict[str, Any]) -> dict[str, float]:
    return {k: float(v.max()) for k, v in errors.items() if k not in ("chain", "step")}


def refit(
    spec: _forms.FormSpec, sim: Any, *, measured: dict[str, float] | None = None, evals: int = REFIT_EVALS,
    seconds: float = REFIT_SECONDS, keep: int = 2,
) -> list[tuple[_forms.FormSpec, float]]:
    """Coefficient variants of ``spec`` with a lower predicted int8 error, best first.

    Two starts, the form's own coefficients and its int8-gate fit on the input codes (:func:`_int8_gate_fit`),
    each improved by coordinate nudges (a coefficient moved so the form moves by at most 1/2, 1/4, 1/8, 1/16 of an
    output step where that coefficient matters most; a move is kept when the predicted worst error over the
    settings goes down), ``evals // 2`` simulations each.

    Args:
        spec: the near-miss form (its structure is kept).
        sim: a :class:`keras_acts.export.autolower.qat.Simulation` of the function on the search's range.
        measured: the near miss's measured error per setting on LiteRT (:attr:`Candidate.settings
            <keras_acts.export.auto_lowering.Candidate>`): each simulated setting is shifted by the near miss's
            measured-minus-simulated difference, so a setting the simulation gets wrong does not steer the refit
            (with the converter's input codes and calibration grid and without the output widening in context,
            the simulation matched LiteRT to 0.01 LSB on every form checked; see docs/AUTO_LOWERING.md).
        evals: most variants simulated.
        seconds: wall-clock safety limit.
        keep: most variants returned.

    Returns:
        ``[(variant, predicted worst error in output LSB)]``, only variants predicted below ``spec``'s own error;
        empty when the form has no linear coefficients or nothing improved.
    """
    t_end = time.perf_counter() + seconds
    paths = coefficient_paths(spec)
    if not paths:
        return []
    x = sim.x.astype(np.float64)
    theta0 = np.array([_get(spec.params, p) for p in paths])
    reach = np.abs(_jacobian(spec, paths, x)).max(axis=0)
    if not np.all(reach > 0):
        return []
    first = sim.errors(spec)
    sim0 = _worst(first)
    offset = {k: (measured[k] - v if measured and np.isfinite(measured.get(k, np.nan)) else 0.0) for k, v in sim0.items()}

    def predicted(errors: dict[str, Any]) -> float:
        return max(v + offset[k] for k, v in _worst(errors).items())

    start = predicted(first)
    step = float(first["step"])
    seen: dict[bytes, float] = {np.round(theta0, 12).tobytes(): start}
    scored: list[tuple[float, np.ndarray]] = []
    left = [0]

    def score(theta: np.ndarray) -> float:
        key = np.round(theta, 12).tobytes()
        if key not in seen:
            left[0] -= 1
            seen[key] = predicted(sim.errors(with_values(spec, paths, theta)))
            scored.append((seen[key], theta.copy()))
        return seen[key]

    starts = [theta0]
    gated = _int8_gate_fit(spec, paths, sim)
    if np.all(np.isfinite(gated)):
        starts.append(gated)
    for theta in starts:
        left[0] = evals // len(starts)
        best, best_val = theta, score(theta)
        for frac in _NUDGES:
            for _ in range(_SWEEPS):
                moved = False
                for i in range(len(paths)):
                    for sign in (1.0, -1.0):
                        if left[0] <= 0 or time.perf_counter() > t_end:
                            break
                        trial = best.copy()
                        trial[i] += sign * frac * step / reach[i]
                        val = score(trial)
                        if val < best_val - 1e-9:
                            best_val, best, moved = val, trial, True
                if not moved:
                    break
    out: list[tuple[_forms.FormSpec, float]] = []
    for val, theta in sorted(scored, key=lambda t: t[0]):
        if val >= start - 1e-9 or len(out) >= keep:
            break
        out.append((with_values(spec, paths, theta), val))
    return out
