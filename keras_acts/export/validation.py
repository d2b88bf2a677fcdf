"""After an int8 export: does the int8 model still compute what the Keras model computes?

:func:`keras_acts.export.to_tflite` runs the new int8 model with LiteRT (its default CPU path,
XNNPACK, as apps run it) and the Keras model on the same samples, and attaches a
:class:`Validation` to the :class:`~keras_acts.export.ExportResult` (and its report).

Which samples (decided here, documented in the README's export section):

* ``validation_data=`` given to ``to_tflite``: up to :data:`MAX_SAMPLES` of those; every
  calibration sample is used for calibration.
* otherwise, post-training int8 with at least :data:`MIN_HELD_OUT_TOTAL` representative samples:
  the last ``min(64, n // 8)`` samples are **held out** - not used for calibration - and the
  validation runs on them. Held-out samples show range problems calibration samples hide (an
  activation range fitted to exactly the calibration set).
* fewer representative samples (calibration needs at least 16): validation runs on the last 64
  calibration samples themselves, and says so (``held_out=False``).
* a quantization-aware-trained model has no calibration data: it is validated on
  ``validation_data=`` or, if given, ``representative_data=``; without either it is not
  validated (``skipped`` says why).

The reference is the model passed to ``to_tflite`` (the float model, or the QAT model with its
fake-quant ranges). Per output: top-1 agreement when the output looks like class scores
(rank 2 with at least 2 classes), the signal-to-noise ratio in dB otherwise (both are always in
:meth:`Validation.to_dict`), and the largest and 99th-percentile difference in output
quantization steps (LSB) when the output is int8 or dequantized from int8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Validation runs on at most this many samples.
MAX_SAMPLES = 64
#: Post-training exports with at least this many representative samples hold some out.
MIN_HELD_OUT_TOTAL = 64
#: Warn when the int8 model agrees on fewer top-1 classes than this with the reference.
MIN_TOP1 = 0.5
#: Warn when an output's signal-to-noise ratio is below this (dB).
MIN_SNR_DB = 10.0


def split(arrays: Sequence[np.ndarray], max_calibration: int) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """Splits representative samples into (calibration, validation, held_out).

    Args:
        arrays: one array per model input, samples along the first axis.
        max_calibration: at most this many samples calibrate.
    """
    n = int(arrays[0].shape[0])
    k = min(MAX_SAMPLES, n // 8) if n >= MIN_HELD_OUT_TOTAL else 0
    if k:
        calib = [a[: min(n - k, max_calibration)] for a in arrays]
        return calib, [a[n - k :] for a in arrays], True
    calib = [a[:max_calibration] for a in arrays]
    m = int(calib[0].shape[0])
    return calib, [a[max(0, m - MAX_SAMPLES) :] for a in calib], False


@dataclass
class OutputCheck:
    """How one model output of the int8 model compares with the reference.

    Attributes:
        name: the TFLite output tensor's name.
        kind: ``"classes"`` (top-1 agreement is the headline) or ``"values"`` (SNR is).
        top1_agreement: share of samples with the reference's arg-max (``"classes"`` only).
        snr_db: ``10 log10(sum ref^2 / sum (int8 - ref)^2)``; ``inf`` when identical.
        max_lsb: largest |int8 - reference| in output quantization steps (None for float outputs).
        p99_lsb: its 99th percentile.
        scale: the output quantization step (0 for float outputs).
        int8_constant: the int8 model gives the same output for every sample.
        reference_constant: the reference gives the same output for every sample.
        reference_spread: the largest difference of the reference's outputs from its first
            sample's: below one output step, a constant int8 output is quantization, not a defect.
        near_ties: share of samples whose reference top-2 scores are within one output step
            (``"classes"`` only): there the int8 model cannot tell the two classes apart, so
            top-1 disagreement says little (typical of an untrained model).
    """

    name: str
    kind: str
    top1_agreement: float | None
    snr_db: float
    max_lsb: float | None
    p99_lsb: float | None
    scale: float
    int8_constant: bool
    reference_constant: bool
    reference_spread: float = 0.0
    near_ties: float | None = None

    def headline(self) -> str:
        """``"top-1 agreement 98.4 %, max 2.0 LSB (p99 1.0)"`` and the like."""
        parts = []
        if self.kind == "classes" and self.top1_agreement is not None:
            parts.append(f"top-1 agreement {100 * self.top1_agreement:.1f} %")
        else:
            parts.append("SNR " + ("inf" if math.isinf(self.snr_db) else f"{self.snr_db:.1f}") + " dB")
        if self.max_lsb is not None:
            parts.append(f"max {self.max_lsb:.1f} LSB (p99 {self.p99_lsb:.1f})")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "top1_agreement": self.top1_agreement,
            "snr_db": None if math.isinf(self.snr_db) else self.snr_db,
            "max_lsb": self.max_lsb,
            "p99_lsb": self.p99_lsb,
            "scale": self.scale,
            "int8_constant": self.int8_constant,
            "reference_constant": self.reference_constant,
            "reference_spread": self.reference_spread,
            "near_ties": self.near_ties,
        }


@dataclass
class Validation:
    """The int8 model against its Keras reference on validation samples.

    Attributes:
        num_samples: samples compared (0 when skipped).
        source: where the samples came from, e.g. ``"held out from representative_data"``.
        held_out: True when no validation sample was used for calibration.
        reference: what the int8 model was compared with (``"Keras float model"``, ``"QAT model"``).
        runtime: how the int8 model ran (``"LiteRT CPU, XNNPACK delegate, 1 thread"``).
        outputs: one :class:`OutputCheck` per model output.
        warnings: problems found (a degenerate int8 model, low agreement), each naming a fix.
        skipped: why the model was not validated, or None.
    """

    num_samples: int = 0
    source: str = ""
    held_out: bool = False
    reference: str = ""
    runtime: str = ""
    outputs: list[OutputCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """True when validated and nothing was flagged."""
        return self.skipped is None and not self.warnings

    def summary_lines(self) -> list[str]:
        """1-3 short lines for the report's summary."""
        if self.skipped is not None:
            return [f"validation: skipped ({self.skipped})"]
        where = f"{self.num_samples} {'held-out' if self.held_out else 'calibration'} samples"
        if self.source.startswith("validation_data"):
            where = f"{self.num_samples} validation_data samples"
        head = f"validation: int8 vs {self.reference}, {where}"
        if len(self.outputs) == 1:
            lines = [f"{head}: {self.outputs[0].headline()}"]
        else:
            lines = [head + ":"]
            shown = self.outputs[:2]
            lines += [f"  {o.name}: {o.headline()}" for o in shown]
            if len(self.outputs) > 2:
                worst = min(self.outputs[2:], key=lambda o: o.snr_db)
                lines[-1] += f"; {len(self.outputs) - 2} more, lowest SNR {worst.snr_db:.1f} dB ({worst.name})"
        if self.warnings:
            lines[-1] += f" - {len(self.warnings)} warning(s)"
        return lines[:3]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "num_samples": self.num_samples,
            "source": self.source,
            "held_out": self.held_out,
            "reference": self.reference,
            "runtime": self.runtime,
            "outputs": [o.to_dict() for o in self.outputs],
            "warnings": list(self.warnings),
            "skipped": self.skipped,
        }

    def __str__(self) -> str:
        return "\n".join(self.summary_lines() + [f"warning: {w}" for w in self.warnings])


def skipped(reason: str) -> Validation:
    """A :class:`Validation` that did not run, saying why."""
    return Validation(skipped=reason)


def reference_outputs(model: Any, arrays: Sequence[np.ndarray], batch_size: int = 64,
                      fixed_batch: int | None = None) -> list[np.ndarray]:
    """The Keras model's outputs on ``arrays`` (inference mode), one float64 array per output.

    Args:
        model: the Keras model.
        arrays: samples, one array per model input.
        batch_size: samples per call.
        fixed_batch: the model's fixed batch size, if its inputs have one: calls use exactly
            that many samples (the last batch padded by repeating its last sample).
    """

    def call(xs: list[np.ndarray]) -> list[Any]:
        out = model(xs[0] if len(xs) == 1 else xs, training=False)
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return run_in_batches(call, arrays, batch_size, fixed_batch)


def run_in_batches(fn: Any, arrays: Sequence[np.ndarray], batch_size: int = 64,
                   fixed_batch: int | None = None) -> list[np.ndarray]:
    """``fn(batch arrays) -> outputs`` over ``arrays`` in batches; one float64 array per output.

    With ``fixed_batch`` every call gets exactly that many samples (the last batch is padded by
    repeating its last sample, and the padding's outputs are dropped).
    """
    n = int(arrays[0].shape[0])
    step = int(fixed_batch or batch_size)
    chunks: list[list[np.ndarray]] = []
    for start in range(0, n, step):
        xs = [np.asarray(a[start : start + step], np.float32) for a in arrays]
        m = int(xs[0].shape[0])
        if fixed_batch and m < step:
            xs = [np.concatenate([x, np.repeat(x[-1:], step - m, axis=0)]) for x in xs]
        chunks.append([np.asarray(o, np.float64)[:m] for o in fn(xs)])
    return [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(chunks[0]))]


def _snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(np.sum((got - ref) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def validate(
    outputs: Sequence[np.ndarray],
    details: Sequence[dict],
    references: Sequence[np.ndarray],
    *,
    num_samples: int,
    source: str,
    held_out: bool,
    reference: str,
    fix_hint: str = "",
) -> Validation:
    """Compares the int8 model's outputs with the reference's.

    Args:
        outputs: the int8 model's dequantized outputs on the validation samples, as returned
            with ``details`` by :func:`keras_acts.export._worker.run_tflite` (LiteRT, XNNPACK).
        details: per output ``name``, ``dtype`` and ``scale`` (the output quantization step).
        references: the reference model's outputs on the same samples, one array per output.
        num_samples: the number of validation samples.
        source: where the samples came from (for the summary).
        held_out: whether they were left out of calibration.
        reference: what produced ``references``.
        fix_hint: added to degenerate-model warnings (e.g. the calibration data's value range).
    """
    from keras_acts import health
    from keras_acts.export.runner import runtime_name

    result = Validation(num_samples=int(num_samples), source=source, held_out=held_out,
                        reference=reference, runtime=runtime_name(True, 1))
    if len(outputs) != len(references):
        result.warnings.append(
            f"the int8 model has {len(outputs)} output(s) but the Keras model {len(references)}; they were not compared."
        )
        return result
    for o, r, d in zip(outputs, references, details):
        o = np.asarray(o, np.float64)
        r = np.asarray(r, np.float64)
        name = str(d.get("name", ""))
        if o.shape != r.shape:
            result.warnings.append(f"output {name!r}: int8 shape {o.shape} differs from the Keras output shape {r.shape}.")
            continue
        scale = float(d.get("scale") or 0.0)
        diff = np.abs(o - r).ravel()
        classes = o.ndim == 2 and o.shape[1] >= 2
        near_ties = None
        if classes:
            top2 = np.sort(r, axis=1)[:, -2:]
            near_ties = float(np.mean(top2[:, 1] - top2[:, 0] <= (scale or 0.0)))
        check = OutputCheck(
            name=name,
            kind="classes" if classes else "values",
            top1_agreement=float(np.mean(o.argmax(axis=1) == r.argmax(axis=1))) if classes else None,
            snr_db=_snr_db(r, o),
            max_lsb=float(diff.max() / scale) if scale else None,
            p99_lsb=float(np.percentile(diff, 99) / scale) if scale else None,
            scale=scale,
            int8_constant=result.num_samples >= 2 and health.is_constant(o),
            reference_constant=result.num_samples >= 2 and health.is_constant(r),
            reference_spread=float(np.max(np.abs(r - r[:1]))) if r.size else 0.0,
            near_ties=near_ties,
        )
        result.outputs.append(check)
        result.warnings.extend(_warnings(check, fix_hint))
    return result


def _warnings(c: OutputCheck, fix_hint: str) -> list[str]:
    hint = f" {fix_hint}" if fix_hint else ""
    if c.int8_constant and not c.reference_constant:
        if c.scale and c.reference_spread < c.scale:
            return [
                f"the int8 model is degenerate: output {c.name!r} is the same for every validation sample, "
                f"because the Keras model's own output varies by less than one int8 step across them "
                f"({c.reference_spread:.3g} < {c.scale:.3g}). Either the model is untrained (its outputs barely "
                f"depend on the input: train it first) or the calibrated ranges are far wider than the data "
                f"(calibrate on samples scaled exactly as in training).{hint}"
            ]
        return [
            f"the int8 model is degenerate: output {c.name!r} is the same for every validation sample while "
            f"the Keras model's is not. The calibrated ranges do not fit the data: calibrate on samples "
            f"scaled exactly as in training.{hint}"
        ]
    if c.reference_constant:
        return [
            f"the Keras model itself gives the same output {c.name!r} for every validation sample, so the int8 "
            f"model does too: check that the model is trained and the samples are scaled as in training "
            f"(briefly trained keras.applications models: re-estimate the BatchNorm statistics).{hint}"
        ]
    out = []
    if c.kind == "classes" and c.top1_agreement is not None and c.top1_agreement < MIN_TOP1:
        if c.near_ties is not None and c.near_ties >= 0.5:
            return [
                f"output {c.name!r}: the int8 model agrees with the Keras model on only {100 * c.top1_agreement:.0f} % "
                f"of top-1 classes, but on {100 * c.near_ties:.0f} % of the samples the Keras model's two best "
                "scores are within one output step of each other, which int8 cannot tell apart: the model looks "
                "untrained or very uncertain on these samples. Validate a trained model on samples it classifies."
            ]
        out.append(
            f"output {c.name!r}: the int8 model agrees with the Keras model on only {100 * c.top1_agreement:.0f} % of "
            "top-1 classes: check the calibration data matches the inputs the model sees, or use "
            "quantization-aware training (keras_acts.quantization.quantize_model)."
        )
    elif c.kind == "values" and c.snr_db < MIN_SNR_DB:
        out.append(
            f"output {c.name!r}: the int8 model's error is large (SNR {c.snr_db:.1f} dB, below {MIN_SNR_DB:.0f} dB): "
            "check the calibration data matches the inputs the model sees, or use quantization-aware training."
        )
    return out
