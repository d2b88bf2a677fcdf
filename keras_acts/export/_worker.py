"""The TFLite converter, run in a child process so that its crashes cannot end the caller's.

The TFLite converter is C++ (MLIR). On some graphs it does not raise but crashes: measured with
TF 2.21, a tf_keras EfficientNetB0 quantization-aware trained with tfmot made it segfault, which
ended the Python process that called it - training results and all. :func:`keras_acts.export.to_tflite`
therefore traces and freezes the model in the caller's process (the keras_acts lowerings are
substituted while tracing, so that part has to run where the model lives) and hands the frozen
GraphDef, the converter options and the calibration arrays to this worker. A crash becomes an
:class:`~keras_acts.export.ExportError` in the caller.

This file is self-contained (only NumPy and TensorFlow): the parent starts it by path with
``python -c "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')" _worker.py``
so the child does not import keras_acts or Keras. One worker is started per parent process, on
the first export, and then reused: TensorFlow's import (3-6 s) is paid once. It exits when the
parent closes its stdin (the parent exits or is killed).

Protocol (one JSON object per line): the parent writes ``{"dir": JOB_DIR, "crash": null}`` to the
worker's stdin; JOB_DIR holds ``job.json`` (input and output tensor names, options),
``graph.pb`` and ``calibration_<i>.npy`` (one per model input). The worker answers on its original
stdout (its fd 1 is pointed at stderr, so library prints cannot corrupt the protocol):
``{"progress": [done, total]}`` per calibration sample, then ``{"ok": true}`` (``model.tflite``
written into JOB_DIR) or ``{"error": MESSAGE, "type": NAME}`` for a converter exception.
Everything the converter prints goes to the worker's stderr, which the parent keeps in a log
file and shows the tail of when something fails.

After an int8 conversion with ``validation_<i>.npy`` arrays in JOB_DIR, the worker also runs the
new model on them with LiteRT (:func:`run_tflite`; announced by ``{"phase": "validate"}``, since
a model with absurd scales can make XNNPACK abort) and writes ``validation_output_<i>.npy`` and
``validation.json``.

``"crash"`` is a test hook: ``"abort"`` or ``"segv"`` make the worker die that way at the start
of the calibration, ``"validate"`` (abort) when it starts running the converted model (the
parent sets it only from ``KERAS_ACTS_TEST_CONVERTER_CRASH``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, Callable, Iterator, Sequence


def configure(converter: Any, tf: Any, options: dict, arrays: Sequence[Any] | None,
              progress: Callable[[int, int], None] | None = None) -> None:
    """Sets the converter options of one export (shared by the worker and the in-process path).

    Args:
        converter: a ``tf.lite.TFLiteConverter``.
        tf: the ``tensorflow`` module.
        options: ``quantization``, ``qat``, ``input_type``, ``output_type``, ``batch``.
        arrays: calibration arrays, one per input (``(n, *sample_shape)``), or None.
        progress: called as ``progress(done, total)`` after each calibration sample.
    """
    quantization = options["quantization"]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if not options["qat"]:
            # (The converter rejects INT8-only op sets without a representative dataset even
            # for QAT graphs; QAT graphs come out int8 from their fake-quant ranges.)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if arrays is not None:
            converter.representative_dataset = representative_dataset(arrays, int(options.get("batch") or 1), progress)
        converter.inference_input_type = tf.as_dtype(options["input_type"])
        converter.inference_output_type = tf.as_dtype(options["output_type"])


def representative_dataset(arrays: Sequence[Any], batch: int, progress: Callable[[int, int], None] | None
                           ) -> Callable[[], Iterator[list[Any]]]:
    """The converter's ``representative_dataset``: batches of ``batch`` samples, one array per input.

    A model with a fixed batch of ``batch`` is calibrated on that many samples at a time (a
    remainder smaller than the batch is left out).
    """
    total = int(arrays[0].shape[0]) // batch * batch

    def gen() -> Iterator[list[Any]]:
        for start in range(0, total, batch):
            yield [a[start : start + batch] for a in arrays]
            if progress is not None:
                progress(start + batch, total)

    return gen


def run_tflite(content: bytes, arrays: Sequence[Any]) -> tuple[list[Any], list[dict]]:
    """Runs a TFLite model with LiteRT's default CPU path (XNNPACK), as apps run it.

    Float ``arrays`` are quantized with each input's scale and zero point; outputs come back
    dequantized (float64). Used to validate an int8 export - in the worker, because a model
    with absurd quantization scales can make XNNPACK abort the process that loads it.

    Returns:
        (outputs, details): one array per model output, and per output its ``name``,
        ``dtype`` and ``scale`` (the output quantization step; for a float output computed
        by a final DEQUANTIZE, the step of the int8 tensor it reads; 0 for float outputs).
    """
    import numpy as np

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the install
        from tensorflow.lite import Interpreter  # type: ignore[no-redef]

    it = Interpreter(model_content=bytes(content), num_threads=1)
    it.allocate_tensors()
    ins = it.get_input_details()
    n = int(arrays[0].shape[0])
    static = all(int(d["shape_signature"][0]) > 0 for d in ins)
    step = int(ins[0]["shape"][0]) if static else n
    if not static:
        for d, a in zip(ins, arrays):
            it.resize_tensor_input(d["index"], [n, *a.shape[1:]], strict=False)
        it.allocate_tensors()
        ins = it.get_input_details()
    parts: list[list[Any]] = []
    for start in range(0, n, step):
        chunk = [np.asarray(a[start : start + step], np.float64) for a in arrays]
        m = int(chunk[0].shape[0])
        if m < step:
            chunk = [np.concatenate([c, np.repeat(c[-1:], step - m, axis=0)]) for c in chunk]
        for d, c in zip(ins, chunk):
            dtype = np.dtype(d["dtype"])
            scale, zp = d["quantization"]
            if dtype.kind in "iu" and scale:
                info = np.iinfo(dtype)
                c = np.clip(np.floor(c / scale + 0.5) + zp, info.min, info.max)
            it.set_tensor(d["index"], c.astype(dtype))
        it.invoke()
        outs = []
        for d in it.get_output_details():
            y = it.get_tensor(d["index"]).astype(np.float64)
            scale, zp = d["quantization"]
            if np.dtype(d["dtype"]).kind in "iu" and scale:
                y = (y - zp) * scale
            outs.append(y[:m])
        parts.append(outs)
    outputs = [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]
    details = []
    ops = []
    try:
        ops = it._get_ops_details()
    except AttributeError:  # pragma: no cover
        pass
    for d in it.get_output_details():
        scale = float(d["quantization"][0]) if np.dtype(d["dtype"]).kind in "iu" else 0.0
        if not scale:
            for op in ops:
                if op["op_name"] == "DEQUANTIZE" and d["index"] in list(op["outputs"]):
                    src = it._get_tensor_details(int(op["inputs"][0]), 0)
                    if np.dtype(src["dtype"]).kind in "iu":
                        scale = float(src["quantization"][0])
        details.append({"name": str(d["name"]), "dtype": np.dtype(d["dtype"]).name, "scale": scale})
    return outputs, details


def _convert_job(job_dir: str, send: Callable[[dict], None], crash: str | None) -> dict:
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.eager import wrap_function

    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    graph_def = tf.compat.v1.GraphDef()
    with open(os.path.join(job_dir, "graph.pb"), "rb") as f:
        graph_def.ParseFromString(f.read())
    fn = wrap_function.function_from_graph_def(graph_def, job["inputs"], job["outputs"])
    arrays = None
    if job["num_calibration_arrays"]:
        arrays = [np.load(os.path.join(job_dir, f"calibration_{i}.npy"), mmap_mode="r")
                  for i in range(job["num_calibration_arrays"])]

    def progress(done: int, total: int) -> None:
        if crash in ("abort", "segv"):
            _crash(crash)
        send({"progress": [done, total]})

    if crash in ("abort", "segv") and arrays is None:
        _crash(crash)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    configure(converter, tf, job["options"], arrays, progress)
    content = converter.convert()
    extras: dict = {}
    fold = job["options"].get("fold_scales")
    if fold is not None:
        folding = _scale_folding().fold_constant_multipliers(bytes(content), mul_limits=fold.get("mul_limits"))
        content = folding.content
        extras["folding"] = folding.to_dict()
    tmp = os.path.join(job_dir, "model.tflite.part")
    with open(tmp, "wb") as f:
        f.write(bytes(content))
    os.replace(tmp, os.path.join(job_dir, "model.tflite"))
    if job.get("num_validation_arrays"):
        send({"phase": "validate"})
        if crash == "validate":
            _crash("abort")
        inputs = [np.load(os.path.join(job_dir, f"validation_{i}.npy")) for i in range(job["num_validation_arrays"])]
        outputs, details = run_tflite(bytes(content), inputs)
        for i, o in enumerate(outputs):
            np.save(os.path.join(job_dir, f"validation_output_{i}.npy"), o)
        with open(os.path.join(job_dir, "validation.json"), "w", encoding="utf-8") as f:
            json.dump(details, f)
    return extras


def _scale_folding() -> Any:
    """keras_acts/export/scale_folding.py loaded by path: the worker imports no keras_acts package."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scale_folding.py")
    spec = importlib.util.spec_from_file_location("_keras_acts_scale_folding", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _crash(how: str) -> None:
    sys.stderr.write(f"keras_acts converter worker: crashing on purpose ({how}, test hook)\n")
    sys.stderr.flush()
    if how == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    os.abort()


def main() -> int:
    """Serves conversion jobs from stdin until it is closed."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed to stdout by TensorFlow lands in the log, not in the protocol
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    import tensorflow  # noqa: F401 - imported while the parent is still tracing its model

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            extras = _convert_job(request["dir"], send, request.get("crash"))
        except Exception as err:  # noqa: BLE001 - every converter error goes back to the parent
            send({"error": str(err), "type": type(err).__name__})
        else:
            send({"ok": True, **extras})
    return 0


if __name__ == "__main__":
    sys.exit(main())
