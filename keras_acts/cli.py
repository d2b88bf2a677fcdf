"""The commands of the ``keras-acts`` command line (arguments are parsed in :mod:`keras_acts_cli`).

Each ``_cmd_<name>(args) -> int`` runs one subcommand; it may import TensorFlow. The
subcommands, exit codes and how to add one are described in :mod:`keras_acts_cli`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

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
        raise CLIError(
            f"calibration file {path!r} (-c) does not exist; pass -c FILE.npy with input samples saved by "
            "numpy.save (or .npz with one array per input)."
        )
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
    import warnings

    from keras_acts.export import to_tflite
    from keras_acts.export.converter import _is_qat_model
    from keras_acts.export.targets import DEPRECATED_TARGETS, deprecation_message

    target = args.target
    if target in DEPRECATED_TARGETS:
        print(f"keras-acts: warning: {deprecation_message(target)}", file=sys.stderr)
        target = DEPRECATED_TARGETS[target]
    model = _load_model(args.model)
    int8 = args.quantization == "int8" or (args.quantization is None and target == "edgetpu")
    if int8 and not args.calibration and not _is_qat_model(model):
        raise CLIError(
            "an int8 export needs calibration samples: pass -c FILE.npy (--calibration; inputs as the model "
            "sees them in training, shape (n, ...), saved with numpy.save; .npz with one array per input for "
            "several inputs), or export with -q dynamic (int8 weights, no data needed)."
        )
    data = _load_calibration(args.calibration) if args.calibration else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = to_tflite(
            model,
            quantization=args.quantization,
            representative_data=data,
            target=target,
            input_type=args.input_type,
            output_type=args.output_type,
            num_calibration_samples=args.num_calibration_samples,
            batch_size=args.batch_size,
            progress=None if args.quiet else _progress_printer(sys.stderr),
            validate=args.validate,
            verbose=bool(getattr(args, "verbose", False) or getattr(args, "debug", False)),
        )
    for w in caught:
        if issubclass(w.category, UserWarning) and str(w.message).startswith("to_tflite:"):
            print(f"keras-acts: warning: {str(w.message)[len('to_tflite: '):]}", file=sys.stderr)
    path = result.save(args.output)
    report = result.report
    validation = result.validation
    if args.json:
        extra = {"validation": validation.to_dict()} if validation is not None else {}
        print(json.dumps({"output": str(path), **report.to_dict(), **extra}, indent=2))
    else:
        for s in result.substitutions:
            print(f"lowered Keras {s.builtin} in layer {s.layer!r} as keras_acts {s.activation}")
        text = report.to_markdown() if args.markdown else str(report)
        print(text)
        if validation is not None:
            lines = validation.summary_lines()
            if not all(line in text for line in lines):  # the report may render them itself
                print("\n".join(lines))
        print(f"wrote {path} ({result.size_bytes} bytes)")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from keras_acts.export import inspect

    if (args.reference is None) != (args.samples is None):
        raise CLIError("--reference FLOAT.tflite and --samples DATA.npy go together (both measure the int8 error).")
    if args.reference and not args.html:
        raise CLIError("--reference and --samples are for the HTML view: add --html OUT.html.")
    if args.html and not args.html.lower().endswith((".html", ".htm")):
        raise CLIError(f"cannot write {args.html!r}: give an .html file name to --html.")
    # Always with the XNNPACK partition plan; the Edge TPU verdict when asked for, for the edgetpu target,
    # and for the HTML view (which marks the Edge TPU's graph cut).
    want_edgetpu = bool(args.edgetpu or args.target == "edgetpu" or args.html)
    report = inspect(args.path, target=args.target, edgetpu=want_edgetpu)
    if args.json:
        print(report.to_json())
    elif args.markdown:
        print(report.to_markdown())
    else:
        print(report.text(edgetpu=True if args.edgetpu else None, verbose=args.full_table))
    if args.html:
        samples = _load_calibration(args.samples) if args.samples else None
        if args.reference and not os.path.exists(args.reference):
            raise CLIError(f"reference model {args.reference!r} does not exist; export it with quantization='none'.")
        try:
            path = report.save_html(args.html, reference=args.reference, samples=samples)
        except ValueError as err:
            raise CLIError(str(err)) from None
        print(f"wrote {path}")
    return 0


def import_registering_modules(modules: Sequence[str]) -> None:
    """Imports the modules that register user activations (``--import``), with a clear error."""
    import importlib

    if modules and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: modules next to the caller are found
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise CLIError(
                f"cannot import {module!r} (--import): {err}. Pass the module's import name (e.g. my_acts for "
                "my_acts.py in the current directory, or set PYTHONPATH)."
            ) from None


def _cmd_list(args: argparse.Namespace) -> int:
    from keras_acts import registry

    import_registering_modules(getattr(args, "imports", []))

    rows = registry.names_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "aliases", "int8 ops: cpu (XNNPACK)", "int8 ops: micro", "Edge TPU", "Edge TPU ops")
    table = [
        (r["name"], ", ".join(r["aliases"]) or "-",
         (" ".join(r["cpu_ops"]) + ("" if r["cpu_xnnpack_whole"] else " [splits]")) if r["cpu_ops"] else "traced",
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


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``["beta=2", "approximate=true"]`` -> ``{"beta": 2.0, "approximate": True}``; errors name --params."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise CLIError(f"--params takes NAME=VALUE pairs (e.g. --params beta=2.0), got {item!r}.")
        text = text.strip()
        if text.lower() in ("true", "false"):
            out[key.strip()] = text.lower() == "true"
            continue
        try:
            out[key.strip()] = float(text)
        except ValueError:
            raise CLIError(
                f"--params {item}: VALUE must be a number or true/false (e.g. --params {key.strip()}=2.0)."
            ) from None
    return out


def _cmd_explain(args: argparse.Namespace) -> int:
    from keras_acts import registry
    from keras_acts.explain import explain

    params = _parse_params(args.params)
    lo, hi = args.x_range
    if not (lo < hi and all(abs(v) != float("inf") for v in (lo, hi))):
        raise CLIError(f"--range LO HI needs finite LO < HI (e.g. --range -8 8), got --range {lo:g} {hi:g}.")
    if args.repeats < 1:
        raise CLIError(f"--repeats N needs N >= 1, got {args.repeats}.")
    entry = registry.lookup(args.name)  # unknown names: the registry's error with the closest names
    try:
        entry.check_params(params)
    except (TypeError, ValueError) as err:
        accepted = " ".join(f"{p.name}={p.default}" for p in entry.params)
        how = f" Pass parameters as --params NAME=VALUE (defaults: --params {accepted})." if accepted else (
            f" {entry.name} takes no --params.")
        raise CLIError(f"{err}{how}") from None
    result = explain(args.name, x_range=(lo, hi), targets=args.target, params=params, repeats=args.repeats)
    print(result.to_json() if args.json else str(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``keras-acts`` (see :mod:`keras_acts_cli`, where the arguments are parsed)."""
    import keras_acts_cli

    return keras_acts_cli.main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
