"""Quantization-aware training: every registry activation trains with fake quantization,
converts to a clean int8 TFLite graph, and the converted model agrees with the QAT model.

quantize_model uses keras_acts's own QAT engine by default in both frontends (swept in
tests/test_qat_keras3.py); the tf_keras run (TF_USE_LEGACY_KERAS=1) also exercises tfmot
(``engine="tfmot"``) end to end here.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import quantization, registry
from keras_acts.lowering import lowering_target
from keras_acts.quantization.engine.integer import exporting

keras = keras_acts.keras
TF_KERAS = keras_acts.FRONTEND == "tf_keras"
ENTRIES = registry.entries(include_layers=True)
FUNCTION_ENTRIES = registry.entries(include_layers=False)
GRID = np.linspace(-8.0, 8.0, 16 * 32, dtype=np.float32).reshape(16, 32)


def _convert(model, fast: bool = False) -> bytes:
    """int8 TFLite (int8 I/O) of a QAT model, without calibration data.

    Through the package exporter ``keras_acts.export.to_tflite``; with ``fast=True``
    (the per-activation sweep, to stay in the time budget) through a frozen concrete
    function traced under the same ``lowering_target("int8")``, which the converter also
    quantizes from the FakeQuant ranges alone.
    """
    if not fast:
        from keras_acts.export import to_tflite

        return to_tflite(model, quantization="int8", input_type="int8", output_type="int8").content
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    with lowering_target("int8"), exporting():
        fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def _interpreter(content: bytes, xnnpack: bool = False):
    """LiteRT's builtin int8 kernels, or (``xnnpack=True``) its default CPU runtime, XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if xnnpack:
        return Interpreter(model_content=content)
    return Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def _ops_and_islands(content: bytes) -> tuple[list[str], list[str]]:
    """The op names, and the ops that compute or output float32 (float islands)."""
    it = _interpreter(content)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops, islands = [], []
    for op in it._get_ops_details():
        ops.append(op["op_name"])
        outs = [tensors[i]["dtype"] for i in op["outputs"] if i >= 0]
        if op["op_name"] in ("DEQUANTIZE", "QUANTIZE") or any(d == np.float32 for d in outs):
            islands.append(op["op_name"])
    return ops, islands


def _run_int8(
    content: bytes, x: np.ndarray, width: int | None = None, xnnpack: bool = False
) -> tuple[np.ndarray, float, int, np.ndarray]:
    """Runs the int8 model; returns (int8 output, out scale, out zero point, the dequantized input).

    ``width``: pick the output whose last dimension is ``width`` (default: the first output).
    ``xnnpack``: run on XNNPACK (LiteRT's default CPU runtime) instead of the builtin kernels.
    """
    it = _interpreter(content, xnnpack)
    i = it.get_input_details()[0]
    outs = it.get_output_details()
    o = next(d for d in outs if width is None or d["shape"][-1] == width)
    it.resize_tensor_input(i["index"], x.shape)
    it.allocate_tensors()
    s_in, z_in = i["quantization"]
    q_in = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
    it.set_tensor(i["index"], q_in)
    it.invoke()
    s_out, z_out = o["quantization"]
    return it.get_tensor(o["index"]).astype(np.int32), s_out, z_out, (q_in.astype(np.float32) - z_in) * s_in


def _qat(model, calibration_data=None):
    """The tfmot QAT model (this file's tf_keras section tests the tfmot path; the engine is swept in
    tests/test_qat_keras3.py in both frontends)."""
    q = quantization.quantize_model(model, calibration_data=calibration_data, engine="tfmot")
    q.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return q


def _layer_model(entry, units: int = 32):
    kwargs = {"shared_axes": None} if entry.name == "prelu" else {}
    inp = keras.Input((units,))
    return keras.Model(inp, keras_acts.layers.get(entry.name, **kwargs)(inp))


def _expected_ops(entry) -> tuple[str, ...]:
    from keras_acts.quantization import formulations

    # The tfmot path (this file's tf_keras tests) builds its QATActivation layers from configs that
    # carry no formulation version, i.e. formulation 1 (elu/selu/softplus/mish in their EXP/LOG forms).
    form = formulations.form(entry.name, version=1)
    if form is not None:
        return form.ops
    low = entry.lowering("int8")
    return low.ops if low else ()


def test_qat_activation_layers_take_the_registry_function_for_its_name():
    """tf_keras's legacy .h5 loader hands a config's "hard_swish" back as the function; both QAT
    activation layers map it to the registry name, and name the fix for other callables."""
    if TF_KERAS:
        from keras_acts.quantization.layer import QATActivation as Layer
    else:
        from keras_acts.quantization.engine import QuantizedActivation as Layer
    assert Layer(keras_acts.get("hard_swish")).activation == "hard_swish"
    assert Layer(keras_acts.get("hard_sigmoid")).get_config()["activation"] == "hard_sigmoid"
    with pytest.raises(TypeError, match="registry name.*list_activations"):
        Layer(np.abs)


# ---------------------------------------------------------------------------------------
# Keras 3: keras_acts's own QAT engine (tests/test_qat_keras3.py has the full sweep).

if not TF_KERAS:

    def test_keras3_model_gets_a_qat_model_and_tfmot_names_one_clear_error():
        from keras_acts.quantization import engine

        inp = keras.Input((4,))
        model = keras.Model(inp, keras_acts.layers.HardSwish()(keras.layers.Dense(3)(inp)))
        qat = quantization.quantize_model(model)
        assert engine.is_qat_model(qat) and not engine.is_qat_model(model)
        with quantization.quantize_scope():  # nothing to add for engine models: a no-op
            pass
        with pytest.raises(quantization.QuantizationError, match="tf_keras.*quantize_model"):
            quantization.OutputQuantizeConfig  # noqa: B018
        with pytest.raises(TypeError, match="unknown option"):
            quantization.quantize_model(model, bits=4)

    def test_keras3_import_does_not_switch_frontend():
        import os

        assert os.environ.get("TF_USE_LEGACY_KERAS", "") in ("", "0")


# ---------------------------------------------------------------------------------------
# tf_keras: tfmot end to end.

if TF_KERAS:

    def test_tf_keras_default_engine_is_keras_acts_and_tfmot_is_one_argument_away():
        from keras_acts.quantization import engine

        inp = keras.Input((4,))
        model = keras.Model(inp, keras_acts.layers.HardSwish()(keras.layers.Dense(3)(inp)))
        qat = quantization.quantize_model(model)
        assert engine.is_qat_model(qat)
        assert any(type(l).__name__ == "QuantizedActivation" for l in qat.layers)
        tfmot_qat = quantization.quantize_model(model, engine="tfmot")
        assert not engine.is_qat_model(tfmot_qat)
        assert any(type(l).__name__ == "QuantizeWrapperV2" for l in tfmot_qat.layers)
        # the old import paths of the tfmot classes still work and name the same objects
        from keras_acts.quantization.configs import config_for
        from keras_acts.quantization.layer import QATActivation
        from keras_acts.quantization.tfmot.layer import QATActivation as Moved

        assert QATActivation is Moved is quantization.QATActivation
        assert type(config_for("hard_swish")).__name__ == "OutputQuantizeConfig"

    @pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
    def test_every_activation_as_layer_and_argument(entry):
        """Input -> activation layer (output 0) and Input -> Dense(activation=fn) (output 1).

        No float islands, the expected int8 ops, and the layer's int8 output agrees with the
        QAT model within 2 LSB on >= 99% of a -8..8 grid and never by more than 3 LSB.
        """
        kwargs = {"shared_axes": None} if entry.name == "prelu" else {}
        inp = keras.Input((GRID.shape[1],))
        outputs = [keras_acts.layers.get(entry.name, **kwargs)(inp)]
        if not entry.learnable:
            outputs.append(keras.layers.Dense(8, activation=entry.fn, name="dense_act")(inp))
        # Calibrated ranges (the recommended path): tfmot's [-6, 6] start would clip the -8..8
        # grid inside chain activations (e.g. PReLU's relu(-x)) for the whole short fit.
        q = _qat(keras.Model(inp, outputs), calibration_data=GRID)
        if not entry.learnable and entry.name != "relu":
            names = [getattr(l, "layer", l).name for l in q.layers]
            assert f"dense_act_{entry.name}" in names, names  # split into its own QAT layer
        targets = [np.zeros((len(GRID), o.shape[-1])) for o in q.outputs]
        q.fit(GRID, targets, epochs=1, batch_size=8, verbose=0)
        content = _convert(q, fast=True)
        ops, islands = _ops_and_islands(content)
        assert not islands, f"{entry.name}: float islands {islands} in {ops}"
        for op in _expected_ops(entry):
            assert op in ops, f"{entry.name}: expected {op} in {ops}"
        out, s, z, x_deq = _run_int8(content, GRID, width=GRID.shape[1])
        got = q.predict(x_deq, verbose=0)
        got = got[0] if isinstance(got, list) else got
        lsb = np.abs(out - (np.round(got / s) + z))
        assert lsb.max() <= 3, f"{entry.name}: max {lsb.max()} LSB"
        assert np.mean(lsb <= 2) >= 0.99, f"{entry.name}: {np.mean(lsb <= 2):.4f} within 2 LSB"
        # the QAT model still computes the activation where its learned output range does not clip
        ref = entry.reference(x_deq.astype(np.float64), **({"alpha": 0.25} if entry.name == "prelu" else {}))
        inside = (ref >= (-128 - z) * s) & (ref <= (127 - z) * s)
        err = np.abs(got - ref)[inside]
        assert inside.mean() > 0.5 and err.max() <= 4 * s, f"{entry.name}: {err.max()} vs step {s}"

    def test_activation_strings_tfmot_rejects():
        """Dense(activation="elu" / "selu" / "relu6" / "hard_swish") work under QAT and convert clean."""
        names = ["elu", "selu", "relu6", "hard_swish"]
        inp = keras.Input((8,))
        x = inp
        for n in names:
            x = keras.layers.Dense(8, activation=n)(x)
        q = _qat(keras.Model(inp, x))
        acts = [getattr(l, "layer", l).activation for l in q.layers if type(getattr(l, "layer", l)).__name__ == "QATActivation"]
        assert acts == [registry.lookup(n).name for n in names]
        ops, islands = _ops_and_islands(_convert(q, fast=True))
        # hard_swish is trained (and converts) in its XNNPACK-friendly form: ADD+RELU6, MUL, MUL.
        assert not islands and "HARD_SWISH" not in ops and ops.count("MUL") >= 2, ops

    @pytest.mark.parametrize("shared_axes", [None, [1, 2]])
    def test_prelu_converts_to_xnnpack_friendly_int8_ops(shared_axes):
        inp = keras.Input((6, 6, 3))
        x = keras.layers.Conv2D(4, 3, padding="same")(inp)
        x = keras_acts.layers.PReLU(shared_axes=shared_axes)(x)
        model = keras.Model(inp, x)
        prelu = model.layers[-1]
        prelu.alpha.assign(np.random.uniform(0.05, 0.5, prelu.alpha.shape))
        q = _qat(model)
        qa = [l for l in q.layers if type(getattr(l, "layer", None)).__name__ == "QATActivation"][0]
        np.testing.assert_allclose(qa.layer.alpha.numpy(), prelu.alpha.numpy())  # alpha carried over
        xs = np.random.randn(32, 6, 6, 3).astype(np.float32)
        q.fit(xs, np.random.randn(32, 6, 6, 4), epochs=1, batch_size=8, verbose=0)
        assert not np.allclose(qa.layer.alpha.numpy(), prelu.alpha.numpy())  # alpha learns
        content = _convert(q)
        ops, islands = _ops_and_islands(content)
        assert "PRELU" not in ops and ops.count("MUL") >= 2 and "ADD" in ops and not islands, ops
        from keras_acts.export.xnnpack import xnnpack_plan

        assert xnnpack_plan(content).partitions == 1, xnnpack_plan(content).summary()
        out, s, z, x_deq = _run_int8(content, xs)
        lsb = np.abs(out - (np.round(q.predict(x_deq, verbose=0) / s) + z))
        assert np.mean(lsb <= 2) >= 0.99

    @pytest.mark.parametrize("name", ["hard_swish", "elu"])
    def test_conv_batchnorm_activation_block(name):
        inp = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inp)
        x = keras.layers.BatchNormalization()(x)
        x = keras_acts.layers.get(name)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        q = _qat(keras.Model(inp, keras.layers.Dense(2)(x)))
        xs = np.random.randn(16, 8, 8, 1).astype(np.float32)
        hist = q.fit(xs, np.random.randn(16, 2), epochs=2, batch_size=8, verbose=0)
        assert np.all(np.isfinite(hist.history["loss"]))
        ops, islands = _ops_and_islands(_convert(q))
        assert "CONV_2D" in ops and not islands, ops
        for op in _expected_ops(registry.lookup(name)):
            assert op in ops

    def test_learnable_swish_beta_trains_and_converts():
        inp = keras.Input((16,))
        x = keras.layers.Dense(16)(inp)
        x = keras_acts.layers.Swish(beta=1.5, trainable_beta=True)(x)
        q = _qat(keras.Model(inp, keras.layers.Dense(1)(x)))
        qa = [l for l in q.layers if type(getattr(l, "layer", None)).__name__ == "QATActivation"][0]
        assert float(qa.layer.beta.numpy()) == pytest.approx(1.5)
        xs = np.random.randn(64, 16).astype(np.float32)
        q.fit(xs, np.sin(xs[:, :1]), epochs=2, batch_size=16, verbose=0)
        assert float(qa.layer.beta.numpy()) != pytest.approx(1.5)
        ops, islands = _ops_and_islands(_convert(q))
        assert "LOGISTIC" in ops and not islands, ops

    @pytest.mark.parametrize("fmt", ["h5", "keras"])
    def test_fit_save_and_load_in_quantize_scope(tmp_path, fmt):
        """.h5 and .keras (tfmot's own layers need keras_acts's fix for .keras, see tfmot_saving);
        hard_swish: the legacy .h5 loader turns its name in the config into the function."""
        inp = keras.Input((6, 6, 2))
        x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inp)
        x = keras.layers.BatchNormalization()(x)
        x = keras_acts.layers.HardSwish()(x)
        x = keras.layers.Conv2D(4, 3, padding="same", activation=keras_acts.mish)(x)
        x = keras_acts.layers.PReLU(shared_axes=[1, 2])(x)
        x = keras.layers.Flatten()(x)
        q = _qat(keras.Model(inp, keras.layers.Dense(2, activation="elu")(x)))
        xs = np.random.randn(32, 6, 6, 2).astype(np.float32)
        q.fit(xs, np.random.randn(32, 2), epochs=2, batch_size=8, verbose=0)
        path = str(tmp_path / f"qat.{fmt}")
        q.save(path)
        with quantization.quantize_scope():
            loaded = keras.models.load_model(path)
        np.testing.assert_allclose(loaded.predict(xs, verbose=0), q.predict(xs, verbose=0), atol=1e-6)
        ops, islands = _ops_and_islands(_convert(loaded))
        assert not islands, ops

    def test_configs_serialize():
        from keras_acts.quantization import OutputQuantizeConfig, PReLUQuantizeConfig
        from keras_acts.quantization.configs import config_for

        for entry in ENTRIES:
            cfg = config_for(entry.name)
            assert cfg.scheme == entry.qat
            restored = type(cfg).from_config(cfg.get_config())
            assert restored == cfg
        assert isinstance(config_for("prelu"), PReLUQuantizeConfig)
        assert isinstance(config_for("elu"), OutputQuantizeConfig)

    def test_unquantizable_layers_are_named():
        inp = keras.Input((8,))
        x = keras.layers.Lambda(tf.math.square, name="doubler")(inp)
        x = keras.layers.Dense(4, activation=tf.math.square, name="dense_square")(x)
        with pytest.raises(quantization.QuantizationError, match="doubler.*dense_square.*'square'"):
            quantization.quantize_model(keras.Model(inp, x), engine="tfmot")

    def test_tf_keras_own_hard_sigmoid_trains_quantization_aware():
        """tf_keras's "hard_sigmoid" (clip(0.2x + 0.5, 0, 1)) keeps its math under QAT and converts all-int8."""
        import tf_keras

        inp = keras.Input((GRID.shape[1],))
        model = keras.Model(inp, keras.layers.Dense(16, activation="hard_sigmoid", name="tfk_hsig")(inp))
        q = _qat(model, calibration_data=GRID)
        qa = [getattr(l, "layer", l) for l in q.layers if type(getattr(l, "layer", l)).__name__ == "QATActivation"]
        assert [(a.activation, a.params) for a in qa] == [("hard_sigmoid", {"slope": 0.2})]
        pre = GRID @ model.layers[-1].kernel.numpy() + model.layers[-1].bias.numpy()
        want = tf_keras.activations.hard_sigmoid(tf.constant(pre)).numpy()
        mobilenet = np.clip(pre + 3.0, 0.0, 6.0) / 6.0
        got = q.predict(GRID, verbose=0)
        # tf_keras's slope, not MobileNetV3's, up to the int8 rounding of weights, input and output
        assert np.mean(np.abs(got - want)) < 0.25 * np.mean(np.abs(got - mobilenet))
        assert np.max(np.abs(got - want)) <= 0.03
        content = _convert(q)
        ops, islands = _ops_and_islands(content)
        assert not islands, ops
        out, s, z, x_deq = _run_int8(content, GRID)
        lsb = np.abs(out - (np.round(q.predict(x_deq, verbose=0) / s) + z))
        assert np.mean(lsb <= 2) >= 0.99, lsb.max()

    def test_unknown_option_and_subclassed_model():
        inp = keras.Input((4,))
        model = keras.Model(inp, keras.layers.Dense(2)(inp))
        with pytest.raises(TypeError, match="unknown option"):
            quantization.quantize_model(model, per_channel=True, engine="tfmot")

        class Sub(keras.Model):
            def call(self, x):
                return x

        with pytest.raises(quantization.QuantizationError, match="functional"):
            quantization.quantize_model(Sub(), engine="tfmot")


# ---------------------------------------------------------------------------------------
# calibration_data: quantizer ranges initialized like post-training calibration.

if TF_KERAS:

    def _range_vars(model) -> dict[str, np.ndarray]:
        return {v.name: v.numpy() for v in model.variables if v.name.endswith(("_min:0", "_max:0"))}

    def _non_range_values(model) -> list[np.ndarray]:
        return [v.numpy() for v in model.variables if not v.name.endswith(("_min:0", "_max:0"))]

    def test_calibration_data_sets_ranges_from_data_and_keeps_weights():
        """Ranges = [min(x, 0), max(x, 0)] of the float tensors; weights and BN statistics untouched;
        the calibrated model (before any training) computes what the float model computes, while
        tfmot's default [-6, 6] / [0, 0] start clips it; its int8 conversion agrees within 2 LSB."""
        rng = np.random.default_rng(0)
        inp = keras.Input((6, 6, 2))
        x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
        x = keras.layers.BatchNormalization()(x)
        x = keras_acts.layers.get("elu")(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(16, name="wide")(x)
        out = keras_acts.layers.get("hard_swish", name="hs")(x)
        model = keras.Model(inp, out)
        bn = model.layers[2]
        bn.set_weights([rng.uniform(0.5, 3, 8), rng.normal(0, 1, 8), rng.normal(0, 0.1, 8), rng.uniform(0.2, 1, 8)])
        xs = (3.0 * rng.normal(size=(96, 6, 6, 2))).astype(np.float32)  # ranges well beyond [-6, 6]
        want = model.predict(xs, verbose=0)
        wide = keras.Model(inp, model.get_layer("wide").output).predict(xs, verbose=0)

        plain = quantization.quantize_model(model, engine="tfmot")
        q = quantization.quantize_model(model, calibration_data=xs, engine="tfmot", reestimate_batchnorm=False)
        before = _non_range_values(q)
        ranges = _range_vars(q)
        assert all(np.all(a == b) for a, b in zip(before, _non_range_values(plain)))  # weights, BN stats as tfmot set them
        in_min = next(v for k, v in ranges.items() if k.startswith("quantize_layer") and k.endswith("_min:0"))
        in_max = next(v for k, v in ranges.items() if k.startswith("quantize_layer") and k.endswith("_max:0"))
        assert in_min == pytest.approx(min(xs.min(), 0.0)) and in_max == pytest.approx(xs.max())
        hs_max = next(v for k, v in ranges.items() if k.startswith("quant_hs/") and k.endswith("_max:0"))
        assert hs_max == pytest.approx(want.max(), rel=0.05)
        assert hs_max > 6.0
        assert not any(np.all(np.abs(v) == 6.0) for v in ranges.values()), ranges  # no range left at tfmot's init

        got = q.predict(xs, verbose=0)
        step = float(hs_max - min(want.min(), 0.0)) / 255
        err = np.abs(got - want)
        assert np.mean(err) < 4 * step, (np.mean(err), step)
        assert np.mean(np.abs(plain.predict(xs, verbose=0) - want)) > 10 * np.mean(err)  # uncalibrated start clips
        assert wide.max() > 6.0

        content = _convert(q, fast=True)
        _, islands = _ops_and_islands(content)
        assert not islands
        o, s, z, x_deq = _run_int8(content, xs)
        lsb = np.abs(o - (np.round(q.predict(x_deq, verbose=0) / s) + z))
        assert np.mean(lsb <= 2) >= 0.99, np.mean(lsb <= 2)

    def test_calibration_covers_every_registry_activation():
        """Every quantizer range of every registry activation (the QAT formulations' moving
        points included) is set from the data, and the outputs stay the activation's math."""
        rng = np.random.default_rng(1)
        inp = keras.Input((16,))
        h = keras.layers.Dense(16, name="pre")(inp)
        outs = []
        for entry in ENTRIES:
            kwargs = {"shared_axes": None} if entry.name == "prelu" else {}
            outs.append(keras_acts.layers.get(entry.name, name=f"act_{entry.name}", **kwargs)(h))
        model = keras.Model(inp, outs)
        xs = (4.0 * rng.normal(size=(64, 16))).astype(np.float32)
        pre = keras.Model(inp, h).predict(xs, verbose=0).astype(np.float64)
        q = quantization.quantize_model(model, calibration_data=tf.data.Dataset.from_tensor_slices(xs).batch(16), engine="tfmot")
        ranges = _range_vars(q)
        # a range still at tfmot's initial [-6, 6]; swish with beta = 1 does not use its beta_x point
        untouched = [
            k[: -len("_min:0")]
            for k, v in ranges.items()
            if k.endswith("_min:0") and np.all(v == -6.0) and np.all(ranges[k[: -len("_min:0")] + "_max:0"] == 6.0)
        ]
        # (nor hard_sigmoid with its default slope 1/6 its "scaled" point)
        assert untouched == ["act_hard_sigmoid/scaled", "act_swish/beta_x"], untouched
        assert ranges["quant_act_relu6/output_max:0"] == pytest.approx(6.0)  # relu6 output really ends at 6
        got = q.predict(xs, verbose=0)
        for entry, g in zip(ENTRIES, got):
            ref = entry.reference(pre, **({"alpha": 0.25} if entry.name == "prelu" else {}))
            span = max(ref.max(), 0.0) - min(ref.min(), 0.0)
            assert np.mean(np.abs(g - ref)) <= 0.02 * span + 1e-3, entry.name

    def test_calibration_data_errors():
        inp = keras.Input((4,))
        model = keras.Model(inp, keras_acts.layers.get("elu")(keras.layers.Dense(2)(inp)))
        with pytest.raises(TypeError, match="calibration_data must be an array"):
            quantization.quantize_model(model, calibration_data=[[0.0] * 4], engine="tfmot")
        with pytest.raises(ValueError, match="empty"):
            quantization.quantize_model(model, calibration_data=np.zeros((0, 4), np.float32), engine="tfmot")
