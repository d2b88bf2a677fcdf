"""QuantizeConfigs, one per QAT scheme name of the registry (``Activation.qat``).

Both schemes let the :class:`~keras_acts.quantization.tfmot.layer.QATActivation` layer place
the fake-quants inside the activation and add one output fake-quant: a moving-average
range (tfmot's ``MovingAverageQuantizer``, like tfmot's own layers), or, for activations
whose int8 kernel has a fixed output scale (LOGISTIC 1/256, TANH 1/128), that fixed
range, so that QAT rounds exactly like the kernel.
"""

from __future__ import annotations

from typing import Any

from tensorflow_model_optimization.quantization.keras import QuantizeConfig, quantizers

from keras_acts.backend import register_serializable
from keras_acts.quantization import formulations


def _output_quantizer(activation: str) -> Any:
    # tfmot's output quantizer keeps formulation 1's choice (a moving range for hard_sigmoid), so
    # QuantizeConfigs saved before versioning load unchanged; the exporter's scale folding then
    # moves those outputs by at most a step, within the tfmot path's 2-LSB budget.
    form = formulations.form(activation, version=1)
    if form is not None and form.output_range is not None:
        lo, hi = form.output_range
        return quantizers.FixedQuantizer(num_bits=8, init_min=lo, init_max=hi, narrow_range=False)
    return quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


class _ActivationQuantizeConfig(QuantizeConfig):
    """Common part: no weight quantizers, one output quantizer chosen per activation."""

    scheme = ""

    def __init__(self, activation: str) -> None:
        self.activation = activation

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return []

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        pass

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        return [_output_quantizer(self.activation)]

    def get_config(self) -> dict[str, Any]:
        return {"activation": self.activation}

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and self.activation == other.activation

    def __ne__(self, other: Any) -> bool:
        return not self == other


@register_serializable
class OutputQuantizeConfig(_ActivationQuantizeConfig):
    """Scheme ``"output"``: elementwise activations (fake-quants inside the layer + output).

    Args:
        activation: registry name of the activation the layer computes.
    """

    scheme = "output"


@register_serializable
class PReLUQuantizeConfig(_ActivationQuantizeConfig):
    """Scheme ``"prelu"``: learnable PReLU.

    alpha is not given a tfmot weight quantizer: the layer trains PReLU in its LiteRT-CPU form
    ``x + (1 - alpha) relu(-x)`` and fake-quantizes ``1 - alpha`` as the converter quantizes
    that constant (see ``formulations.prelu_gain``).
    """

    scheme = "prelu"

    def __init__(self, activation: str = "prelu") -> None:
        super().__init__(activation)


SCHEMES: dict[str, type] = {"output": OutputQuantizeConfig, "prelu": PReLUQuantizeConfig}


def config_for(activation: str) -> QuantizeConfig:
    """The QuantizeConfig for registry activation ``activation`` (by its ``qat`` scheme)."""
    from keras_acts import registry

    entry = registry.lookup(activation)
    try:
        cls = SCHEMES[entry.qat]
    except KeyError:
        raise ValueError(
            f"activation {entry.name!r} names QAT scheme {entry.qat!r}, which keras_acts.quantization does not "
            f"define; known schemes: {', '.join(SCHEMES)}. Add a QuantizeConfig for it in "
            "keras_acts/quantization/configs.py."
        ) from None
    return cls(entry.name)
