"""int8 fidelity of every registry activation vs Keras's own: writes docs/INT8_LOWERINGS.md.

For each registry activation alone (``Input((256,)) -> activation``, grid -8..8,
calibrated on the grid, int8 input and output) it records the ops and the max/mean
error in output LSB of the keras_acts export (``keras_acts.export.to_tflite``, int8
lowerings) and of the frontend's own same-named activation exported the stock way
(concrete function -> TFLiteConverter, TFLITE_BUILTINS_INT8, no substitution), using
:func:`keras_acts.export.fidelity.measure_int8_fidelity` for both.

Usage:
    python benchmarks/bench_int8_fidelity.py [-o docs/INT8_LOWERINGS.md] [--json PATH]
    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_int8_fidelity.py --print   # tf_keras, to stdout
    python benchmarks/bench_int8_fidelity.py --quick --print   # a few activations: CI smoke run
    python benchmarks/bench_int8_fidelity.py --fit   # re-derive the mish polynomial coefficients
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

EXTRA_CASES = [("elu", {"alpha": 0.5}), ("swish", {"beta": 2.0}), ("leaky_relu", {"negative_slope": 0.3}),
               ("hard_sigmoid", {"slope": 0.2})]


def fit_mish() -> dict[str, list[float]]:
    """Weighted least-squares fits used by the mish int8 lowering (see gated._mish_int8).

    r(e) ~ tanh(softplus(v)) / e^v (linear, v in [-8, 0], e = e^v), weighted by |v e^v|;
    psi(E) ~ 2E / (1 + 2E + 2E^2) (cubic without constant), weighted by |n E|.
    """
    v = np.linspace(-8.0, 0.0, 4001)
    e = np.exp(v)
    g = np.tanh(np.logaddexp(0.0, v))
    w = np.abs(v * e)
    vand = np.vander(e, 2)
    c_r = np.linalg.lstsq(vand * w[:, None], (g / e) * w, rcond=None)[0]
    psi = 2 * e / (1 + 2 * e + 2 * e * e)
    vand3 = np.vander(e, 4)[:, :-1]
    c_p = np.linalg.lstsq(vand3 * w[:, None], psi * w, rcond=None)[0]
    return {
        "r (constant first)": c_r[::-1].tolist(),
        "r max error of N": float(np.max(np.abs((vand @ c_r - g / e) * v * e))),
        "psi (constant first)": [0.0, *c_p[::-1].tolist()],
        "psi max error of P": float(np.max(np.abs((vand3 @ c_p - psi) * v * e))),
    }


def _stock(entry, frontend):
    """(layer, reference) of the frontend's own activation of the same name, or None."""
    from keras_acts.backend import keras

    if entry.learnable:
        init = keras.initializers.RandomUniform(0.0, 0.6, seed=3)
        layer = keras.layers.PReLU(alpha_initializer=init)
        return layer, "prelu"
    b = entry.builtins.get(frontend)
    if b is None or b.name is None:
        return None
    try:
        fn = keras.activations.get(b.name)
    except (ValueError, KeyError):
        return None
    params = dict(b.params)
    if b.same_math or params:
        ref = lambda x, _r=entry.reference, _p=params: _r(x, **_p)  # noqa: E731
    else:
        return None
    return keras.layers.Activation(fn), ref


QUICK_CASES = ("selu", "mish", "hard_swish", "prelu")


def _edgetpu(name, measure):
    """The edgetpu target's measurement, or ``{"refused": why}`` when the target refuses the activation."""
    from keras_acts import registry
    from keras_acts.export.edgetpu import EdgeTPUPreflightError

    try:
        return measure()
    except EdgeTPUPreflightError:
        off = registry.lookup(name).edgetpu_form().off_table
        return {"refused": "; ".join(f"{t} form uses {', '.join(ops)}" for t, ops in off.items() if ops)}


def measure_all(quick: bool = False) -> list[dict]:
    from keras_acts import FRONTEND, layers, registry
    from keras_acts.export.fidelity import measure_int8_fidelity

    rows = []
    cases = [(e.name, {}) for e in registry.entries()] + EXTRA_CASES
    if quick:
        cases = [(n, p) for n, p in cases if n in QUICK_CASES and not p]
    for name, params in cases:
        entry = registry.lookup(name)
        if entry.learnable:
            from keras_acts.backend import keras

            def act():
                return layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.0, 0.6, seed=3))

            ours, micro = (measure_int8_fidelity(act(), target=t) for t in ("cpu", "micro"))
            edgetpu = _edgetpu(name, lambda: measure_int8_fidelity(act(), target="edgetpu"))
        else:
            ours, micro = (measure_int8_fidelity(name, params=params, target=t) for t in ("cpu", "micro"))
            edgetpu = _edgetpu(name, lambda: measure_int8_fidelity(name, params=params, target="edgetpu"))
        # "ours" is the default export target, LiteRT's CPU runtime; "micro" the single-op forms;
        # "edgetpu" Coral's ops only (or the target's refusal).
        row = {"name": name, "params": params, "ours": ours, "micro": micro, "edgetpu": edgetpu,
               "stock": None, "stock_name": None}
        stock = None if params else _stock(entry, FRONTEND)
        if stock is not None:
            layer, ref = stock
            if ref == "prelu":
                def ref(x, _l=layer, _r=entry.reference):
                    return _r(x, alpha=np.asarray(_l.alpha, np.float64).reshape(-1))
            try:
                row["stock"] = measure_int8_fidelity(layer, reference=ref, target=None)
                b = None if entry.learnable else entry.builtins[FRONTEND]
                row["stock_name"] = "PReLU layer" if b is None else b.name + (
                    "" if not b.params else " (" + ", ".join(f"{k}={v}" for k, v in b.params.items()) + ")"
                )
            except Exception as err:  # a stock export that does not convert is a result too
                row["stock"] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"}
                row["stock_name"] = entry.builtins[FRONTEND].name if not entry.learnable else "PReLU layer"
        rows.append(row)
    return rows


def _jsonable(rows: list[dict], command: str) -> dict:
    """The measurements without the model bytes, as JSON-serializable data."""
    import tensorflow as tf

    from keras_acts import FRONTEND

    def clean(m):
        return None if m is None else {k: v for k, v in m.items() if k != "content"}

    return {
        "benchmark": "bench_int8_fidelity",
        "command": command,
        "date": datetime.date.today().isoformat(),
        "frontend": FRONTEND,
        "tensorflow": tf.__version__,
        "rows": [{**r, "ours": clean(r["ours"]), "micro": clean(r["micro"]), "edgetpu": clean(r["edgetpu"]),
                  "stock": clean(r["stock"])} for r in rows],
    }


def _fmt_ops(ops):
    return " ".join(ops)


def _edgetpu_cells(e, cpu_ops):
    if "refused" in e:
        return [f"refused ({e['refused']})", "—"]
    ok = e["is_fully_int8"] and e["covers_grid"]
    return [_fmt_ops(e["ops"]) if e["ops"] != cpu_ops else "same", f"{e['max_lsb']:.2f}" + ("" if ok else " (not fully int8)")]


def render(rows, command: str) -> str:
    import tensorflow as tf

    import keras_acts
    from keras_acts import FRONTEND
    from keras_acts.backend import keras

    try:
        import ai_edge_litert

        litert = getattr(ai_edge_litert, "__version__", "installed")
    except ImportError:  # pragma: no cover
        litert = "missing"
    lines = [
        "# int8 lowerings: measured fidelity",
        "",
        "Each activation alone (`Input((256,)) -> activation`), calibrated on the grid",
        "`linspace(-8, 8, 256)`, int8 input and output; every int8 input code is fed and the",
        "dequantized output is compared with the float64 reference at the dequantized input.",
        "Errors are in output LSB (units of the output scale; one rounding = 0.5 LSB). The",
        "target is at most 1.5 LSB and no op with a float32 output. \"cpu\", \"micro\" and \"edgetpu\" are",
        "`keras_acts.export.to_tflite(..., quantization=\"int8\", target=...)` with the registry's",
        "lowerings for LiteRT's CPU runtime (XNNPACK; the default), for single-op runtimes and for",
        "Coral's Edge TPU (the first of the explicit Edge TPU, micro and cpu forms whose ops are all on Coral's op table; \"same\":",
        "the cpu form; \"refused\": no form is, and the target refuses the activation before conversion);",
        "\"XNNPACK\" says whether the cpu form uses only ops the installed LiteRT's XNNPACK",
        "delegate takes (`keras_acts/export/xnnpack_ops.json`); \"stock\" is the frontend's own same-named activation converted the plain",
        "way (concrete function, `TFLITE_BUILTINS_INT8`, no substitution). Both measured by",
        "`keras_acts.export.fidelity.measure_int8_fidelity`.",
        "",
        f"Produced by `{command}` on {datetime.date.today().isoformat()} with TensorFlow {tf.__version__},",
        f"{FRONTEND} {keras.__version__}, ai-edge-litert {litert}, keras_acts {keras_acts.__version__}.",
        "",
        "| activation | cpu ops | max LSB | mean LSB | fully int8 | XNNPACK | micro ops | micro max LSB | edgetpu ops | edgetpu max LSB | stock | stock ops | stock max LSB | stock mean LSB | stock fully int8 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    from keras_acts.export.xnnpack import form_is_delegable

    for row in rows:
        o, mi = row["ours"], row["micro"]
        label = row["name"] + ("" if not row["params"] else " (" + ", ".join(f"{k}={v}" for k, v in row["params"].items()) + ")")
        s = row["stock"]
        if s is None:
            stock_cells = ["—", "", "", "", ""]
        elif "error" in s:
            stock_cells = [f"`{row['stock_name']}`", f"does not convert: {s['error']}", "", "", ""]
        else:
            stock_cells = [
                f"`{row['stock_name']}`",
                _fmt_ops(s["ops"]),
                f"{s['max_lsb']:.2f}",
                f"{s['mean_lsb']:.2f}",
                "yes" if s["is_fully_int8"] else f"no ({', '.join(s['float_ops'])})",
            ]
            if not s["covers_grid"]:
                stock_cells[2] += f" (input clipped to {s['input_range'][0]:.2f}..{s['input_range'][1]:.2f})"
        cells = [
            label,
            _fmt_ops(o["ops"]),
            f"{o['max_lsb']:.2f}",
            f"{o['mean_lsb']:.2f}",
            "yes" if o["is_fully_int8"] and o["covers_grid"] else "no",
            "one partition" if form_is_delegable(o["ops"]) else "splits",
            _fmt_ops(mi["ops"]) if mi["ops"] != o["ops"] else "same",
            f"{mi['max_lsb']:.2f}",
            *_edgetpu_cells(row["edgetpu"], o["ops"]),
            *stock_cells,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Notes",
        "",
        "- sigmoid and tanh: LOGISTIC/TANH have fixed int8 output scales (1/256, 1/128) whose",
        "  top code is 255/256 resp. 127/128, so saturated outputs near x = 8 are up to ~1 LSB off",
        "  by construction of the kernel.",
        "- The designs (min(x, 0) as `x - relu(x)` rather than MINIMUM, which makes the converter",
        "  clip the model input; `-|x|` without NEG, which has no int8 quantization; products",
        "  arranged so that large factors never multiply a rounded one) are documented in the",
        "  docstrings of the `_*_int8` functions in `keras_acts/activations/` and in",
        "  `keras_acts/activations/_int8_forms.py`.",
        "- Op order can differ between frontends for multi-branch lowerings; the op multiset is",
        "  the same (`tests/test_int8_lowerings.py`).",
        "- edgetpu: the forms and the verdict per activation, and the Coral-only forms tried for",
        "  exponential and softsign (over the budget), are in [EDGETPU.md](EDGETPU.md).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(pathlib.Path(__file__).resolve().parents[1] / "docs" / "INT8_LOWERINGS.md"))
    parser.add_argument("--print", action="store_true", help="print the table instead of writing it")
    parser.add_argument("--fit", action="store_true", help="print the mish polynomial fits and exit")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CASES)} (CI smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the measurements as JSON")
    args = parser.parse_args(argv)
    if args.quick and not args.print and args.output == parser.get_default("output"):
        parser.error("--quick measures only a few activations: use it with --print or -o PATH, "
                     "not to overwrite docs/INT8_LOWERINGS.md")
    if args.fit:
        for k, v in fit_mish().items():
            print(f"{k}: {v}")
        return 0
    command = "python benchmarks/bench_int8_fidelity.py" + (" --quick" if args.quick else "") + (
        " --print" if args.print else "") + (f" --json {args.json}" if args.json else "")
    if os.environ.get("TF_USE_LEGACY_KERAS"):
        command = f"TF_USE_LEGACY_KERAS={os.environ['TF_USE_LEGACY_KERAS']} " + command
    rows = measure_all(quick=args.quick)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(_jsonable(rows, command), indent=2), encoding="utf-8")
    text = render(rows, command)
    if args.print:
        print(text)
    else:
        out = pathlib.Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
