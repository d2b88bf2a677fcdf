"""The parent side of the converter worker (:mod:`keras_acts.export._worker`).

One worker process per Python process, started on the first export (:func:`prewarm`, so that
its TensorFlow import overlaps with the tracing of the model) and reused by every later export.
:func:`convert` sends one job and waits; it raises :class:`ConverterFailed` when the converter
raised an error in the worker and :class:`WorkerCrashed` when the worker died (a signal such as
SIGSEGV or SIGABRT, or a non-zero exit). After a crash the next export starts a fresh worker.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any, Callable, Sequence

import numpy as np

#: Environment variable read by the tests to make the worker crash on purpose ("abort" or "segv").
CRASH_HOOK_ENV = "KERAS_ACTS_TEST_CONVERTER_CRASH"
_WORKER_PATH = str(pathlib.Path(__file__).with_name("_worker.py"))
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


class ConverterFailed(Exception):
    """The converter raised an error inside the worker.

    Attributes:
        message: the converter's error text.
        error_type: the name of its exception type.
        log: what the converter printed during the job.
    """

    def __init__(self, message: str, error_type: str, log: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.log = log


class WorkerUnavailable(OSError):
    """The worker process could not be started (no usable ``sys.executable``, no ``fork``/``exec``)."""


class WorkerCrashed(Exception):
    """The worker process died during a conversion.

    Attributes:
        returncode: the process's return code (negative: killed by that signal).
        log: what the worker printed during the job.
        phase: ``"convert"`` (the converter crashed) or ``"validate"`` (the conversion
            finished and LiteRT crashed loading or running the new model).
    """

    def __init__(self, returncode: int | None, log: str, phase: str = "convert") -> None:
        super().__init__(describe_exit(returncode))
        self.returncode = returncode
        self.log = log
        self.phase = phase


def describe_exit(returncode: int | None) -> str:
    """``"signal SIGSEGV (segmentation fault)"``, ``"exit code 3"`` and the like."""
    if returncode is None:
        return "an unknown exit"
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
            text = signal.strsignal(sig) or ""
            return f"signal {sig.name}" + (f" ({text.lower()})" if text else "")
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


class _Worker:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log_path: str | None = None
        self.owner = os.getpid()
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.owner == os.getpid()

    def start(self) -> None:
        if self.alive():
            return
        self.stop()
        self.owner = os.getpid()
        fd, self.log_path = tempfile.mkstemp(prefix="keras_acts_converter_", suffix=".log")
        if not sys.executable:
            os.close(fd)
            raise WorkerUnavailable("sys.executable is empty: no Python interpreter to start the worker with")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, _WORKER_PATH],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=fd,
                close_fds=True,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        except OSError as err:
            raise WorkerUnavailable(f"cannot start {sys.executable!r}: {err}") from err
        finally:
            os.close(fd)

    def stop(self) -> None:
        proc, log_path = self.proc, self.log_path
        self.proc, self.log_path = None, None
        if proc is not None and self.owner == os.getpid():
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if proc.stdout:
                proc.stdout.close()
        if log_path and self.owner == os.getpid():
            try:
                os.unlink(log_path)
            except OSError:
                pass

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path) if self.log_path else 0
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


_WORKER = _Worker()
atexit.register(_WORKER.stop)


def prewarm() -> None:
    """Starts the worker (if it is not running) without waiting for it."""
    with _WORKER.lock:
        _WORKER.start()


def shutdown() -> None:
    """Stops the worker; the next export starts a new one."""
    with _WORKER.lock:
        _WORKER.stop()


def worker_pid() -> int | None:
    """The worker's process id, or None when none is running."""
    return _WORKER.proc.pid if _WORKER.alive() and _WORKER.proc is not None else None


def convert(
    graph_def: bytes,
    inputs: Sequence[str],
    outputs: Sequence[str],
    options: dict,
    arrays: Sequence[np.ndarray] | None,
    progress: Callable[[int, int], None] | None = None,
    validation_inputs: Sequence[np.ndarray] | None = None,
) -> tuple[bytes, str, Any, dict]:
    """Converts a frozen GraphDef in the worker; returns (flatbuffer, the converter's log, run, extras).

    ``extras`` holds what the worker did besides converting: ``"folding"``, the
    :meth:`~keras_acts.export.scale_folding.FoldResult.to_dict` of the scale-folding pass when
    ``options["fold_scales"]`` asked for it (the returned flatbuffer is then the folded one).

    With ``validation_inputs``, the worker then runs the new model on them with LiteRT
    (XNNPACK) and ``run`` is ``(outputs, details)`` as returned by
    :func:`keras_acts.export._worker.run_tflite`; else None.

    Raises:
        ConverterFailed: the converter raised an error.
        WorkerCrashed: the worker died (signal or exit code); it is restarted on the next call.
    """
    job_dir = tempfile.mkdtemp(prefix="keras_acts_export_")
    try:
        with open(os.path.join(job_dir, "graph.pb"), "wb") as f:
            f.write(graph_def)
        for i, a in enumerate(arrays or []):
            np.save(os.path.join(job_dir, f"calibration_{i}.npy"), np.ascontiguousarray(a, dtype=np.float32))
        for i, a in enumerate(validation_inputs or []):
            np.save(os.path.join(job_dir, f"validation_{i}.npy"), np.ascontiguousarray(a, dtype=np.float32))
        job = {"inputs": list(inputs), "outputs": list(outputs), "options": options,
               "num_calibration_arrays": len(arrays or []),
               "num_validation_arrays": len(validation_inputs or [])}
        with open(os.path.join(job_dir, "job.json"), "w", encoding="utf-8") as f:
            json.dump(job, f)
        crash = os.environ.get(CRASH_HOOK_ENV) or None
        with _WORKER.lock:
            _WORKER.start()
            proc = _WORKER.proc
            assert proc is not None and proc.stdin is not None and proc.stdout is not None
            offset = _WORKER.log_size()
            phase = "convert"
            try:
                proc.stdin.write(json.dumps({"dir": job_dir, "crash": crash}) + "\n")
                proc.stdin.flush()
                while True:
                    line = proc.stdout.readline()
                    if not line:  # the worker died
                        returncode = proc.wait()
                        log = _WORKER.log_since(offset)
                        _WORKER.stop()
                        raise WorkerCrashed(returncode, log, phase)
                    message = json.loads(line)
                    if "phase" in message:
                        phase = message["phase"]
                        continue
                    if "progress" in message:
                        if progress is not None:
                            progress(*message["progress"])
                        continue
                    log = _WORKER.log_since(offset)
                    if "error" in message:
                        raise ConverterFailed(message["error"], message.get("type", "Exception"), log)
                    with open(os.path.join(job_dir, "model.tflite"), "rb") as f:
                        content = f.read()
                    run = None
                    if validation_inputs:
                        with open(os.path.join(job_dir, "validation.json"), encoding="utf-8") as f:
                            details = json.load(f)
                        run = ([np.load(os.path.join(job_dir, f"validation_output_{i}.npy")) for i in range(len(details))],
                               details)
                    extras = {k: v for k, v in message.items() if k != "ok"}
                    return content, log, run, extras
            except BrokenPipeError:
                returncode = proc.wait()
                log = _WORKER.log_since(offset)
                _WORKER.stop()
                raise WorkerCrashed(returncode, log, phase) from None
            except (ConverterFailed, WorkerCrashed):
                raise
            except BaseException:
                # Interrupted (Ctrl-C, an exception from progress): the job cannot be cancelled,
                # so the worker goes; the next export starts a new one.
                _WORKER.proc.kill() if _WORKER.proc is not None else None
                _WORKER.stop()
                raise
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
