"""How far apart two interpreters of the SAME int8 form time, search to search (the auto-lowering's TIE_NOISE).

Searches (or reads from the cache) the automatic cpu form of a held-out activation, takes its two fastest passing
candidates A and B, and in each trial builds fresh interpreters (as every search does) of A twice and of B once and
times them interleaved (``verify.compare_latency_rounds``: 9 rounds of 10 invokes on 65536 elements, XNNPACK, one
thread). Prints the median round-by-round ratio A2/A1 (same model) and B/A1 per trial, and whether the sign test
alone (``verify.slower_than``) calls them different.

    python benchmarks/latency_tie_noise.py [--name ho_sqnl] [--trials 8]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heldout_activations  # noqa: E402,F401  (registers the held-out activations)

from keras_acts import registry  # noqa: E402
from keras_acts.export import auto_lowering as al  # noqa: E402
from keras_acts.export.autolower import forms, verify  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="ho_sqnl")
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    result = al.lowering_for(registry.lookup(args.name), {}, "cpu")
    passing = sorted((c for c in result.candidates if c.verdict == "ok"), key=lambda c: c.latency_us)
    if not passing:
        raise SystemExit(f"{args.name}: no passing form ({result.message})")
    models = {}
    for key, cand in zip(("A", "B"), passing[:2]):
        spec = forms.FormSpec.from_dict(cand.spec)
        body, points = forms.body(spec), forms.ExportPoints()
        lo, hi = result.input_range
        models[key] = verify.convert(lambda t, body=body, points=points: body(t, points), lo, hi)
        print(f"{key}: {cand.form} ({len(cand.ops)} ops, {cand.max_lsb:.2f} LSB)")
    same, pair = [], []
    for trial in range(args.trials):
        run = {"A1": models["A"], "A2": models["A"], **({"B": models["B"]} if "B" in models else {})}
        rounds = verify.compare_latency_rounds(run)
        a1, a2 = np.array(rounds["A1"]), np.array(rounds["A2"])
        same.append(float(np.median(a2 / a1)))
        flagged = verify.slower_than(a2, a1) or verify.slower_than(a1, a2)
        line = f"trial {trial}: A2/A1 {same[-1]:.3f} (sign test alone calls them different: {flagged})"
        if "B" in rounds:
            b = np.array(rounds["B"])
            pair.append(float(np.median(b / a1)))
            line += f"; B/A1 {pair[-1]:.3f} (A1 {np.median(a1):.1f} us, B {np.median(b):.1f} us)"
        print(line, flush=True)
    print(f"same model: {min(same):.3f}-{max(same):.3f}" + (f"; B/A: {min(pair):.3f}-{max(pair):.3f}" if pair else ""))
    print(f"TIE_NOISE = {al.TIE_NOISE}")


if __name__ == "__main__":
    main()
