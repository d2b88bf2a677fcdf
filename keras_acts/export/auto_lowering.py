"""Automatic, verified int8 lowering of any activation (issue 21, parts 2 and 3).

:func:`auto_lower` takes an activation's float function (TF ops or ``keras.ops`` on the TensorFlow
backend, parameters bound), a target and an input range, and:

1. fits candidate forms built only from ops the target's runtime takes in int8
   (:mod:`keras_acts.export.autolower.forms`: exact rewrites such as piecewise-linear functions as
   RELU hinges and ``x sigmoid(b x)`` as MUL+LOGISTIC; gated forms ``A(s) + x B(s)`` around a
   LOGISTIC or TANH gate; piecewise polynomials with linear tails; clipped polynomials
   ``P(clip(k x + b, -1, 1))``, centred and clipped exactly on the input's int8 grid; plain polynomials), keeping
   those whose float error is a small fraction of an output step;
2. verifies them, cheapest first, on the installed LiteRT
   (:mod:`keras_acts.export.autolower.verify`): the one-activation model converted to all-int8,
   every input code inside the range run, the maximum error in output LSB against the float
   function, all-int8, and for ``cpu`` exactly one XNNPACK partition; latency measured;
3. when none passes, refits the candidates just over the budget (at most 1.3 times it) against their
   simulated int8 chain and verifies the variants (version 10, :func:`_near_miss_round`);
   chooses, among the forms within the budget (1.5 LSB) in one XNNPACK partition and as fast as the fastest
   within the timing noise (:func:`same_speed`), the first by a fixed key (fewer ops, smaller error, the form's
   JSON; :func:`tie_key`), or returns a result with ``ok=False`` saying so, with the best error reached and what
   would run instead;
4. caches results in-process and on disk (``$KERAS_ACTS_CACHE_DIR`` or the user cache dir;
   ``KERAS_ACTS_AUTO_LOWERING_CACHE=0`` turns the disk cache off), keyed by the function's source,
   parameters, range, target and the LiteRT version;
5. gives the QAT formulation of the chosen form (:attr:`AutoLowering.qat`), a
   :class:`keras_acts.quantization.formulations.QATForm` with a fake-quant at every tensor the int8
   graph requantizes.

The exporter calls :func:`lowering_for` for a registry entry that has no hand-written lowering
(see :func:`applies`); ``docs/AUTO_LOWERING.md`` describes the search and its limits.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import inspect
import json
import os
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from keras_acts import registry
from keras_acts.export.autolower import forms as _forms
from keras_acts.export.autolower import verify as _verify

__all__ = [
    "AutoLowering",
    "Candidate",
    "auto_lower",
    "lowering_for",
    "applies",
    "measure_plain",
    "BUDGET_LSB",
    "DEFAULT_RANGE",
]

BUDGET_LSB = 1.5
"""Largest accepted error, in output quantization steps (an ideal int8 model has 0.5)."""
DEFAULT_RANGE = (-8.0, 8.0)
AUTO_TARGETS = ("cpu", "int8", "edgetpu")
ALGORITHM_VERSION = 12  # part of the cache key: bump when the search or the forms change (6: cpoly; 7: shifted gates, abs in
# tanh(g|x|); 8: slow TANH gate, saturated-gate failures demote that gate, guarded abs after an in-context
# failure, accuracy among equally fast forms; 9: int8-saturated gate fits, simulation of the converter's range
# widening and the in-context ops, prescaled sign-changing gates, gate scale scan ranked by simulation;
# interior knots: ppoly, kpoly; 10: near misses refitted against the simulated int8 chain, latency ties within
# TIE_NOISE broken by a fixed key: fewer ops, smaller error, the form's JSON; 11: the converter's widening by its
# buffer-sharing rule, simulated for every family in the near-miss refit; clip forms without an ADD of 0; 12: in
# context, the error of the form's own output tensor, not of the following op's output)
CACHE_ENV = "KERAS_ACTS_AUTO_LOWERING_CACHE"
CACHE_DIR_ENV = "KERAS_ACTS_CACHE_DIR"
# A fit is verified only when its float error is below this many (estimated) output steps: int8
# rounding adds at least 0.5 and the requantized intermediates more.
_FLOAT_BUDGET_LSB = 0.3
_MAX_VERIFIED = 12
_SCAN_KEEP = 6  # scanned gate forms (forms.gate_scale_scan) added to the ranked candidates, best simulated first
_MAX_PASSING = 3  # verified candidates within the budget whose latencies are compared
_SIM_MARGIN_LSB = 0.35  # simulated int8 error may exceed the budget by this much and still be measured  # candidates converted and run at most per search


@dataclass(frozen=True)
class Candidate:
    """One verified candidate form.

    Attributes:
        form: the formula.
        spec: the form's family and parameters (JSON).
        ops: the int8 ops it converted to.
        max_lsb: measured maximum error in output LSB (``inf`` if it did not convert): the worst of the
            form alone and the form followed by each op of
            :data:`keras_acts.export.autolower.verify.CONTEXTS` (see ``settings``).
        float_error: its float64 error vs the function (absolute).
        fully_int8: every op has int8 outputs.
        partitions: XNNPACK partitions (cpu target), else None.
        latency_us: cpu target: median time of one invoke on a 65536-element int8 tensor (``(16, 4096)``,
            the size of a ``(256, 256)`` feature map) under XNNPACK, 1 thread, timed interleaved with the
            search's other converted candidates (:func:`keras_acts.export.autolower.verify.compare_latency`),
            microseconds (the median of ``latency_rounds``); see :func:`_choose`. Other targets: one invoke on
            ``(1, 4096)`` with the builtin kernels.
        verdict: ``"ok"`` or why it was rejected.
        settings: the error of each setting measured, in the form's output LSB: ``"alone"`` (the
            form's output is the model output) and one entry per following op (``"then * 1.3"``,
            ``"then + 0.7"``), where the converter's range widening reaches the form's last tensors: the
            error of the form's own output tensor in that model (version 12).
            Empty when the form did not convert alone.
        worst_x: the input where the error alone is largest (None when it did not convert).
        latency_rounds: cpu timing: microseconds in each interleaved round (the choice compares candidates
            round by round); empty when not timed.
    """

    form: str
    spec: dict[str, Any]
    ops: tuple[str, ...]
    max_lsb: float
    float_error: float
    fully_int8: bool
    partitions: int | None
    latency_us: float
    verdict: str
    settings: dict[str, float] = field(default_factory=dict)
    worst_x: float | None = None
    latency_rounds: tuple[float, ...] = ()


@dataclass
class AutoLowering:
    """The result of :func:`auto_lower`.

    Attributes:
        ok: a form within the budget was found.
        target: ``"cpu"``, ``"int8"`` or ``"edgetpu"``.
        input_range: the range the forms were fitted and verified on.
        chosen: the chosen candidate, or None.
        candidates: every candidate verified, in the order tried.
        message: one paragraph for the user (what was chosen, or why nothing was and what runs
            instead).
        best_lsb: the smallest error any verified candidate reached (``inf`` when none converted).
        fallback: what runs instead when ``ok`` is False.
        from_cache: the result was read from the cache (in-process or disk).
        seconds: time the search took (0 for a cache hit).
    """

    ok: bool
    target: str
    input_range: tuple[float, float]
    chosen: Candidate | None
    candidates: list[Candidate] = field(default_factory=list)
    message: str = ""
    best_lsb: float = float("inf")
    fallback: str = ""
    from_cache: bool = False
    seconds: float = 0.0

    @property
    def spec(self) -> _forms.FormSpec | None:
        """The chosen form's :class:`~keras_acts.export.autolower.forms.FormSpec`."""
        return None if self.chosen is None else _forms.FormSpec.from_dict(self.chosen.spec)

    @property
    def fn(self) -> Callable[..., Any] | None:
        """The export function ``fn(x, **params)`` of the chosen form (TF ops), or None."""
        spec = self.spec
        if spec is None:
            return None
        body = _forms.body(spec)
        points = _forms.ExportPoints()

        def lowered(x: Any, **_params: Any) -> Any:
            return body(x, points)

        lowered.__name__ = "auto_lowering"
        return lowered

    @property
    def lowering(self) -> registry.Lowering | None:
        """The chosen form as a :class:`keras_acts.registry.Lowering`, or None."""
        if self.chosen is None:
            return None
        return registry.Lowering(
            self.fn,
            self.chosen.ops,
            f"automatic ({self.chosen.form}): {self.chosen.max_lsb:.2f} LSB on "
            f"[{self.input_range[0]:g}, {self.input_range[1]:g}], measured on LiteRT",
            max_abs_error=self.chosen.float_error,
        )

    @property
    def qat(self) -> Any:
        """The QAT formulation matching the chosen form (:class:`~keras_acts.quantization.formulations.QATForm`)."""
        spec = self.spec
        if spec is None:
            return None
        from keras_acts.export.autolower.qat import qat_form

        return qat_form(spec, self.chosen.ops if self.chosen else ())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (the disk cache's format)."""
        return {
            "ok": self.ok,
            "target": self.target,
            "input_range": list(self.input_range),
            "chosen": None if self.chosen is None else _cand_dict(self.chosen),
            "candidates": [_cand_dict(c) for c in self.candidates],
            "message": self.message,
            "best_lsb": _finite(self.best_lsb),
            "fallback": self.fallback,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "AutoLowering":
        """The inverse of :meth:`to_dict`."""
        return AutoLowering(
            ok=bool(d["ok"]),
            target=d["target"],
            input_range=tuple(d["input_range"]),
            chosen=None if d["chosen"] is None else _cand_from(d["chosen"]),
            candidates=[_cand_from(c) for c in d["candidates"]],
            message=d["message"],
            best_lsb=float("inf") if d["best_lsb"] is None else float(d["best_lsb"]),
            fallback=d["fallback"],
        )


def _finite(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def _cand_dict(c: Candidate) -> dict[str, Any]:
    return {
        "form": c.form, "spec": c.spec, "ops": list(c.ops), "max_lsb": _finite(c.max_lsb),
        "float_error": c.float_error, "fully_int8": c.fully_int8, "partitions": c.partitions,
        "latency_us": c.latency_us, "verdict": c.verdict,
        "settings": {k: _finite(v) for k, v in c.settings.items()},
        "worst_x": c.worst_x, "latency_rounds": list(c.latency_rounds),
    }


def _cand_from(d: dict[str, Any]) -> Candidate:
    return Candidate(
        d["form"], d["spec"], tuple(d["ops"]), float("inf") if d["max_lsb"] is None else float(d["max_lsb"]),
        float(d["float_error"]), bool(d["fully_int8"]), d["partitions"], float(d["latency_us"]), d["verdict"],
        {k: float("inf") if v is None else float(v) for k, v in d.get("settings", {}).items()},
        d.get("worst_x"), tuple(float(v) for v in d.get("latency_rounds", ())),
    )


# --- the float function ------------------------------------------------------------------------


def float64_values(fn: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    """``fn`` evaluated in float64 through TensorFlow (float32 when the function cannot take float64)."""
    import tensorflow as tf

    try:
        y = fn(tf.constant(x, tf.float64))
        out = np.asarray(y.numpy() if hasattr(y, "numpy") else y, np.float64)
    except (TypeError, ValueError, tf.errors.InvalidArgumentError):
        y = fn(tf.constant(x, tf.float32))
        out = np.asarray(y.numpy() if hasattr(y, "numpy") else y, np.float64)
    return out.reshape(np.shape(x))


def _source_key(fn: Any) -> str:
    """Text identifying ``fn``'s math: its source (or bytecode), bound arguments and closure values."""
    parts: list[str] = []
    target = fn
    while isinstance(target, functools.partial):
        parts.append(repr(target.args) + repr(sorted(target.keywords.items())))
        target = target.func
    target = getattr(target, "__wrapped_math__", target)
    try:
        parts.append(inspect.getsource(target))
    except (OSError, TypeError):
        parts.append(repr(target) if getattr(target, "__code__", None) is None else "")
    code = getattr(target, "__code__", None)
    if code is not None:  # two lambdas on one source line share their source text, not their code
        parts.append(code.co_code.hex() + repr(code.co_consts) + repr(code.co_names))
    closure = getattr(target, "__closure__", None) or ()
    for cell in closure:
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        parts.append(repr(v) if isinstance(v, (int, float, str, bool, tuple)) else _source_key(v) if callable(v) else type(v).__name__)
    return "\n".join(parts)


# --- the target's ops ----------------------------------------------------------------------------


def _target_problem(target: str, result: dict[str, Any]) -> str | None:
    """Why a measured form does not suit ``target``, or None."""
    if not result["is_fully_int8"]:
        return f"not all int8 (float outputs from {', '.join(result['float_ops'])})"
    if not result["covers_range"]:
        return "the converter narrowed the input range (inputs would be clipped)"
    body_ops = [op for op in result["ops"] if op not in ("QUANTIZE", "DEQUANTIZE")]
    if target == "cpu":
        if result.get("partitions") != 1 or result.get("outside"):
            outside = ", ".join(result.get("outside") or []) or "none"
            return f"{result.get('partitions')} XNNPACK partitions (outside: {outside})"
    elif target == "edgetpu":
        from keras_acts.export.edgetpu.optable import OPS

        off = sorted({op for op in body_ops if op not in OPS})
        if off:
            return f"ops not on Coral's Edge TPU table: {', '.join(off)}"
    return None


# --- caching -------------------------------------------------------------------------------------

_MEMORY: dict[str, AutoLowering] = {}
_LOCK = threading.Lock()


def cache_dir() -> pathlib.Path:
    """Where results are kept on disk: ``$KERAS_ACTS_CACHE_DIR`` or ``$XDG_CACHE_HOME/keras_acts``."""
    base = os.environ.get(CACHE_DIR_ENV)
    if base:
        return pathlib.Path(base) / "auto_lowering"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg) / "keras_acts" / "auto_lowering"


def _disk_enabled() -> bool:
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def clear_memory_cache() -> None:
    """Forgets the in-process results and the work searches share (the disk cache stays)."""
    with _LOCK:
        _MEMORY.clear()
        _FITS.clear()
    _verify.clear_conversions()


# --- work shared between the searches of one function for several targets -------------------------
# A search's float fits and its candidates' conversions do not depend on the target (only the verification's
# verdict and the choice do), and explain() / the exporter search the same function for cpu, int8 and edgetpu
# in one process: with the in-process cache on (auto_lower's ``cache``), the fits are kept by the function's
# float64 values on the search grid and the conversions by the form (verify.convert's ``memo_key``).
_SHARE: contextvars.ContextVar[bool] = contextvars.ContextVar("keras_acts_auto_lowering_share", default=False)
_FITS: dict[tuple[Any, ...], list[Any]] = {}
_FITS_MAX = 32


def _shared_fits(kind: str, compute: Callable[[], list[Any]], f: np.ndarray, *args: Any) -> list[Any]:
    """``compute()`` (a list of fits of ``f``), kept in-process by ``(kind, f, args)`` while sharing is on."""
    if not _SHARE.get():
        return compute()
    key = (kind, hashlib.sha256(np.ascontiguousarray(f, dtype=np.float64).tobytes()).hexdigest(), *args)
    with _LOCK:
        hit = _FITS.get(key)
    if hit is None:
        hit = list(compute())
        with _LOCK:
            if len(_FITS) >= _FITS_MAX:
                _FITS.pop(next(iter(_FITS)))
            _FITS[key] = hit
    return list(hit)


def _key(fn: Any, params: Mapping[str, Any], target: str, rng: tuple[float, float], budget: float) -> str:
    from keras_acts.export.xnnpack import litert_version

    text = json.dumps(
        {
            "source": _source_key(fn),
            "params": repr(sorted(params.items())),
            "target": target,
            "range": [round(rng[0], 6), round(rng[1], 6)],
            "budget": budget,
            "litert": litert_version(),
            "algorithm": ALGORITHM_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_disk(key: str) -> AutoLowering | None:
    if not _disk_enabled():
        return None
    path = cache_dir() / f"{key}.json"
    try:
        return AutoLowering.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_disk(key: str, result: AutoLowering) -> None:
    if not _disk_enabled():
        return
    path = cache_dir() / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the in-process cache still works


# --- the search ----------------------------------------------------------------------------------


def auto_lower(
    fn: Callable[[Any], Any],
    *,
    target: str = "cpu",
    input_range: tuple[float, float] = DEFAULT_RANGE,
    params: Mapping[str, Any] | None = None,
    budget_lsb: float = BUDGET_LSB,
    name: str | None = None,
    cache: bool = True,
) -> AutoLowering:
    """Finds, verifies on LiteRT and chooses a fast int8 form of ``fn`` within ``budget_lsb``.

    Of the passing forms in one XNNPACK partition that are as fast as the fastest within the timing noise (a sign
    test on their interleaved timing rounds and a TIE_NOISE margin), the first by fewer ops, then smaller error,
    then the form's JSON is chosen; when none passes, the forms just over the budget are refitted first.

    Args:
        fn: the activation's float function of one tensor, TF ops or ``keras.ops`` on the TF backend
            (bind parameters first, e.g. with ``functools.partial``).
        target: ``"cpu"`` (LiteRT with XNNPACK: one partition required), ``"int8"`` (TFLite builtin
            int8 ops) or ``"edgetpu"`` (Coral's op table).
        input_range: ``(lo, hi)`` the activation's input spans (at export: what calibration gives).
        params: the parameters bound into ``fn``, for the cache key only.
        budget_lsb: largest accepted maximum error in output LSB.
        name: the activation's name, for messages.
        cache: use and fill the in-process and disk caches.

    Returns:
        An :class:`AutoLowering`; ``ok`` is False (with ``message``, ``best_lsb`` and ``fallback``)
        when no form meets the budget.

    Raises:
        ValueError: an unknown target or an empty/non-finite range.
    """
    if target not in AUTO_TARGETS:
        raise ValueError(f"auto_lower: target must be one of {AUTO_TARGETS}, got {target!r}.")
    lo, hi = (float(input_range[0]), float(input_range[1]))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"auto_lower: need a finite input range lo < hi, got {input_range!r}.")
    params = dict(params or {})
    label = name or getattr(fn, "__name__", "activation")
    key = _key(fn, params, target, (lo, hi), budget_lsb) if cache else ""
    if cache:
        with _LOCK:
            hit = _MEMORY.get(key)
        if hit is None:
            hit = _read_disk(key)
            if hit is not None:
                with _LOCK:
                    _MEMORY[key] = hit
        if hit is not None:
            copy = AutoLowering(**{**hit.__dict__, "from_cache": True, "seconds": 0.0})
            return copy
    t0 = time.perf_counter()
    token = _SHARE.set(cache)
    try:
        result = _search(fn, label, target, lo, hi, budget_lsb)
    finally:
        _SHARE.reset(token)
    result.seconds = time.perf_counter() - t0
    if cache:
        with _LOCK:
            _MEMORY[key] = result
        _write_disk(key, result)
    return result


def _search(fn: Callable[[Any], Any], label: str, target: str, lo: float, hi: float, budget: float) -> AutoLowering:
    x = np.linspace(lo, hi, 4001)
    f = float64_values(fn, x)
    if not np.all(np.isfinite(f)):
        bad = float(x[~np.isfinite(f)][0])
        return _failed(label, target, lo, hi, [], f"{label} is not finite on the range (at x = {bad:g})")
    span = float(f.max() - f.min())
    if span == 0.0:
        return _failed(label, target, lo, hi, [], f"{label} is constant on [{lo:g}, {hi:g}]")
    step = span / 255.0
    fits = _shared_fits("candidates", lambda: _forms.candidates(
        x, f, tol=1e-6 * max(1.0, span), max_float_err=_FLOAT_BUDGET_LSB * step), f, lo, hi)
    def reference(v: np.ndarray) -> np.ndarray:
        return float64_values(fn, v)

    from keras_acts.export.autolower.qat import simulate

    # Predict each fit's int8 error by simulating its quantized chain (fast), and convert only
    # those predicted within the budget (plus a margin), cheapest first.
    ranked = []
    best_predicted = float("inf")
    for spec, err in fits:
        predicted = simulate(spec, reference, lo, hi)
        best_predicted = min(best_predicted, predicted)
        if predicted <= budget + _SIM_MARGIN_LSB:
            ranked.append((spec, err, _forms.ops_of(spec), predicted))
    if not any(t[3] <= budget for t in ranked if t[0].kind == "gate"):
        # Version 9: no gate candidate is predicted within the budget (for gates the simulation now models the
        # converter's range widening and the in-context ops, within ~0.1-0.5 LSB of LiteRT): scan the self-gated
        # prescaled forms over gate scales and degrees, fitted to the exact and to the int8-saturated gate, and
        # keep the few the simulation predicts best (forms.gate_scale_scan).
        seen = {t[0].to_json() for t in ranked}
        scanned = []
        for spec in _shared_fits("gate_scale_scan", lambda: _forms.gate_scale_scan(x, f, _FLOAT_BUDGET_LSB * step), f, lo, hi):
            if spec.to_json() in seen:
                continue
            predicted = simulate(spec, reference, lo, hi)
            best_predicted = min(best_predicted, predicted)
            if predicted <= budget + _SIM_MARGIN_LSB:
                err = float(np.abs(_forms.evaluate(spec, x) - f).max())
                scanned.append((spec, err, _forms.ops_of(spec), predicted))
        scanned.sort(key=lambda t: t[3])
        ranked += scanned[:_SCAN_KEEP]
    ranked.sort(key=lambda t: (_forms.cost(t[2]), t[3]))

    # Verify in the ranker's order (op count, then simulated error) until _MAX_PASSING candidates pass (see below);
    # then time every converted candidate interleaved on a (256, 256)-sized tensor and choose among the passing
    # ones (_choose: of those as fast as the fastest within the noise, the first by tie_key). The op count does not predict XNNPACK's time (docs/AUTO_LOWERING.md, "Why some XNNPACK
    # int8 elementwise chains are slow"), so the cheapest-looking passing form is not necessarily chosen.
    # Once _MAX_PASSING have passed, only the first candidate of each family not yet tried is still verified:
    # families differ in XNNPACK time at equal op counts (the erf gate: the clipped polynomial R6(c), 12 ops,
    # 29.8 us; three prescaled gates of 11 ops that pass first, 38.7 us).
    # A candidate that fails alone with its worst error where its gate's int8 output is saturated (LOGISTIC and
    # TANH have fixed output scales: sigmoid(x) is one code, 255/256, from x = 5.1) fails for its gate, not its
    # polynomial: every candidate whose gate saturates as early (or earlier) on that side would repeat the
    # failure, so those move to the end of the queue (version 8; x sigmoid(x)^2 spent its 12 verifications on
    # sigmoid(x) / tanh(x/2) forms, both saturating at 5.1, and never reached the slower tanh(0.4 x) that passes).
    # The slow TANH gate's candidates are the remedy for that failure and are held back until it happens (they
    # would otherwise take verifications from functions whose usual gates pass: Serf's tanh(x/2) form, 8th).
    tried: list[Candidate] = []
    contents: dict[int, bytes] = {}
    kinds: set[str] = set()
    queue = [t for t in ranked if not _forms.is_slow_gate(t[0], x)]
    reserve = [t for t in ranked if _forms.is_slow_gate(t[0], x)]
    if reserve and not any(t[3] <= budget for t in queue):
        # version 9: the simulation (which now models the converter's widening and the in-context ops for gates)
        # predicts none of the usual candidates within the budget: the slow gate joins from the start instead of
        # waiting for a saturated failure (x sigmoid(x)^2: its sigmoid(x) forms are now predicted at 2.8 LSB and
        # not verified, so that failure never came)
        queue = sorted(queue + reserve, key=lambda t: (_forms.cost(t[2]), t[3]))
        reserve = []
    consumed = 0  # queue positions used, skipped ones included (as version 7's ranked[:_MAX_VERIFIED])
    while queue and consumed < _MAX_VERIFIED:
        spec, err, ops, _predicted = queue.pop(0)
        consumed += 1
        if sum(c.verdict == "ok" for c in tried) >= _MAX_PASSING and spec.kind in kinds:
            continue
        kinds.add(spec.kind)
        cand, content = _verify_one(spec, err, reference, target, lo, hi, budget)
        if content is not None:
            contents[len(tried)] = content
        tried.append(cand)
        if cand.verdict.startswith("in context"):
            # within the budget alone, not after another op: the converter widened the range of the form's
            # remainder H, the dead input of its last ADD; the same form reading H once more (forms.guarded_abs)
            # is verified next (version 8: sqrt(x^2 + 4) - 2 + 0.3 x, P5(1 - |x|/8) + ramps 1.32 / 1.53 / 1.77
            # LSB, guarded 1.32 / 1.32 / 1.36)
            variant = _forms.guarded_abs(spec, x)
            if variant is not None:
                v_err = float(np.abs(_forms.evaluate(variant, x) - f).max())
                queue.insert(0, (variant, v_err, _forms.ops_of(variant), _predicted))
        x_bad = cand.worst_x
        failed_alone = " alone (worst at x = " in cand.verdict  # over the budget alone (not a partition/int8 refusal)
        if failed_alone and x_bad is not None and _forms.gate_saturated(spec, x_bad):
            onset = _forms.saturation_onset(spec, x_bad)
            pool, reserve = queue + reserve, []
            same = [t for t in pool if _forms.saturation_onset(t[0], x_bad) <= onset + 1e-9]
            later = [t for t in pool if _forms.saturation_onset(t[0], x_bad) > onset + 1e-9]
            queue = sorted(later, key=lambda t: (_forms.cost(t[2]), t[3])) + same
    if not any(c.verdict == "ok" for c in tried):
        # version 10: nothing passed; the forms just over the budget are refitted against their simulated int8
        # chain (autolower/refit.py) and the variants verified, a bounded number (_near_miss_round)
        _near_miss_round(tried, contents, reference, target, lo, hi, budget, x, f)
    if contents:
        # Every target's int8 model also runs on CPUs (LiteRT's default XNNPACK runtime: a phone, the host
        # of an Edge TPU for the ops it leaves on the CPU, a user's own checks), so every target's forms are
        # timed there, interleaved, and the non-cpu targets, whose verification does not require it, learn
        # their XNNPACK partition count: a form that splits the CPU graph is chosen only when no other passes.
        from keras_acts.export.xnnpack import xnnpack_plan

        rounds = _verify.compare_latency_rounds({str(i): c for i, c in contents.items()})
        timed = {k: float(np.median(v)) for k, v in rounds.items()}
        tried = [
            dataclasses.replace(
                c, latency_us=timed[str(i)], latency_rounds=tuple(rounds[str(i)]),
                partitions=c.partitions if c.partitions is not None else xnnpack_plan(contents[i]).partitions,
            ) if str(i) in timed else c
            for i, c in enumerate(tried)
        ]
    passing = [c for c in tried if c.verdict == "ok"]
    chosen = _choose(passing)
    if chosen is None:
        if not fits:
            why = f"no candidate form reached a float error below {_FLOAT_BUDGET_LSB} output steps"
        elif not ranked:
            why = (
                f"{len(fits)} fitted form(s), none predicted within the budget in int8: the best simulated "
                f"int8 error is {best_predicted:.2f} LSB"
            )
        else:
            why = "no verified form met the budget"
        floor = _verify.ideal_errors(reference, lo, hi)
        return _failed(label, target, lo, hi, tried, why, budget, floor=floor)
    return AutoLowering(
        ok=True, target=target, input_range=(lo, hi), chosen=chosen, candidates=tried,
        best_lsb=min(c.max_lsb for c in tried),
        message=(
            f"{label}: automatic {target} form {chosen.form} -> {', '.join(chosen.ops)}; "
            f"{chosen.max_lsb:.2f} LSB on [{lo:g}, {hi:g}] (budget {budget}), measured on LiteRT"
        ),
    )


NEAR_MISS_FACTOR = 1.3
"""A verified candidate whose only fault is its error, at most this many times the budget, is a near miss
(version 10): when no candidate passes, the near misses are refitted (:func:`_near_miss_round`)."""
_NEAR_MISS_FORMS = 2  # near-miss candidates refitted, best measured first
_NEAR_MISS_VERIFIED = 3  # refitted variants converted and measured at most per search


def _near_miss(c: Candidate, budget: float, target: str) -> bool:
    """Whether ``c`` failed on its error alone (all int8, one partition for cpu) by at most NEAR_MISS_FACTOR."""
    error_only = " alone (worst at x = " in c.verdict or c.verdict.startswith("in context ")
    return (
        error_only and c.fully_int8 and (target != "cpu" or c.partitions == 1)
        and budget < c.max_lsb <= NEAR_MISS_FACTOR * budget
    )


def _near_miss_round(
    tried: list[Candidate], contents: dict[int, bytes], reference: Callable[[np.ndarray], np.ndarray],
    target: str, lo: float, hi: float, budget: float, x: np.ndarray, f: np.ndarray,
) -> None:
    """Refits the best near misses in ``tried`` and verifies their variants (appended to ``tried``/``contents``).

    Version 10. The near misses (:func:`_near_miss`), smallest measured error first, at most
    ``_NEAR_MISS_FORMS``: each is refitted against its simulated int8 chain
    (:func:`keras_acts.export.autolower.refit.refit`: the same ops, other coefficients, ``refit.REFIT_EVALS``
    simulations), and its variants the simulation puts below the original are verified on LiteRT like
    any candidate, at most ``_NEAR_MISS_VERIFIED`` per search; the round stops at the first that passes, and a
    near miss whose first variant measures no better than itself gets no further verification from that simulation.
    Version 11: each near miss is refitted against version 10's simulation, then against the converter-faithful
    one (``Simulation(..., all_families=True)``), whose variants are verified only when none of the first passed.
    """
    near = sorted((c for c in tried if _near_miss(c, budget, target)), key=lambda c: c.max_lsb)[:_NEAR_MISS_FORMS]
    if not near:
        return
    from keras_acts.export.autolower import refit as _refit
    from keras_acts.export.autolower.qat import Simulation

    # the simulation as the converter does it: ranges calibrated on its float grid, errors at the input codes of
    # the near miss's own model (the converter's input quantization; every variant's is the same)
    idx = next(i for i, c in enumerate(tried) if c is near[0])
    if idx not in contents:
        return
    from keras_acts.export.runner import input_codes_in_range, make_interpreter

    detail = make_interpreter(contents[idx]).get_input_details()[0]

    def simulation(all_families: bool) -> Any:
        return Simulation(
            reference, lo, hi, inputs=input_codes_in_range(detail, lo, hi).x,
            calibration=np.linspace(lo, hi, _verify.WIDTH, dtype=np.float32), widen_output=False,
            all_families=all_families,
        )

    # version 11: each near miss is refitted against version 10's simulation first (the converter's widening for
    # gates only), then, when none of those variants passed, against the converter-faithful one (the widening for
    # every family, the converter's int8 grids and tie roundings: qat.widened_points, qat.converter_range). Neither
    # predicts every form: the cubic B-spline's ppoly passes with version 10's second variant (1.39 LSB) and not with
    # version 11's; the shifted quadratic B-spline's version-10 variant measures 3.78 LSB, version 11's 1.64.
    sims: dict[bool, Any] = {}
    verified = 0
    seen: set[str] = set()
    for c in near:
        for faithful in (False, True):
            if faithful not in sims:
                sims[faithful] = simulation(faithful)
            for variant, _predicted in _refit.refit(_forms.FormSpec.from_dict(c.spec), sims[faithful], measured=c.settings):
                if verified >= _NEAR_MISS_VERIFIED:
                    return
                if variant.to_json() in seen:
                    continue
                seen.add(variant.to_json())
                err = float(np.abs(_forms.evaluate(variant, x) - f).max())
                cand, content = _verify_one(variant, err, reference, target, lo, hi, budget)
                verified += 1
                cand = dataclasses.replace(cand, form=f"{cand.form} [int8 refit]")
                if content is not None:
                    contents[len(tried)] = content
                tried.append(cand)
                if cand.verdict == "ok":
                    return
                if cand.max_lsb >= c.max_lsb:
                    # measured no better than the near miss itself: this simulation does not see what LiteRT does to
                    # this form (version 10's simulates the converter's widening for gates only; version 11's for
                    # every family, but int8 ties at clipped piece ends are still off by up to ~0.9 LSB), so its
                    # other variants are not verified either (the shifted quadratic B-spline's ppoly: 1.89 -> 3.78
                    # LSB with version 10's)
                    break


TIE_NOISE = 0.05
"""Relative latency difference that counts as a tie whatever the sign test says (version 10): the spread of the
median latency ratio of two interpreters of the same model between searches, 0.986-1.002 measured
(docs/AUTO_LOWERING.md, "Ties in the choice (version 10)"; benchmarks/latency_tie_noise.py)."""


def same_speed(a: Candidate, b: Candidate) -> bool:
    """Whether ``a`` is as fast as ``b`` as far as the measurement can tell (a tie of :func:`_choose`).

    ``a`` is slower only when the sign test on their paired interleaved rounds says so
    (:func:`~keras_acts.export.autolower.verify.slower_than`) **and** its median paired ratio to ``b`` exceeds
    ``1 + TIE_NOISE``: a difference the rounds of one search confirm but that is smaller than the spread
    between searches (a few % between two interpreters of the same model) is not one the choice can rely on.
    Candidates without rounds compare their medians against the same margin.
    """
    if a.latency_rounds and b.latency_rounds:
        n = min(len(a.latency_rounds), len(b.latency_rounds))
        ratio = float(np.median([a.latency_rounds[i] / b.latency_rounds[i] for i in range(n)]))
        return ratio <= 1.0 + TIE_NOISE or not _verify.slower_than(a.latency_rounds, b.latency_rounds)
    return a.latency_us <= (1.0 + TIE_NOISE) * b.latency_us


def tie_key(c: Candidate) -> tuple[int, float, str]:
    """The deterministic order among equally fast candidates: fewer ops, then the smaller error (to 0.01 LSB),
    then the form's JSON."""
    return (len(c.ops), round(c.max_lsb, 2), json.dumps(c.spec, sort_keys=True))


def _choose(passing: list[Candidate]) -> Candidate | None:
    """The chosen form among the passing candidates: one XNNPACK partition first, then speed, then a fixed key.

    Among the candidates with the fewest partitions (one, or None for an unknown count), the fastest by median
    latency is found; every candidate as fast as far as the measurement can tell (:func:`same_speed`: not
    measurably slower by the sign test on the paired interleaved rounds, or slower by at most ``TIE_NOISE``) ties
    with it, and the tie is broken by :func:`tie_key`: fewer ops, then the smaller error, then the form's JSON
    (version 10). Version 8 broke ties by accuracy alone, without a margin: a form a few % slower than the fastest
    tied with it in one search and not in the next (ErfAct's 22-op form timed 1.02-1.10x its 18-op form across
    four searches), so the choice alternated between two forms.
    """
    if not passing:
        return None
    one = [c for c in passing if c.partitions in (None, 1)]
    pool = one or passing
    fastest = min(pool, key=lambda c: (c.latency_us, tie_key(c)))
    tied = [c for c in pool if c is fastest or same_speed(c, fastest)]
    return min(tied, key=tie_key)


def _verify_one(
    spec: _forms.FormSpec, float_err: float, reference: Callable[[np.ndarray], np.ndarray],
    target: str, lo: float, hi: float, budget: float,
) -> tuple[Candidate, bytes | None]:
    body = _forms.body(spec)
    points = _forms.ExportPoints()
    memo_key = spec.to_json() if _SHARE.get() else None
    try:
        content = _verify.convert(lambda x: body(x, points), lo, hi, memo_key=memo_key)
        m = _verify.measure(content, reference, lo, hi, xnnpack=target == "cpu")
    except Exception as err:  # noqa: BLE001 - a converter failure only rejects this candidate
        return Candidate(spec.describe(), json.loads(spec.to_json()), _forms.ops_of(spec), float("inf"),
                         float_err, False, None, 0.0, f"conversion failed: {str(err).splitlines()[0][:200]}"), None
    problem = _target_problem(target, m)
    settings = {"alone": m["max_lsb"]}
    if problem is None and m["max_lsb"] > budget:
        problem = f"{m['max_lsb']:.2f} LSB > {budget} alone (worst at x = {m['worst_x']:.3g})"
    if problem is None:
        # Inside a model the form feeds another op, and the converter then widens the calibrated range
        # of some of its internal tensors (docs/AUTO_LOWERING.md, "Converter range widening"): the form
        # passes only if its output is also within the budget when it feeds each context op.
        try:
            settings.update(_verify.measure_in_context(
                lambda x: body(x, points), reference, lo, hi, xnnpack=target == "cpu",
                form_scale=m["output_scale"], memo_key=memo_key,
            ))
        except Exception as err:  # noqa: BLE001 - a converter failure only rejects this candidate
            problem = f"conversion in context failed: {str(err).splitlines()[0][:200]}"
        bad = {k: v for k, v in settings.items() if k != "alone" and v > budget}
        if problem is None and bad:
            problem = "in context " + ", ".join(f"{k}: {v:.2f} LSB" for k, v in bad.items()) + f" > {budget}"
    ops = tuple(op for op in m["ops"] if op not in ("QUANTIZE", "DEQUANTIZE"))
    return Candidate(
        spec.describe(), json.loads(spec.to_json()), ops, max(settings.values()), float_err,
        m["is_fully_int8"], m.get("partitions"), m["latency_us"], problem or "ok", settings, float(m["worst_x"]),
    ), content


def _floor_text(floor: Mapping[str, float], budget: float) -> str:
    """The room the budget leaves a form (:func:`.verify.ideal_errors`), as a clause of the message."""
    setting, worst = max(floor.items(), key=lambda kv: kv[1])
    where = "alone" if setting == "alone" else setting.replace("then ", "followed by ")
    if worst > budget:
        return f"; even the function rounded once to its int8 grid measures {worst:.2f} LSB {where}"
    return (
        f"; the function rounded once to its int8 grid measures {worst:.2f} LSB {where} (the budget "
        f"leaves a form of the same output range {budget - worst:.2f} LSB there)"
    )


def _failed(
    label: str, target: str, lo: float, hi: float, tried: list[Candidate], why: str,
    budget: float = BUDGET_LSB, floor: Mapping[str, float] | None = None,
) -> AutoLowering:
    """The result of a search that found no form; ``floor`` (:func:`.verify.ideal_errors`) adds what an
    ideal form would measure to the message."""
    best = min((c.max_lsb for c in tried), default=float("inf"))
    fallback = {
        "cpu": "the training function as the converter traces it (its ops may leave XNNPACK or stay float)",
        "int8": "the training function as the converter traces it (ops without int8 kernels stay float)",
        "edgetpu": "nothing: the Edge TPU target refuses the activation",
    }[target]
    best_text = f"; best error reached {best:.2f} LSB" if np.isfinite(best) else ""
    if floor:
        best_text += _floor_text(floor, budget)
    message = (
        f"{label}: no automatic {target} int8 form within {budget} LSB on [{lo:g}, {hi:g}] ({why}{best_text}). "
        f"What runs instead: {fallback}. Fix: register a hand-written lowering for {target!r} "
        "(keras_acts.registry.Lowering), narrow the activation's input range (e.g. a BatchNormalization "
        "before it), or export with quantization='float16'."
    )
    return AutoLowering(False, target, (lo, hi), None, tried, message, best, fallback)


def measure_plain(fn: Callable[[Any], Any], *, input_range: tuple[float, float] = DEFAULT_RANGE) -> dict[str, Any]:
    """What the plain converter makes of ``fn`` (no keras_acts lowering): ops, error, partitions, latency.

    Returns the :func:`keras_acts.export.autolower.verify.measure` dict, or ``{"error": message}``
    when the converter refuses the function in int8.
    """
    lo, hi = float(input_range[0]), float(input_range[1])
    try:
        content = _verify.convert(fn, lo, hi)
    except Exception as err:  # noqa: BLE001 - reported, not raised
        return {"error": str(err).splitlines()[0][:300]}
    return _verify.measure(content, lambda v: float64_values(fn, v), lo, hi, xnnpack=True)


# --- the exporter's side -------------------------------------------------------------------------

_state = threading.local()


def applies(entry: registry.Activation, target: str | None) -> bool:
    """Whether the exporter lowers ``entry`` automatically for ``target``.

    True for the int8 targets (``cpu``, ``int8``, ``edgetpu``) when the entry has no hand-written
    lowering at all (activations registered without ``lowerings``) and no learnable weights.
    """
    return target in AUTO_TARGETS and not entry.lowerings and not entry.learnable


@contextlib.contextmanager
def calibrated_ranges(ranges: Mapping[tuple[str, tuple[tuple[str, Any], ...]], tuple[float, float]]) -> Iterator[None]:
    """Inside the block, :func:`lowering_for` uses these input ranges, keyed by (name, sorted params)."""
    previous = getattr(_state, "ranges", None)
    _state.ranges = dict(ranges)
    try:
        yield
    finally:
        _state.ranges = previous


def range_key(name: str, params: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """The key of :func:`calibrated_ranges` for an activation and its parameters."""
    return (name, tuple(sorted((k, v) for k, v in params.items() if not hasattr(v, "dtype"))))


@contextlib.contextmanager
def recording() -> Iterator[dict]:
    """Records the input range of every automatically lowered activation called inside the block.

    Yields the dict (filled as the model runs) for :func:`calibrated_ranges`.
    """
    previous = getattr(_state, "record", None)
    seen: dict = {}
    _state.record = seen
    try:
        yield seen
    finally:
        _state.record = previous


def record_input(name: str, params: Mapping[str, Any], x: Any) -> None:
    """Called by each activation (see :mod:`keras_acts.lowering`): notes ``x``'s range while recording."""
    seen = getattr(_state, "record", None)
    if seen is None or not hasattr(x, "numpy"):
        return
    try:
        entry = registry.lookup(name)
    except ValueError:
        return
    if not applies(entry, "cpu"):
        return
    v = np.asarray(x.numpy(), np.float64)
    if v.size == 0:
        return
    key = range_key(name, params)
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    if key in seen:
        lo, hi = min(lo, seen[key][0]), max(hi, seen[key][1])
    seen[key] = (lo, hi)


def _export_range(name: str, params: Mapping[str, Any]) -> tuple[float, float]:
    ranges = getattr(_state, "ranges", None) or {}
    got = ranges.get(range_key(name, params))
    if got is None:
        return DEFAULT_RANGE
    lo, hi = got
    # the int8 input grid must contain 0 (the converter nudges ranges to include it)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-6:
        return DEFAULT_RANGE
    return (lo, hi)


def lowering_for(
    entry: registry.Activation, params: Mapping[str, Any], target: str, input_range: tuple[float, float] | None = None
) -> AutoLowering:
    """The automatic lowering of registry ``entry`` with ``params`` for ``target`` (the exporter's call).

    Args:
        entry: the registry entry (its ``fn`` is the float function).
        params: the activation's parameters.
        target: ``"cpu"``, ``"int8"`` or ``"edgetpu"``.
        input_range: the activation's input range; by default the range recorded from the
            calibration data (:func:`calibrated_ranges`), else -8..8.
    """
    clean = {k: v for k, v in params.items() if not hasattr(v, "dtype")}
    rng = input_range if input_range is not None else _export_range(entry.name, clean)
    from keras_acts.lowering import lowering_target

    base = getattr(entry.fn, "__wrapped_math__", None) or entry.fn

    def fn(x: Any) -> Any:
        with lowering_target(None):
            return base(x, **clean)

    fn.__wrapped_math__ = base  # type: ignore[attr-defined]  (the cache key reads the math's source)
    return auto_lower(fn, target=target, input_range=rng, params=clean, name=entry.name)


def provide(
    entry: registry.Activation,
    target: str,
    input_range: tuple[float, float] | None = None,
    params: Mapping[str, Any] | None = None,
) -> registry.Lowering | None:
    """The registry's automatic-lowering provider (:meth:`keras_acts.registry.Activation.auto_lowering`).

    The verified form of ``entry`` for ``target`` on ``input_range`` (default: the range recorded from
    the calibration data, else -8..8), or None when the entry has hand-written lowerings, is learnable,
    or no form meets the budget (then a ``UserWarning`` says so for cpu/int8 and the training math is
    traced; for ``edgetpu`` a ``ValueError``).
    """
    params = dict(params or {})
    if input_range is not None:
        if not applies(entry, target):
            return None
        result = lowering_for(entry, params, target, input_range)
        return result.lowering if result.ok else None
    fn = export_function(entry.name, params, target)
    if fn is None:
        return None
    result = lowering_for(entry, params, target)
    return result.lowering


def find_form(entry: registry.Activation, target: str) -> registry.Lowering | None:
    """For :func:`keras_acts.explain`: the verified automatic form on -8..8, or None."""
    return provide(entry, target, DEFAULT_RANGE)


def export_function(name: str, params: Mapping[str, Any], target: str) -> Callable[..., Any] | None:
    """The automatic form's function while tracing, or None to trace the training math.

    Raises:
        ValueError: no form meets the budget for the ``edgetpu`` target (the Edge TPU cannot run
            the training math); for ``cpu`` and ``int8`` a ``UserWarning`` says so instead.
    """
    import warnings

    entry = registry.lookup(name)
    if not applies(entry, target):
        return None
    result = lowering_for(entry, params, target)
    if result.ok:
        return result.fn
    if target == "edgetpu":
        raise ValueError(result.message)
    key = range_key(name, params)
    if key not in (getattr(_state, "reported", None) or set()):  # the exporter's pre-pass said it already
        warnings.warn(result.message, UserWarning, stacklevel=3)
    return None


def any_applies(target: str | None) -> bool:
    """Whether some registered activation would be lowered automatically for ``target``."""
    return target in AUTO_TARGETS and any(applies(e, target) for e in registry.entries())


def record_ranges(model: Any, arrays: list[np.ndarray], *, batch: int = 256) -> dict:
    """Runs ``model`` on ``arrays`` (one per input) and returns each automatically lowered activation's
    input range, keyed by :func:`range_key`."""
    from keras_acts import lowering as _lowering

    with recording() as seen, _lowering.recording_inputs(record_input):
        n = len(arrays[0])
        for start in range(0, n, batch):
            part = [a[start : start + batch] for a in arrays]
            model(part if len(part) > 1 else part[0], training=False)
    return dict(seen)


def prepare(model: Any, arrays: list[np.ndarray] | None, target: str, *, batch: int = 256) -> dict:
    """The exporter's pre-pass: input ranges from the calibration data, then each automatic lowering.

    Runs ``model`` on the calibration ``arrays`` (one per model input) while recording the input
    range of every automatically lowered activation, finds (or reads from the cache) each one's form
    for ``target``, and reports each that has none: a ``UserWarning`` naming what runs instead, or,
    for the Edge TPU, a ``ValueError``. Returns the ranges for :func:`calibrated_ranges`.
    """
    import warnings

    ranges = record_ranges(model, arrays, batch=batch) if arrays else {}
    reported = set()
    with calibrated_ranges(ranges):
        for (name, params) in ranges:
            entry = registry.lookup(name)
            if not applies(entry, target):
                continue
            result = lowering_for(entry, dict(params), target)
            if not result.ok:
                if target == "edgetpu":
                    raise ValueError(result.message)
                warnings.warn(f"to_tflite: {result.message}", UserWarning, stacklevel=3)
                reported.add((name, params))
    _state.reported = reported
    return ranges


# The registry asks this module for automatic forms (keras_acts.registry never imports keras_acts.export).
if registry._AUTO_LOWERING[0] is None:
    registry.set_auto_lowering_provider(provide)
