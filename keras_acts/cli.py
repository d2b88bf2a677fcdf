"""The ``keras-acts`` command line.

Subcommands::

    keras-acts export MODEL.keras --quantization int8 --calibration DATA.npy \\
        [--target edgetpu] [--input-type int8] [--output-type int8] -o OUT.tflite
    keras-acts inspect OUT.tflite [--json] [--markdown] [--edgetpu]
    keras-acts list [--json]
    keras-acts plot NAME... [--derivative] [--both] -o FILE.png

Exit codes: 0 success, 2 usage error (argparse), 1 failure, reported as one line
``keras-acts: error: <reason>`` on stderr (add ``--debug`` for the traceback).

Adding a subcommand: write ``_add_<name>_parser(subparsers)`` that registers the
parser and sets ``func=<handler(args) -> int>``, and call it in :func:`build_parser`
(see :func:`_add_plot_parser`, the place for the ``plot`` subcommand).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any, Sequence

PROG = "keras-acts"


class CLIError(Exception):
    """A failure reported as one line with exit code 1."""


def _progress_printer(stream: Any) -> Any:
    state = {"last": -1}

    def progress(done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if pct // 10 != state["last"] // 10 or done == total:
            state["last"] = pct
            print(f"calibrating: {done}/{total} samples ({pct}%)", file=stream, flush=True)

    return progress


def _load_calibration(path: str) -> Any:
    import numpy as np

    if not os.path.exists(path):
        raise CLIError(f"calibration file {path!r} does not exist; pass a .npy or .npz file of input samples.")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise CLIError(
            f"cannot read calibration file {path!r} ({err}); save samples with numpy.save('data.npy', x) "
            "(or numpy.savez for several inputs)."
        ) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        arrays = tuple(data[k] for k in data.files)
        data.close()
        return arrays[0] if len(arrays) == 1 else arrays
    return data


def _load_model(path: str) -> Any:
    if not os.path.exists(path):
        raise CLIError(f"model file {path!r} does not exist.")
    import keras_acts  # noqa: F401  (registers the custom objects)
    from keras_acts.backend import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - loaders raise many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CLIError(
            f"cannot load Keras model {path!r}: {first} (save it with model.save('model.keras'); for a "
            "tf_keras model set TF_USE_LEGACY_KERAS=1)"
        ) from err


def _cmd_export(args: argparse.Namespace) -> int:
    from keras_acts.export import to_tflite

    model = _load_model(args.model)
    data = _load_calibration(args.calibration) if args.calibration else None
    result = to_tflite(
        model,
        quantization=args.quantization,
        representative_data=data,
        target=args.target,
        input_type=args.input_type,
        output_type=args.output_type,
        num_calibration_samples=args.num_calibration_samples,
        batch_size=args.batch_size,
        progress=None if args.quiet else _progress_printer(sys.stderr),
    )
    path = result.save(args.output)
    report = result.report
    if args.json:
        print(json.dumps({"output": str(path), **report.to_dict()}, indent=2))
    else:
        for s in result.substitutions:
            print(f"lowered Keras {s.builtin} in layer {s.layer!r} as keras_acts {s.activation}")
        print(report.to_markdown() if args.markdown else str(report))
        print(f"wrote {path} ({result.size_bytes} bytes)")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from keras_acts.export import inspect

    report = inspect(args.path, edgetpu=args.edgetpu)  # always with the XNNPACK partition plan
    if args.json:
        print(report.to_json())
    elif args.markdown:
        print(report.to_markdown())
    else:
        print(report)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from keras_acts import registry

    rows = registry.names_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "aliases", "int8 ops: cpu (XNNPACK)", "int8 ops: micro", "Edge TPU", "Edge TPU ops")
    table = [
        (r["name"], ", ".join(r["aliases"]) or "-",
         (" ".join(r["cpu_ops"]) or "-") + ("" if r["cpu_xnnpack_whole"] else " [splits]"),
         " ".join(r["int8_ops"]) or "-", r["edgetpu"], " ".join(r["edgetpu_ops"]) or "-")
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
    from keras_acts.export.targets import TARGETS

    print("\nExport targets (to_tflite(target=...), keras-acts export --target):")
    for t in TARGETS.values():
        print(f"  {t.name}: {t.runtime}. Pick it for {t.choose}.")
    print("\nint8 forms per target and why ([splits] = XNNPACK runs it outside its graph):")
    for r in rows:
        for form in r["forms"]:
            if form["note"]:
                print(f"  {r['name']} [{', '.join(form['targets'])}] {' '.join(form['ops'])}: {form['note']}")
    print("\nEdge TPU limits and alternatives:")
    for r in rows:
        if r["edgetpu_note"]:
            print(f"  {r['name']}: {r['edgetpu_note']}")
    return 0


def _add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="convert a saved Keras model to TFLite and print the report")
    p.add_argument("model", help="saved Keras model (.keras, .h5 or SavedModel directory)")
    p.add_argument("-o", "--output", required=True, help="output .tflite path (written atomically)")
    p.add_argument("--quantization", "-q", choices=("none", "float16", "dynamic", "int8"), default=None,
                   help="default: none, or int8 for --target edgetpu")
    p.add_argument("--calibration", "-c", metavar="DATA.npy",
                   help="representative inputs for int8 (.npy, or .npz with one array per input)")
    p.add_argument("--target", choices=("cpu", "micro", "edgetpu"), default="cpu",
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
    p.set_defaults(func=_cmd_export)


def _add_inspect_parser(sub: Any) -> None:
    p = sub.add_parser("inspect", help="show the ops, dtypes and float islands of a .tflite model")
    p.add_argument("path", help=".tflite file")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON")
    fmt.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    p.add_argument("--edgetpu", action="store_true", help="add the Edge TPU compatibility verdict")
    p.set_defaults(func=_cmd_inspect)


def _add_list_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="list the activations: aliases, int8 ops, Edge TPU support")
    p.add_argument("--json", action="store_true", help="print the full registry table as JSON")
    p.set_defaults(func=_cmd_list)


def _cmd_plot(args: argparse.Namespace) -> int:
    import io

    from keras_acts import plot
    from keras_acts.export.atomic import atomic_write_bytes

    fmt = os.path.splitext(args.output)[1].lstrip(".").lower() or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise CLIError(f"cannot write {args.output!r}: use a .png, .svg or .pdf file name.")
    fig = plot.activations(args.names, derivative=args.derivative, x_range=(args.xmin, args.xmax), both=args.both)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=args.dpi)
    atomic_write_bytes(args.output, buf.getvalue())
    print(f"wrote {args.output}")
    return 0


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
    p.set_defaults(func=_cmd_plot)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keras-acts``."""
    from keras_acts._version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="keras_acts: activations for Keras that export to fully int8 TFLite and Edge TPU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_export_parser(sub)
    _add_inspect_parser(sub)
    _add_list_parser(sub)
    _add_plot_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``keras-acts``; returns the exit code (0 ok, 1 failure, 2 usage)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - every failure becomes one line
        if args.debug:
            traceback.print_exc()
        reason = " ".join(str(err).split()) or type(err).__name__
        print(f"{PROG}: error: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
