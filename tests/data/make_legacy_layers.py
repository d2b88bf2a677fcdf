"""Wrote tests/data/legacy_layers_<frontend>.keras (+ _io.npz) with keras_acts at main 291b85a, before layers were generated from the registry.

Run: python tests/data/make_legacy_layers.py tests/data/legacy_layers_keras3 (and with TF_USE_LEGACY_KERAS=1 for tf_keras).
"""
import os, sys
import numpy as np
import keras_acts
from keras_acts import keras, layers as L

inp = keras.Input((6,))
h = keras.layers.Dense(8, activation=keras_acts.get("hard_swish"), name="d_hs")(inp)
h = L.HardSwish(name="hs")(h)
h = L.LeakyReLU(negative_slope=0.1, name="lrelu")(h)
h = L.ELU(alpha=0.5, name="elu")(h)
h = L.GELU(approximate=True, name="gelu")(h)
h = L.Swish(beta=1.5, trainable_beta=True, name="swish_b")(h)
h = L.PReLU(name="prelu")(h)
h = L.Activation("hard_sigmoid", params={"slope": 0.2}, name="act_hs")(h)
h = L.HardSigmoid(name="hsig")(h)
h = keras.layers.Dense(8, activation=keras_acts.get("mish"), name="d_mish")(h)
for cls in ("ReLU", "ReLU6", "HardTanh", "Sigmoid", "Tanh", "Softplus", "Softsign", "SELU", "Mish", "HardMish", "GELUTanh"):
    h = getattr(L, cls)(name=cls.lower())(h)
h = L.Exponential(name="exp")(keras.layers.Dense(4, name="d_out")(h))
model = keras.Model(inp, h)
x = np.linspace(-3, 3, 5 * 6, dtype="float32").reshape(5, 6)
out = sys.argv[1]
model.save(out + ".keras")
np.savez(out + "_io.npz", x=x, y=np.asarray(model(x)))
print(model.layers[-1], keras_acts.FRONTEND)
