"""Per-tensor activation ranges learned as moving averages, and the calibration observer.

A :class:`RangeQuantizer` owns three non-trainable variables of a layer (``<name>_min``,
``<name>_max`` and ``<name>_seen``). In training it moves the range towards the batch's
``[min(x, 0), max(x, 0)]`` with an exponential moving average (the first batch a range
sees sets it directly, so an uncalibrated model does not start from an arbitrary range),
then fake-quantizes with the updated range; in inference it fake-quantizes with the stored
range. Inside :func:`observing` (used by :func:`keras_acts.quantization.engine.calibrate`)
it fake-quantizes nothing: tensors pass through in float, as in post-training calibration,
and their global min/max are recorded.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import numpy as np

from keras_acts import _ops
from keras_acts.quantization.engine import fake_quant

DEFAULT_DECAY = 0.99

_state = threading.local()


class RangeObserver:
    """Collects the global [min, max] of every RangeQuantizer it sees (eager only, any backend)."""

    def __init__(self) -> None:
        self.ranges: dict[int, list] = {}  # id(quantizer) -> [quantizer, lo, hi]

    def record(self, quantizer: "RangeQuantizer", x: Any) -> None:
        eager_error = RuntimeError(
            "keras_acts.quantization.calibrate must run eagerly; it was called inside a traced function "
            "(tf.function, jax.jit). Call it (or quantize_model(..., calibration_data=...)) outside of one."
        )
        if not _ops.is_eager():
            raise eager_error
        try:
            v = _ops.to_numpy(x)
        except Exception as err:  # a jax tracer or symbolic tensor cannot become an array
            raise eager_error from err
        if not np.all(np.isfinite(v)):
            raise ValueError(
                f"calibration produced non-finite values at {quantizer.name!r}; check calibration_data for "
                "NaN/inf and that it is scaled like the training inputs."
            )
        lo, hi = float(v.min(initial=0.0)), float(v.max(initial=0.0))
        r = self.ranges.setdefault(id(quantizer), [quantizer, lo, hi])
        r[1], r[2] = min(r[1], lo), max(r[2], hi)

    def assign(self) -> int:
        """Writes the recorded ranges into the quantizers' variables; returns how many."""
        for q, lo, hi in self.ranges.values():
            q.set_range(lo, max(hi, lo + fake_quant.MIN_WIDTH))
        return len(self.ranges)


def current_observer() -> RangeObserver | None:
    """The observer of the calibration pass in progress, or None."""
    return getattr(_state, "observer", None)


@contextlib.contextmanager
def observing(observer: RangeObserver) -> Iterator[RangeObserver]:
    """Inside the block every RangeQuantizer records its input instead of quantizing it."""
    previous = current_observer()
    _state.observer = observer
    try:
        yield observer
    finally:
        _state.observer = previous


class RangeQuantizer:
    """A moving-average per-tensor int8 range stored as variables of ``layer``.

    Args:
        layer: the Keras layer that owns the variables (call from its ``build``).
        name: prefix of the variable names, unique within the layer.
        decay: moving-average decay per training step.
    """

    def __init__(self, layer: Any, name: str, decay: float = DEFAULT_DECAY) -> None:
        self.name = f"{layer.name}/{name}"
        self.decay = float(decay)
        from keras_acts.backend import FRONTEND

        # averaged across replicas under a tf.distribute strategy (tf_keras takes the enum); Keras 3
        # variables carry it on every backend
        if FRONTEND == "keras3":
            aggregation: Any = "mean"
        else:
            import tensorflow as tf

            aggregation = tf.VariableAggregation.MEAN
        kw = {"shape": (), "trainable": False, "aggregation": aggregation}
        self.min = layer.add_weight(name=f"{name}_min", initializer="zeros", **kw)
        self.max = layer.add_weight(name=f"{name}_max", initializer="ones", **kw)
        self.seen = layer.add_weight(name=f"{name}_seen", initializer="zeros", **kw)

    def set_range(self, lo: float, hi: float) -> None:
        """Sets the range (and marks it as seen, so training continues from it)."""
        self.min.assign(lo)
        self.max.assign(hi)
        self.seen.assign(1.0)

    def __call__(self, x: Any, training: Any = False, min_width: Any = None) -> Any:
        """``x`` fake-quantized on the moving range (updated first when ``training``).

        Args:
            x: the tensor.
            training: update the moving range from ``x`` first.
            min_width: when given, the range used (not the one stored) is widened upwards to at least
                this width, e.g. so that an int8 ADD's input scale stays within XNNPACK's limits
                relative to its output (:mod:`keras_acts.export.autolower.qat`).
        """
        observer = current_observer()
        if observer is not None:
            observer.record(self, x)
            return x
        if training:
            lo, hi = fake_quant.observed_range(_ops.stop_gradient(x))
            seen = _ops.convert_to_tensor(self.seen) > 0.5
            lo = _ops.where(seen, fake_quant.moving_average(_ops.convert_to_tensor(self.min), lo, self.decay), lo)
            hi = _ops.where(seen, fake_quant.moving_average(_ops.convert_to_tensor(self.max), hi, self.decay), hi)
            self.min.assign(lo)
            self.max.assign(hi)
            self.seen.assign(1.0)
        else:
            lo, hi = self.min, self.max
        if min_width is not None:
            lo = _ops.convert_to_tensor(lo)
            hi = _ops.maximum(_ops.convert_to_tensor(hi), lo + min_width)
        return fake_quant.activation(x, lo, hi)
