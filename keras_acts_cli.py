"""The ``keras-acts`` command line: argument parsing, kept free of TensorFlow.

This module sits beside the ``keras_acts`` package, not inside it: importing anything
inside ``keras_acts`` imports TensorFlow (the package registers its activations with Keras
on import), which takes seconds. ``keras-acts --help``, ``--version`` and usage errors are
answered from here alone; a command imports :mod:`keras_acts.cli`, where the commands live,
only once the arguments are valid.

TensorFlow and LiteRT write start-up and conversion logs (oneDNN, CUDA, absl, MLIR) straight
to the process's stderr from C++. Unless ``--verbose`` (or ``--debug``) is given, the command runs
with file descriptor 2 pointed at ``/dev/null`` and Python's ``sys.stderr`` at the real terminal,
so the user sees keras_acts's messages, warnings and errors and none of that noise.

Subcommands::

    keras-acts export MODEL.keras --quantization int8 --calibration DATA.npy \\
        [--target cpu|micro|edgetpu] [--input-type int8] [--output-type int8] [--no-validate] [--verbose] -o OUT.tflite
    keras-acts inspect OUT.tflite [--json] [--markdown] [--edgetpu] [--target T] [--verbose]
        [--html OUT.html [--reference FLOAT.tflite --samples DATA.npy]]
    keras-acts list [--json] [--import MODULE]
    keras-acts plot NAME... [--derivative] [--both] -o FILE.png
    keras-acts explain NAME [--range LO HI] [--target cpu|micro|edgetpu|float] [--params k=v ...] [--json]

Exit codes: 0 success, 2 usage error (argparse), 1 failure, reported as one line
``keras-acts: error: <reason>`` on stderr (add ``--debug`` for the traceback). Errors name the
command's flags (``-c FILE.npy``), not the Python arguments behind them.

Adding a subcommand: write ``_add_<name>_parser(subparsers)`` here (``set_defaults(command=<name>)``)
and ``_cmd_<name>(args) -> int`` in :mod:`keras_acts.cli`, and call the former in :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pathlib
import sys
import traceback
import warnings
from typing import Any, Iterator, Sequence

PROG = "keras-acts"


def version() -> str:
    """keras_acts's version, read from ``keras_acts/_version.py`` without importing the package."""
    path = pathlib.Path(__file__).resolve().with_name("keras_acts") / "_version.py"
    namespace: dict[str, Any] = {}
    try:
        exec(path.read_text(encoding="utf-8"), namespace)  # noqa: S102 - our own one-line file
        return str(namespace["__version__"])
    except (OSError, KeyError):
        from importlib.metadata import version as dist_version

        return dist_version("keras-acts")


def _add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="convert a saved Keras model to TFLite and print the report")
    p.add_argument("model", help="saved Keras model (.keras, .h5 or SavedModel directory)")
    p.add_argument("-o", "--output", required=True, help="output .tflite path (written atomically)")
    p.add_argument("--quantization", "-q", choices=("none", "float16", "dynamic", "int8"), default=None,
                   help="default: none, or int8 for --target edgetpu")
    p.add_argument("--calibration", "-c", metavar="DATA.npy",
                   help="representative inputs for int8 (.npy, or .npz with one array per input)")
    # "generic" is the former name of "micro": accepted for one release, with a deprecation notice.
    p.add_argument("--target", choices=("cpu", "micro", "edgetpu", "generic"), default="cpu",
                   metavar="{cpu,micro,edgetpu}",
                   help="runtime: cpu = LiteRT CPU/XNNPACK (default), micro = single-op kernels "
                   "(TFLite Micro, NNAPI, GPU), edgetpu = Coral")
    p.add_argument("--input-type", choices=("float32", "int8", "uint8"), default=None)
    p.add_argument("--output-type", choices=("float32", "int8", "uint8"), default=None)
    p.add_argument("--num-calibration-samples", type=int, default=None, metavar="N")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="static batch (default dynamic)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON")
    fmt.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    p.add_argument("--quiet", action="store_true", help="no calibration progress")
    p.add_argument("--no-validate", dest="validate", action="store_false",
                   help="skip running the int8 model against the Keras model after export")
    p.set_defaults(command="export")


def _add_inspect_parser(sub: Any) -> None:
    p = sub.add_parser("inspect", help="show the ops, dtypes and float islands of a .tflite model")
    p.add_argument("path", help=".tflite file")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON")
    fmt.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    p.add_argument("--edgetpu", action="store_true", help="add the Edge TPU compatibility verdict and show its problems in full")
    p.add_argument("--target", choices=("cpu", "micro", "edgetpu"), default=None,
                   help="the runtime the model is for; decides which problems are shown (default: unknown, "
                        "LiteRT CPU problems)")
    p.add_argument("-v", "--verbose", dest="full_table", action="store_true",
                   help="also print every op (dtype, shape, scale, zero point, XNNPACK reason)")
    p.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML view of the model")
    p.add_argument("--reference", metavar="FLOAT.tflite",
                   help="with --html and --samples: the float model, to measure each int8 tensor's error")
    p.add_argument("--samples", metavar="DATA.npy", help="with --reference: float input samples (.npy/.npz)")
    p.set_defaults(command="inspect")


def _add_list_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="list the activations: aliases, int8 ops, Edge TPU support")
    p.add_argument("--json", action="store_true", help="print the full registry table as JSON")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (one that calls keras_acts.register_activation); repeatable")
    p.set_defaults(command="list")


def _add_plot_parser(sub: Any) -> None:
    """``keras-acts plot NAME... [--derivative] -o FILE.png`` (see :mod:`keras_acts.plot`)."""
    p = sub.add_parser("plot", help="plot activation functions (or their derivatives) to an image file")
    p.add_argument("names", nargs="+", metavar="NAME", help="registry names or aliases ('all' for every one)")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .svg or .pdf), written atomically")
    p.add_argument("--derivative", action="store_true", help="plot d/dx instead of the function")
    p.add_argument("--both", action="store_true", help="function and derivative side by side")
    p.add_argument("--xmin", type=float, default=-6.0)
    p.add_argument("--xmax", type=float, default=6.0)
    p.add_argument("--dpi", type=int, default=110)
    p.set_defaults(command="plot")


def _add_explain_parser(sub: Any) -> None:
    """``keras-acts explain NAME [--range LO HI] [--target T] [--params k=v ...] [--json]`` (:mod:`keras_acts.explain`)."""
    p = sub.add_parser("explain", help="one activation's forms per target, measured: ops, int8 error, XNNPACK "
                       "partitions, LiteRT latency vs the plain converter, Edge TPU verdict, QAT ops")
    p.add_argument("name", metavar="NAME", help="registry name or alias (keras-acts list shows them)")
    p.add_argument("--range", nargs=2, type=float, default=(-8.0, 8.0), metavar=("LO", "HI"), dest="x_range",
                   help="input range to calibrate on and measure the int8 error over (default: -8 8)")
    p.add_argument("--target", action="append", choices=("cpu", "micro", "edgetpu", "float"), default=None,
                   help="explain only this target (repeat for several; default: all four)")
    p.add_argument("--params", nargs="+", default=(), metavar="NAME=VALUE",
                   help="activation parameters, e.g. --params beta=2.0 (true/false for flags)")
    p.add_argument("--repeats", type=int, default=15, metavar="N", help="latency rounds (median; default 15)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(command="explain")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keras-acts``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="keras_acts: activations for Keras that export to fully int8 TFLite and Edge TPU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks on errors and TensorFlow's own log output")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's and the TFLite converter's own log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_export_parser(sub)
    _add_inspect_parser(sub)
    _add_list_parser(sub)
    _add_plot_parser(sub)
    _add_explain_parser(sub)
    return parser


@contextlib.contextmanager
def quiet_native_logs(enabled: bool) -> Iterator[None]:
    """Sends what C++ code writes to stderr (fd 2) to /dev/null; Python's stderr still reaches the terminal."""
    if not enabled:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    python_stderr = sys.stderr
    try:
        on_fd2 = python_stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # captured (pytest) or replaced: leave it alone
        on_fd2 = False
    try:
        os.dup2(devnull, 2)
        if on_fd2:
            sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stderr.flush()
        if sys.stderr is not python_stderr:
            sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``keras-acts``; returns the exit code (0 ok, 1 failure, 2 usage)."""
    args = build_parser().parse_args(argv)  # exits with 2 on usage errors, before any heavy import
    try:
        with quiet_native_logs(not (args.debug or args.verbose)):
            commands = importlib.import_module("keras_acts.cli")
            return int(getattr(commands, f"_cmd_{args.command}")(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - every failure becomes one line
        if args.debug:
            traceback.print_exc()
        text = str(err)
        log = ""
        if "\nConverter log" in text or "\nWorker log" in text:  # a converter crash: keep its log readable
            text, log = text.split("\n", 1)
        reason = cli_wording(" ".join(text.split())) or type(err).__name__
        print(f"{PROG}: error: {reason}", file=sys.stderr)
        if log:
            print(log, file=sys.stderr)
        return 1


#: Python argument spellings in keras_acts's error messages -> the ``keras-acts export`` flags.
_FLAG_WORDS = (
    (r"representative_data=x_train\[:\d+\]", "-c FILE.npy"),
    (r"validation_data=x\[:\d+\]", "a calibration file (-c FILE.npy)"),
    (r"\brepresentative_data\b", "the calibration data (-c FILE.npy)"),
    (r"num_calibration_samples=(\w+)", r"--num-calibration-samples \1"),
    (r"\bnum_calibration_samples\b", "--num-calibration-samples"),
    (r"batch_size=(\w+)", r"--batch-size \1"),
    (r"quantization='(\w+)'", r"-q \1"),
    (r"input_type='(\w+)'", r"--input-type \1"),
    (r"output_type='(\w+)'", r"--output-type \1"),
    (r"\binput_type/output_type\b", "--input-type/--output-type"),
    (r"target='(\w+)'", r"--target \1"),
    (r"validate=False", "--no-validate"),
)


def cli_wording(message: str) -> str:
    """Rewrites the Python argument names in an error message as ``keras-acts`` flags."""
    import re

    for pattern, flag in _FLAG_WORDS:
        message = re.sub(pattern, flag, message)
    return message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
