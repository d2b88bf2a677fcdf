"""Export Keras models with keras_acts activations to TFLite, inspect and evaluate them.

>>> from keras_acts.export import to_tflite, inspect, evaluate
>>> res = to_tflite(model, quantization="int8", representative_data=x_train[:200],
...                 input_type="int8", output_type="int8")
>>> print(res.report)            # summary and problems; res.report.table(): every op
>>> res.save("model.tflite")     # atomic
>>> evaluate("model.tflite", x_test, y_test, reference=model).accuracy
"""

from keras_acts.export.converter import ExportError, ExportResult, to_tflite
from keras_acts.export import auto_lowering as _auto_lowering  # noqa: F401 - installs the registry's provider
from keras_acts.export.edgetpu import EdgeTPUReport, check_edgetpu, compile_edgetpu
from keras_acts.export.report import OpInfo, Report, TensorInfo, inspect
from keras_acts.export.runner import EvalResult, evaluate, make_interpreter
from keras_acts.export.validation import Validation

__all__ = [
    "EdgeTPUReport",
    "EvalResult",
    "ExportError",
    "ExportResult",
    "OpInfo",
    "Report",
    "TensorInfo",
    "Validation",
    "check_edgetpu",
    "compile_edgetpu",
    "evaluate",
    "inspect",
    "make_interpreter",
    "to_tflite",
]
