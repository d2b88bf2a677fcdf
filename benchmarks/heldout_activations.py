"""Held-out check of the automatic int8 lowering: activations that no test, doc table or family was written for.

Each is registered with ``keras_acts.register_activation`` (``keras.ops`` math and a NumPy reference, as a user
would) and explained for the ``cpu`` target on the installed LiteRT: whether the search found a form (``source``
``automatic``) or the training function's plain conversion runs instead (``training``), all-int8, XNNPACK
partitions, the worst error in output LSB on -8..8 and the latency ratio to the plain conversion.

    python benchmarks/heldout_activations.py [--group 1|2|3|4|gaps] [--only NAME ...] [--floor]

Group ``1``: the five functions of the version-7 session's check. Group ``2``: six functions from the literature
added (2026-12-06) before the version-8 search changes, and kept out of that work. Group ``gaps``: the two
functions that had no form under version 7 (they were used while developing version 8). Group ``3``: five
piecewise polynomials with interior knots, added (2026-12-06) before the version-9 interior-knot changes (SQNL,
in group 2, was their development target; four of them were looked at later in that work, docs/AUTO_LOWERING.md).
Group ``4``: five self-gated functions (sigmoid/tanh/exp/erf/arctan gates) added before the version-9 gate-fit
changes and kept out of that work.

Set ``KERAS_ACTS_AUTO_LOWERING_CACHE=0`` to search again instead of reading ``~/.cache/keras_acts``.
"""
import argparse
import math
import time

import numpy as np

import keras_acts
from keras_acts import keras

ops = keras.ops
_erf = np.vectorize(math.erf)


def _softplus_np(x):
    return np.logaddexp(0.0, x)


def _sigmoid_np(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# --- Group 1 (version-7 session) -------------------------------------------------------------------------------

@keras_acts.register_activation("ho_gumbel_gate", reference=lambda x: x * np.exp(-np.exp(-x)))
def ho_gumbel_gate(x):
    return x * ops.exp(-ops.exp(-x))


@keras_acts.register_activation("ho_sqrt_gate", reference=lambda x: x * 0.5 * (1 + x / np.sqrt(1 + x * x)))
def ho_sqrt_gate(x):
    return x * 0.5 * (1 + x / ops.sqrt(1 + x * x))


@keras_acts.register_activation("ho_pseudo_huber", reference=lambda x: np.sqrt(1 + x * x) - 1)
def ho_pseudo_huber(x):
    return ops.sqrt(1 + x * x) - 1


def _smooth_hswish_np(x):
    t = np.clip((x + 3) / 6, 0, 1)
    return x * t * t * (3 - 2 * t)


@keras_acts.register_activation("ho_smoothstep_swish", reference=_smooth_hswish_np)
def ho_smoothstep_swish(x):
    t = ops.clip((x + 3) / 6, 0, 1)
    return x * t * t * (3 - 2 * t)


@keras_acts.register_activation("ho_relu_squared", reference=lambda x: np.maximum(x, 0) ** 2)
def ho_relu_squared(x):
    return ops.square(ops.relu(x))


# --- Group 2 (added 2026-12-06 before the version-8 changes; not used while developing them) -------------------

# TanhExp, Liu & Di 2020 ("TanhExp: A smooth activation function with high convergence speed for lightweight
# neural networks"): x tanh(e^x). A self-gated x g(x) with g from exp and tanh.
@keras_acts.register_activation("ho_tanhexp", reference=lambda x: x * np.tanh(np.exp(x)))
def ho_tanhexp(x):
    return x * ops.tanh(ops.exp(x))


# Serf, Nag & Bhattacharyya 2021 ("SERF: Towards better training of deep neural networks using log-Softplus
# ERror activation Function"): x erf(ln(1 + e^x)). Self-gated with erf.
@keras_acts.register_activation("ho_serf", reference=lambda x: x * _erf(_softplus_np(x)))
def ho_serf(x):
    return x * ops.erf(ops.softplus(x))


# Smish, Wang et al. 2022 ("Smish: A novel activation function for deep learning methods"): x tanh(ln(1 +
# sigmoid(x))). Self-gated with sigmoid; the gate's maximum is tanh(ln 2) = 0.6.
@keras_acts.register_activation("ho_smish", reference=lambda x: x * np.tanh(np.log1p(_sigmoid_np(x))))
def ho_smish(x):
    return x * ops.tanh(ops.log(1 + ops.sigmoid(x)))


# Soft-Root-Sign, Zhou et al. 2020 ("Soft-Root-Sign activation function"), alpha = 2, beta = 3 (the paper's
# values): x / (x / alpha + e^(-x / beta)). Bounded above by alpha, decays like x e^(x/3) below 0.
@keras_acts.register_activation("ho_soft_root_sign", reference=lambda x: x / (x / 2.0 + np.exp(-x / 3.0)))
def ho_soft_root_sign(x):
    return x / (x / 2.0 + ops.exp(-x / 3.0))


# Bent identity (the activation tables of e.g. Wikipedia's "Activation function"): (sqrt(x^2 + 1) - 1) / 2 + x.
# Square-root based, slope 1/2 .. 3/2.
@keras_acts.register_activation("ho_bent_identity", reference=lambda x: (np.sqrt(x * x + 1) - 1) / 2 + x)
def ho_bent_identity(x):
    return (ops.sqrt(x * x + 1) - 1) / 2 + x


def _sqnl_np(x):
    c = np.clip(x, -2.0, 2.0)
    return c - c * np.abs(c) / 4


# SQNL, Wuraola & Patel 2018 ("SQNL: A new computationally efficient activation function"): piecewise quadratic,
# x + x^2/4 on [-2, 0], x - x^2/4 on [0, 2], -1 and 1 outside (written here on the clipped input).
@keras_acts.register_activation("ho_sqnl", reference=_sqnl_np)
def ho_sqnl(x):
    c = ops.clip(x, -2.0, 2.0)
    return c - c * ops.abs(c) / 4


# --- Gaps: no form under version 7 (used while developing version 8) -------------------------------------------

@keras_acts.register_activation("ho_swish_sq_gate", reference=lambda x: x * _sigmoid_np(x) ** 2)
def ho_swish_sq_gate(x):
    return x * ops.square(ops.sigmoid(x))


@keras_acts.register_activation("ho_shifted_squareplus", reference=lambda x: np.sqrt(x * x + 4) - 2 + 0.3 * x)
def ho_shifted_squareplus(x):
    return ops.sqrt(x * x + 4) - 2 + 0.3 * x


# --- Group 3 (added 2026-12-06 before the version-9 interior-knot changes; not used while developing them) -------
# Piecewise polynomials with knots INSIDE the interval between their outer knots (SQNL, the development target of
# version 9, stays in group 2).

def _sq_rbf_np(x):
    a = np.abs(x)
    return np.where(a <= 1, 1 - x * x / 2, np.where(a < 2, (2 - a) ** 2 / 2, 0.0))


# SQ-RBF, Wuraola & Patel 2018 (same paper as SQNL): 1 - x^2/2 for |x| <= 1, (2 - |x|)^2/2 for 1 < |x| < 2, 0
# beyond. Even; second-derivative knots at +-1 inside the outer knots +-2.
@keras_acts.register_activation("ho_sq_rbf", reference=_sq_rbf_np)
def ho_sq_rbf(x):
    a = ops.abs(x)
    inner = 1 - x * x / 2
    outer = ops.square(ops.relu(2 - a)) / 2
    return ops.where(a <= 1, inner, outer)


_IGELU_A, _IGELU_B = -0.2888, -1.769


def _igelu_np(x):
    z = x / math.sqrt(2.0)
    erf = np.sign(z) * (_IGELU_A * (np.minimum(np.abs(z), -_IGELU_B) + _IGELU_B) ** 2 + 1)
    return x / 2 * (1 + erf)


# i-GELU, Kim et al. 2021 ("I-BERT: Integer-only BERT Quantization"): x/2 (1 + L(x/sqrt 2)),
# L(z) = sign(z) (a (min(|z|, -b) + b)^2 + 1), a = -0.2888, b = -1.769 (the paper's values). Piecewise cubic;
# L jumps at 0 (a b^2 + 1 = 0.096), so the function has a kink at 0 inside its outer knots +-2.50.
@keras_acts.register_activation("ho_igelu", reference=_igelu_np)
def ho_igelu(x):
    z = x / math.sqrt(2.0)
    erf = ops.sign(z) * (_IGELU_A * ops.square(ops.minimum(ops.abs(z), -_IGELU_B) + _IGELU_B) + 1)
    return x / 2 * (1 + erf)


def _bspline3_np(x):
    a = np.abs(x)
    return np.where(a <= 1, 2.0 / 3 - a * a + a ** 3 / 2, np.maximum(2 - a, 0) ** 3 / 6)


# Cubic B-spline basis function (the uniform cubic B-spline of spline activations, e.g. Bohra et al. 2020
# "Learning activation functions in deep (spline) neural networks", and of KAN's grids): 2/3 - x^2 + |x|^3/2 on
# |x| <= 1, (2 - |x|)^3/6 on 1 < |x| < 2, 0 beyond. Third-derivative knots at -1, 0, 1 inside +-2.
@keras_acts.register_activation("ho_bspline3", reference=_bspline3_np)
def ho_bspline3(x):
    a = ops.abs(x)
    inner = 2.0 / 3 - a * a + a * a * a / 2
    outer = ops.relu(2 - a) ** 3 / 6
    return ops.where(a <= 1, inner, outer)


def _quantile_huber_np(x):
    a = np.abs(x)
    huber = np.where(a <= 1, x * x / 2, a - 0.5)
    return np.where(x < 0, 0.75, 0.25) * huber


# Quantile Huber function, Dabney et al. 2018 ("Distributional Reinforcement Learning with Quantile Regression",
# QR-DQN), tau = 0.25, kappa = 1: |tau - 1{x < 0}| * Huber_1(x). Asymmetric; linear tails beyond +-1 and a
# second-derivative knot at 0 (0.75 -> 0.25) inside them.
@keras_acts.register_activation("ho_quantile_huber", reference=_quantile_huber_np)
def ho_quantile_huber(x):
    a = ops.abs(x)
    huber = ops.where(a <= 1, x * x / 2, a - 0.5)
    return ops.where(x < 0, 0.75, 0.25) * huber


def _bspline2_np(x):
    return np.where(x < 0, 0.0, np.where(x < 1, x * x / 2, np.where(x < 2, (-2 * x * x + 6 * x - 3) / 2,
                                                                    np.where(x < 3, (3 - x) ** 2 / 2, 0.0))))


# Quadratic B-spline basis function on the knots 0, 1, 2, 3 (not centred: a basis function of a uniform
# quadratic spline grid, as in spline/KAN activations): x^2/2, (-2x^2 + 6x - 3)/2, (3 - x)^2/2 on [0, 1], [1, 2],
# [2, 3], 0 elsewhere. Second-derivative knots at 1 and 2, off 0, inside the outer knots 0 and 3.
@keras_acts.register_activation("ho_bspline2_shifted", reference=_bspline2_np)
def ho_bspline2_shifted(x):
    c = ops.clip(x, 0.0, 3.0)
    return ops.where(c < 1, c * c / 2, ops.where(c < 2, (-2 * c * c + 6 * c - 3) / 2, ops.square(3 - c) / 2))
# --- Group 4 (added 2026-12-06 before the version-9 gate-fit changes, branch i21-gatefit; not used while
# developing them). Self-gated x g(x) with sigmoid/tanh/exp/erf gates, none in the package or the tests. -----

# Complementary log-log gate: x (1 - exp(-e^x)), the cloglog link's inverse as the gate (the mirror image of the
# Gumbel CDF): double-exponential approach to 1 for x > 0, e^x decay below 0.
@keras_acts.register_activation("ho4_cloglog_gate", reference=lambda x: x * -np.expm1(-np.exp(x)))
def ho4_cloglog_gate(x):
    return x * (1.0 - ops.exp(-ops.exp(x)))


# Phish, Naveen 2022 ("Phish: A novel hyper-optimizable activation function"): x tanh(gelu(x)), exact GELU.
def _phish_np(x):
    return x * np.tanh(0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))))


@keras_acts.register_activation("ho4_phish", reference=_phish_np)
def ho4_phish(x):
    return x * ops.tanh(ops.gelu(x, approximate=False))


# ErfAct, Biswas et al. 2021 ("ErfAct and Pserf: Non-monotonic smooth trainable activation functions"):
# x erf(alpha e^(beta x)), at the paper's initial alpha = beta = 0.75 (bound, not trained here).
@keras_acts.register_activation("ho4_erfact", reference=lambda x: x * _erf(0.75 * np.exp(0.75 * x)))
def ho4_erfact(x):
    return x * ops.erf(0.75 * ops.exp(0.75 * x))


# Gish, Kaytan, Aydilek & Yeroglu 2023 ("Gish: a novel activation function for image classification"):
# x log(2 - exp(-e^x)); the gate rises from 0 to log 2.
@keras_acts.register_activation("ho4_gish", reference=lambda x: x * np.log(2.0 - np.exp(-np.exp(x))))
def ho4_gish(x):
    return x * ops.log(2.0 - ops.exp(-ops.exp(x)))


# Arctan (Cauchy CDF) gate: x (1/2 + arctan(x) / pi), the self-gated form of the arctan sigmoid; its gate
# approaches 0 and 1 like 1 / (pi |x|), far slower than any sigmoid or tanh.
@keras_acts.register_activation("ho4_arctan_gate", reference=lambda x: x * (0.5 + np.arctan(x) / np.pi))
def ho4_arctan_gate(x):
    return x * (0.5 + ops.arctan(x) / math.pi)


GROUPS = {
    "1": ("ho_gumbel_gate", "ho_sqrt_gate", "ho_pseudo_huber", "ho_smoothstep_swish", "ho_relu_squared"),
    "2": ("ho_tanhexp", "ho_serf", "ho_smish", "ho_soft_root_sign", "ho_bent_identity", "ho_sqnl"),
    "gaps": ("ho_swish_sq_gate", "ho_shifted_squareplus"),
    "3": ("ho_sq_rbf", "ho_igelu", "ho_bspline3", "ho_quantile_huber", "ho_bspline2_shifted"),
    "4": ("ho4_cloglog_gate", "ho4_phish", "ho4_erfact", "ho4_gish", "ho4_arctan_gate"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", action="append", choices=sorted(GROUPS), help="run only these groups")
    parser.add_argument("--only", nargs="+", help="run only these names")
    parser.add_argument("--floor", action="store_true",
                        help="print only what an ideal int8 form measures per setting (no search; verify.ideal_errors)")
    args = parser.parse_args()
    names = [n for g in (args.group or GROUPS) for n in GROUPS[g]]
    if args.only:
        names = [n for n in names if n in args.only]
    if args.floor:
        from keras_acts.export.autolower import verify

        for name in names:
            reference = keras_acts.registry.lookup(name).reference
            floor = verify.ideal_errors(reference, -8.0, 8.0)
            print(f"{name:22s} " + "  ".join(f"{k}={v:.2f}" for k, v in floor.items()), flush=True)
        return
    for name in names:
        t0 = time.time()
        ex = keras_acts.explain(name, targets=("cpu",), repeats=3)
        r = [t for t in ex.targets if t.target == "cpu"][0]
        if r.max_lsb is None:  # the export or its measurement failed
            print(f"{name:22s} source={r.source} error={r.error} ({time.time() - t0:.0f} s)", flush=True)
            continue
        print(f"{name:22s} source={r.source:10s} int8={r.fully_int8} parts={r.xnnpack_partitions} "
              f"max_lsb={r.max_lsb:.2f} within={r.within_budget} lat={r.latency_us} ratio={r.latency_ratio} "
              f"ops={len(r.form_ops)} ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
