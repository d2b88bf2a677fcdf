"""Coral's Edge TPU requirements as data: the supported TFLite ops and their limits.

Written from Coral's published model requirements ("TensorFlow models on the Edge TPU",
coral.ai/docs/edgetpu/models-intro, section "Supported operations"). The static checker
(:mod:`keras_acts.export.edgetpu.check`) applies these limits; the Edge TPU compiler
remains the final word (some limits, e.g. tensor sizes, are only known to it).

Each :class:`OpSpec` names the checks (keys of ``check.LIMIT_CHECKS``) that encode the
op's known limitations, which operands must be compile-time constants, and which may
be int32 (biases, shapes, axes, paddings); every other tensor must be int8 or uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

# Fused activations the Edge TPU executes inside an op.
FUSED_ACTIVATIONS_OK = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

# A tensor may have at most this many dimensions larger than 1.
MAX_NON_1_DIMS = 3

# Softmax: "supports only 1-D input tensor with a max of 16,000 elements".
SOFTMAX_MAX_ELEMENTS = 16000


@dataclass(frozen=True)
class OpSpec:
    """One supported op.

    Attributes:
        limits: names of the limit checks applied to this op.
        constant_inputs: input positions that must be constant buffers.
        int32_inputs: input positions that may be int32 (bias, shape, axis, paddings).
        note: Coral's known limitations, as text.
    """

    limits: tuple[str, ...] = ()
    constant_inputs: tuple[int, ...] = ()
    int32_inputs: tuple[int, ...] = ()
    note: str = ""


_ELEMENTWISE = OpSpec(limits=("fused_activation",))
_REDUCE = OpSpec(
    limits=("reduce_no_batch",), constant_inputs=(1,), int32_inputs=(1,), note="no reduction in the batch dimension"
)

OPS: dict[str, OpSpec] = {
    # activations
    "LOGISTIC": OpSpec(),
    "RELU": OpSpec(),
    "RELU6": OpSpec(),
    "RELU_N1_TO_1": OpSpec(),
    "TANH": OpSpec(),
    "PRELU": OpSpec(
        limits=("prelu_alpha_1d",),
        constant_inputs=(1,),
        note="alpha must be 1-D (one value per channel): Keras PReLU on 4-D inputs needs shared_axes=[1, 2]",
    ),
    "SOFTMAX": OpSpec(limits=("softmax_1d",), note="1-D input with at most 16,000 elements"),
    "L2_NORMALIZATION": OpSpec(),
    # elementwise arithmetic
    "ADD": _ELEMENTWISE,
    "SUB": _ELEMENTWISE,
    "MUL": _ELEMENTWISE,
    "MAXIMUM": OpSpec(),
    "MINIMUM": OpSpec(),
    "SQUARED_DIFFERENCE": OpSpec(),
    "RSQRT": OpSpec(),
    # linear layers
    "CONV_2D": OpSpec(
        limits=("fused_activation", "same_dilation"),
        constant_inputs=(1, 2),
        int32_inputs=(2,),
        note="same dilation in x and y",
    ),
    "DEPTHWISE_CONV_2D": OpSpec(
        limits=("fused_activation", "same_dilation"),
        constant_inputs=(1, 2),
        int32_inputs=(2,),
        note="same dilation in x and y",
    ),
    "TRANSPOSE_CONV": OpSpec(constant_inputs=(0, 1), int32_inputs=(0, 3)),
    "FULLY_CONNECTED": OpSpec(
        limits=("fused_activation", "fc_default_weights"),
        constant_inputs=(1, 2),
        int32_inputs=(2,),
        note="only the default weights format",
    ),
    # pooling and reductions
    "AVERAGE_POOL_2D": OpSpec(limits=("no_fused_activation",), note="no fused activation function"),
    "MAX_POOL_2D": OpSpec(limits=("no_fused_activation",), note="no fused activation function"),
    "MEAN": _REDUCE,
    "SUM": _REDUCE,
    "REDUCE_MAX": _REDUCE,
    "REDUCE_MIN": _REDUCE,
    # data movement
    "CONCATENATION": OpSpec(limits=("no_fused_activation",), note="no fused activation function"),
    "RESHAPE": OpSpec(int32_inputs=(1,), note="some reshapes of large tensors may not be mapped"),
    "SQUEEZE": OpSpec(),
    "EXPAND_DIMS": OpSpec(constant_inputs=(1,), int32_inputs=(1,)),
    "PAD": OpSpec(
        limits=("pad_no_batch",), constant_inputs=(1,), int32_inputs=(1,), note="no padding in the batch dimension"
    ),
    "PACK": OpSpec(note="no packing in the batch dimension"),
    "SPLIT": OpSpec(constant_inputs=(0,), int32_inputs=(0,), note="no splitting in the batch dimension"),
    "SLICE": OpSpec(constant_inputs=(1, 2), int32_inputs=(1, 2)),
    "STRIDED_SLICE": OpSpec(
        limits=("unit_strides",),
        constant_inputs=(1, 2, 3),
        int32_inputs=(1, 2, 3),
        note="all strides 1, no ellipsis or new-axis masks",
    ),
    "TRANSPOSE": OpSpec(constant_inputs=(1,), int32_inputs=(1,), note="no transposition of the batch dimension"),
    "SPACE_TO_DEPTH": OpSpec(),
    "DEPTH_TO_SPACE": OpSpec(),
    "RESIZE_BILINEAR": OpSpec(
        constant_inputs=(1,), int32_inputs=(1,), note="3-D input/output; may stay on the CPU for precision"
    ),
    "RESIZE_NEAREST_NEIGHBOR": OpSpec(constant_inputs=(1,), int32_inputs=(1,), note="3-D input/output"),
    "QUANTIZE": OpSpec(note="only 8-bit to 8-bit requantization"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpSpec(),
}

# Ops users meet that are NOT on the list and that no keras_acts activation emits, with the fix.
# (For ops that activations emit -- HARD_SWISH, LEAKY_RELU, GELU, ELU, EXP, LOG, ABS, DIV -- the
# checker derives the hint from the registry: which activations emit the op and whether they
# have a form built only from the ops above.)
UNSUPPORTED_HINTS: dict[str, str] = {
    "DEQUANTIZE": "a float tensor: export fully int8 (quantization='int8', input_type/output_type int8 or uint8)",
}
