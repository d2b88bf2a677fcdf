"""Statistics over training seeds: mean ± spread, and paired comparisons with a baseline.

The examples train every activation with the same seeds (seed ``i`` gives every
activation the same initial-weight draw where the layers match and the same data
order), so run ``i`` of activation A and run ``i`` of the baseline form a *pair*.
This module summarises one quantity over seeds and decides whether a difference to
the baseline is larger than the seed-to-seed spread.

The rule (:func:`paired_difference`): for the paired differences
``d_i = value_i(A) - value_i(baseline)`` over the ``n`` seeds where both have a value,
the 95 % confidence interval of their mean is ``mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n)``
(Student's t with ``n - 1`` degrees of freedom, ``sd`` with ``ddof=1``). A difference
is called *significant* when that interval excludes 0. With fewer than 2 pairs there is
no interval and nothing is significant. If every difference is identical and non-zero
(``sd = 0``), the interval is that single point and it is significant. No correction
for comparing several activations against one baseline is applied: with 8 comparisons
at 95 %, one false "significant" is not unlikely, and the reports say so.

The Student-t quantile is computed here (regularised incomplete beta function by its
continued fraction, then bisection), so no SciPy is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "Summary",
    "PairedDifference",
    "summarize",
    "paired_difference",
    "t_cdf",
    "t_quantile",
    "band",
]


@dataclass(frozen=True)
class Summary:
    """One quantity over seeds.

    Attributes:
        n: number of seeds with a value (missing values, e.g. a failed export, are skipped).
        missing: number of seeds without a value.
        mean: arithmetic mean (nan when ``n == 0``).
        std: sample standard deviation, ``ddof=1`` (0.0 when ``n == 1``, nan when ``n == 0``).
        min: smallest value (nan when ``n == 0``).
        max: largest value (nan when ``n == 0``).
    """

    n: int
    missing: int
    mean: float
    std: float
    min: float
    max: float

    def format(self, spec: str = ".3f", spread: bool = True, missing_label: str = "missing") -> str:
        """``"mean ± std (min–max)"``, or ``"n/a"`` (with the missing count) when there is no value.

        Args:
            spec: format spec of every number.
            spread: also give the min–max range.
            missing_label: what a seed without a value means, e.g. ``"not reached"``.

        Returns:
            The text; ``" [k missing]"`` is appended when some seeds had no value.
        """
        if self.n == 0:
            return f"n/a [{self.missing} {missing_label}]" if self.missing else "n/a"
        text = f"{format(self.mean, spec)} ± {format(self.std, spec.replace('+', ''))}"
        if spread:
            text += f" ({format(self.min, spec)}–{format(self.max, spec)})"
        if self.missing:
            text += f" [{self.missing} {missing_label}]"
        return text


@dataclass(frozen=True)
class PairedDifference:
    """``value(A) - value(baseline)`` paired by seed, with a t-interval of its mean.

    Attributes:
        n: number of seeds where both have a value.
        mean: mean of the paired differences (nan when ``n == 0``).
        std: their sample standard deviation (``ddof=1``; nan when ``n < 2``).
        low: lower end of the confidence interval (nan when ``n < 2``).
        high: upper end (nan when ``n < 2``).
        confidence: the interval's confidence level, e.g. 0.95.
        significant: the interval excludes 0.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float
    confidence: float
    significant: bool

    def format(self, spec: str = "+.3f") -> str:
        """``"+0.012 [+0.004, +0.020] *"``; ``*`` marks a significant difference."""
        if self.n == 0:
            return "n/a"
        if self.n < 2:
            return f"{format(self.mean, spec)} (1 seed: no interval)"
        star = " *" if self.significant else ""
        return f"{format(self.mean, spec)} [{format(self.low, spec)}, {format(self.high, spec)}]{star}"


def _values(values: Iterable[float | None]) -> tuple[np.ndarray, int]:
    present, missing = [], 0
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            missing += 1
        else:
            present.append(float(v))
    return np.asarray(present, dtype=np.float64), missing


def summarize(values: Iterable[float | None]) -> Summary:
    """Mean, sample std (``ddof=1``), min and max of the values that are present.

    Args:
        values: one value per seed; ``None`` or nan means "no value for this seed".

    Returns:
        A :class:`Summary`.
    """
    v, missing = _values(values)
    if v.size == 0:
        nan = float("nan")
        return Summary(0, missing, nan, nan, nan, nan)
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return Summary(int(v.size), missing, float(v.mean()), std, float(v.min()), float(v.max()))


def paired_difference(
    values: Sequence[float | None],
    baseline: Sequence[float | None],
    confidence: float = 0.95,
) -> PairedDifference:
    """The mean paired difference ``values - baseline`` with a Student-t interval.

    Args:
        values: one value per seed for the activation being compared.
        baseline: one value per seed for the baseline, same seed order.
        confidence: two-sided confidence level in (0, 1).

    Returns:
        A :class:`PairedDifference`; ``significant`` when the interval excludes 0.

    Raises:
        ValueError: the sequences differ in length, or ``confidence`` is not in (0, 1).
    """
    if len(values) != len(baseline):
        raise ValueError(
            f"paired_difference needs one value per seed on both sides, got {len(values)} and {len(baseline)}; "
            "pass the runs of the same seeds in the same order (use None for a missing value)."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence!r}.")
    pairs = [
        (float(a), float(b))
        for a, b in zip(values, baseline)
        if a is not None and b is not None and not (math.isnan(float(a)) or math.isnan(float(b)))
    ]
    nan = float("nan")
    if not pairs:
        return PairedDifference(0, nan, nan, nan, nan, confidence, False)
    d = np.asarray([a - b for a, b in pairs])
    mean = float(d.mean())
    if d.size < 2:
        return PairedDifference(1, mean, nan, nan, nan, confidence, False)
    std = float(d.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2.0, d.size - 1) * std / math.sqrt(d.size)
    low, high = mean - half, mean + half
    significant = bool(low > 0.0 or high < 0.0)
    return PairedDifference(int(d.size), mean, std, low, high, confidence, significant)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t distribution with ``df`` degrees of freedom.

    Uses ``P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2)``.
    """
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}.")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`).

    Args:
        p: probability in (0, 1), e.g. 0.975 for a two-sided 95 % interval.
        df: degrees of freedom (> 0).

    Returns:
        ``t`` with ``t_cdf(t, df) == p`` to about 1e-12.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}.")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def band(curves: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:
    """Mean, std, min and max per epoch of several curves (one per seed).

    Curves of different lengths are cut to the shortest.

    Args:
        curves: one sequence of per-epoch values per seed.

    Returns:
        ``{"mean", "std", "min", "max"}`` arrays of the common length (``std`` with
        ``ddof=1``, zeros for a single curve).
    """
    if not curves:
        raise ValueError("band needs at least one curve (one per seed).")
    length = min(len(c) for c in curves)
    a = np.asarray([list(c)[:length] for c in curves], dtype=np.float64)
    std = a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(length)
    return {"mean": a.mean(axis=0), "std": std, "min": a.min(axis=0), "max": a.max(axis=0)}
