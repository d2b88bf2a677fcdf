"""The Coral Edge TPU target.

* :func:`preflight` — refuses models the Edge TPU cannot run, before conversion
  (``to_tflite(..., target="edgetpu")`` calls it);
* :func:`check_edgetpu` — a static verdict on a ``.tflite`` against Coral's published
  requirements (op table in :mod:`~keras_acts.export.edgetpu.optable`);
* :func:`compile_edgetpu` — runs ``edgetpu_compiler`` when it is installed and reads
  its log into the same :class:`EdgeTPUReport`.

Which form of each activation the Edge TPU target uses is derived by the registry from the
forms' ops and this op table (``Activation.edgetpu_form()``: an explicit
``lowerings["edgetpu"]``, else the micro or the cpu target's form when it is Coral-only; see
``keras-acts list``), so the target, :func:`preflight` and :func:`check_edgetpu` agree.
"""

from keras_acts.export.edgetpu.check import EdgeTPUReport, Issue, check_edgetpu
from keras_acts.export.edgetpu.compiler import (
    EdgeTPUCompilerError,
    EdgeTPUCompilerNotFoundError,
    compile_edgetpu,
    parse_compiler_log,
)
from keras_acts.export.edgetpu.optable import OPS, OpSpec
from keras_acts.export.edgetpu.preflight import EdgeTPUPreflightError, preflight

__all__ = [
    "OPS",
    "EdgeTPUCompilerError",
    "EdgeTPUCompilerNotFoundError",
    "EdgeTPUPreflightError",
    "EdgeTPUReport",
    "Issue",
    "OpSpec",
    "check_edgetpu",
    "compile_edgetpu",
    "parse_compiler_log",
    "preflight",
]
