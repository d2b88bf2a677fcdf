"""PReLU under tf.distribute.MirroredStrategy with two logical CPU devices.

Logical devices must be configured before TensorFlow initializes its runtime, so the
whole check runs in one fresh interpreter (per frontend): the same model, weights and
data are trained once on one device and once mirrored on two; the weights must agree.
"""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import run_python

_CHILD = r"""
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras_acts
keras = keras_acts.keras

rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4, 4, 2)).astype("float32")
y = rng.normal(size=(32, 1)).astype("float32")

def build():
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((4, 4, 2)),
        keras.layers.Conv2D(3, 3, padding="same"),
        keras_acts.layers.PReLU(shared_axes=[1, 2], name="prelu"),
        keras.layers.Conv2D(3, 1, activation=keras_acts.get("hard_swish")),
        keras_acts.layers.Swish(trainable_beta=True, name="swish"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1),
    ])

def train(model):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]

single = build()
init = [np.asarray(w) for w in single.get_weights()]
w1 = train(single)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = build()
    mirrored.set_weights(init)
    replicas = strategy.num_replicas_in_sync
    alpha_is_mirrored = "Mirrored" in type(getattr(mirrored.get_layer("prelu").alpha, "value", mirrored.get_layer("prelu").alpha)).__name__ or "Mirrored" in type(mirrored.get_layer("prelu").alpha).__name__
    w2 = train(mirrored)

print("RESULT" + json.dumps({
    "replicas": replicas,
    "logical_cpus": len(tf.config.list_logical_devices("CPU")),
    "max_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)),
    "alpha_moved": float(np.max(np.abs(w1[2] - init[2]))),
    "alpha_single": w1[2].ravel().tolist(),
    "alpha_mirrored": w2[2].ravel().tolist(),
    "alpha_is_mirrored": alpha_is_mirrored,
}))
"""


def test_prelu_trains_the_same_on_two_mirrored_cpus():
    out = run_python(_CHILD)
    r = json.loads(out.split("RESULT", 1)[1])
    assert r["logical_cpus"] == 2 and r["replicas"] == 2, r
    assert r["alpha_is_mirrored"], r
    assert r["alpha_moved"] > 1e-4, f"PReLU alpha did not train: {r}"
    # Same data, same initial weights; only the all-reduce's summation order differs.
    assert r["max_diff"] < 1e-5, r
    np.testing.assert_allclose(r["alpha_mirrored"], r["alpha_single"], atol=1e-5)
