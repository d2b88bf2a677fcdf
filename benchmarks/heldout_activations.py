"""Held-out check of the automatic int8 lowering: activations that no test, doc table or family was written for.

Each is registered with ``keras_acts.register_activation`` (``keras.ops`` math and a NumPy reference, as a user
would) and explained for the ``cpu`` target on the installed LiteRT: whether the search found a form (``source``
``automatic``) or the training function's plain conversion runs instead (``training``), all-int8, XNNPACK
partitions, the worst error in output LSB on -8..8 and the latency ratio to the plain conversion.

    python benchmarks/heldout_activations.py

Set ``KERAS_ACTS_AUTO_LOWERING_CACHE=0`` to search again instead of reading ``~/.cache/keras_acts``.
"""
import time
import numpy as np
import keras_acts
from keras_acts import keras
ops = keras.ops

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

for name in ("ho_gumbel_gate", "ho_sqrt_gate", "ho_pseudo_huber", "ho_smoothstep_swish", "ho_relu_squared"):
    t0 = time.time()
    ex = keras_acts.explain(name, targets=("cpu",), repeats=3)
    r = [t for t in ex.targets if t.target == "cpu"][0]
    print(f"{name:22s} source={r.source:10s} int8={r.fully_int8} parts={r.xnnpack_partitions} "
          f"max_lsb={r.max_lsb:.2f} within={r.within_budget} lat={r.latency_us} ratio={r.latency_ratio} "
          f"ops={len(r.form_ops)} ({time.time()-t0:.0f} s)", flush=True)
