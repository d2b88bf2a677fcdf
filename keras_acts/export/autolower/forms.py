"""Candidate int8 forms of an activation, and their least-squares fits.

A form is described by a :class:`FormSpec` (a family name and JSON-able parameters, so a chosen form
can be cached on disk and rebuilt) and is written once, as ``body(x, q)``: ``q(t, name)`` marks a
tensor the int8 graph requantizes to a data-dependent range and ``q.fixed(t, lo, hi)`` one whose
range the int8 kernel fixes (LOGISTIC ``[0, 255/256]``, TANH ``[-1, 127/128]``, RELU6 ``[0, 6]``).
For export ``q`` does nothing; for quantization-aware training it fake-quantizes (see
:mod:`keras_acts.export.autolower.qat`), so the QAT formulation computes exactly the chain of the
int8 graph.

Families (every op they use is one LiteRT's XNNPACK delegate takes in int8, and on Coral's table):

* ``gate``: ``A(s) + x B(s)``, ``s = G(a x)``, ``G`` LOGISTIC or TANH, ``A`` and ``B`` polynomials
  (Horner: one MUL and ADD per degree). Self-gated activations ``x g(x)`` have ``A = 0``;
  ``x sigmoid(b x)`` is exactly ``B(s) = s`` with ``a = b`` (an exact rewrite). A shifted gate
  ``s = G(a (x + c))`` (``c`` on the input's int8 grid: the ADD and MUL keep x's codes) fits gates
  centred off 0 or asymmetric about their centre (the Gumbel gate ``exp(-exp(-x))``, ``Phi(x - 1)``),
  and ``B`` may start at ``s^2`` (a gate flat where ``s -> 0``: never negative, so prescalable).
* ``clip``: ``P(v) + r relu(x - hi) + l relu(lo - x)``, ``v = relu6(k x - k lo) / 3`` (the input
  clipped to ``[lo, hi]`` and rescaled to ``[0, 2]``: MUL, ADD with a fused RELU6, MUL): piecewise
  polynomials with linear (or constant) tails, e.g. SmeLU.
* ``cpoly``: ``a1 c + R(c) + r relu(x - hi) + l relu(lo - x)``, ``c = clip(k x + b, -1, 1)`` (a MUL/ADD
  with a fused RELU_N1_TO_1): clipped polynomials, centred on the interval; ``c`` keeps the input's
  codes when the interval's width is the input range over an integer and its centre on the input grid,
  and the big linear term ``a1 c`` is added last to the small remainder ``R`` (e.g. a smooth clipped
  cubic ``1.5 c - 0.5 c^3 = c + c (0.5 - 0.5 c^2)``).
* ``ppoly`` (version 9): ``c0 + sum_j g_j(t_j) + r relu(x - hi) + l relu(lo - x)``, one variable per piece
  between the outer and the interior knots (:func:`interior_knots`): ``t_j = relu6(k_j x + b_j) / 6`` (0 left of
  the piece, 1 right of it, both exact in int8) or, centred, ``clip(k_j x + b_j, -1, 1)``; ``g_j`` a polynomial
  without constant term, so each term spans only the function's variation on its piece (SQ-RBF, i-GELU).
* ``kpoly`` (version 9): cpoly's ``a1 c + R(c)`` plus a term per interior knot in the same ``c``: a polynomial in
  ``relu(+-(c - c_j)) / 2`` (truncated powers) or ``|c - c_j| / 2`` times a polynomial in ``c`` (SQNL
  ``2 c - c |c|``, ``c = clip(x / 2, -1, 1)``).
* ``even`` (version 12): ``ppoly`` in the distance from the centre ``v = relu6(k (x - m)) + relu6(k (m - x))``
  for functions even about the centre of their clip interval and constant outside it (:func:`even_centre`; SQ-RBF):
  half the pieces, so half the roundings; ``v`` is exact in int8 when ``k`` times the input step is a whole number
  of RELU6 steps.
* ``hinge``: ``c0 + c1 x + sum w_i relu(x - k_i)`` (ADD with a fused RELU per kink): piecewise-linear
  functions, exactly.
* ``poly``: ``P(x)`` on the whole range.
* ``split``: ``c0 + P(relu(x / hi)) + Q(relu(-x / |lo|))``, a polynomial per side of 0.
* ``abs``: ``H(|x| / M) + alpha relu(x) + beta relu(-x)`` (``|x| / M`` from two MULs with fused RELUs and
  an ADD; ``H`` optionally in ``1 - |x| / M``, or in ``s = tanh(g |x|)`` (a MUL and a TANH more) with
  the line's slope the even part's slope at the range's ends; ``alpha = beta`` as one MUL of ``|x| / M``):
  functions with a linear odd part, the bounded even remainder ``H`` on its own fine int8 scale
  (squareplus; pseudo-Huber ``sqrt(1 + x^2) - 1 = 0.99 |x| + H(tanh(x / 2))``).
* ``gate2``: ``P(tanh(a1 x)) + Q(tanh(a2 x))``: bounded functions with slowly approached asymptotes
  (ISRU), the slow gate carrying the tails the fast one saturates on.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

# Cost of one op in the ranking of candidates before they are measured (LOGISTIC/TANH are lookup
# tables in int8, a little dearer than ADD/MUL in XNNPACK).
_OP_COST = {"LOGISTIC": 1.5, "TANH": 1.5}


@dataclass(frozen=True)
class FormSpec:
    """A candidate form: family ``kind`` with parameters ``params`` (JSON-able)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The spec as a JSON string (cache files)."""
        return json.dumps({"kind": self.kind, "params": self.params}, sort_keys=True)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "FormSpec":
        """The spec from its JSON dict."""
        return FormSpec(str(d["kind"]), dict(d["params"]))

    def describe(self) -> str:
        """The form as a short formula."""
        p = self.params
        if self.kind == "gate":
            g = "sigmoid" if p["gate"] == "sigmoid" else "tanh"
            a = "" if p["a"] == 1.0 else f"{p['a']:.4g} "
            c = float(p.get("shift", 0.0))
            if c:
                a = f"{a}(x {'+' if c > 0 else '-'} {abs(c):.4g})" if a else f"x {'+' if c > 0 else '-'} {abs(c):.4g}"
            else:
                a = f"{a}x"
            b = _poly_text(p["b"], "s")
            if p.get("int8_gate"):
                g = f"int8 {g}"  # fitted against the gate's int8 saturation (forms.int8_gate)
            text = f"x * ({b}), s = {g}({a})" if b != "s" else f"x * {g}({a})"
            if p["a_coeffs"]:
                text = f"{_poly_text(p['a_coeffs'], 's')} + " + text
            guard = p.get("guard", 0)
            if p.get("prescale"):
                sq = "completed square " if p.get("square") else ""
                return f"({p['prescale']:.4g} x) * ({sq}{b} / {p['prescale']:.4g}), s = {g}({a})"
            if guard:
                text = f"({text}) * (1 + relu({'-g' if guard < 0 else 'g'}))"
            return text
        if self.kind == "clip":
            text = f"P{len(p['coeffs']) - 1}(v), v = relu6({p['k']:.4g} (x - {p['lo']:.4g})) / 3"
            return text + _tails_text(p)
        if self.kind == "cpoly":
            c = _centred_clip_text(p)
            rest = f"R{len(p['coeffs']) - 1}(c)" + (" in c^2" if p.get("parity") is not None else "")
            lin = "" if not p["a1"] else ("c + " if p["a1"] == 1.0 else f"{p['a1']:.4g} c + ")
            text = f"{lin}{rest}, c = {c}"
            return text + _tails_text(p)
        if self.kind == "ppoly":
            parts = [(f"P{len(pc['w']) - 1}(clip({pc['k']:.4g} x{'' if not pc['b'] else format(pc['b'], '+.4g')}, -1, 1))"
                      if p.get("centred") else
                      f"P{len(pc['w']) - 1}(relu6({pc['k']:.4g} x{'' if not pc['b'] else format(pc['b'], '+.4g')}) / 6)")
                     for pc in p["pieces"]]
            text = " + ".join(parts) + (f" + {p['c0']:.4g}" if p["c0"] else "")
            return text + _tails_text(p)
        if self.kind == "even":
            m = float(p["m"])
            u = f"x {'-' if m > 0 else '+'} {abs(m):.4g}" if m else "x"
            inner = FormSpec("ppoly", p["inner"]).describe().replace(" x", " v")
            return f"{inner}, v = relu6({p['k']:.4g} ({u})) + relu6({p['k']:.4g} (-({u})))"
        if self.kind == "kpoly":
            c = _centred_clip_text(p)
            parts = []
            if p["a1"]:
                parts.append("c" if p["a1"] == 1.0 else f"{p['a1']:.4g} c")
            if any(v != 0.0 for v in p["coeffs"][1:]):
                parts.append(f"R{len(p['coeffs']) - 1}(c)")
            elif p["coeffs"][0]:
                parts.append(f"{p['coeffs'][0]:.4g}")
            for kn in p["knots"]:
                at = f"c {'-' if kn['at'] > 0 else '+'} {abs(kn['at']):.4g}" if kn["at"] else "c"
                if kn["side"]:
                    h = f"relu({at})" if kn["side"] > 0 else f"relu(-({at}))"
                    parts.append(f"T{len(kn['w']) - 1}({h} / 2)")
                else:
                    parts.append(f"|{at}| S{len(kn['w']) - 1}(c) / 2")
            text = f"{' + '.join(parts)}, c = {c}"
            return text + _tails_text(p)
        if self.kind == "hinge":
            return f"{p['c0']:.4g} + {p['c1']:.4g} x + " + " + ".join(
                f"{w:.4g} relu(x - {k:.4g})" for w, k in zip(p["w"], p["k"])
            )
        if self.kind == "poly":
            return _poly_text(p["coeffs"], "x") + " (Horner)"
        if self.kind == "gate2":
            return (f"P{len(p['p1']) - 1}(tanh({p['a1']:.4g} x)) + Q{len(p['p2']) - 1}(tanh({p['a2']:.4g} x))")
        if self.kind == "abs":
            lin = "".join(f" {'+' if w > 0 else '-'} {abs(w):.4g} relu({'' if s > 0 else '-'}x)"
                          for w, s in ((p["alpha"], 1), (p["beta"], -1)) if w)
            if p["alpha"] == p["beta"] != 0.0 and p["pos"] and p["neg"]:
                lin = f" {'+' if p['alpha'] > 0 else '-'} {abs(p['alpha']):.4g} |x|"
            var = f"tanh({p['tanh']:.4g} |x|)" if p.get("tanh") else f"|x| / {1 / p['scale']:.4g}"
            arg = f"1 - {var}" if p.get("flip") else var
            text = f"P{len(p['coeffs']) - 1}({arg}){lin}"
            if p.get("guard"):
                text = f"({text}) * (1 + relu({'-H' if p['guard'] < 0 else 'H'}))"
            return text
        if self.kind == "split":
            return (f"{p['c0']:.4g} + P{len(p['pos']) - 1}(relu(x / {1 / p['scale_pos']:.4g})) + "
                    f"Q{len(p['neg']) - 1}(relu(-x / {1 / p['scale_neg']:.4g}))")
        return self.kind


def _tails_text(p: dict[str, Any]) -> str:
    """The linear tails ``+ r relu(x - hi) + l relu(lo - x)`` of a clip/cpoly/ppoly/kpoly form, as text."""
    text = f" + {p['right']:.4g} relu(x - {p['hi']:.4g})" if p["right"] else ""
    return text + (f" + {p['left']:.4g} relu({p['lo']:.4g} - x)" if p["left"] else "")


def _centred_clip_text(p: dict[str, Any]) -> str:
    """cpoly/kpoly's variable ``clip(k x + b, -1, 1)``, as text."""
    k = "" if p["k"] == 1.0 else format(p["k"], ".4g") + " "
    return f"clip({k}x{'' if not p['b'] else format(p['b'], '+.4g')}, -1, 1)"


def _poly_text(c: Sequence[float], v: str) -> str:
    if list(c) == [0.0, 1.0]:
        return v
    return f"poly{len(c) - 1}({v})"


class ExportPoints:
    """``q`` for export: marks nothing (the converter calibrates every tensor).

    ``calibrates``: the converter calibrates the form's tensors on samples (post-training quantization),
    so the gate family adds its guard read (see :func:`_gate_body`); a QAT graph fixes every range with its
    fake-quant nodes and needs no guard. ``floor`` names the point whose range bounds this one's from
    below in QAT (an operand of an ADD/SUB and that ADD's output, ``"output"`` for the activation's):
    XNNPACK refuses an int8 ADD whose input/output scale ratio is below 1/1024, and a QAT-trained input
    range wider than the one the form was fitted on widens the sum but not a bounded operand.
    """

    calibrates = True

    def __call__(self, t: Any, name: str, floor: str | None = None) -> Any:
        return t

    def fixed(self, t: Any, lo: float, hi: float) -> Any:
        return t


def _horner(q: Any, t: Any, coeffs: Sequence[float], prefix: str, floor: str | None = None) -> Any:
    """``coeffs[0] + t (coeffs[1] + t (...))`` with a point after every MUL and ADD (``floor`` on the last)."""
    import tensorflow as tf

    acc = None
    n = len(coeffs)
    for i, c in enumerate(reversed(coeffs)):
        if acc is None:
            acc = tf.constant(float(c), t.dtype)
            continue
        last = i == n - 1
        acc = q(t * acc, f"{prefix}{i}m", floor=floor if last and c == 0.0 else None)
        if c != 0.0:
            acc = q(acc + float(c), f"{prefix}{i}a", floor=floor if last else None)
    return acc


def _gate_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    from keras_acts.quantization.formulations import LOGISTIC_RANGE, TANH_RANGE

    def body(x: Any, q: Any) -> Any:
        c = float(p.get("shift", 0.0))
        if c:
            # x + c keeps x's int8 codes (c is on the input grid, the range moves by c), a (x + c) too
            xs = q(x + c, "zs")
            z = xs if p["a"] == 1.0 else q(xs * float(p["a"]), "z")
        else:
            z = x if p["a"] == 1.0 else q(x * float(p["a"]), "z")
        if p["gate"] == "sigmoid":
            s = q.fixed(tf.math.sigmoid(z), *LOGISTIC_RANGE)
        else:
            s = q.fixed(tf.math.tanh(z), *TANH_RANGE)
        b = p["b"]
        k = float(p.get("prescale", 0.0))
        if k:
            # x is scaled by k >= max g first and g's coefficients by 1/k: the MUL's output range lies inside
            # the range of its first input x * k, the input the converter's calibration widens when it is
            # dead after the MUL (measured: the first input, when it is not the model input), so neither
            # input's range moves and no guard read is needed (docs/AUTO_LOWERING.md, "Why some XNNPACK
            # int8 elementwise chains are slow": a guard keeps g alive across an op, which XNNPACK pays for).
            b = [c / k for c in b]
        if list(b) == [0.0, 1.0]:
            g = s
        elif p.get("square") and len(b) == 3 and b[2] != 0.0:
            # c0 + c1 s + c2 s^2 = c2 (s + h)^2 + e: a straight chain (each tensor read by the next op only;
            # the square reads one tensor twice in one op), which XNNPACK runs far faster than Horner's
            # rereads of s.
            h = b[1] / (2.0 * b[2])
            t = q(s + h, "sq_t") if h != 0.0 else s
            g = q(q(q(t * t, "sq_u") * b[2], "sq_v") + (b[0] - b[1] * h / 2.0), "sq_w")
        else:
            g = _horner(q, s, b, "b")
        if k:
            return q(x * k, "xk") * g
        y = x * g
        # the guard only matters where the converter calibrates (post-training); QAT fixes g's range
        guard = p.get("guard", 0) if getattr(q, "calibrates", True) else 0
        if p["a_coeffs"]:
            into = "y0" if guard else "output"
            y = q(y, "xb", floor=into) + _horner(q, s, p["a_coeffs"], "a", floor=into)
        if guard:
            # g is read once more after x * g, by an op whose output lies inside g's range and is 0 where
            # g keeps its sign: g is then not the dead input of the wide-output MUL, so the converter does
            # not widen its calibrated range to the product's (docs/AUTO_LOWERING.md, "Converter range
            # widening"). y is multiplied by (1 + guard), not added to it: XNNPACK refuses an ADD of a
            # tensor whose range is ~0. Costs a MUL by -1 (when needed), an ADD and a MUL; the RELU fuses.
            r = q(tf.nn.relu(q(g * -1.0, "neg_g") if guard < 0 else g), "guard", floor="one_plus_guard")
            y = q(y, "y0") * q(1.0 + r, "one_plus_guard")
        return y

    return body


def _add_linear_tails(x: Any, y: Any, p: dict[str, Any], q: Any) -> Any:
    """``y + right relu(x - hi) + left relu(lo - x)``: the linear tails of the clip and cpoly families."""
    import tensorflow as tf

    if p["right"]:
        r = q(tf.nn.relu(x - float(p["hi"])), "right")  # ADD with a fused RELU
        y = q(y + q(r * float(p["right"]), "right_w", floor="with_right"), "with_right",
              floor="with_left" if p["left"] else None)
    if p["left"]:
        left = q(tf.nn.relu(q(x * -1.0, "neg") + float(p["lo"])), "left")  # MUL(-1), ADD with a fused RELU
        y = q(y + q(left * float(p["left"]), "left_w", floor="with_left"), "with_left")
    return y


def _clip_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    def body(x: Any, q: Any) -> Any:
        # k x keeps x's int8 codes (its range is k times x's); ADD with a fused RELU6 clips it
        # (no ADD of 0: the converter drops it and fuses the RELU6 into the MUL, whose int8 output is then the
        # clipped [0, 6], not k x's range; version 11, measured: relu(x)^2's v = relu6(0.75 x) / 3)
        b = float(-p["k"] * p["lo"])
        u = q.fixed(tf.nn.relu6(x * float(p["k"]) if b == 0.0 else q(x * float(p["k"]), "kx") + b), 0.0, 6.0)
        # v = u / 3 on [0, 2] keeps u's int8 codes (exact). Not centred with a SUB: the converter's
        # calibration gives the SUB's input the union of its range and the SUB's output (measured; the
        # input is dead after the SUB), which would coarsen v.
        w = q(u * (1.0 / 3.0), "third")
        first = "with_right" if p["right"] else "with_left" if p["left"] else None
        y = _horner(q, w, p["coeffs"], "p", floor=first)
        return _add_linear_tails(x, y, p, q)

    return body


def _cpoly_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    def body(x: Any, q: Any) -> Any:
        k, b = float(p["k"]), float(p["b"])
        if k == 1.0 and b == 0.0:
            # clip(x, -1, 1) alone is a standalone RELU_N1_TO_1, which XNNPACK refuses in int8 (and a MUL by
            # 1 is folded away): (x / 2) + (x / 2) with the clip fused into the ADD; both steps keep x's codes
            h = q(x * 0.5, "half")
            pre = h + h
        else:
            pre = x * k if b == 0.0 else q(x * k, "kx") + b
        # the clip fuses into the MUL/ADD before it (fused RELU_N1_TO_1, taken by XNNPACK in int8)
        c = q(tf.clip_by_value(pre, -1.0, 1.0), "c")
        coeffs = p["coeffs"]
        a1 = float(p["a1"])
        into = "with_lin" if a1 else ("with_right" if p["right"] else "with_left" if p["left"] else None)
        parity = p.get("parity")
        if parity is None:
            r = _horner(q, c, coeffs, "r", floor=into)
        else:
            # an odd (even) remainder as c Q(c^2) (Q(c^2)): one MUL per two degrees
            t = q(c * c, "t")
            half = coeffs[parity::2]
            r = _horner(q, t, half, "r", floor=None if parity else into)
            if parity:
                r = q(c * r, "rc", floor=into)
        y = r
        if a1:
            # the big linear term is the first operand of the last ADD (c, or a1 c: both keep c's codes), so
            # the only coarse rounding is this ADD's; the converter's calibration widening (docs/AUTO_LOWERING.md)
            # gives a dead operand the sum's range too, which for c (a1 = 1) on [-1, 1] and |f| <= 1 is no change
            lin = c if a1 == 1.0 else q(c * a1, "lin")
            y = q(lin + r, "with_lin", floor="with_right" if p["right"] else "with_left" if p["left"] else None)
        return _add_linear_tails(x, y, p, q)

    return body


def _clipped(x: Any, q: Any, p: dict[str, Any]) -> Any:
    """``c = clip(k x + b, -1, 1)`` of the cpoly and kpoly families (see :func:`_cpoly_body`)."""
    import tensorflow as tf

    k, b = float(p["k"]), float(p["b"])
    if k == 1.0 and b == 0.0:
        h = q(x * 0.5, "half")
        pre = h + h
    else:
        pre = x * k if b == 0.0 else q(x * k, "kx") + b
    return q(tf.clip_by_value(pre, -1.0, 1.0), "c")


def _ppoly_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    # the point the pieces' sum flows into (a QAT floor must name a point the form has: with c0 folded into the
    # first piece and no tails, the sum is the output)
    last = "with_c0" if p["c0"] else "with_right" if p["right"] else "with_left" if p["left"] else "output"

    def body(x: Any, q: Any) -> Any:
        pieces = p["pieces"]
        y = None
        for j, pc in enumerate(pieces):
            # r_j = relu6(k_j x + b_j): the input clipped to piece j, mapped onto RELU6's fixed [0, 6] (a MUL and an
            # ADD with the RELU6 fused; both ends exact in int8, so r_j is exactly 0 left of the piece and 6 right
            # of it, where a [-1, 1] clip's zero point leaves -1 half a step off); g_j(r_j) has no constant term
            k, b = float(pc["k"]), float(pc["b"])
            if p.get("centred"):
                # u_j = clip(k_j x + b_j, -1, 1), centred on the piece (cpoly's variable); MUL by 1 folded: x/2 + x/2
                if k == 1.0:
                    h = q(x * 0.5, f"u{j}h") if b == 0.0 else None
                    pre = h + h if h is not None else x + b
                else:
                    pre = x * k if b == 0.0 else q(x * k, f"u{j}k") + b
                t = q(tf.clip_by_value(pre, -1.0, 1.0), f"u{j}")
                into = f"sum{j}" if y is not None else (f"sum{j + 1}" if j + 1 < len(pieces) else last)
                g = _horner(q, t, pc["w"], f"g{j}", floor=into)
                y = g if y is None else q(y + g, f"sum{j}", floor=f"sum{j + 1}" if j + 1 < len(pieces) else last)
                continue
            if b == 0.0:
                # a MUL with a RELU6 is not fused (measured: a standalone RELU6, outside XNNPACK): (k/2) x + (k/2) x;
                # x + x when k = 2 (the converter drops a MUL by 1, so the QAT chain has none either)
                h = x if k == 2.0 else q(x * (0.5 * k), f"r{j}h")
                pre = h + h
            else:
                pre = (x if k == 1.0 else q(x * k, f"r{j}k")) + b
            r = q.fixed(tf.nn.relu6(pre), 0.0, 6.0)
            # t_j = r_j / 6 on [0, 1] keeps r_j's codes; the Horner chain runs in t_j, so no rounded intermediate is
            # multiplied by more than 1 (in r_j, up to 6: measured 3.4 LSB for SQ-RBF)
            t = q(r * (1.0 / 6.0), f"t{j}")
            into = f"sum{j}" if y is not None else (f"sum{j + 1}" if j + 1 < len(pieces) else last)
            g = _horner(q, t, pc["w"], f"g{j}", floor=into)
            y = g if y is None else q(y + g, f"sum{j}", floor=f"sum{j + 1}" if j + 1 < len(pieces) else last)
        if p["c0"]:
            y = q(y + float(p["c0"]), "with_c0")
        return _add_linear_tails(x, y, p, q)

    return body


def _even_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    inner = _ppoly_body(p["inner"])

    def body(x: Any, q: Any) -> Any:
        # v = k min(|x - m|, 6 / k) = relu6(k (x - m)) + relu6(k (m - x)) on RELU6's fixed [0, 6] (one of the two
        # is 0): the distance from the centre, exact in int8 when k times the input step is a whole number of
        # RELU6's steps; the pieces are then ppoly's, in v (half as many as in x, so half the roundings)
        k, m = float(p["k"]), float(p["m"])
        sides = []
        for sign, name in ((1.0, "vp"), (-1.0, "vn")):
            if m == 0.0:
                # a MUL with a RELU6 is not fused (see _ppoly_body): (k/2) x + (k/2) x with the RELU6 on the ADD
                h = x if k * sign == 2.0 else q(x * (0.5 * k * sign), f"{name}h")
                pre = h + h
            else:
                pre = q(x * (k * sign), f"{name}k") + (-sign * k * m)
            sides.append(q.fixed(tf.nn.relu6(pre), 0.0, 6.0))
        return inner(q(sides[0] + sides[1], "v"), q)

    return body


def _kpoly_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    def half_ramp(c: Any, q: Any, at: float, side: int, name: str) -> Any:
        # relu(side (c - at) / 2): a MUL by +-1/2 (keeps c's codes) with the RELU fused, or followed by an ADD with
        # the RELU fused (a standalone int8 RELU is left out by XNNPACK)
        m = c * (0.5 * side)
        if at == 0.0:
            return q(tf.nn.relu(m), name)
        return q(tf.nn.relu(q(m, name + "m") - 0.5 * side * at), name)

    def body(x: Any, q: Any) -> Any:
        c = _clipped(x, q, p)
        knots = p["knots"]
        a1 = float(p["a1"])
        after = ("with_lin" if a1 else "with_right" if p["right"] else "with_left" if p["left"] else None)
        sums = [f"with_k{j}" for j in range(len(knots))] + [after]
        coeffs = p["coeffs"]
        y = None
        const = 0.0
        if any(v != 0.0 for v in coeffs[1:]):
            y = _horner(q, c, coeffs, "r", floor=sums[0])
        else:
            const = float(coeffs[0])
        for j, kn in enumerate(knots):
            at, side, w = float(kn["at"]), int(kn["side"]), kn["w"]
            if not any(w):
                continue
            into = sums[j] if y is not None else sums[j + 1]
            if side:
                # the truncated powers of the knot: Horner in h = relu(side (c - at) / 2), no constant term
                term = _horner(q, half_ramp(c, q, at, side, f"k{j}h"), w, f"k{j}p", floor=into)
            else:
                # |c - at| / 2 = relu((c - at) / 2) + relu((at - c) / 2), times a polynomial in c
                a = q(half_ramp(c, q, at, 1, f"k{j}hp") + half_ramp(c, q, at, -1, f"k{j}hn"), f"k{j}a")
                s = _horner(q, c, w, f"k{j}s")
                term = q(a * s, f"k{j}t", floor=into)
            y = term if y is None else q(y + term, sums[j], floor=sums[j + 1])
        if const:
            y = q(y + const, "const", floor=after)
        if a1:
            lin = c if a1 == 1.0 else q(c * a1, "lin")
            y = q(lin + y, "with_lin", floor="with_right" if p["right"] else "with_left" if p["left"] else None)
        return _add_linear_tails(x, y, p, q)

    return body


def _hinge_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    def body(x: Any, q: Any) -> Any:
        y = q(x * float(p["c1"]), "lin") if p["c1"] != 0.0 else None
        for i, (w, k) in enumerate(zip(p["w"], p["k"])):
            if w == 0.0:
                continue
            h = q(tf.nn.relu(x - float(k)), f"h{i}")  # ADD with a fused RELU
            term = q(h * float(w), f"hw{i}", floor=None if y is None else f"sum{i}")
            y = term if y is None else q(y + term, f"sum{i}")
        if y is None:
            y = q(x * 0.0, "zero")
        return q(y + float(p["c0"]), "c0") if p["c0"] != 0.0 else y

    return body


def _poly_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    def body(x: Any, q: Any) -> Any:
        return _horner(q, x, p["coeffs"], "p")

    return body


def _split_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    def body(x: Any, q: Any) -> Any:
        y = None
        if p["pos"]:
            u = q(tf.nn.relu(x * float(p["scale_pos"])), "u")  # MUL with a fused RELU, in [0, 1]
            y = _horner(q, u, p["pos"], "p", floor="sum" if p["neg"] else None)
        if p["neg"]:
            v = q(tf.nn.relu(x * float(-p["scale_neg"])), "v")  # MUL(-1/|lo|) with a fused RELU, in [0, 1]
            n = _horner(q, v, p["neg"], "n", floor="sum" if y is not None else None)
            y = n if y is None else q(y + n, "sum")
        if p["c0"] != 0.0:
            y = q(y + float(p["c0"]), "c0")
        return y

    return body


def _abs_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    from keras_acts.quantization.formulations import TANH_RANGE

    def ramp(x: Any, q: Any, w: float, name: str) -> Any:
        # w relu(x) (w > 0) or |w| relu(-x) (w < 0): one MUL with a fused RELU
        if float(np.float32(abs(float(w)))) == 1.0:  # 1 in float32 (the arctan gate's alpha is 0.99999998)
            # the converter folds a MUL by 1 away and leaves a standalone int8 RELU, which XNNPACK does not take
            # (measured, version 9: the arctan gate x (1/2 + arctan(x) / pi), "+ 1 relu(x)", 2 partitions); the
            # RELU fuses into the ADD of x/2 + x/2 (both exact, as the cpoly family's clip)
            half = q(x * (0.5 * float(w)), f"{name}_half")
            return q(tf.nn.relu(half + half), name)
        return q(tf.nn.relu(x * float(w)), name)

    def body(x: Any, q: Any) -> Any:
        k = float(p["scale"])
        u = ramp(x, q, k, "u") if p["pos"] else None  # in [0, 1]
        v = ramp(x, q, -k, "v") if p["neg"] else None
        a = u if v is None else v if u is None else q(u + v, "a")  # |x| / M, on its own fine scale
        even = p["alpha"] == p["beta"] != 0.0 and u is not None and v is not None
        absx = a
        if p.get("tanh"):  # tanh(g |x|): resolves |x| near 0, saturates in a slowly decaying tail
            gm = float(p["tanh"]) / k
            z = a if gm == 1.0 else q(a * gm, "z")
            a = q.fixed(tf.math.tanh(z), *TANH_RANGE)
        if p.get("flip"):  # expand around |x| = M: 1 - |x| / M (keeps the Horner coefficients small)
            a = q(1.0 - a, "b")
        has_lin = bool(p["alpha"] or p["beta"])
        y = _horner(q, a, p["coeffs"], "h", floor="y" if has_lin else None)  # the bounded remainder H(|x| / M)
        h = y
        lin = None  # alpha relu(x) + beta relu(-x), summed before it meets H (see AUTO_LOWERING.md)
        if even:  # alpha |x| = (alpha M) (|x| / M): one MUL of the |x| / M already computed
            lin, neg = q(absx * float(p["alpha"] / k), "lin"), False
        for w, sign, name in () if lin is not None else ((p["alpha"], 1.0, "rp"), (p["beta"], -1.0, "rn")):
            if w == 0.0:
                continue
            r = ramp(x, q, sign * abs(w), name) if lin is None else q(tf.nn.relu(x * float(sign * abs(w))), name, floor="lin")
            if lin is None:
                lin, neg = r, w < 0
            elif (w < 0) == neg:
                lin = q(lin + r, "lin")
            else:
                lin = q(lin - r, "lin")
        if lin is not None:
            y = q(y - lin, "y") if neg else q(y + lin, "y")
            guard = p.get("guard", 0) if getattr(q, "calibrates", True) else 0
            if guard:
                # H is read once more after H + lin (version 8), as the gate family reads g (see _gate_body): H is
                # then not the dead input of the sum, whose range the converter would give it in context
                # (docs/AUTO_LOWERING.md, "Converter range widening"); relu(-H) / relu(H) is 0 where H keeps
                # its sign, and multiplies y as 1 + r (XNNPACK refuses an ADD of a ~0 tensor). Both signs read H
                # with a MUL whose RELU fuses (XNNPACK leaves a standalone int8 RELU out: measured, 2 partitions).
                r = q(tf.nn.relu(h * (-1.0 if guard < 0 else 0.5)), "guard", floor="one_plus_guard")
                y = y * q(1.0 + r, "one_plus_guard")
        return y

    return body


def guarded_abs(spec: FormSpec, x: np.ndarray) -> FormSpec | None:
    """The ``abs`` form with a guard read of its remainder ``H`` (``(H + lin) (1 + relu(-H))``), or None.

    None when ``spec`` is not an unguarded ``abs`` form with linear ramps, or when ``H`` changes sign on ``x``
    (the guard would not be 0). Costs three ops (a MUL with a fused RELU, an ADD, a MUL).
    """
    p = spec.params
    if spec.kind != "abs" or p.get("guard") or not (p["alpha"] or p["beta"]):
        return None
    a = _tanh_int8_range(p["tanh"] * np.abs(x)) if p.get("tanh") else np.abs(x) * p["scale"]
    a = 1.0 - a if p.get("flip") else a
    sign = _guard_sign(_np_horner(a, p["coeffs"]))
    return FormSpec("abs", {**p, "guard": sign}) if sign else None


def _gate2_body(p: dict[str, Any]) -> Callable[[Any, Any], Any]:
    import tensorflow as tf

    from keras_acts.quantization.formulations import TANH_RANGE

    def body(x: Any, q: Any) -> Any:
        parts = []
        for i, (a, coeffs) in enumerate(((p["a1"], p["p1"]), (p["a2"], p["p2"]))):
            z = x if a == 1.0 else q(x * float(a), f"z{i + 1}")
            s = q.fixed(tf.math.tanh(z), *TANH_RANGE)
            parts.append(_horner(q, s, coeffs, f"g{i + 1}_", floor="output"))
        return parts[0] + parts[1]

    return body


_BODIES = {"even": _even_body, "ppoly": _ppoly_body, "kpoly": _kpoly_body, "cpoly": _cpoly_body, "gate2": _gate2_body, "abs": _abs_body, "split": _split_body, "gate": _gate_body, "clip": _clip_body, "hinge": _hinge_body, "poly": _poly_body}


def body(spec: FormSpec) -> Callable[[Any, Any], Any]:
    """``body(x, q)`` of the form ``spec`` (see the module docstring)."""
    return _BODIES[spec.kind](spec.params)


# --- float64 evaluation of the forms (to rank fits before measuring them) --------------------


def _np_horner(t: np.ndarray, c: Sequence[float]) -> np.ndarray:
    acc = np.zeros_like(t)
    for v in reversed(c):
        acc = acc * t + v
    return acc


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _knot_term(c: np.ndarray, kn: dict[str, Any]) -> np.ndarray:
    """The kpoly term of one interior knot, in float64 (see :func:`_kpoly_body`)."""
    at, side = float(kn["at"]), int(kn["side"])
    if side:
        return _np_horner(np.maximum(0.5 * side * (c - at), 0.0), kn["w"])
    return 0.5 * np.abs(c - at) * _np_horner(c, kn["w"])


def evaluate(spec: FormSpec, x: np.ndarray) -> np.ndarray:
    """The form in float64 NumPy (no quantization)."""
    p = spec.params
    if spec.kind == "gate":
        s = gate_input(p, x)
        g = _np_horner(s, p["b"])
        y = x * g
        if p["a_coeffs"]:
            y = y + _np_horner(s, p["a_coeffs"])
        guard = 0 if p.get("prescale") else p.get("guard", 0)
        if guard:
            y = y * (1.0 + np.maximum(-g if guard < 0 else g, 0.0))
        return y
    if spec.kind == "clip":
        w = np.clip(p["k"] * (x - p["lo"]), 0.0, 6.0) / 3.0
        return _np_horner(w, p["coeffs"]) + p["right"] * np.maximum(x - p["hi"], 0) + p["left"] * np.maximum(p["lo"] - x, 0)
    if spec.kind == "cpoly":
        c = np.clip(p["k"] * x + p["b"], -1.0, 1.0)
        y = p["a1"] * c + _np_horner(c, p["coeffs"])
        return y + p["right"] * np.maximum(x - p["hi"], 0) + p["left"] * np.maximum(p["lo"] - x, 0)
    if spec.kind == "ppoly":
        y = np.full_like(x, p["c0"])
        for pc in p["pieces"]:
            if p.get("centred"):
                y = y + _np_horner(np.clip(pc["k"] * x + pc["b"], -1.0, 1.0), pc["w"])
            else:
                y = y + _np_horner(np.clip(pc["k"] * x + pc["b"], 0.0, 6.0) / 6.0, pc["w"])
        return y + p["right"] * np.maximum(x - p["hi"], 0) + p["left"] * np.maximum(p["lo"] - x, 0)
    if spec.kind == "even":
        v = np.clip(p["k"] * np.abs(x - p["m"]), 0.0, 6.0)
        return evaluate(FormSpec("ppoly", p["inner"]), v)
    if spec.kind == "kpoly":
        c = np.clip(p["k"] * x + p["b"], -1.0, 1.0)
        y = p["a1"] * c + _np_horner(c, p["coeffs"])
        for kn in p["knots"]:
            y = y + _knot_term(c, kn)
        return y + p["right"] * np.maximum(x - p["hi"], 0) + p["left"] * np.maximum(p["lo"] - x, 0)
    if spec.kind == "hinge":
        y = p["c0"] + p["c1"] * x
        for w, k in zip(p["w"], p["k"]):
            y = y + w * np.maximum(x - k, 0.0)
        return y
    if spec.kind == "poly":
        return _np_horner(x, p["coeffs"])
    if spec.kind == "gate2":
        return _np_horner(_tanh_int8_range(p["a1"] * x), p["p1"]) + _np_horner(_tanh_int8_range(p["a2"] * x), p["p2"])
    if spec.kind == "abs":
        a = _tanh_int8_range(p["tanh"] * np.abs(x)) if p.get("tanh") else np.abs(x) * p["scale"]
        a = 1.0 - a if p.get("flip") else a
        h = _np_horner(a, p["coeffs"])
        y = h + p["alpha"] * np.maximum(x, 0.0) + p["beta"] * np.maximum(-x, 0.0)
        guard = p.get("guard", 0)
        return y * (1.0 + np.maximum(-h if guard < 0 else h, 0.0)) if guard else y
    if spec.kind == "split":
        y = np.full_like(x, p["c0"])
        if p["pos"]:
            y = y + _np_horner(np.maximum(x * p["scale_pos"], 0.0), p["pos"])
        if p["neg"]:
            y = y + _np_horner(np.maximum(-x * p["scale_neg"], 0.0), p["neg"])
        return y
    raise ValueError(spec.kind)


class _QATShape(ExportPoints):
    calibrates = False


def ops_of(spec: FormSpec, calibrates: bool = True) -> tuple[str, ...]:
    """The int8 ops the form is expected to convert to (the measured list replaces it).

    ``calibrates=False``: the ops of its QAT chain (no guard read, see :class:`ExportPoints`).
    """
    import tensorflow as tf

    names: list[str] = []
    # the ops of a tiny traced graph of the form, in TF's names
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (1, 4))
        body(spec)(x, ExportPoints() if calibrates else _QATShape())
    kinds = {"Mul": "MUL", "AddV2": "ADD", "Add": "ADD", "Sub": "SUB", "Sigmoid": "LOGISTIC", "Tanh": "TANH",
             "Relu": "RELU", "Relu6": "RELU6", "ClipByValue": "RELU_N1_TO_1"}
    for op in graph.get_operations():
        if op.type in kinds:
            names.append(kinds[op.type])
    return tuple(names)


def cost(ops: Sequence[str]) -> float:
    """Estimated relative latency of ``ops``, to order candidates (fused RELU/RELU6/RELU_N1_TO_1 are free)."""
    return sum(_OP_COST.get(op, 1.0) for op in ops if op not in ("RELU", "RELU6", "RELU_N1_TO_1"))


# --- fitting -------------------------------------------------------------------------------------


# Within a search, a least-squares fit whose max error exceeds 3x this is not refined (Lawson's iterations
# lower the max error of a least-squares fit by a factor of about 2 at most): set by candidates() and
# gate_scale_scan() for their own fits only (_giving_up_above); a fit called on its own is always refined.
_GIVE_UP = [np.inf]


@contextlib.contextmanager
def _giving_up_above(max_err: float) -> Any:
    """Fits inside the block skip the refinement of a least-squares fit far above ``max_err``; the previous
    threshold is restored after, so a later fit does not depend on which search ran before it."""
    before = _GIVE_UP[0]
    _GIVE_UP[0] = max_err
    try:
        yield
    finally:
        _GIVE_UP[0] = before


def _lawson(design: np.ndarray, f: np.ndarray, iters: int = 20) -> np.ndarray:
    """Near-minimax linear fit (Lawson's iteratively reweighted least squares)."""
    w = np.ones_like(f)
    best, best_err = None, np.inf
    for i in range(iters):
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], f * sw, rcond=None)
        err = np.abs(design @ coef - f)
        m = err.max()
        if m < best_err:
            best, best_err = coef, m
        if i == 0 and m > 3.0 * _GIVE_UP[0]:
            break
        if m == 0.0:
            break
        w = w * (err / m + 1e-12)
        w /= w.sum()
    return _snap(best)


def _snap(coef: np.ndarray) -> np.ndarray:
    """Zeroes coefficients that are rounding noise (an odd or even function's other half).

    A constant of 1e-15 added in int8 gets a scale a million times below the sum's, which XNNPACK's
    ADD refuses (input/output scale ratio below 1/1024), splitting the graph for nothing.
    """
    coef = np.array(coef, np.float64)
    coef[np.abs(coef) < 1e-7 * max(np.abs(coef).max(), 1e-30)] = 0.0
    return coef


def _tiny_adds(t: np.ndarray, coeffs: Sequence[float]) -> list[int]:
    """Indices of Horner constants too small for XNNPACK's int8 ADD next to the running sum.

    XNNPACK refuses an int8 ADD whose input/output scale ratio is below 1/1024 (measured; see
    ``xnnpack_ops.json``): a constant ``c`` quantized alone has a scale near ``|c| / 127``, the sum
    ``range / 255``. Constants below ``range / 256`` of their sum are dropped (and the rest refitted).
    """
    acc = np.full_like(t, coeffs[-1])
    out = []
    for k in range(len(coeffs) - 2, -1, -1):
        acc = t * acc + coeffs[k]
        c = coeffs[k]
        span = float(np.ptp(np.concatenate([acc, [0.0]])))
        if c != 0.0 and span > 0 and abs(c) < span / 256.0:
            out.append(k)
    return out


def _fit_dropping(cols: list[np.ndarray], f: np.ndarray, groups: list[tuple[np.ndarray, int, int]]) -> np.ndarray:
    """Near-minimax fit of ``f`` by ``cols``; Horner constants XNNPACK could not add are removed.

    ``groups`` lists ``(t, first column, count)`` for each Horner polynomial in ``t`` among the columns
    (column ``first + k`` is the coefficient of ``t^k``).
    """
    keep = np.ones(len(cols), bool)
    coef = np.zeros(len(cols))
    for _ in range(4):
        sub = _lawson(np.stack([c for c, k in zip(cols, keep) if k], 1), f)
        coef = np.zeros(len(cols))
        coef[keep] = sub
        drop = []
        for t, first, count in groups:
            drop += [first + k for k in _tiny_adds(t, coef[first : first + count]) if k < count - 1]
        if not drop:
            break
        keep[drop] = False
    return coef


def int8_gate(gate: str, z: np.ndarray) -> np.ndarray:
    """``sigmoid(z)`` or ``tanh(z)`` as the int8 LOGISTIC / TANH kernel outputs it at its saturated ends.

    The kernels' output scales are fixed (LOGISTIC ``q / 256 + 1/2``, TANH ``q / 128``, ``q`` an int8 code):
    where the nearest code is the extreme one (127 or -128) the output is that code's value, ``255/256`` / ``0``
    or ``127/128`` / ``-1``, from ``|z| = 5.13`` (LOGISTIC, top) or ``2.56`` (TANH, top) on; elsewhere the gate is
    returned unrounded (the simulation models the interior rounding).
    """
    if gate == "sigmoid":
        s = _sigmoid(z)
        code = np.floor(s * 256.0 + 0.5) - 128.0
        return np.where(code >= 127.0, 255.0 / 256.0, np.where(code <= -128.0, 0.0, s))
    s = np.tanh(z)
    code = np.floor(s * 128.0 + 0.5)
    return np.where(code >= 127.0, 127.0 / 128.0, np.where(code <= -128.0, -1.0, s))


def gate_input(p: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The gate family's ``s = G(a (x + c))`` in float64 (``c`` is ``p["shift"]``, 0 when absent).

    With ``p["int8_gate"]`` (algorithm version 9) the gate as int8 computes it at its saturated ends
    (:func:`int8_gate`): the form was fitted against that gate, and its float error is measured with it.
    """
    z = p["a"] * (x + float(p.get("shift", 0.0)))
    if p.get("int8_gate"):
        return int8_gate(p["gate"], z)
    return _sigmoid(z) if p["gate"] == "sigmoid" else np.tanh(z)


def gate_saturates(gate: str, a: float, x: np.ndarray) -> bool:
    """Whether ``G(a x)``'s int8 output reaches an extreme code on the samples ``x`` (the int8-gate fit then
    differs from the exact one)."""
    z = a * x
    return bool(np.any(int8_gate(gate, z) != (_sigmoid(z) if gate == "sigmoid" else np.tanh(z))))


def fit_gate(
    x: np.ndarray, f: np.ndarray, gate: str, a: float, deg_b: int, deg_a: int, shift: float = 0.0, low: int = 0,
    saturated: bool = False,
) -> FormSpec:
    """Fits ``A(s) + x B(s)``, ``s = G(a (x + shift))``, near-minimax on the samples ``(x, f)``.

    ``B``'s powers below ``s^low`` are zero (``low = 2``: a gate flat where ``s -> 0``, whose Horner
    chain then skips two ADDs). ``saturated`` (version 9): fitted against the gate as the int8 kernel computes
    it at its saturated ends (:func:`int8_gate`), not the exact gate: where LOGISTIC / TANH is one code the
    form is ``x B(255/256)`` (a line) whatever ``B`` does beyond, so the fit spends its freedom where int8 can
    use it (TanhExp ``x tanh(e^x)``, ``s = sigmoid(x)``, degree 5: simulated 1.79 LSB fitted to the exact gate,
    worst at the saturated end; 1.29 fitted to the int8 gate).
    """
    p: dict[str, Any] = {"gate": gate, "a": float(a)}
    if shift:
        p["shift"] = float(shift)
    if saturated:
        p["int8_gate"] = True
    s = gate_input(p, x)
    cols = [x * s**k for k in range(deg_b + 1)]
    groups = [(s, 0, deg_b + 1)]
    if deg_a >= 0:
        cols += [s**k for k in range(deg_a + 1)]
        groups.append((s, deg_b + 1, deg_a + 1))
    if low:
        sub = _fit_dropping(cols[low:], f, [(t, first - low, n) for t, first, n in groups if first >= low] + (
            [(s, 0, deg_b + 1 - low)] if groups[0][1] < low else []))
        coef = np.concatenate([np.zeros(low), sub])
    else:
        coef = _fit_dropping(cols, f, groups)
    b = [float(c) for c in coef[: deg_b + 1]]
    ac = [float(c) for c in coef[deg_b + 1 :]]
    return FormSpec("gate", {**p, "b": b, "a_coeffs": ac, "guard": _guard_sign(_np_horner(s, b))})


def shifted_gate_scales(
    x: np.ndarray, f: np.ndarray, deg_b: int, low: int, scales: Sequence[float], margin: float = 0.7
) -> tuple[float, float] | None:
    """``(a, c)`` of the best shifted sigmoid gate ``x B(sigmoid(a (x + c)))`` (least squares, ``B`` of
    degree ``deg_b`` from ``s^low``), ``c`` on the input's int8 grid; None when no shift lowers the
    error of the best unshifted gate by the factor ``margin`` (a gate centred at 0 needs none).
    """
    s_in = float(x[-1] - x[0]) / 255.0
    span = float(x[-1] - x[0])
    shifts = sorted({s_in * round(c / s_in) for c in np.linspace(-0.25 * span, 0.25 * span, 41)} | {0.0})
    best: dict[bool, tuple[float, float, float]] = {}
    for a in scales:
        for c in shifts:
            s = _sigmoid(a * (x + c))
            design = np.stack([x * s**k for k in range(low, deg_b + 1)], 1)
            coef, *_ = np.linalg.lstsq(design, f, rcond=None)
            err = float(np.abs(design @ coef - f).max())
            key = c != 0.0
            if key not in best or err < best[key][0]:
                best[key] = (err, float(a), float(c))
    if True not in best or (False in best and best[True][0] > margin * best[False][0]):
        return None
    return best[True][1], best[True][2]


def gate_scale_scan(x: np.ndarray, f: np.ndarray, max_float_err: float) -> list[FormSpec]:
    """Prescaled self-gated fits ``(k x) (B(s) / k)`` over a grid of gate scales and degrees 5-7, fitted against
    the exact and against the int8-saturated gate (:func:`fit_gate`), for the search to rank by simulated int8
    error (version 9; used only when no regular candidate is predicted within the budget).

    The int8 error of a gate form depends on where its gate saturates and on how its Horner chain rounds, which
    the float fit does not see; the scale that fits best in float is often not the one that rounds best
    (TanhExp ``x tanh(e^x)``: ``s = tanh(0.5 x)`` degree 6 measured 1.26 alone and 1.74 in context, ``s =
    tanh(0.6 x)`` degree 7 fitted to the int8 gate 0.98 and 1.38). A fit is kept when its float error is below
    twice ``max_float_err``: an int8-gate fit's float error includes the saturated ends' own error, which every
    form with that gate pays in int8.
    """
    if len(x) > 1201:
        pick = np.linspace(0, len(x) - 1, 1201).astype(int)
        xf, ff = x[pick], f[pick]
    else:
        xf, ff = x, f
    out: list[FormSpec] = []
    with _giving_up_above(2.0 * max_float_err):  # refine every fit that may be kept (see _lawson)
        for gate, scales in (("tanh", (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)),
                             ("sigmoid", (0.8, 0.9, 1.1, 1.2, 1.3, 1.4))):
            for a in scales:
                kinds = (False, True) if gate_saturates(gate, a, x) else (False,)
                for deg in (5, 6, 7):
                    for sat in kinds:
                        spec = fit_gate(xf, ff, gate, a, deg, -1, saturated=sat)
                        err = float(np.abs(evaluate(spec, x) - f).max())
                        if math.isfinite(err) and err <= 2.0 * max_float_err:
                            out.extend(prescaled(spec, x)[:1])
    return out


def gate_saturated(spec: FormSpec, x0: float) -> bool:
    """Whether the gate of a ``gate`` form is at its int8 kernel's extreme output code at ``x0``.

    LOGISTIC's int8 output is ``q / 256`` and TANH's ``q / 128`` (``q`` an int8 code, the scales and zero
    points the kernels fix); past the input where the nearest code is 127 (or -128) the gate is one
    constant, ``s = 255/256`` or ``127/128``, whatever the polynomial after it. False for other families.
    """
    if spec.kind != "gate":
        return False
    z = float(spec.params["a"]) * (x0 + float(spec.params.get("shift", 0.0)))
    if spec.params["gate"] == "sigmoid":
        code = np.floor(_sigmoid(np.array([z]))[0] * 256.0 + 0.5) - 128.0
    else:
        code = np.floor(np.tanh(z) * 128.0 + 0.5)
    return not -128.0 < code < 127.0


def saturation_onset(spec: FormSpec, x0: float) -> float:
    """Distance from 0, toward ``x0``'s side, at which the gate of a ``gate`` form reaches its extreme int8
    code (:func:`gate_saturated`); ``inf`` when it does not before ``x0``, or for other families."""
    if spec.kind != "gate" or x0 == 0.0:
        return float("inf")
    t = np.linspace(0.0, abs(x0), 513)
    z = float(spec.params["a"]) * (np.copysign(t, x0) + float(spec.params.get("shift", 0.0)))
    if spec.params["gate"] == "sigmoid":
        code = np.floor(_sigmoid(z) * 256.0 + 0.5) - 128.0
    else:
        code = np.floor(np.tanh(z) * 128.0 + 0.5)
    hit = np.flatnonzero((code <= -128.0) | (code >= 127.0))
    return float(t[hit[0]]) if hit.size else float("inf")


def is_slow_gate(spec: FormSpec, x: np.ndarray) -> bool:
    """Whether ``spec`` uses the slow TANH gate of :func:`slow_tanh_scale` (not one of the fixed scales)."""
    p = spec.params
    a = slow_tanh_scale(x)
    return spec.kind == "gate" and p["gate"] == "tanh" and p["a"] == a and a not in (0.5, 1.0, 0.25)


def slow_tanh_scale(x: np.ndarray) -> float:
    """The TANH gate scale ``a`` whose int8 output reaches its last code 127/128 at 7/8 of the range's end.

    ``tanh(a x)`` with ``a = atanh(127/128) / (7/8 max |x|)`` (0.4 on -8..8): a self-gated function whose gate
    still rises where ``sigmoid(x)`` / ``tanh(x/2)`` are saturated in int8 (from x = 5.1) keeps a
    gate that moves almost to the range's end.
    """
    reach = float(np.max(np.abs(x)))
    return float(np.round(np.arctanh(127.0 / 128.0) / (0.875 * reach), 2)) if reach > 0 else 0.0


def prescaled(spec: FormSpec, x: np.ndarray) -> list[FormSpec]:
    """Guard-free variants of a gate ``x g(s)`` without ``A(s)``: ``(k x) (g / k)``
    with ``k`` the gate's largest magnitude on ``x`` (rounded up), Horner's and, for a quadratic gate, the completed square.

    The same function in float; in int8 the product's range lies inside that of its dead first input
    ``k x``, so the converter's calibration widening changes no range (see :func:`_gate_body`).
    """
    p = spec.params
    if spec.kind != "gate" or p["a_coeffs"] or p.get("prescale"):
        return []
    s = gate_input(p, x)
    g = _np_horner(s, p["b"])
    top = float(np.max(np.abs(g)))
    # |g| <= k is what keeps x g inside k x's range, so a gate that dips below 0 is prescaled too: a fit's
    # ripple where the function's gate is ~0 (the Gumbel gate exp(-exp(-x)) below x = -3, version 7) or a gate
    # that changes sign (version 9: Phish x tanh(gelu x), g down to -0.17; such a gate gets no guard read, and
    # unguarded x g loses 2-4 LSB in context)
    if not top > 0.0:
        return []
    k = float(f"{top * 1.001:.3g}")
    if k == 1.0:  # the converter folds a MUL by 1 away, and with it the prescale (measured)
        k = 1.01
    out = [FormSpec("gate", {**p, "guard": 0, "prescale": k})]
    if len(p["b"]) == 3:
        out.append(FormSpec("gate", {**p, "guard": 0, "prescale": k, "square": True}))
    return out


def _guard_sign(g: np.ndarray) -> int:
    """-1 when the gate ``g`` is (almost) never negative on the samples, +1 when (almost) never positive,
    else 0: the sign of the guard read ``relu(-g)`` / ``relu(g)`` that is 0 where g keeps that sign."""
    tol = 1e-3 * float(np.max(np.abs(g)))
    if float(g.min()) >= -tol:
        return -1
    if float(g.max()) <= tol:
        return 1
    return 0


def _on_input_grid(x_lo: float, x_hi: float, lo: float, hi: float, extra: int = 0) -> tuple[float, float]:
    """A clip interval ``[lo', hi']`` around ``[lo, hi]`` on which ``relu6(k x - k lo')`` is exact in int8.

    The input's int8 grid is ``s_in = (x_hi - x_lo) / 255`` times an integer. With a width of
    ``(x_hi - x_lo) / m`` (``m`` an integer) and ``lo'`` a multiple of ``s_in``, ``k x - k lo'`` lies on
    the grid of RELU6's fixed ``[0, 6]`` range (``6 / 255``), so the clipped input is not rounded at all
    (a half-step rounding there costs up to 2 output LSB for a steep function).
    """
    span = x_hi - x_lo
    s_in = span / 255.0
    m = max(1, int(math.floor(span / max(hi - lo, 1e-12))) + extra)  # extra=1: a little narrower than found
    width = span / m
    centre = 0.5 * (lo + hi)
    new_lo = s_in * round((centre - 0.5 * width) / s_in)
    return float(new_lo), float(new_lo + width)


def fit_clip(x: np.ndarray, f: np.ndarray, lo: float, hi: float, deg: int, right: float, left: float) -> FormSpec:
    """Fits ``P(u) + right relu(x - hi) + left relu(lo - x)`` with the tails' slopes given."""
    k = 6.0 / (hi - lo)
    u = np.clip(k * (x - lo), 0.0, 6.0) / 3.0
    rest = f - right * np.maximum(x - hi, 0.0) - left * np.maximum(lo - x, 0.0)
    coef = _fit_dropping([u**j for j in range(deg + 1)], rest, [(u, 0, deg + 1)])
    return FormSpec(
        "clip",
        {"lo": float(lo), "hi": float(hi), "k": float(k), "coeffs": [float(c) for c in coef],
         "right": float(right), "left": float(left)},
    )


def clip_interval(x: np.ndarray, f: np.ndarray, tol: float) -> tuple[float, float, float, float] | None:
    """``(lo, hi, left_slope, right_slope)`` located to the sample spacing: beyond ``[lo, hi]`` ``f`` is linear.

    Like :func:`linear_tails` (each tail grown from its end of the range while a line through its first and
    last samples fits within ``tol``), but the tail's length is bisected instead of grown in steps of 1/64
    of the range, so a clipped polynomial's knots are found to one sample (the ``cpoly`` family clips at
    them). None when neither tail covers 1/16 of the range or the interval left is under 1/64 (a clipped
    cubic on -20..20 keeps 1/20).
    """
    n = len(x)

    def fits(idx: np.ndarray, m: int) -> bool:
        sel = idx[:m]
        sl = (f[sel[-1]] - f[sel[0]]) / (x[sel[-1]] - x[sel[0]])
        return bool(np.abs(f[sel[0]] + sl * (x[sel] - x[sel[0]]) - f[sel]).max() <= tol)

    def tail(idx: np.ndarray) -> tuple[int, float]:
        if not fits(idx, n // 16):
            return 1, 0.0
        good, bad = n // 16, n - n // 16
        if fits(idx, bad):
            return 1, 0.0  # (almost) linear on the whole range: no clip
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if fits(idx, mid) else (good, mid)
        # the slope from the outer half of the tail (its inner end bends into the polynomial by up to tol)
        sel = idx[: max(2, good // 2)]
        slope = float(np.polyfit(x[sel], f[sel], 1)[0])
        return good, 0.0 if abs(slope) * float(x[-1] - x[0]) <= tol else slope

    right_n, right_s = tail(np.arange(n - 1, -1, -1))
    left_n, left_s = tail(np.arange(n))
    if right_n <= 1 and left_n <= 1:
        return None
    hi = float(x[n - right_n]) if right_n > 1 else float(x[-1])
    lo = float(x[left_n - 1]) if left_n > 1 else float(x[0])
    if hi - lo < (x[-1] - x[0]) / 64:
        return None
    return lo, hi, (-left_s if left_n > 1 else 0.0), (right_s if right_n > 1 else 0.0)


def _centred_on_input_grid(x_lo: float, x_hi: float, lo: float, hi: float, extra: int = 0) -> tuple[float, float]:
    """A clip interval ``[lo', hi']`` around ``[lo, hi]`` on which ``clip(k x + b, -1, 1)`` keeps x's codes.

    The int8 input grid is ``s_in = (x_hi - x_lo) / 255`` times an integer; the clipped ``c`` is calibrated
    on ``[-1, 1]`` (step ``2 / 255``). With a width ``(x_hi - x_lo) / m`` (``m`` an integer), ``k = 2 /
    width`` maps one input step onto ``m`` steps of ``c``, and with the centre a multiple of ``s_in / m``
    the offset ``b`` is a whole number of ``c``'s steps, so ``c`` is never rounded.
    """
    span = x_hi - x_lo
    m = max(1, int(math.floor(span / max(hi - lo, 1e-12))) + extra)
    width = span / m
    unit = span / 255.0 / m
    centre = unit * round(0.5 * (lo + hi) / unit)
    return float(centre - 0.5 * width), float(centre + 0.5 * width)


def fit_cpoly(
    x: np.ndarray, f: np.ndarray, lo: float, hi: float, deg: int, right: float, left: float, linear: str
) -> FormSpec:
    """Fits ``a1 c + R(c) + right relu(x - hi) + left relu(lo - x)``, ``c = clip(k x + b, -1, 1)``.

    ``k = 2 / (hi - lo)``, ``b = -k (lo + hi) / 2``: ``c`` is the input clipped to ``[lo, hi]`` and centred,
    so an odd (even) polynomial stays odd (even) and its Horner intermediates stay small. ``P = a1 c + R``
    is fitted near-minimax (degree ``deg``); ``linear`` picks ``a1``: ``"none"`` (0, ``P`` in Horner),
    ``"one"`` (1: ``c`` is added as it is, no MUL) or ``"best"`` (the slope that minimises the range of
    ``R``). An odd or even ``R`` is evaluated in ``c^2``.
    """
    k = 2.0 / (hi - lo)
    b = -k * 0.5 * (lo + hi)
    b = 0.0 if abs(b) < 1e-12 else b
    c = np.clip(k * x + b, -1.0, 1.0)
    rest = f - right * np.maximum(x - hi, 0.0) - left * np.maximum(lo - x, 0.0)
    coef = _fit_dropping([c**j for j in range(deg + 1)], rest, [(c, 0, deg + 1)])
    big = max(float(np.abs(coef).max()), 1e-30)
    parity = None
    for par in (1, 0):
        if np.abs(coef[1 - par :: 2]).max(initial=0.0) <= 1e-6 * big:
            coef[1 - par :: 2] = 0.0
            parity = par
            break
    a1 = 0.0
    if linear != "none":
        p_c = _np_horner(c, coef)
        slope = max(float(np.abs(_np_horner(np.linspace(-1.0, 1.0, 201), np.polynomial.polynomial.polyder(coef))).max()), 1e-12)
        a1s = np.linspace(-2.0, 2.0, 801) * slope
        a1 = float(a1s[int(np.argmin([np.ptp(p_c - a * c) for a in a1s]))])
        a1 = float(f"{a1:.4g}")
        if linear == "one":
            a1 = 1.0
    coef[1] -= a1
    if parity == 0 and a1:
        parity = None
    return FormSpec(
        "cpoly",
        {"lo": float(lo), "hi": float(hi), "k": float(k), "b": float(b), "a1": a1,
         "coeffs": [float(v) for v in coef], "parity": parity, "right": float(right), "left": float(left)},
    )


def interior_knots(x: np.ndarray, f: np.ndarray, max_order: int = 3, max_knots: int = 6) -> list[tuple[float, int]]:
    """Knots of a piecewise-smooth ``f`` on the uniform grid ``x``: ``(position, order)`` pairs, ``order`` the
    lowest derivative that jumps there (1 a kink, 2 a jump of the curvature, ...; at most ``max_order``).

    A jump ``J`` of the ``m``-th derivative at ``k`` makes the ``(m + 1)``-th differences of the samples
    spike to about ``J h^m`` over the ``m + 1`` differences that straddle ``k`` (``h`` the spacing), while a
    smooth stretch gives about ``f^(m+1) h^(m+1)``: a spike stands out from its neighbourhood by ~``1 / h``
    (250x on 4001 points of -8..8). A difference is a spike when it exceeds 16x the largest difference
    just outside its own window on both sides (and the samples' rounding noise); the knot is the spike's
    centroid (to a fraction of ``h``). Empty when none is found or more than ``max_knots`` are (not a
    piecewise polynomial).
    """
    n = len(x)
    h = float(x[1] - x[0])
    scale = max(float(np.abs(f).max()), 1e-30)
    found: list[tuple[float, int]] = []
    for m in range(1, max_order + 1):
        d = np.abs(np.diff(f, m + 1))
        if len(d) < 8 * (m + 2):
            break
        noise = 64.0 * np.finfo(np.float64).eps * scale * 2 ** (m + 1)
        w = 3 * (m + 2)  # the neighbourhood looked at, beyond the spike's own m + 1 differences
        pad = np.concatenate([np.zeros(w + m + 1), d, np.zeros(w + m + 1)])
        win = np.lib.stride_tricks.sliding_window_view(pad, w)
        left = win[: len(d)].max(axis=1)  # d[i - m - 1 - w .. i - m - 2]
        right = win[2 * m + 3 + w : 2 * m + 3 + w + len(d)].max(axis=1)  # d[i + m + 2 .. i + m + 1 + w]
        spike = (d > 16.0 * np.maximum(left, right)) & (d > 1e3 * noise)
        idx = np.nonzero(spike)[0]
        groups: list[list[int]] = []
        for i in idx:
            if groups and i - groups[-1][-1] <= m + 1:
                groups[-1].append(int(i))
            else:
                groups.append([int(i)])
        for g in groups:
            lo_i, hi_i = max(g[0] - m, 0), min(g[-1] + m + 1, len(d))
            wts = d[lo_i:hi_i]
            centre = float(np.sum(wts * (np.arange(lo_i, hi_i) + 0.5 * (m + 1))) / np.sum(wts))
            at = float(x[0] + h * centre)
            if all(abs(at - k) > (m + 2) * h for k, _ in found):
                found.append((at, m))
        if len(found) > max_knots:
            return []
    return sorted(found)


def fit_kpoly(
    x: np.ndarray, f: np.ndarray, lo: float, hi: float, knots: Sequence[tuple[float, int]], deg: int,
    right: float, left: float, side: int, linear: str,
) -> FormSpec:
    """Fits ``a1 c + R(c) + sum_j T_j + right relu(x - hi) + left relu(lo - x)``, ``c = clip(k x + b, -1, 1)``.

    ``c`` as in :func:`fit_cpoly`; ``knots`` are ``(position in x, order)`` pairs inside ``[lo, hi]``. Each
    knot's term ``T_j`` is, for ``side = +1`` (``-1``), a polynomial in ``h_j = relu(+-(c - c_j)) / 2``
    with powers from the knot's order to ``deg`` (the truncated powers: ``R`` is then the leftmost
    (rightmost) piece), or for ``side = 0`` ``|c - c_j| / 2`` times a polynomial of degree ``deg - 1`` in
    ``c`` (``R`` the pieces' common part: SQNL is ``2 c - |c| c``, ``c = clip(x / 2, -1, 1)``). All
    coefficients are fitted jointly near-minimax; ``linear`` picks ``a1`` as in :func:`fit_cpoly`.
    """
    k = 2.0 / (hi - lo)
    b = -k * 0.5 * (lo + hi)
    b = 0.0 if abs(b) < 1e-12 else b
    c = np.clip(k * x + b, -1.0, 1.0)
    rest = f - right * np.maximum(x - hi, 0.0) - left * np.maximum(lo - x, 0.0)
    cols = [c**j for j in range(deg + 1)]
    groups: list[tuple[np.ndarray, int, int]] = [(c, 0, deg + 1)]
    layout = []
    for at, order in knots:
        at_c = float(f"{k * at + b:.6g}")
        first = len(cols)
        if side:
            t = np.maximum(0.5 * side * (c - at_c), 0.0)
            low = max(1, min(order, deg))
            cols += [t**i for i in range(low, deg + 1)]
            groups.append((t, first - low, deg + 1))  # Horner in t, no constant (the first columns are t^low..)
            layout.append((at_c, first, low))
        else:
            a = 0.5 * np.abs(c - at_c)
            cols += [a * c**i for i in range(deg)]
            layout.append((at_c, first, 0))
    coef = _lawson(np.stack(cols, 1), rest)
    base = coef[: deg + 1].copy()
    terms = []
    for at_c, first, low in layout:
        if side:
            w = [0.0] * low + [float(v) for v in coef[first : first + deg + 1 - low]]
        else:
            w = [float(v) for v in coef[first : first + deg]]
        terms.append({"at": at_c, "side": side, "w": w})
    a1 = 0.0
    if linear != "none":
        g = _np_horner(c, base) + sum((_knot_term(c, kn) for kn in terms), np.zeros_like(c))
        slope = max(float(np.abs(np.diff(g) / np.maximum(np.diff(c), 1e-12)).max()), 1e-12)
        a1s = np.linspace(-2.0, 2.0, 801) * slope
        a1 = 1.0 if linear == "one" else float(f"{a1s[int(np.argmin([np.ptp(g - a * c) for a in a1s]))]:.4g}")
    base[1] -= a1
    for kn in terms:
        kn["w"] = _trim([float(v) for v in _snap(np.array(kn["w"]))])
    return FormSpec(
        "kpoly",
        {"lo": float(lo), "hi": float(hi), "k": float(k), "b": float(b), "a1": a1,
         "coeffs": _trim([float(v) for v in _snap(base)]), "knots": terms, "right": float(right), "left": float(left)},
    )


def fit_ppoly(
    x: np.ndarray, f: np.ndarray, bounds: Sequence[float], deg: int, right: float, left: float, centred: bool = False
) -> FormSpec:
    """Fits ``c0 + sum_j g_j(r_j) + right relu(x - hi) + left relu(lo - x)``, ``r_j = relu6(k_j x + b_j)``.

    ``bounds`` are ``lo``, the interior knots and ``hi``, ascending: ``r_j`` is the input clipped to the piece
    ``[bounds[j], bounds[j + 1]]`` and mapped onto ``[0, 6]``, ``g_j`` a polynomial of degree ``deg`` without
    a constant term in ``t_j = r_j / 6``. ``g_j`` is 0 left of its piece and constant
    right of it, so each term spans only the function's own variation on its piece (no cancelling partial
    sums, unlike truncated powers in one variable); all coefficients are fitted jointly near-minimax.
    ``centred``: the piece's variable is ``u_j = clip(k_j x + b_j, -1, 1)`` instead (cpoly's; its ends are
    each half a step off in int8, but its Horner intermediates straddle 0, so the converter's calibration
    widening of a MUL's dead output to the next ADD's range costs less).
    """
    lo, hi = float(bounds[0]), float(bounds[-1])
    rest = f - right * np.maximum(x - hi, 0.0) - left * np.maximum(lo - x, 0.0)
    cols = [np.ones_like(x)]
    ts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        # rounded: a k within float32 rounding of 1 would make a MUL by 1 that the converter folds away
        if centred:
            k = round(2.0 / (b - a), 9)
            off = round(-k * 0.5 * (a + b), 9) + 0.0
            t = np.clip(k * x + off, -1.0, 1.0)
        else:
            k = round(6.0 / (b - a), 9)
            off = round(-k * a, 9) + 0.0
            t = np.clip(k * x + off, 0.0, 6.0) / 6.0
        ts.append((k, off, len(cols)))
        cols += [t**i for i in range(1, deg + 1)]
    coef = _snap(_lawson(np.stack(cols, 1), rest))
    pieces = []
    for k, off, first in ts:
        w = _trim([0.0] + [float(v) for v in coef[first : first + deg]])
        if any(w):  # a piece the fit left constant costs nothing
            pieces.append({"k": float(k), "b": float(off), "w": w})
    c0 = float(coef[0])
    if pieces and len(pieces[0]["w"]) > 1:
        # the constant goes into the first piece's Horner chain (its last ADD), not a separate ADD that rounds the
        # whole sum once more
        pieces[0]["w"][0] = c0
        c0 = 0.0
    params = {"lo": lo, "hi": hi, "c0": c0, "pieces": pieces, "right": float(right), "left": float(left)}
    if centred:
        params["centred"] = True
    return FormSpec("ppoly", params)


def fit_even(x: np.ndarray, f: np.ndarray, m: float, half: float, knots: Sequence[float], deg: int) -> FormSpec:
    """Fits ``ppoly`` in ``v = relu6(k (x - m)) + relu6(k (m - x))``, ``k = 6 / half``, for ``f`` even about ``m``.

    ``knots`` are the function's knots at or right of ``m`` (its outer knot last; ``f`` is constant beyond
    it): in ``v``'s units they bound the pieces ``[0, k (knot_1 - m)], ...``, and ``half`` (at least the outer
    knot's distance from ``m``) sets ``v``'s scale. The fit itself is :func:`fit_ppoly`'s, on the samples mapped
    to ``v`` (both sides of ``m`` at once).
    """
    k = round(6.0 / half, 9)
    v = np.clip(k * np.abs(x - m), 0.0, 6.0)
    bounds = [0.0] + sorted({round(k * (at - m), 9) for at in knots if 0.0 < k * (at - m) <= 6.0 + 1e-9})
    inner = fit_ppoly(v, f, bounds, deg, 0.0, 0.0)
    return FormSpec("even", {"m": float(m), "k": float(k), "inner": inner.params})


def even_centre(
    x: np.ndarray, f: np.ndarray, lo: float, hi: float, left: float, right: float, tol: float
) -> float | None:
    """The centre ``m = (lo + hi) / 2`` of a clip interval when ``f`` is even about it within ``tol`` and constant
    (no linear tails) outside ``[lo, hi]``, else None: then ``f`` is a function of ``|x - m|`` alone, and the
    ``even`` family (:func:`fit_even`) needs half of ``ppoly``'s pieces."""
    if left or right:
        return None
    m = 0.5 * (lo + hi)
    mirrored = np.interp(2.0 * m - x, x, f)
    inside = (2.0 * m - x >= x[0]) & (2.0 * m - x <= x[-1])
    if inside.sum() < len(x) // 2 or float(np.abs(mirrored - f)[inside].max()) > tol:
        return None
    return float(m)


def _trim(coeffs: list[float]) -> list[float]:
    """``coeffs`` without trailing zeros (a Horner chain that starts with a MUL by 0 would get a constant whose
    int8 scale XNNPACK refuses); at least one entry."""
    while len(coeffs) > 1 and coeffs[-1] == 0.0:
        coeffs = coeffs[:-1]
    return coeffs


def fit_hinge(x: np.ndarray, f: np.ndarray, kinks: Sequence[float]) -> FormSpec:
    """Least-squares ``c0 + c1 x + sum w_i relu(x - k_i)`` (exact for a piecewise-linear ``f``)."""
    cols = [np.ones_like(x), x] + [np.maximum(x - k, 0.0) for k in kinks]
    coef, *_ = np.linalg.lstsq(np.stack(cols, 1), f, rcond=None)
    clean = [0.0 if abs(c) < 1e-9 else float(c) for c in coef]
    return FormSpec("hinge", {"c0": clean[0], "c1": clean[1], "w": clean[2:], "k": [float(k) for k in kinks]})


def fit_split(x: np.ndarray, f: np.ndarray, deg_pos: int, deg_neg: int) -> FormSpec:
    """Fits ``c0 + P(relu(x / hi)) + Q(relu(-x / |lo|))``, ``P(0) = Q(0) = 0`` (a polynomial per side)."""
    hi, lo = float(max(x.max(), 1e-6)), float(min(x.min(), -1e-6))
    u, v = np.maximum(x / hi, 0.0), np.maximum(-x / -lo, 0.0)
    cols = [np.ones_like(x)] + [u**j for j in range(1, deg_pos + 1)] + [v**j for j in range(1, deg_neg + 1)]
    coef = _lawson(np.stack(cols, 1), f)
    pos = [0.0, *map(float, coef[1 : deg_pos + 1])]
    neg = [0.0, *map(float, coef[deg_pos + 1 :])]
    return FormSpec("split", {"c0": float(coef[0]), "pos": pos, "neg": neg, "scale_pos": 1.0 / hi,
                              "scale_neg": 1.0 / -lo})


def fit_abs(x: np.ndarray, f: np.ndarray, deg: int, flip: bool = False, gate: float = 0.0) -> FormSpec | None:
    """Fits ``H(|x| / M) + alpha relu(x) + beta relu(-x)``, ``M = max |x|``, with ``H`` of degree ``deg``.

    For functions whose odd part is linear, ``(f(x) - f(-x)) / 2 = c x`` (squareplus: ``c = 1/2``), and
    whose even part has a linear asymptote of slope ``d``: then ``f = (c + d) relu(x) + (d - c) relu(-x)
    + h(|x|)`` with ``h`` bounded (squareplus: ``2 / (|x| + sqrt(x^2 + 4))`` in ``(0.12, 1]``), so ``H``
    is computed on an int8 scale several times finer than the output's. ``c`` is the least-squares slope
    of the odd part where both ``x`` and ``-x`` are sampled; ``d`` minimises the range of ``h`` (a slope
    that zeroes ``alpha`` or ``beta``, saving an op, is preferred when it widens ``h`` by < 25 %).
    With ``flip`` ``H`` is a polynomial in ``1 - |x| / M`` (expanded at the range's end: smaller
    Horner coefficients, so coarser-rounded intermediates, when ``h`` is singular near ``x = 0`` in the
    complex plane, as squareplus's ``h`` is at ``x = 2i``). None when the range does not straddle 0.

    With ``gate = g > 0`` ``H`` is a polynomial in ``s = tanh(g |x|)`` instead (a MUL and a TANH after
    ``|x| / M``; ``s`` follows ``|x|`` near 0, so ``H`` keeps the kink of ``d |x|``, and saturates where
    the remainder has decayed), and ``d`` is the even part's slope at the ends of the range, so ``h``
    tends to a constant: functions whose remainder decays slowly (pseudo-Huber ``sqrt(1 + x^2) - 1 =
    |x| + 1 / (|x| + sqrt(1 + x^2)) - 1``, singular at ``x = ±i``, which a polynomial in ``|x| / 8``
    fits only at a degree whose Horner roundings exceed the budget).
    """
    lo, hi = float(x.min()), float(x.max())
    if not lo < 0.0 < hi:
        return None
    m = min(-lo, hi)
    pos = x[(x > 0) & (x <= m)]
    if len(pos) < 8:
        return None
    odd = 0.5 * (np.interp(pos, x, f) - np.interp(-pos, x, f))
    c = float(pos @ odd / (pos @ pos))
    c = 0.0 if abs(c) <= 1e-6 * max(1.0, float(np.ptp(f)) / (hi - lo)) else c  # an even function
    even = f - c * x  # a function of |x| if the odd part is c x
    ax = np.abs(x)

    def width(d: float) -> float:
        return float(np.ptp(even - d * ax))

    ds = np.linspace(-4.0, 4.0, 801) * max(abs(c), float(np.ptp(f)) / max(hi - lo, 1e-12))
    if gate:
        n = max(8, len(x) // 32)  # the even part's slope over the last 1/32 of the range at each end
        ends = [(ax[:n], even[:n]), (ax[-n:], even[-n:])]
        d = float(np.mean([np.polyfit(t, e, 1)[0] for t, e in ends]))
        d = c if abs(d - c) <= 1e-3 * max(abs(c), abs(d), 1e-12) else -c if abs(d + c) <= 1e-3 * max(abs(c), abs(d), 1e-12) else d
    else:
        d = float(min(ds, key=width))
    for pref in (c, -c) if not gate else ():  # alpha = 0 or beta = 0 saves a MUL and an ADD
        if width(pref) <= 2.5 * width(d):
            d = pref
            break
    alpha, beta = c + d, d - c
    alpha = 0.0 if abs(alpha) < 1e-9 * max(1.0, abs(c)) else alpha
    beta = 0.0 if abs(beta) < 1e-9 * max(1.0, abs(c)) else beta
    big = max(-lo, hi)
    a = _tanh_int8_range(gate * ax) if gate else ax / big
    if flip:
        a = 1.0 - a
    rest = f - alpha * np.maximum(x, 0.0) - beta * np.maximum(-x, 0.0)
    coef = _fit_dropping([a**j for j in range(deg + 1)], rest, [(a, 0, deg + 1)])
    return FormSpec("abs", {"scale": 1.0 / big, "pos": True, "neg": True, "alpha": float(alpha),
                            "beta": float(beta), "coeffs": [float(v) for v in coef], "flip": bool(flip),
                            **({"tanh": float(gate)} if gate else {})})


def _tanh_int8_range(z: np.ndarray) -> np.ndarray:
    """``tanh(z)`` clipped to TANH's int8 output range ``[-1, 127/128]``."""
    return np.minimum(np.tanh(z), 127.0 / 128.0)


def _parity(x: np.ndarray, f: np.ndarray) -> int | None:
    """1 when ``f`` is odd on the samples' symmetric part, 0 when even, else None."""
    m = min(-float(x.min()), float(x.max()))
    if m <= 0:
        return None
    pos = x[(x > 0) & (x <= m)]
    fp, fm = np.interp(pos, x, f), np.interp(-pos, x, f)
    tol = 1e-4 * max(1.0, float(np.abs(f).max()))  # above interpolation error on a coarse grid
    if np.abs(fp + fm).max() <= tol:
        return 1
    if np.abs(fp - fm).max() <= tol:
        return 0
    return None


def fit_gate2(x: np.ndarray, f: np.ndarray, a1: float, a2: float, d1: int, d2: int) -> FormSpec:
    """Fits ``P(tanh(a1 x)) + Q(tanh(a2 x))``: a steep gate for the core and a slow one for the tails.

    For bounded functions whose approach to their asymptotes is slower than a sigmoid's (ISRU's
    ``1 - 1 / (2 x^2)``): ``tanh(a1 x)`` saturates in int8 where the tail still changes by several
    output steps, ``tanh(a2 x)`` (``a2 < a1``) does not. ``Q(0) = 0`` (one constant, in ``P``).
    """
    s1, s2 = _tanh_int8_range(a1 * x), _tanh_int8_range(a2 * x)
    # P: every power (TANH's int8 output is [-1, 127/128], so a saturated gate is not odd); Horner
    # constants XNNPACK could not add are dropped. Q: an odd (even) function's odd (even) powers only
    # while the slow gate does not saturate (no noise coefficients to trip XNNPACK's ADD).
    parity = _parity(x, f) if np.abs(np.tanh(a2 * x)).max() < 127.0 / 128.0 else None
    keep2 = [k for k in range(1, d2 + 1) if parity is None or k % 2 == parity]
    cols = [s1**k for k in range(d1 + 1)] + [s2**k for k in keep2]
    sub = _fit_dropping(cols, f, [(s1, 0, d1 + 1)])
    coef = np.zeros(d1 + 1 + d2)
    coef[: d1 + 1] = sub[: d1 + 1]
    coef[[d1 + k for k in keep2]] = sub[d1 + 1 :]
    p1, p2 = list(map(float, coef[: d1 + 1])), [0.0, *map(float, coef[d1 + 1 :])]
    while len(p1) > 1 and p1[-1] == 0.0:
        p1.pop()
    while len(p2) > 2 and p2[-1] == 0.0:
        p2.pop()
    return FormSpec("gate2", {"a1": float(a1), "a2": float(a2), "p1": p1, "p2": p2})


def fit_poly(x: np.ndarray, f: np.ndarray, deg: int) -> FormSpec:
    """Near-minimax polynomial ``P(x)`` of degree ``deg``."""
    coef = _fit_dropping([x**j for j in range(deg + 1)], f, [(x, 0, deg + 1)])
    return FormSpec("poly", {"coeffs": [float(c) for c in coef]})


def kinks_of(x: np.ndarray, f: np.ndarray, tol: float) -> list[float] | None:
    """Kinks of a piecewise-linear ``f`` on the grid ``x``, or None when ``f`` is not piecewise linear."""
    d1 = np.diff(f) / np.diff(x)
    jumps = np.abs(np.diff(d1))
    where = np.nonzero(jumps > 1e-6 * max(1.0, np.abs(d1).max()))[0]
    if len(where) > 8:
        return None
    # group adjacent grid indices into one kink; locate it where the two lines meet
    kinks: list[float] = []
    groups: list[list[int]] = []
    for i in where:
        if groups and i - groups[-1][-1] <= 2:
            groups[-1].append(i)
        else:
            groups.append([i])
    for g in groups:
        i0, i1 = g[0], g[-1] + 2
        sl, sr = d1[max(i0 - 1, 0)], d1[min(i1, len(d1) - 1)]
        if abs(sl - sr) < 1e-12:
            continue
        xl, fl = x[max(i0 - 1, 0)], f[max(i0 - 1, 0)]
        xr, fr = x[min(i1 + 1, len(x) - 1)], f[min(i1 + 1, len(x) - 1)]
        kinks.append(float((fr - fl + sl * xl - sr * xr) / (sl - sr)))
    spec = fit_hinge(x, f, kinks)
    if np.abs(evaluate(spec, x) - f).max() > tol:
        return None
    return kinks


def linear_tails(x: np.ndarray, f: np.ndarray, tol: float) -> tuple[float, float, float, float] | None:
    """``(lo, hi, left_slope, right_slope)``: beyond ``[lo, hi]`` ``f`` is linear to within ``tol``.

    None when neither tail is linear over at least 1/8 of the range.
    """
    n = len(x)

    def tail(idx: np.ndarray) -> tuple[int, float]:
        # grow the tail from the end while a line through its first and last points fits
        best = 1
        slope = 0.0
        for m in range(n // 8, n // 2 + 1, max(1, n // 64)):
            sel = idx[:m]
            sl = (f[sel[-1]] - f[sel[0]]) / (x[sel[-1]] - x[sel[0]])
            line = f[sel[0]] + sl * (x[sel] - x[sel[0]])
            if np.abs(line - f[sel]).max() <= tol:
                best, slope = m, float(sl)
            else:
                break
        return best, slope

    right_n, right_s = tail(np.arange(n - 1, -1, -1))
    left_n, left_s = tail(np.arange(n))
    if right_n <= 1 and left_n <= 1:
        return None
    hi = float(x[n - right_n]) if right_n > 1 else float(x[-1])
    lo = float(x[left_n - 1]) if left_n > 1 else float(x[0])
    if hi - lo < (x[-1] - x[0]) / 16:
        return None
    return lo, hi, (-left_s if left_n > 1 else 0.0), (right_s if right_n > 1 else 0.0)


def candidates(x: np.ndarray, f: np.ndarray, tol: float, max_float_err: float) -> list[tuple[FormSpec, float]]:
    """Fitted candidate forms whose float error on the samples is at most ``max_float_err``.

    Returns ``(spec, float max error)`` pairs, at most one (the smallest that fits) per structure.
    """
    with _giving_up_above(max_float_err):
        return _candidates(x, f, tol, max_float_err)


def _candidates(x: np.ndarray, f: np.ndarray, tol: float, max_float_err: float) -> list[tuple[FormSpec, float]]:
    out: list[tuple[FormSpec, float]] = []
    if len(x) > 1201:  # fit on a coarser grid (fast); the error is checked on every sample
        pick = np.linspace(0, len(x) - 1, 1201).astype(int)
        xf, ff = x[pick], f[pick]
    else:
        xf, ff = x, f

    seen: set[str] = set()

    def consider(spec: FormSpec) -> bool:
        if spec.to_json() in seen:  # e.g. a parity-trimmed degree that equals a lower one
            return False
        seen.add(spec.to_json())
        err = float(np.abs(evaluate(spec, x) - f).max())
        if math.isfinite(err) and err <= max_float_err:
            out.append((spec, err))
            return True
        return False

    kinks = kinks_of(x, f, tol)
    if kinks is not None:
        consider(fit_hinge(xf, ff, kinks))
    # exact x * sigmoid(b x): g = f / x, b = logit(g) / x
    nz = np.abs(x) > 0.25
    g = f[nz] / x[nz]
    if np.all((g > 1e-6) & (g < 1 - 1e-6)):
        b = float(np.median(np.log(g / (1 - g)) / x[nz]))
        if b > 0:
            consider(FormSpec("gate", {"gate": "sigmoid", "a": b, "b": [0.0, 1.0], "a_coeffs": [], "guard": -1}))
    slow = slow_tanh_scale(x)
    tanh_scales = (0.5, 1.0, 0.25) + ((slow,) if slow > 0 and slow not in (0.5, 1.0, 0.25) else ())
    for gate, scales in (("sigmoid", (1.0, 1.702, 0.5, 2.0, 3.0)), ("tanh", tanh_scales)):
        for a in scales:
            saturates = gate_saturates(gate, a, x)
            for deg_a in (-1, 1, 2, 3, 4):
                for deg_b in range(2, 7):  # x (b0 + b1 s): the converter misplaces that ADD's range (measured)
                    if gate == "tanh" and a == slow and a not in (0.5, 1.0, 0.25) and deg_a >= 0:
                        break  # the slow gate: prescaled x g only (below)
                    spec = fit_gate(xf, ff, gate, a, deg_b, deg_a)
                    if gate == "tanh" and a == slow and a not in (0.5, 1.0, 0.25):
                        # the slow gate only as guard-free prescaled x g (version 8): it is there for self-gated
                        # functions whose gate still rises where tanh(x/2) is saturated; its unprescaled, guarded
                        # and A + x B variants measured 2.0-4.6 LSB in context for the Gumbel gate and crowded
                        # the 12 verifications out
                        if deg_a < 0 and float(np.abs(evaluate(spec, x) - f).max()) <= max_float_err:
                            for variant in prescaled(spec, x) + (
                                    prescaled(fit_gate(xf, ff, gate, a, deg_b + 1, deg_a), x) if deg_b < 6 else []):
                                consider(variant)
                            if deg_a < 0 and saturates:
                                for d in range(deg_b, min(deg_b + 1, 6) + 1):
                                    for variant in prescaled(fit_gate(xf, ff, gate, a, d, deg_a, saturated=True), x):
                                        consider(variant)
                            break
                        continue
                    if consider(spec):
                        for variant in prescaled(spec, x):
                            consider(variant)
                        if deg_a < 0 and deg_b < 6:
                            # one degree more: a lower float error leaves more of the budget to int8
                            # rounding (the Gumbel gate: tanh(0.5 x), degree 5 1.23 LSB alone and 1.61 in
                            # context, degree 6 1.13 and 1.44, prescaled)
                            for variant in prescaled(fit_gate(xf, ff, gate, a, deg_b + 1, deg_a), x):
                                consider(variant)
                        if deg_a < 0 and saturates:
                            # version 9: the same degrees fitted against the gate as int8 computes it at its
                            # saturated ends (fit_gate(saturated=True)), prescaled; the simulation ranks both
                            for d in range(deg_b, min(deg_b + 1, 6) + 1):
                                for variant in prescaled(fit_gate(xf, ff, gate, a, d, deg_a, saturated=True), x):
                                    consider(variant)
                        break
    # Shifted gates s = sigmoid(a (x + c)) for gates centred off 0 or asymmetric about their centre (the
    # Gumbel gate exp(-exp(-x)) is ~0 from x = -3 and approaches 1 like sigmoid(x)): a and c from a least-
    # squares grid on a coarse subsample, only when the shift beats every unshifted scale; the lowest
    # degree that fits, with B from s^0 and from s^2 (never negative near s = 0, so prescalable).
    coarse = np.linspace(0, len(xf) - 1, 301).astype(int)
    for low in (0, 2):
        for deg_b in range(max(2, low + 1), 6):
            ac = shifted_gate_scales(xf[coarse], ff[coarse], deg_b, low, np.round(np.arange(0.5, 2.51, 0.1), 2))
            if ac is None:
                continue
            spec = fit_gate(xf, ff, "sigmoid", ac[0], deg_b, -1, shift=ac[1], low=low)
            if consider(spec):
                for variant in prescaled(spec, x):
                    consider(variant)
                break
    # A quadratic gate x (c0 + c1 s + c2 s^2) with its scale a tuned: evaluated as a completed square and
    # prescaled (prescaled()), it is a straight chain without a guard, the cheapest kind of form under
    # XNNPACK (docs/AUTO_LOWERING.md, "Why some XNNPACK int8 elementwise chains are slow").
    # The two best scales are kept: their int8 roundings differ (Logish on -8..8, prescaled Horner: a = 0.48
    # 1.21 / 1.21 / 1.50 LSB, refused; a = 0.5 1.45 / 1.45 / 1.50, within the budget).
    for gate in ("sigmoid", "tanh"):
        fitted: list[tuple[float, float, FormSpec]] = []
        for a in np.round(np.arange(0.2, 3.0001, 0.02), 2):
            spec = fit_gate(xf, ff, gate, float(a), 2, -1)
            err = float(np.abs(evaluate(spec, xf) - ff).max())
            if math.isfinite(err):
                fitted.append((err, float(a), spec))
        fitted.sort(key=lambda t: t[0])
        for _err, _a, spec in fitted[:2]:
            for variant in prescaled(spec, x):
                consider(variant)
    if x.min() < 0 < x.max():
        for total in range(2, 13):
            found = False
            for dp in range(1, total):
                if consider(fit_split(xf, ff, dp, total - dp)):
                    found = True
                    break
            if found:
                break
    for a1, a2 in ((1.0, 0.25), (0.5, 0.125)):  # two tanh gates: a core and a slowly saturating tail
        found = 0  # the three cheapest that fit (the converter's range widening hits them differently)
        for total in range(4, 11):
            for d1 in range(total - 2, 1, -1):
                if found < 3 and consider(fit_gate2(xf, ff, a1, a2, d1, total - d1)):
                    found += 1
    for flip in (False, True):  # a linear odd part and a bounded even remainder (e.g. squareplus)
        for deg in range(1, 11):
            spec = fit_abs(xf, ff, deg, flip)
            if spec is None or consider(spec):
                break
    for g in (0.25, 0.35, 0.5):  # the same, the remainder in tanh(g |x|) (e.g. pseudo-Huber)
        for flip in (False, True):
            found = 0  # the two lowest degrees that fit (a higher one often rounds better in int8)
            for deg in range(2, 9):
                spec = fit_abs(xf, ff, deg, flip, g)
                if spec is None:
                    break
                found += consider(spec)
                if found == 2:
                    break
    tails = linear_tails(x, f, max(tol, max_float_err / 4))
    if tails is not None:
        lo, hi, left, right = tails
        intervals = [_on_input_grid(float(x[0]), float(x[-1]), lo, hi, extra) for extra in (0, 1)] + [(lo, hi)]
        for a, b in intervals:  # the lowest degree that fits, per interval
            for deg in range(1, 9):
                if consider(fit_clip(xf, ff, a, b, deg, right, left)):
                    break
    # clipped polynomials, centred: the knots located to one sample, the interval also snapped to the
    # input's int8 grid (c then keeps the input's codes); a1 c added last (see fit_cpoly)
    interval = clip_interval(x, f, max(tol, max_float_err / 4))
    if interval is not None:
        lo, hi, left, right = interval
        # the located interval itself only when no snapped one fits (its c is rounded: measured 1.0-1.3 LSB
        # for the smooth clipped cubic where the snapped clip(x, -1, 1) gives 0.85)
        snapped = dict.fromkeys(_centred_on_input_grid(float(x[0]), float(x[-1]), lo, hi, e) for e in (0, 1))
        for group in (list(snapped), [(lo, hi)]):
            found = False
            for a, b in group:
                for linear in ("one", "best", "none"):
                    for deg in range(2, 9):
                        if consider(fit_cpoly(xf, ff, a, b, deg, right, left, linear)):
                            found = True
                            break
            if found:
                break
    # piecewise polynomials with knots inside the clip interval (version 9): c as in cpoly, plus a term per
    # interior knot (located from spikes of the sample differences, see interior_knots)
    knots = [(0.0 if abs(at) < 0.5 * float(x[1] - x[0]) else at, m) for at, m in interior_knots(x, f)]  # no -0.0
    if knots:
        if interval is not None:
            lo, hi, left, right = interval
            snapped = list(dict.fromkeys(_centred_on_input_grid(float(x[0]), float(x[-1]), lo, hi, e) for e in (0, 1)))
            groups_k = [[(a, b, left, right) for a, b in snapped], [(lo, hi, left, right)]]
        else:
            groups_k = [[(float(x[0]), float(x[-1]), 0.0, 0.0)]]
        margin = float(x[-1] - x[0]) / 255.0  # a knot within one input step of the clip is the clip's own
        for group in groups_k:
            found = False
            for a, b, left_s, right_s in group:
                inside = [(at, m) for at, m in knots if a + margin < at < b - margin]
                if not inside:
                    continue
                bounds = [a]
                for at, _m in inside:  # pieces narrower than one input step are merged into the next
                    if at - bounds[-1] >= margin:
                        bounds.append(at)
                if b - bounds[-1] < margin:
                    bounds.pop()
                bounds.append(b)
                for centred in (False, True):
                    for deg in range(1, 7):
                        if consider(fit_ppoly(xf, ff, bounds, deg, right_s, left_s, centred)):
                            found = True
                            break
                for side in (0, 1, -1):
                    for linear in ("best", "none"):
                        for deg in range(max(1, min(m for _, m in inside)), 7):
                            if consider(fit_kpoly(xf, ff, a, b, inside, deg, right_s, left_s, side, linear)):
                                found = True
                                break
                centre = even_centre(xf, ff, a, b, left_s, right_s, max(tol, max_float_err / 4))
                if centre is not None:  # even about the interval's centre, constant outside it (SQ-RBF)
                    right_knots = [at for at in bounds[1:-1] if at > centre + margin] + [b]
                    for deg in range(1, 7):
                        if consider(fit_even(xf, ff, centre, b - centre, right_knots, deg)):
                            found = True
                            break
            if found:
                break
    for deg in range(1, 9):
        if consider(fit_poly(xf, ff, deg)):
            break
    return out
