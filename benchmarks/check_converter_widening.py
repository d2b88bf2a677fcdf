"""Which calibrated ranges of an automatic form the TFLite converter widens, against ``qat.widened_points``' rule.

Each form is converted as the search verifies it (``verify.convert``: alone, then followed by ``* 1.3`` and by
``+ 0.7``). For every point of the form (a tensor the int8 graph requantizes, ``q(t, name)`` in
``forms.body``) the script reads the int8 scale the converter gave that tensor (TFLite tensor names are the TF
op names, so the point's producing op is looked up while the form is traced) and compares it with

* the point's own calibrated range (the float form run on the converter's calibration grid): "own";
* the range ``qat.widened_points`` predicts (version 11: the union with the output range of the op that is its
  only reader, when that op's output is not a model output): "rule".

A row is printed for every point whose measured scale is not its own range's (a widening) or where the rule
predicts one; ``ok`` when the rule's scale is the measured one within 1 %.

    python benchmarks/check_converter_widening.py [--family ppoly kpoly ...] [--context alone "then * 1.3" ...]
    python benchmarks/check_converter_widening.py --errors

``--errors``: instead, each form's error on LiteRT (the search's measurement: worse of builtin and XNNPACK, alone and
in context) next to version 10's simulation and version 11's converter-faithful one (``qat.Simulation(...,
all_families=True)`` with the model's input codes and the calibration grid), in output LSB.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np


def _functions() -> dict[str, Any]:
    # the held-out script's NumPy references (importing it registers its ho_* activations; nothing here uses them)
    from heldout_activations import _bspline2_np, _sq_rbf_np, _sqnl_np

    return {
        "bspline2_shifted": _bspline2_np,
        "sq_rbf": _sq_rbf_np,
        "sqnl": _sqnl_np,
        "relu_squared": lambda x: np.maximum(x, 0.0) ** 2,
        "pseudo_huber": lambda x: np.sqrt(1 + x * x) - 1,
        "squareplus": lambda x: 0.5 * (x + np.sqrt(x * x + 4.0)),
        "log_cosh": lambda x: np.log(np.cosh(x)),
    }


class _Recorder:
    """``q`` that records, for every point, the TF op that produced its tensor (its TFLite tensor name)."""

    calibrates = True

    def __init__(self) -> None:
        self.ops: dict[str, str] = {}

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        self.ops.setdefault(name, t.op.name)
        return t

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        return t


def _scales(content: bytes) -> dict[str, float]:
    """``{TF op name: int8 scale}`` of every op output in the model (fused names split on ``;``)."""
    from keras_acts.export.runner import make_interpreter

    it = make_interpreter(content)
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    out: dict[str, float] = {}
    for op in it._get_ops_details():
        for o in op["outputs"]:
            d = tensors[o]
            scale = d["quantization"][0]
            if scale:
                for part in d["name"].split(";"):
                    out.setdefault(part, float(scale))
    return out


def own_ranges(spec: Any, lo: float, hi: float) -> dict[str, tuple[float, float]]:
    """Each point's calibrated range on the converter's grid (0 included), ``"output"`` the form's."""
    import tensorflow as tf

    from keras_acts.export.autolower import forms, verify
    from keras_acts.export.autolower.qat import _Calibrated

    q = _Calibrated()
    y = forms.body(spec)(tf.constant(np.linspace(lo, hi, verify.WIDTH, dtype=np.float32)), q)
    return dict(q.ranges, output=(min(float(tf.reduce_min(y)), 0.0), max(float(tf.reduce_max(y)), 0.0)))


def check(spec: Any, lo: float = -8.0, hi: float = 8.0, contexts: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Rows ``{context, point, own, measured, rule}`` (scales) for every point of ``spec``."""
    from keras_acts.export.autolower import forms, verify
    from keras_acts.export.autolower.qat import widened_points

    tails = {"alone": (lambda y: y)} | {name: tail for name, tail, _slope in verify.CONTEXTS}
    own = own_ranges(spec, lo, hi)
    rows = []
    for ctx in contexts or tuple(tails):
        tail = tails[ctx]
        rec = _Recorder()
        run = forms.body(spec)
        content = verify.convert(lambda x, tail=tail: tail(_mark_output(run(x, rec), rec)), lo, hi)
        scales = _scales(content)
        ranges = dict(own)
        if ctx != "alone":  # the form's output feeds the tail op: its range is the tail's on its own
            t_lo, t_hi = sorted(float(tail(v)) for v in own["output"])
            ranges["tail"] = (min(t_lo, 0.0), max(t_hi, 0.0))
        rule = dict(ranges)
        for inp, outp in widened_points(spec, ctx != "alone"):
            a, b = rule[inp]
            c, d = ranges[outp]
            rule[inp] = (min(a, c), max(b, d))
        for name, op in rec.ops.items():
            if op not in scales or name not in own:
                continue
            s_own = (own[name][1] - own[name][0]) / 255.0
            s_rule = (rule[name][1] - rule[name][0]) / 255.0
            rows.append({"context": ctx, "point": name, "op": op, "own": s_own, "measured": scales[op], "rule": s_rule})
    return rows


def _mark_output(y: Any, rec: _Recorder) -> Any:
    rec.ops.setdefault("output", y.op.name)
    return y


def errors_row(spec: Any, fn: Any, lo: float = -8.0, hi: float = 8.0) -> dict[str, tuple[float, float, float]]:
    """``{setting: (LiteRT, version 10 simulation, version 11 simulation)}`` (nan: not simulated)."""
    from keras_acts.export.autolower import forms, verify
    from keras_acts.export.autolower.qat import Simulation
    from keras_acts.export.runner import input_codes_in_range, make_interpreter

    run = forms.body(spec)
    points = forms.ExportPoints()
    content = verify.convert(lambda v: run(v, points), lo, hi)
    m = verify.measure(content, fn, lo, hi, xnnpack=True, latency_runs=0)
    measured = {"alone": m["max_lsb"]}
    measured.update(verify.measure_in_context(lambda v: run(v, points), fn, lo, hi, xnnpack=True,
                                              form_scale=m["output_scale"]))
    detail = make_interpreter(content).get_input_details()[0]
    sims = []
    for faithful in (False, True):
        sim = Simulation(fn, lo, hi, inputs=input_codes_in_range(detail, lo, hi).x, widen_output=False,
                         calibration=np.linspace(lo, hi, verify.WIDTH, dtype=np.float32), all_families=faithful)
        sims.append({k: float(v.max()) for k, v in sim.errors(spec).items() if k not in ("chain", "step")})
    return {k: (v, sims[0].get(k, math.nan), sims[1][k]) for k, v in measured.items()}


def main() -> int:
    from keras_acts.export import auto_lowering as al
    from keras_acts.export.autolower import forms

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", nargs="+", default=["ppoly", "kpoly", "cpoly", "clip", "abs"])
    parser.add_argument("--function", nargs="+", default=None)
    parser.add_argument("--per-family", type=int, default=2, help="forms per function and family")
    parser.add_argument("--context", nargs="+", default=None)
    parser.add_argument("--errors", action="store_true", help="LiteRT error against the simulations instead")
    args = parser.parse_args()
    fns = _functions()
    x = np.linspace(-8, 8, 4001)
    bad = 0
    for fname in args.function or fns:
        f = fns[fname](x)
        step = (f.max() - f.min()) / 255.0
        fits = forms.candidates(x, f, tol=1e-6 * max(1.0, f.max() - f.min()), max_float_err=al._FLOAT_BUDGET_LSB * step)
        count: dict[str, int] = {}
        for spec, _err in fits:
            if spec.kind not in args.family or count.get(spec.kind, 0) >= args.per_family:
                continue
            count[spec.kind] = count.get(spec.kind, 0) + 1
            print(f"\n{fname}: {spec.kind} {spec.describe()}", flush=True)
            if args.errors:
                for k, (lite, v10, v11) in errors_row(spec, fns[fname]).items():
                    print(f"  {k:11s} LiteRT {lite:6.2f}  version 10 simulation {v10:6.2f}  version 11 {v11:6.2f}")
                continue
            for r in check(spec, contexts=tuple(args.context or ())):
                widened = r["measured"] > 1.01 * r["own"]
                ok = abs(r["measured"] - r["rule"]) <= 0.01 * r["measured"]
                if widened or not ok:
                    bad += not ok
                    print(f"  {r['context']:11s} {r['point']:12s} ({r['op']:14s}) own {r['own']:.5f}  measured "
                          f"{r['measured']:.5f} ({r['measured'] / r['own']:.2f}x)  rule {r['rule']:.5f} "
                          f"{'ok' if ok else 'WRONG'}")
    print(f"\n{bad} point(s) where the rule's scale is not the measured one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
