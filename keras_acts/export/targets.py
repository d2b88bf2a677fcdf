"""Export targets: which runtime an int8 model is written for.

The same activation can be written with different int8 ops, and which ops are fast depends on
the runtime that executes them. LiteRT's CPU runtime hands the graph to its XNNPACK delegate,
which takes some int8 ops and not others: every op it refuses splits the graph into another
partition and runs on the builtin kernels (``keras_acts/export/xnnpack_ops.json``, measured by
``python -m keras_acts.export.xnnpack --write``). A single fused op such as HARD_SWISH or PRELU
is the fast path where each op has its own kernel (TFLite Micro with CMSIS-NN, NNAPI drivers,
the GPU delegate) but splits the XNNPACK graph. Each target names the registry lowering its int8
exports trace (:data:`keras_acts.registry.LOWERING_TARGETS`); float exports always trace the
``"float"`` lowering.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class ExportTarget:
    """One runtime family an export can be written for.

    Attributes:
        name: the value of ``to_tflite(target=...)`` and ``keras-acts export --target``.
        lowering: the registry lowering traced for int8 exports.
        runtime: the runtimes it is for.
        choose: when to pick it.
    """

    name: str
    lowering: str
    runtime: str
    choose: str


TARGETS: dict[str, ExportTarget] = {
    t.name: t
    for t in (
        ExportTarget(
            "cpu",
            "cpu",
            "LiteRT's CPU runtime with its default XNNPACK delegate: Android and iOS apps, Linux/macOS/"
            "Windows, the ai_edge_litert Python interpreter",
            "the default: phones and computers running LiteRT on the CPU. int8 activations use only ops "
            "the XNNPACK delegate takes, so the graph stays in one partition",
        ),
        ExportTarget(
            "micro",
            "int8",
            "runtimes that run every builtin op with its own kernel: TensorFlow Lite Micro (CMSIS-NN, "
            "ESP-NN), NNAPI drivers, the GPU delegate, LiteRT without XNNPACK",
            "microcontrollers and accelerators with single-op kernels: activations export as the fewest "
            "ops, single fused ops where TFLite has one (HARD_SWISH, PRELU)",
        ),
        ExportTarget(
            "edgetpu",
            "edgetpu",
            "Coral Edge TPU (edgetpu_compiler): int8 only, static batch 1, Coral's op table",
            "Coral USB/M.2/Dev Board: only ops the Edge TPU maps, checked before conversion",
        ),
    )
}
DEFAULT_TARGET = "cpu"

#: Former target names that still work for one release, with a DeprecationWarning: old -> new.
DEPRECATED_TARGETS: dict[str, str] = {"generic": "micro"}


def deprecation_message(old: str) -> str:
    """The warning text for a deprecated target name."""
    new = DEPRECATED_TARGETS[old]
    return (
        f"target={old!r} was renamed to {new!r} (single-op kernels: TFLite Micro, NNAPI, GPU delegate); "
        f"{old!r} still works in this release and will be removed in the next one. Use target={new!r} "
        f"(keras-acts export --target {new})."
    )


def get_target(name: object) -> ExportTarget:
    """The :class:`ExportTarget` called ``name``.

    A deprecated name (:data:`DEPRECATED_TARGETS`, e.g. ``"generic"``) gives its new target
    and a :class:`DeprecationWarning` naming the new name.

    Raises:
        ValueError: unknown name; the message lists every target and what it is for.
    """
    if isinstance(name, str) and name.strip().lower() in TARGETS:
        return TARGETS[name.strip().lower()]
    if isinstance(name, str) and name.strip().lower() in DEPRECATED_TARGETS:
        old = name.strip().lower()
        warnings.warn(deprecation_message(old), DeprecationWarning, stacklevel=3)
        return TARGETS[DEPRECATED_TARGETS[old]]
    listing = "; ".join(f"{t.name!r}: {t.runtime}" for t in TARGETS.values())
    raise ValueError(f"target={name!r} is not an export target. Use one of: {listing}.")
