"""Automatic int8 lowering of activations none of the package's tests name (issue 21).

For each function: the chosen cpu form, its ops, the measured error (output LSB) on LiteRT, its XNNPACK
partitions and latency, against what the plain converter makes of the same function (its ops, error,
partitions, latency), on -8..8; then each chosen form's Edge TPU verdict (Coral's op table). The latency
columns time the chosen form and the plain conversion against each other (interleaved, XNNPACK, 1 thread,
one 65536-element int8 tensor per invoke: ``verify.compare_latency``), three times.

    python benchmarks/bench_auto_lowering.py [--json out.json] [--no-cache]
"""

from __future__ import annotations

import argparse
import json
import time

import tensorflow as tf

from keras_acts.export import auto_lowering as al


def _elish(x):
    return tf.where(x >= 0.0, x * tf.math.sigmoid(x), (tf.exp(x) - 1.0) * tf.math.sigmoid(x))


FUNCTIONS = {
    # self-gated x g(x): g from erf, tanh(softplus), exp (ELiSH), log(1 + sigmoid) (Logish)
    "x_erf_gate": lambda x: x * 0.5 * (1.0 + tf.math.erf(x)),
    "x_tanh_softplus": lambda x: x * tf.math.tanh(tf.math.softplus(x)),
    "elish": _elish,
    "logish": lambda x: x * tf.math.log(1.0 + tf.math.sigmoid(x)),
    # piecewise polynomial: SmeLU (beta = 1), a smooth clipped cubic
    "smelu": lambda x: tf.where(x >= 1.0, x, tf.where(x <= -1.0, tf.zeros_like(x), (x + 1.0) ** 2 / 4.0)),
    "smooth_clipped_cubic": lambda x: (lambda c: 1.5 * c - 0.5 * c**3)(tf.clip_by_value(x, -1.0, 1.0)),
    # square-root based
    "squareplus": lambda x: 0.5 * (x + tf.sqrt(x * x + 4.0)),
    "isrlu": lambda x: tf.where(x >= 0.0, x, x / tf.sqrt(1.0 + tf.square(tf.minimum(x, 0.0)))),
    "isru": lambda x: x / tf.sqrt(1.0 + x * x),
    "pseudo_huber": lambda x: tf.sqrt(1.0 + x * x) - 1.0,  # even: |x| - 1 + 1/(2|x|) tails
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--no-cache", action="store_true", help="search again (ignore the caches)")
    parser.add_argument("--only", nargs="*", help="names to run")
    args = parser.parse_args(argv)
    from keras_acts.export.edgetpu.optable import OPS

    rows = []
    for name, fn in FUNCTIONS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        r = al.auto_lower(fn, name=name, cache=not args.no_cache)
        took = time.perf_counter() - t0
        plain = al.measure_plain(fn)
        c = r.chosen
        pair: dict[str, list[float]] = {"form": [], "plain": []}
        if c is not None and "error" not in plain:
            from keras_acts.export.autolower import forms as _forms
            from keras_acts.export.autolower import verify as _verify

            body = _forms.body(r.spec)
            lo, hi = r.input_range
            contents = {
                "form": _verify.convert(lambda x: body(x, _forms.ExportPoints()), lo, hi),
                "plain": _verify.convert(fn, lo, hi),
            }
            for _ in range(3):
                for k, v in _verify.compare_latency(contents).items():
                    pair[k].append(v)
        row = {
            "name": name,
            "ok": r.ok,
            "form": c.form if c else None,
            "ops": list(c.ops) if c else [],
            "max_lsb": c.max_lsb if c else None,
            "settings": dict(c.settings) if c else {},
            "best_lsb": r.best_lsb,
            "partitions": c.partitions if c else None,
            "latency_us": c.latency_us if c else None,
            "latency_vs_plain_us": [[round(a, 1), round(b, 1)] for a, b in zip(pair["form"], pair["plain"])],
            "edgetpu_ops_ok": bool(c and set(c.ops) <= set(OPS)),
            "search_s": round(took, 1),
            "verified": len(r.candidates),
            "plain_ops": plain.get("ops"),
            "plain_error": plain.get("error"),
            "plain_max_lsb": plain.get("max_lsb"),
            "plain_int8": plain.get("is_fully_int8"),
            "plain_partitions": plain.get("partitions"),
            "plain_outside": plain.get("outside"),
            "plain_latency_us": plain.get("latency_us"),
            "message": r.message,
            "candidates": [
                {"form": k.form, "ops": len(k.ops), "verdict": k.verdict, "latency_us": round(k.latency_us, 1),
                 "settings": {n: round(v, 2) for n, v in k.settings.items()}}
                for k in r.candidates
            ],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| function | chosen form | ops | max LSB (alone / then *1.3 / then +0.7) | partitions | latency us | plain converter: ops | LSB | int8 | partitions | form vs plain us (3 runs) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = lambda v, d=2: "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))
        form = r["form"] or f"none within budget (best {r['best_lsb']:.2f})"
        plain_ops = ", ".join(r["plain_ops"]) if r["plain_ops"] else f"conversion failed: {r['plain_error']}"
        print(
            f"| {r['name']} | {form} | {len(r['ops'])} ops | {f(r['max_lsb'])} ({' / '.join(f(v) for v in r['settings'].values())}) | {f(r['partitions'])} | "
            f"{f(r['latency_us'], 1)} | {plain_ops} | {f(r['plain_max_lsb'])} | {f(r['plain_int8'])} | "
            f"{f(r['plain_partitions'])} | {', '.join(f'{a} vs {b}' for a, b in r['latency_vs_plain_us']) or '-'} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
