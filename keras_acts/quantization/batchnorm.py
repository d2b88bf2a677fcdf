"""BatchNormalization moving statistics: checking them against data and re-estimating them.

Both QAT paths fold every BatchNormalization that follows a convolution with its *moving*
statistics (``w' = w * gamma / sqrt(var + eps)``, as the TFLite converter folds it). When those
statistics do not describe the activations the network computes, the float model in inference
mode, the folded QAT model and the int8 model are all wrong, and QAT fine-tuning does not repair
it (it trains with the folded statistics). The common cause: ``keras.applications`` builds its
BatchNormalization layers with momentum 0.999 (tuned for ImageNet-length runs), so after a
short training run the moving mean/variance are still close to their initial 0 and 1; a
MobileNetV3Small trained for 2 epochs on 1,500 digits reaches 0.88 training accuracy and
evaluates at chance (docs/QAT.md, "BatchNorm statistics").

:func:`batchnorm_discrepancies` measures, per BatchNormalization layer, how far its moving
statistics are from the statistics of its input on data, with the model in inference mode (what
folding will compute). Per channel c it treats the input as N(mu_c, v_c) and the moving
statistics as N(m_c, s_c) and takes the KL divergence (in nats)

    KL_c = 0.5 * (r_c - 1 - ln r_c + z_c**2),   r_c = (v_c + eps) / (s_c + eps),
                                                z_c = (mu_c - m_c) / sqrt(s_c + eps),

where ``z_c`` is the mean and ``r_c`` the variance of what the layer outputs (before gamma and
beta) in inference: 0, 1 and KL 0 when the statistics fit; ``eps`` is the layer's own epsilon.
A layer's discrepancy is the median KL over its channels (a few dead or rare channels do not
flag a layer; a stale layer is off on most of them). :data:`STALE_KL` is the threshold.

:func:`reestimate_batchnorm` recomputes the moving statistics from data: it runs the model in
training mode over the data with each layer's momentum set so that the moving mean/variance
become the sample-weighted *cumulative average* of the batch statistics (not an exponential
moving average), the way PyTorch's ``torch.optim.swa_utils.update_bn`` and NNCF's BatchNorm
adaptation do. Only the BatchNorm moving statistics change.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from keras_acts import _ops
from keras_acts.backend import keras

# Median-over-channels KL (nats) above which a layer's moving statistics are called stale.
# Measured (docs/QAT.md, "BatchNorm statistics"; benchmarks/bench_qat_batchnorm.py,
# tests/test_qat_batchnorm.py), checked on calibration images:
# * statistics that fit: a Conv-BN-ReLU CNN on sklearn digits trained 5 epochs with momentum 0.9
#   <= 0.008 per layer; MobileNetV3Small (64x64) after re-estimation on 1,000 images <= 0.002; the
#   sampling noise of a 256-image check is a few 1e-3.
# * stale: MobileNetV3Small trained 2 epochs with keras.applications' momentum 0.999: 0.74 to 2.99
#   on all 34 layers (float accuracy 0.08); the CNN with momentum 0.999, 2 epochs: 1.3 and 1.8
#   (accuracy 0.13, 0.93 after re-estimation).
# * partly stale: the CNN with momentum 0.99, 10 epochs: 0.008 and 0.034, accuracy 0.81 (0.99 after
#   re-estimation).
# 0.02 sits above the noise and flags the partly stale case; a false alarm costs a re-estimation on
# the calibration data and a warning. For scale: KL 0.02 is the output mean off by 0.2 standard
# deviations, or its variance off by a factor of 1.2.
STALE_KL = 0.02


@dataclass(frozen=True)
class BatchNormDiscrepancy:
    """How far one BatchNormalization layer's moving statistics are from its input's statistics.

    Attributes:
        layer: the layer's name.
        kl: median over channels of the KL divergence between the input's per-channel normal
            approximation and the moving statistics (nats; 0 when they agree).
        mean_shift: median over channels of ``|mu - moving_mean| / sqrt(moving_variance + eps)``.
        variance_ratio: median over channels of ``(var + eps) / (moving_variance + eps)``.
        stale: ``kl > threshold``.
    """

    layer: str
    kl: float
    mean_shift: float
    variance_ratio: float
    stale: bool

    def describe(self) -> str:
        return (
            f"{self.layer} (KL {self.kl:.3g}: output mean off by {self.mean_shift:.2g} std, "
            f"variance x{self.variance_ratio:.3g})"
        )


def _value(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)


def batchnorm_layers(model: Any) -> list[Any]:
    """Every BatchNormalization layer of ``model`` (nested ones included)."""
    try:
        layers = model._flatten_layers(include_self=False, recursive=True)
    except (AttributeError, TypeError):
        layers = getattr(model, "layers", [])
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def _channel_axis(bn: Any, ndim: int) -> int | None:
    axis = bn.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            return None
        axis = axis[0]
    return int(axis) % ndim


def _probe(model: Any, bns: list[Any]) -> tuple[Any, list[Any]]:
    """A model returning the input of every BatchNorm that has exactly one call in ``model``'s graph."""
    checked, outputs = [], []
    for bn in bns:
        nodes = getattr(bn, "_inbound_nodes", [])
        if len(nodes) != 1:
            continue
        try:
            t = bn.input
        except (AttributeError, ValueError):
            continue
        if isinstance(t, (list, tuple)):
            continue
        checked.append(bn)
        outputs.append(t)
    if not outputs:
        return None, []
    return keras.Model(model.inputs, outputs), checked


def batchnorm_discrepancies(
    model: Any, data: Any, *, batch_size: int = 32, threshold: float = STALE_KL
) -> list[BatchNormDiscrepancy]:
    """Compares every BatchNormalization's moving statistics with its input's statistics on ``data``.

    The model runs in inference mode (upstream BatchNorms use their moving statistics, as after
    folding); per channel the input's mean and variance over all of ``data`` are compared with
    the moving mean and variance (see the module docstring for the measure).

    Args:
        model: a Keras 3 or tf_keras Sequential/functional model.
        data: model inputs, an array (N, ...) or a ``tf.data.Dataset`` of input batches.
        batch_size: batch size for arrays.
        threshold: median KL (nats) above which a layer is reported ``stale``.

    Returns:
        One :class:`BatchNormDiscrepancy` per BatchNormalization called once in the model's graph,
        in graph order; empty when the model has none (or none that can be probed).
    """
    from keras_acts.quantization.batches import model_batches

    bns = batchnorm_layers(model)
    if not bns or not getattr(model, "inputs", None):
        return []
    try:
        probe, bns = _probe(model, bns)
    except Exception:  # noqa: BLE001 - a graph the probe cannot be cut from: nothing to check
        return []
    if probe is None:
        return []
    sums: list[Any] = [None] * len(bns)
    for batch in model_batches(model, data, batch_size):
        outs = probe(batch, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for i, (bn, y) in enumerate(zip(bns, outs)):
            y = _ops.to_numpy(y).astype(np.float64)
            axis = _channel_axis(bn, y.ndim)
            y = np.moveaxis(y, axis, -1).reshape(-1, y.shape[axis])
            acc = np.stack([np.full(y.shape[1], y.shape[0], np.float64), y.sum(0), np.square(y).sum(0)])
            sums[i] = acc if sums[i] is None else sums[i] + acc
    out = []
    for bn, acc in zip(bns, sums):
        if acc is None:
            continue
        n, s1, s2 = acc
        mu = s1 / n
        var = np.maximum(s2 / n - mu * mu, 0.0)
        eps = float(bn.epsilon)
        m = np.asarray(_value(bn.moving_mean), np.float64).reshape(-1)
        v = np.maximum(np.asarray(_value(bn.moving_variance), np.float64).reshape(-1), 0.0)
        r = (var + eps) / (v + eps)
        z = (mu - m) / np.sqrt(v + eps)
        kl = 0.5 * (r - 1.0 - np.log(r) + z * z)
        med = float(np.median(kl))
        out.append(
            BatchNormDiscrepancy(
                layer=bn.name,
                kl=med,
                mean_shift=float(np.median(np.abs(z))),
                variance_ratio=float(np.median(r)),
                stale=bool(med > threshold) or not np.isfinite(med),
            )
        )
    return out


def at_initial_values(model: Any) -> list[str]:
    """Names of the BatchNorms whose moving statistics are still exactly 0 (mean) and 1 (variance).

    The sign of a layer that never saw a training step (or one with momentum close to 1): checked
    by :func:`keras_acts.quantization.quantize_model` when it has no data to compare with.
    """
    names = []
    for bn in batchnorm_layers(model):
        m = np.asarray(_value(bn.moving_mean))
        v = np.asarray(_value(bn.moving_variance))
        if np.all(m == 0.0) and np.all(v == 1.0):
            names.append(bn.name)
    return names


@contextlib.contextmanager
def _training_statistics(bns: list[Any]) -> Iterator[None]:
    """BatchNorms computing in training mode whatever their ``trainable`` flag; restored after."""
    saved = [(bn, bn.momentum, bn.trainable) for bn in bns]
    try:
        for bn in bns:
            if not bn.trainable:  # Keras 3 runs a frozen BatchNorm in inference mode
                bn.trainable = True
        yield
    finally:
        for bn, momentum, trainable in saved:
            bn.momentum = momentum
            if bn.trainable != trainable:
                bn.trainable = trainable


def reestimate_batchnorm(model: Any, data: Any, *, batch_size: int = 64) -> dict[str, int]:
    """Recomputes every BatchNormalization's moving mean and variance from ``data``, in place.

    Runs ``model`` in training mode over ``data`` (each BatchNorm normalizes with its batch
    statistics, as in training) with every layer's momentum set, batch by batch, to
    ``n_seen / (n_seen + n_batch)``: the moving statistics end as the sample-weighted cumulative
    average of the batch means and variances (what PyTorch's ``update_bn`` computes), not an
    exponential moving average, so the result does not depend on the layers' momentum. Nothing
    but the moving statistics changes (momentum and ``trainable`` are restored; layers such as
    Dropout run in training mode during the pass but hold no state).

    Use it on a float model whose BatchNorm statistics are stale (see
    :func:`batchnorm_discrepancies`), e.g. a ``keras.applications`` model (momentum 0.999) after a
    short training run: ``reestimate_batchnorm(model, x_train[:1000])``. Larger batches estimate
    the variance better; a few hundred to a few thousand training inputs are enough.

    Args:
        model: a Keras 3 or tf_keras model (functional, Sequential or subclassed).
        data: model inputs, an array (N, ...) or a ``tf.data.Dataset`` of input batches (or
            (input, target) batches). Use training inputs, preprocessed as in training.
        batch_size: batch size for arrays (the statistics of each batch are averaged).

    Returns:
        ``{"layers": number of BatchNorms re-estimated, "samples": number of inputs used}``.

    Raises:
        QuantizationError: ``data`` is not numeric, misshaped or not finite.
        ValueError: ``data`` is empty.
    """
    from keras_acts.quantization.batches import checked_batch, input_batches

    bns = batchnorm_layers(model)
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    seen = 0
    with _training_statistics(bns):
        for batch in input_batches(data, batch_size):
            x = checked_batch(batch, shape) if shape is not None else batch
            n = int(x.shape[0])
            if n == 0:
                continue
            for bn in bns:
                bn.momentum = seen / (seen + n)
            model(x, training=True)
            seen += n
    if seen == 0:
        raise ValueError("reestimate_batchnorm got no inputs; pass a non-empty array or Dataset of model inputs.")
    return {"layers": len(bns), "samples": seen}


@contextlib.contextmanager
def statistics_restored(model: Any) -> Iterator[None]:
    """Inside the block the BatchNorm moving statistics of ``model`` may change; restored after."""
    saved = [
        (bn, _value(bn.moving_mean), _value(bn.moving_variance))
        for bn in batchnorm_layers(model)
    ]
    try:
        yield
    finally:
        for bn, m, v in saved:
            bn.moving_mean.assign(m)
            bn.moving_variance.assign(v)
