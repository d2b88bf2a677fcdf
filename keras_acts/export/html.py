"""A self-contained HTML view of a TFLite model: :func:`render_html` and ``Report.save_html``.

The page needs no network and no external file: styles, data and the few lines of script are
inline. It shows

* the summary and the problems of the :class:`~keras_acts.export.report.Report` (the same text
  as ``print(report)``);
* the graph in execution order: one box per op, filled with the colour of the XNNPACK partition
  that runs it (red: outside XNNPACK, with the measured reason), an orange badge on float
  islands, a stripe on the left for the Edge TPU (green: mapped, grey: on the CPU after the
  compiler's cut, marked by a dashed line), and a line from each op to the ops reading its outputs;
* on hover (and in a side panel) each op's input and output tensors with dtype, shape, scale and
  zero point;
* a table of every op with the same facts, and, when a float reference and samples are given,
  the error of each int8 tensor measured against the float model (:func:`measure_tensor_errors`).
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

# Partition colours: distinct, light enough for dark text, cycled.
_PALETTE = ("#9ecae1", "#a1d99b", "#fdd0a2", "#bcbddc", "#c7e9c0", "#fdae6b", "#9e9ac8", "#74c476")
_OUTSIDE = "#ef6f6c"
_NO_PLAN = "#dddddd"


def _load(reference: Any) -> bytes:
    from keras_acts.export.report import read_model_bytes

    return read_model_bytes(reference)[0]


def _interpreter(content: bytes) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the install
        import tensorflow as tf  # noqa: PLC0415

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    return Interpreter(
        model_content=bytes(content),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )


def _as_inputs(samples: Any, count: int) -> list[np.ndarray]:
    arrays = list(samples) if isinstance(samples, (tuple, list)) else [samples]
    arrays = [np.asarray(a) for a in arrays]
    if len(arrays) != count:
        raise ValueError(f"the model has {count} input(s) but {len(arrays)} sample array(s) were given.")
    n = {len(a) for a in arrays}
    if len(n) != 1 or 0 in n:
        raise ValueError("samples: give one non-empty array per input, all with the same number of samples.")
    return arrays


def _feed(interpreter: Any, arrays: list[np.ndarray], i: int) -> None:
    for d, a in zip(interpreter.get_input_details(), arrays):
        x = np.asarray(a[i : i + 1], dtype=np.float32)
        if tuple(d["shape"]) != x.shape:
            interpreter.resize_tensor_input(d["index"], x.shape)
            interpreter.allocate_tensors()
    for d, a in zip(interpreter.get_input_details(), arrays):
        x = np.asarray(a[i : i + 1], dtype=np.float32)
        if np.issubdtype(d["dtype"], np.integer):
            scale, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            x = np.clip(np.round(x / scale) + zp, info.min, info.max)
        interpreter.set_tensor(d["index"], x.astype(d["dtype"]))


def measure_tensor_errors(content: Any, reference: Any, samples: Any, *, max_samples: int = 16) -> dict[int, dict[str, Any]]:
    """The error of every quantized tensor of ``content`` against a float ``reference`` model.

    Both models run with LiteRT's builtin kernels, keeping every intermediate tensor, on the
    first ``max_samples`` samples. A tensor of the quantized model is compared with the float
    model's tensor of the same name and shape (the converter names a tensor after the TensorFlow
    ops fused into it, so equal names mean the same computation); tensors without such a partner
    are left out, never estimated.

    Args:
        content: the quantized model (bytes, path or ExportResult).
        reference: the float model of the same Keras model (bytes, path or ExportResult),
            e.g. ``to_tflite(model)``.
        samples: model inputs in float (an array, or a tuple with one array per input), e.g.
            held-out calibration samples.
        max_samples: how many samples to run.

    Returns:
        ``{tensor index in content: {"name", "max_abs", "max_lsb", "rmse", "snr_db", "samples"}}``
        where ``max_lsb`` is the largest error in the tensor's quantization steps and ``snr_db``
        is ``10 log10(sum ref^2 / sum err^2)`` (inf when the error is 0).

    Raises:
        ValueError: the samples do not fit the model's inputs.
    """
    q_bytes, f_bytes = _load(content), _load(reference)
    q, f = _interpreter(q_bytes), _interpreter(f_bytes)
    q.allocate_tensors()
    f.allocate_tensors()
    arrays = _as_inputs(samples, len(q.get_input_details()))
    if len(f.get_input_details()) != len(arrays):
        raise ValueError("the reference model has a different number of inputs than the quantized model.")
    n = min(len(arrays[0]), max_samples)
    f_by_name = {d["name"]: d for d in f.get_tensor_details()}
    produced = {int(t) for op in q._get_ops_details() for t in op["outputs"]}
    pairs = []
    for d in q.get_tensor_details():
        other = f_by_name.get(d["name"])
        scales = d["quantization_parameters"]["scales"]
        if int(d["index"]) not in produced or other is None or len(scales) != 1:
            continue
        if not np.issubdtype(d["dtype"], np.integer) or other["dtype"] != np.float32:
            continue
        if list(d["shape_signature"]) != list(other["shape_signature"]):
            continue
        pairs.append((d, other))
    stats: dict[int, dict[str, Any]] = {}
    for i in range(n):
        _feed(q, arrays, i)
        _feed(f, arrays, i)
        q.invoke()
        f.invoke()
        for d, other in pairs:
            scale = float(d["quantization_parameters"]["scales"][0])
            zp = int(d["quantization_parameters"]["zero_points"][0])
            got = (q.get_tensor(d["index"]).astype(np.float64) - zp) * scale
            ref = f.get_tensor(other["index"]).astype(np.float64)
            if got.shape != ref.shape:
                continue
            err = got - ref
            s = stats.setdefault(
                int(d["index"]),
                {"name": d["name"], "max_abs": 0.0, "scale": scale, "sq_err": 0.0, "sq_ref": 0.0, "count": 0, "samples": 0},
            )
            s["max_abs"] = max(s["max_abs"], float(np.max(np.abs(err))) if err.size else 0.0)
            s["sq_err"] += float(np.sum(err**2))
            s["sq_ref"] += float(np.sum(ref**2))
            s["count"] += err.size
            s["samples"] += 1
    out = {}
    for idx, s in stats.items():
        snr = float("inf") if s["sq_err"] == 0 else 10.0 * np.log10(max(s["sq_ref"], 1e-300) / s["sq_err"])
        out[idx] = {
            "name": s["name"],
            "max_abs": s["max_abs"],
            "max_lsb": s["max_abs"] / s["scale"],
            "rmse": float(np.sqrt(s["sq_err"] / max(s["count"], 1))),
            "snr_db": float(snr),
            "samples": s["samples"],
        }
    return out


def _tensor(t: Any) -> dict[str, Any]:
    scale = t.scale
    if isinstance(scale, list):
        scale_text = f"per-channel ({len(scale)}): {min(scale):.4g} to {max(scale):.4g}"
        zp_text = f"{min(t.zero_point)} to {max(t.zero_point)}" if t.zero_point else ""
    else:
        scale_text = "" if scale is None else f"{scale:.6g}"
        zp_text = "" if t.zero_point is None else str(t.zero_point)
    shape = "[" + ",".join("?" if d < 0 else str(d) for d in t.shape_signature) + "]"
    return {"name": t.name, "index": t.index, "dtype": t.dtype, "shape": shape, "scale": scale_text,
            "zp": zp_text, "const": bool(t.is_constant)}


def _ops_data(report: Any, errors: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    plan = report.xnnpack
    refusals = {r.index: r for r in report.xnnpack_refusals()}
    islands = {o.index for o in report.float_islands}
    edge = report.edgetpu
    cut = getattr(edge, "first_unsupported_index", None) if edge is not None else None
    edge_issues: dict[int, list[str]] = {}
    for issue in getattr(edge, "unsupported", None) or []:
        if issue[1] is not None:
            edge_issues.setdefault(int(issue[1]), []).append(str(issue[2]))
    data = []
    for o in report.ops:
        part = plan.partition(o.index) if plan is not None else None
        if plan is None:
            colour, where = _NO_PLAN, "not measured"
        elif part is None:
            colour, where = _OUTSIDE, "outside XNNPACK"
        else:
            colour, where = _PALETTE[part % len(_PALETTE)], f"XNNPACK partition {part + 1}"
        if edge is None:
            tpu = None
        else:
            tpu = cut is None or o.index < cut
        errs = []
        lsb = None
        for t in o.outputs:
            e = errors.get(t.index)
            if e is not None:
                lsb = e["max_lsb"] if lsb is None else max(lsb, e["max_lsb"])
                errs.append(
                    f"{t.name}: max |err| {e['max_abs']:.4g} ({e['max_lsb']:.2f} LSB), SNR {e['snr_db']:.1f} dB, "
                    f"{e['samples']} samples"
                )
        data.append(
            {
                "index": o.index,
                "op": o.op,
                "colour": colour,
                "where": where,
                "refusal": refusals[o.index].reason if o.index in refusals else "",
                "island": o.index in islands,
                "tpu": tpu,
                "tpu_issues": edge_issues.get(o.index, []),
                "inputs": [_tensor(t) for t in o.inputs],
                "outputs": [_tensor(t) for t in o.outputs],
                "error": errs,
                "lsb": lsb,
            }
        )
    return data


def _edges(report: Any) -> list[tuple[int, int]]:
    producer = {t.index: o.index for o in report.ops for t in o.outputs}
    edges = set()
    for o in report.ops:
        for t in o.inputs:
            if not t.is_constant and t.index in producer:
                edges.add((producer[t.index], o.index))
    return sorted(edges)


_ROW = 20  # px per op
_BOX_X, _BOX_W = 24, 330

_CSS = """
body{font:13px/1.35 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:12px 18px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 6px}
pre.summary{margin:0;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap}
.problems li{margin:3px 0}.problems .fix{color:#555}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;border:1px solid #888;vertical-align:-2px;margin-right:4px}
main{display:flex;gap:16px;padding:12px 18px;align-items:flex-start}
#graph{background:#fff;border:1px solid #ddd;flex:0 0 auto}
#graph text{font:11px ui-monospace,Menlo,Consolas,monospace;pointer-events:none}
#graph text.sub{fill:#444;font-size:10px}
#graph .op rect.box{stroke:#555;stroke-width:.6}
#graph .op:hover rect.box,#graph .op.sel rect.box{stroke:#000;stroke-width:2}
#graph path{fill:none;stroke:#8a8a8a;stroke-width:.8;opacity:.7}
aside{position:sticky;top:8px;flex:1 1 auto;min-width:380px;overflow-wrap:anywhere;background:#fff;border:1px solid #ddd;padding:10px 12px}
aside h2{font-size:15px;margin:0 0 6px}
table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
aside table{width:100%;table-layout:fixed;margin-top:6px}
aside td:first-child{width:45%}
th{background:#f0f0f0}
section{padding:0 18px 24px}
.bad{color:#b00020}.muted{color:#777}
"""

_JS = """
(function(){
  var data = JSON.parse(document.getElementById('ops-data').textContent);
  var panel = document.getElementById('panel');
  function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
  function rows(ts){return ts.map(function(t){return '<tr><td>'+esc(t.name)+(t.const?' <span class="muted">const</span>':'')+
    '</td><td>'+esc(t.dtype)+esc(t.shape)+'</td><td>'+esc(t.scale)+'</td><td>'+esc(t.zp)+'</td></tr>';}).join('');}
  function show(i){
    var d = data[i]; if(!d) return;
    var h = '<h2>#'+d.index+' '+esc(d.op)+'</h2><div>'+esc(d.where)+(d.refusal?': <span class="bad">'+esc(d.refusal)+'</span>':'')+'</div>';
    if(d.island) h += '<div class="bad">float island: computes in float between int8 ops</div>';
    if(d.tpu!==null) h += '<div>Edge TPU: '+(d.tpu?'mapped':'on the CPU (after the graph cut)')+'</div>';
    d.tpu_issues.slice(0,2).forEach(function(s){h += '<div class="muted">Edge TPU: '+esc(s)+'</div>';});
    if(d.tpu_issues.length>2) h += '<div class="muted">Edge TPU: '+(d.tpu_issues.length-2)+' more issue(s) in the table below</div>';
    h += '<table><tr><th>input</th><th>type</th><th>scale</th><th>zero point</th></tr>'+rows(d.inputs)+'</table>';
    h += '<table><tr><th>output</th><th>type</th><th>scale</th><th>zero point</th></tr>'+rows(d.outputs)+'</table>';
    h += d.error.length ? '<div>measured error vs float: '+d.error.map(esc).join('<br>')+'</div>' :
         '<div class="muted">no measured error for this op</div>';
    panel.innerHTML = h;
    var old = document.querySelector('#graph .op.sel'); if(old) old.classList.remove('sel');
    var g = document.getElementById('op-'+i); if(g) g.classList.add('sel');
  }
  document.querySelectorAll('#graph .op').forEach(function(g){
    var i = +g.getAttribute('data-index');
    g.addEventListener('mouseenter', function(){show(i);});
    g.addEventListener('click', function(){show(i);});
  });
  show(%FIRST%);
})();
"""


def _tooltip(d: dict[str, Any]) -> str:
    lines = [f"#{d['index']} {d['op']} — {d['where']}" + (f": {d['refusal']}" if d["refusal"] else "")]
    if d["island"]:
        lines.append("float island")
    for kind in ("inputs", "outputs"):
        for t in d[kind]:
            if t["const"] and kind == "inputs":
                continue
            q = f" scale {t['scale']} zp {t['zp']}" if t["scale"] else ""
            lines.append(f"{kind[:-1]} {t['dtype']}{t['shape']}{q}")
    lines += d["error"]
    return "\n".join(lines)


def _svg(report: Any, data: list[dict[str, Any]]) -> str:
    n = len(data)
    edges = _edges(report)
    width = _BOX_X + _BOX_W + 40 + min(200, 6 * max((j - i for i, j in edges), default=0) + 20)
    height = n * _ROW + 10
    parts = [f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    x_right = _BOX_X + _BOX_W
    for i, j in edges:
        y1, y2 = i * _ROW + _ROW / 2 + 5, j * _ROW + _ROW / 2 + 5
        if j == i + 1:
            parts.append(f'<path d="M{_BOX_X + 8},{y1 + 7} L{_BOX_X + 8},{y2 - 7}"/>')
        else:
            bulge = x_right + 10 + min(190, 6 * (j - i))
            parts.append(f'<path d="M{x_right},{y1} C{bulge},{y1} {bulge},{y2} {x_right},{y2}"/>')
    cut = getattr(report.edgetpu, "first_unsupported_index", None) if report.edgetpu is not None else None
    for row, d in enumerate(data):
        y = row * _ROW + 5
        stripe = "" if d["tpu"] is None else (
            f'<rect x="{_BOX_X - 10}" y="{y + 2}" width="6" height="{_ROW - 4}" fill="{"#2ca25f" if d["tpu"] else "#999"}"/>'
        )
        badge = (
            f'<rect x="{_BOX_X + _BOX_W - 46}" y="{y + 4}" width="40" height="{_ROW - 8}" rx="3" fill="#fd8d3c"/>'
            f'<text x="{_BOX_X + _BOX_W - 42}" y="{y + 14}">float</text>'
            if d["island"]
            else ""
        )
        label = f"#{d['index']} {d['op']}"
        out = next((t for t in d["outputs"]), None)
        sub = f"{out['dtype']}{out['shape']}" if out else ""
        if d["lsb"] is not None:
            sub += f"  {d['lsb']:.1f} LSB"
        sub_x = _BOX_X + _BOX_W - (52 if d["island"] else 6)
        parts.append(
            f'<g class="op" id="op-{row}" data-index="{row}"><title>{html.escape(_tooltip(d))}</title>{stripe}'
            f'<rect class="box" x="{_BOX_X}" y="{y + 2}" width="{_BOX_W}" height="{_ROW - 4}" rx="3" fill="{d["colour"]}"/>'
            f'<text x="{_BOX_X + 6}" y="{y + 14}">{html.escape(label)}</text>'
            f'<text class="sub" x="{sub_x}" y="{y + 14}" text-anchor="end">{html.escape(sub)}</text>{badge}</g>'
        )
    if cut is not None and 0 <= cut < n:
        y = cut * _ROW + 5
        parts.append(
            f'<line x1="0" y1="{y}" x2="{width}" y2="{y}" stroke="#333" stroke-dasharray="5,3"/>'
            f'<text x="{_BOX_X + _BOX_W + 6}" y="{y - 3 if cut else y + 12}">Edge TPU cut</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(data: list[dict[str, Any]], measured: bool) -> str:
    head = "<tr><th>#</th><th>op</th><th>runs in</th><th>inputs (dtype, shape, scale, zero point)</th>" \
           "<th>outputs (dtype, shape, scale, zero point)</th>" + ("<th>measured error vs float</th>" if measured else "") + "</tr>"
    rows = [head]
    for d in data:
        def cell(ts: list[dict[str, Any]]) -> str:
            return "<br>".join(
                html.escape(f"{t['dtype']}{t['shape']}" + (f" s={t['scale']} zp={t['zp']}" if t["scale"] else "")
                            + (" const" if t["const"] else ""))
                for t in ts
            )

        where = html.escape(d["where"]) + (f'<br><span class="bad">{html.escape(d["refusal"])}</span>' if d["refusal"] else "")
        if d["island"]:
            where += '<br><span class="bad">float island</span>'
        if d["tpu"] is not None:
            where += "<br>Edge TPU: " + ("mapped" if d["tpu"] else "CPU")
        err = ("<td>" + "<br>".join(html.escape(e) for e in d["error"]) + "</td>") if measured else ""
        rows.append(
            f'<tr class="oprow" data-index="{d["index"]}"><td>{d["index"]}</td><td>{html.escape(d["op"])}</td>'
            f"<td>{where}</td><td>{cell(d['inputs'])}</td><td>{cell(d['outputs'])}</td>{err}</tr>"
        )
    return '<table id="ops">' + "".join(rows) + "</table>"


def render_html(
    report: Any,
    *,
    reference: Any = None,
    samples: Any = None,
    max_samples: int = 16,
    title: str | None = None,
) -> str:
    """The HTML view of ``report`` (a :class:`~keras_acts.export.report.Report`) as a string.

    Args:
        report: the report, e.g. ``inspect("model.tflite")`` or ``result.report``.
        reference: optional float model of the same Keras model (bytes, path or ExportResult);
            with ``samples``, each int8 tensor's error against it is measured and shown
            (:func:`measure_tensor_errors`). Without both, no error is shown.
        samples: float input samples for that measurement (held-out data, not the calibration set
            when you can).
        max_samples: how many samples to run.
        title: page title (default: the model's file name).

    Raises:
        ValueError: ``reference`` without ``samples`` (or the reverse), or a report without the
            model bytes when errors are asked for.
    """
    if (reference is None) != (samples is None):
        raise ValueError("pass both reference= (the float model) and samples= (float inputs) to measure errors.")
    errors: dict[int, dict[str, Any]] = {}
    if reference is not None:
        if report.content is None:
            raise ValueError("this report has no model bytes; make it with keras_acts.export.inspect().")
        errors = measure_tensor_errors(report.content, reference, samples, max_samples=max_samples)
    data = _ops_data(report, errors)
    name = title or report.source or "TFLite model"
    problems = report.problems
    plist = "".join(
        f"<li><b>[{html.escape(p.area)}] {html.escape(p.title)}</b>"
        + (f" ({html.escape(p.where())})" if p.where() else "")
        + f": {html.escape(p.reason)}"
        + (f'<div class="fix">fix: {html.escape(p.fix)}</div>' if p.fix else "")
        + "</li>"
        for p in problems
    )
    legend = [
        f'<span><i class="sw" style="background:{_PALETTE[0]}"></i><i class="sw" style="background:{_PALETTE[1]}"></i>'
        "XNNPACK partition (one colour each)</span>",
        f'<span><i class="sw" style="background:{_OUTSIDE}"></i>outside XNNPACK</span>',
        '<span><i class="sw" style="background:#fd8d3c"></i>float island</span>',
    ]
    if report.edgetpu is not None:
        legend.append(
            '<span><i class="sw" style="background:#2ca25f"></i>Edge TPU</span>'
            '<span><i class="sw" style="background:#999"></i>CPU after the Edge TPU cut (dashed line)</span>'
        )
    matched = len(errors)
    note = (
        f"Measured error: {matched} int8 tensors compared with the float model's tensor of the same name "
        f"on {max((e['samples'] for e in errors.values()), default=0)} samples; other tensors have no partner "
        "and show none."
        if reference is not None
        else "No measured error: pass reference= (the float model) and samples= to save_html, or "
        "--reference/--samples to keras-acts inspect --html."
    )
    validation = ""
    if report.validation is not None:
        vd = report.validation.to_dict() if hasattr(report.validation, "to_dict") else str(report.validation)
        validation = (
            "<details><summary>validation (int8 vs float)</summary><pre>"
            + html.escape(json.dumps(vd, indent=2, default=str))
            + "</pre></details>"
        )
    payload = json.dumps(data).replace("</", "<\\/")
    summary = "\n".join(report.summary_lines())
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(str(name))}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(str(name))}</h1><pre class=\"summary\">{html.escape(summary)}</pre>"
        + (f'<ul class="problems">{plist}</ul>' if plist else "<p>No problems found.</p>")
        + f'<div class="legend">{"".join(legend)}</div><p class="muted">{html.escape(note)}</p>{validation}</header>'
        f"<main>{_svg(report, data)}<aside id=\"panel\"></aside></main>"
        f"<section><h2>Every op ({len(data)})</h2>{_table(data, reference is not None)}</section>"
        f'<script type="application/json" id="ops-data">{payload}</script>'
        f"<script>{_JS.replace('%FIRST%', str(_first_interesting(data)))}</script></body></html>"
    )


def _first_interesting(data: list[dict[str, Any]]) -> int:
    """The op the side panel shows first: the first refused or float op, else op 0."""
    for row, d in enumerate(data):
        if d["refusal"] or d["island"]:
            return row
    return 0
