"""quantize_model, calibrate and quantize_scope: the QAT entry points of both Keras frontends."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any, Iterator

import numpy as np

from keras_acts import _ops
from keras_acts.backend import model_frontend
from keras_acts.quantization.errors import QuantizationError, UnhealthyModelError, tfmot_unavailable_error

__all__ = [
    "ENGINES",
    "QuantizationError",
    "calibrate",
    "keras3_error",
    "quantize_model",
    "quantize_scope",
]

ENGINES = ("keras_acts", "tfmot")
REESTIMATE_CHOICES = ("auto", True, False)

_log = logging.getLogger("keras_acts.quantization")

# Kept for code that imported it from here (the tfmot error under Keras 3).
keras3_error = tfmot_unavailable_error


def __getattr__(name: str) -> Any:
    """``activation_entry`` and the other tfmot-path helpers moved to :mod:`keras_acts.quantization.tfmot`."""
    if name in ("activation_entry", "custom_objects"):
        from keras_acts.quantization.tfmot import path as _tfmot_path

        return getattr(_tfmot_path, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BatchNormStatisticsWarning(UserWarning):
    """BatchNorm moving statistics that do not fit the calibration data (see :func:`quantize_model`)."""


def _check_keras3_model(model: Any) -> None:
    if model_frontend(model) != "keras3":
        raise QuantizationError(
            f"quantize_model expects a Keras 3 Sequential or functional model in this process, got "
            f"{type(model).__module__}.{type(model).__name__}. Build it with keras_acts.keras (Keras 3), or set "
            "TF_USE_LEGACY_KERAS=1 before importing TensorFlow for tf_keras models."
        )


def _engine_for(model: Any, engine: str | None) -> str:
    from keras_acts.backend import FRONTEND

    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    keras3 = model_frontend(model) == "keras3" or FRONTEND == "keras3"
    if keras3 and engine == "tfmot":
        raise tfmot_unavailable_error()
    if keras3:
        _check_keras3_model(model)
    return engine or "keras_acts"


def _has_inputs(model: Any) -> bool:
    """True when ``model`` has symbolic inputs (an unbuilt Sequential or a subclassed model has none;
    the engine's rewrite then names the fix)."""
    try:
        return bool(model.inputs)
    except Exception:  # noqa: BLE001 - Keras raises different errors for models without inputs
        return False


def _check_weights(model: Any) -> None:
    from keras_acts.health import ModelHealthError, check_finite_weights

    try:
        check_finite_weights(model, action="quantize")
    except ModelHealthError as err:
        raise UnhealthyModelError(str(err)) from None


def _outputs(model: Any, data: Any, batch_size: int = 64) -> list[np.ndarray]:
    from keras_acts.quantization.batches import model_batches

    parts: list[list[np.ndarray]] = []
    for batch in model_batches(model, data, batch_size):
        out = model(batch, training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        if not parts:
            parts = [[] for _ in out]
        for p, o in zip(parts, out):
            p.append(_ops.to_numpy(o))
    return [np.concatenate(p) for p in parts]


def _check_not_constant(model: Any, data: Any, reestimated: bool) -> None:
    from keras_acts.health import is_constant

    outs = _outputs(model, data)
    if not outs or outs[0].shape[0] < 2 or not is_constant(outs):
        return
    bn = (
        "Its BatchNorm statistics were re-estimated on the calibration data, so they are not the cause. "
        if reestimated
        else "If the model has BatchNormalization layers, stale moving statistics are the usual cause "
        "(keras.applications uses momentum 0.999: re-estimate them with "
        "keras_acts.quantization.reestimate_batchnorm(model, x_train[:1000]) or pass reestimate_batchnorm=True). "
    )
    raise UnhealthyModelError(
        f"quantize_model: {getattr(model, 'name', 'the model')!r} gives the same output for all "
        f"{outs[0].shape[0]} calibration samples, so its QAT model would classify every input alike and "
        "fine-tuning would end at chance. " + bn + "Other causes: calibration_data that is not varied or not "
        "preprocessed like the training inputs (check its scale), or a network whose activations died during "
        "training (retrain with a lower learning rate). To quantize it anyway, pass allow_constant_output=True."
    )


def _batchnorm_step(model: Any, data: Any, mode: Any) -> bool:
    """Checks BatchNorm statistics against ``data``; re-estimates them (in place) per ``mode``.

    Returns True when the statistics were re-estimated.
    """
    from keras_acts.quantization import batchnorm as bnmod

    if mode is True:
        info = bnmod.reestimate_batchnorm(model, data)
        _log.info("re-estimated the moving statistics of %d BatchNorm layers on %d samples", info["layers"], info["samples"])
        return info["layers"] > 0
    found = bnmod.batchnorm_discrepancies(model, data)
    stale = [d for d in found if d.stale]
    if not stale:
        return False
    worst = sorted(stale, key=lambda d: -d.kl)[:3]
    what = (
        f"{len(stale)} of {len(found)} BatchNormalization layers of {getattr(model, 'name', 'the model')!r} have "
        f"moving statistics that do not fit the calibration data (worst: {'; '.join(d.describe() for d in worst)}). "
        "Folded into the convolutions as they are, they make the float, QAT and int8 models compute garbage, and "
        "QAT fine-tuning does not repair it (a short run with keras.applications' momentum 0.999 barely moves them)."
    )
    if mode == "auto":
        info = bnmod.reestimate_batchnorm(model, data)
        warnings.warn(
            f"{what} quantize_model re-estimated them from calibration_data ({info['samples']} samples) for the QAT "
            "model; your float model is unchanged and still evaluates with the stale statistics: fix it with "
            "keras_acts.quantization.reestimate_batchnorm(model, x_train[:1000]). Pass reestimate_batchnorm=False "
            "to keep the statistics as they are.",
            BatchNormStatisticsWarning,
            stacklevel=3,
        )
        return True
    warnings.warn(
        f"{what} Re-estimate them before quantizing: keras_acts.quantization.reestimate_batchnorm(model, "
        "x_train[:1000]), or pass reestimate_batchnorm='auto' (the default) or True to quantize_model.",
        BatchNormStatisticsWarning,
        stacklevel=3,
    )
    return False


def quantize_model(
    model: Any,
    calibration_data: Any = None,
    *,
    engine: str | None = None,
    reestimate_batchnorm: bool | str = "auto",
    allow_constant_output: bool = False,
    **options: Any,
) -> Any:
    """Returns the quantization-aware-training (QAT) version of a Keras 3 or tf_keras model.

    Both frontends use keras_acts's own QAT engine (:mod:`keras_acts.quantization.engine`) by
    default: every keras_acts activation in its registry QAT formulation, per-channel int8
    weights with BatchNorm folded as the TFLite converter folds it, and inference that computes
    what the int8 kernels compute, integer for integer. The result saves to ``.keras``/``.h5``
    and loads without a scope under Keras 3 (inside :func:`quantize_scope` under tf_keras).
    ``engine="tfmot"`` (tf_keras only, tensorflow-model-optimization installed) uses tfmot with
    keras_acts's QuantizeConfigs instead (:mod:`keras_acts.quantization.tfmot`), which was the tf_keras
    default up to keras_acts 0.1.0.

    Before rewriting, the model is checked: non-finite weights are refused (naming the layer and
    variable). With ``calibration_data``, also:

    * BatchNorm moving statistics are compared with the statistics of each BatchNorm's input
      on the calibration data (:func:`keras_acts.quantization.batchnorm_discrepancies`: median
      per-channel KL divergence, threshold :data:`~keras_acts.quantization.STALE_KL` = 0.02 nats). Both engines fold the *moving* statistics
      into the convolutions, so stale ones (``keras.applications`` uses momentum 0.999: after a
      short training run they are still near 0 and 1 and the float model evaluates at chance)
      make QAT end at chance without an error. ``reestimate_batchnorm="auto"`` (default):
      when they disagree, the QAT model gets statistics re-estimated on the calibration data
      (:func:`keras_acts.quantization.reestimate_batchnorm`, a cumulative average over training-mode
      batches) and a :class:`BatchNormStatisticsWarning` says so; statistics that fit are kept as
      trained. ``True``: always re-estimate; ``False``: only warn, before any fine-tuning, how to
      fix it. Auto is the default because a model quantized with stale statistics is useless and
      the fix needs only the data already given (NNCF likewise adapts BatchNorm statistics when
      it initializes quantization), while a model whose statistics fit is left exactly as trained
      (its population statistics are usually better than a few hundred calibration samples give).
      The float ``model`` itself is never changed.
    * an output that is the same for every calibration sample (:func:`keras_acts.health.is_constant`)
      is refused with the likely cause and fix (``allow_constant_output=True`` quantizes it anyway).

    Without ``calibration_data`` every activation range starts at the first training batch it sees
    (engine; tfmot starts at [-6, 6] and adapts by an EMA of decay 0.999), and BatchNorm layers
    still at their initial statistics (mean 0, variance 1) are warned about. Pass a few hundred
    training inputs whenever you fine-tune a trained float model.

    Args:
        model: a Keras 3 or tf_keras (``TF_USE_LEGACY_KERAS=1``) Sequential or functional model.
        calibration_data: optional model inputs (array (N, ...) or ``tf.data.Dataset`` of input
            batches), preprocessed like the training inputs: initialize every quantizer range
            (:func:`keras_acts.quantization.calibrate`) and drive the checks above.
        engine: ``"keras_acts"`` (the default in both frontends) or ``"tfmot"`` (tf_keras only).
        reestimate_batchnorm: ``"auto"`` (default), ``True`` or ``False``; see above. Needs
            ``calibration_data``.
        allow_constant_output: quantize a model whose output does not depend on its input.
        **options: reserved; no other options are accepted yet.

    Returns:
        The QAT model (compile and fit it as usual).

    Raises:
        UnhealthyModelError: non-finite weights, or a constant output on the calibration data (a
            :class:`QuantizationError` and a :class:`keras_acts.health.ModelHealthError`).
        QuantizationError: a subclassed model, ``engine="tfmot"`` under Keras 3, bad calibration
            data, or layers the engine cannot quantize (all of them named).
        TypeError: an unknown option.
        ValueError: an unknown ``engine`` or ``reestimate_batchnorm`` value.
    """
    if options:
        raise TypeError(
            f"quantize_model got unknown option(s) {', '.join(map(repr, options))}; it accepts calibration_data, "
            "engine, reestimate_batchnorm and allow_constant_output (e.g. quantize_model(model, "
            "calibration_data=x_train[:500]))."
        )
    if reestimate_batchnorm not in REESTIMATE_CHOICES:
        raise ValueError(f"reestimate_batchnorm must be 'auto', True or False, got {reestimate_batchnorm!r}.")
    chosen = _engine_for(model, engine)
    _check_weights(model)
    from keras_acts.quantization import batchnorm as bnmod

    with bnmod.statistics_restored(model):
        reestimated = False
        if calibration_data is not None and _has_inputs(model):
            reestimated = _batchnorm_step(model, calibration_data, reestimate_batchnorm)
            if not allow_constant_output:
                _check_not_constant(model, calibration_data, reestimated)
        elif calibration_data is None:
            initial = bnmod.at_initial_values(model)
            if initial:
                warnings.warn(
                    f"{len(initial)} BatchNormalization layer(s) of {getattr(model, 'name', 'the model')!r} still have "
                    f"their initial moving statistics (mean 0, variance 1), e.g. {', '.join(initial[:3])}: the model "
                    "was never trained, or trained too briefly for their momentum. QAT folds these statistics; pass "
                    "calibration_data=x_train[:500] to quantize_model (it re-estimates stale statistics), or call "
                    "keras_acts.quantization.reestimate_batchnorm(model, x_train[:1000]) first.",
                    BatchNormStatisticsWarning,
                    stacklevel=2,
                )
        if chosen == "tfmot":
            from keras_acts.quantization.tfmot import quantize as tfmot_quantize

            return tfmot_quantize(model, calibration_data)
        from keras_acts.quantization import engine as own

        return own.quantize(model, calibration_data)


def calibrate(qat_model: Any, data: Any, batch_size: int = 128) -> dict[str, int]:
    """Initializes the quantizer ranges of a QAT model (either engine) from calibration data.

    Activation ranges become ``[min(min x, 0), max(max x, 0)]`` of each float tensor over all of
    ``data`` (what post-training int8 calibration computes); fixed ranges, weights and BatchNorm
    statistics are unchanged. :func:`quantize_model` calls it when given ``calibration_data``.
    Dispatches to :func:`keras_acts.quantization.engine.calibrate` for keras_acts engine models
    and to :func:`keras_acts.quantization.tfmot.calibration.calibrate` for tfmot ones.

    Args:
        qat_model: a model returned by :func:`quantize_model`.
        data: model inputs, an array (N, ...) or a ``tf.data.Dataset`` of input batches.
        batch_size: batch size for arrays.

    Returns:
        How many ranges were set, by kind.

    Raises:
        QuantizationError: ``data`` is not numeric, misshaped or not finite.
        TypeError: ``data`` is not an array or a Dataset.
        ValueError: ``data`` is empty.
    """
    from keras_acts.quantization import engine as own

    if own.is_qat_model(qat_model) or model_frontend(qat_model) == "keras3":
        return own.calibrate(qat_model, data, batch_size)
    from keras_acts.quantization.tfmot.calibration import calibrate as tfmot_calibrate

    return tfmot_calibrate(qat_model, data, batch_size)


@contextlib.contextmanager
def quantize_scope() -> Iterator[None]:
    """The scope to load saved QAT models in (needed under tf_keras; a no-op under Keras 3).

    ``with quantize_scope(): keras.models.load_model(path)`` loads QAT models of keras_acts's
    engine (tf_keras finds their classes once the engine is imported, which the scope does) and,
    when tfmot is installed, tfmot QAT models (``engine="tfmot"``, including those saved before the
    engine became the default): tfmot's quantize_scope with keras_acts's QAT layer and QuantizeConfigs
    added and tfmot's QuantizeLayer/QuantizeWrapperV2 fixed for ``.keras`` files
    (:mod:`keras_acts.quantization.tfmot.saving`). ``.h5``, ``.keras`` and SavedModel.
    """
    from keras_acts.backend import FRONTEND
    from keras_acts.quantization.engine import layers  # noqa: F401 - registers the engine's layers

    if FRONTEND == "keras3":  # engine QAT layers are registered serializables: nothing to add
        yield
        return
    try:
        import tensorflow_model_optimization  # noqa: F401
    except ImportError:  # keras_acts engine models load without tfmot
        yield
        return
    from keras_acts.quantization.tfmot import scope

    with scope():
        yield
