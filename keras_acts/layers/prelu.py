"""The learnable Parametric ReLU layer."""

from __future__ import annotations

import numbers
from typing import Any, Sequence

from keras_acts.activations import prelu
from keras_acts.backend import keras
from keras_acts.registration import activation_layer


@activation_layer("prelu")
class PReLU(keras.layers.Layer):
    """Parametric ReLU: ``x`` if ``x >= 0`` else ``alpha * x``, with alpha learned.

    ``alpha`` has one value per input element except along ``shared_axes``. For
    convolutional feature maps use ``shared_axes=[1, 2]`` (one alpha per channel):
    that is what the TFLite PRELU op and the Edge TPU (1-D alpha) expect.

    Reference: He et al., 2015, "Delving Deep into Rectifiers" (arXiv:1502.01852),
    whose initial alpha 0.25 is the default here (Keras's own PReLU starts at 0).

    Args:
        alpha_initializer: initializer of alpha; default ``Constant(0.25)``.
        alpha_regularizer: optional regularizer of alpha.
        alpha_constraint: optional constraint of alpha.
        shared_axes: axes (>= 1) along which alpha is shared.
    """

    def __init__(
        self,
        alpha_initializer: Any = None,
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if alpha_initializer is None:
            alpha_initializer = keras.initializers.Constant(0.25)
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = keras.constraints.get(alpha_constraint)
        self.shared_axes = _check_shared_axes(shared_axes)
        self.supports_masking = True
        self.alpha = None

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        rank = len(shape)
        bad = [a for a in self.shared_axes if a >= rank]
        if bad:
            raise ValueError(
                f"PReLU: shared_axes {list(self.shared_axes)} is out of range for inputs of rank {rank} "
                f"(shape {shape}); valid axes are 1..{rank - 1}. For NHWC feature maps use shared_axes=[1, 2]."
            )
        param_shape = [1 if i in self.shared_axes else shape[i] for i in range(1, rank)]
        missing = [i + 1 for i, d in enumerate(param_shape) if d is None]
        if missing:
            raise ValueError(
                f"PReLU: input axes {missing} have unknown size {shape}; alpha needs a fixed size there. "
                f"Share alpha along them, e.g. shared_axes={sorted(set(self.shared_axes) | set(missing))}."
            )
        self.alpha = self.add_weight(
            name="alpha",
            shape=tuple(param_shape),
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        return prelu(inputs, self.alpha)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    @property
    def activation_kwargs(self) -> dict[str, Any]:
        """The arguments (besides the standard layer ones) that rebuild this layer."""
        cfg = self.get_config()
        return {k: cfg[k] for k in ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes")}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": keras.regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": keras.constraints.serialize(self.alpha_constraint),
            "shared_axes": list(self.shared_axes) or None,
        }


def _check_shared_axes(shared_axes: Any) -> tuple[int, ...]:
    if shared_axes is None:
        return ()
    if isinstance(shared_axes, numbers.Integral) and not isinstance(shared_axes, bool):
        shared_axes = [shared_axes]
    try:
        axes = list(shared_axes)
    except TypeError:
        raise TypeError(
            f"PReLU: shared_axes must be an int or a list of ints, got {shared_axes!r}. "
            "For NHWC feature maps use shared_axes=[1, 2]."
        ) from None
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"PReLU: shared_axes must hold ints, got {a!r} in {axes}.")
        if a < 1:
            raise ValueError(
                f"PReLU: shared_axes {axes} is out of range: axis {a} is {'the batch axis' if a == 0 else 'negative'}; "
                "use positive axes counted from the batch axis 0, e.g. shared_axes=[1, 2] for NHWC feature maps."
            )
    return tuple(sorted(set(int(a) for a in axes)))
