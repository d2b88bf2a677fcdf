"""The int8 pass that folds MULs by a constant into quantization scales (keras_acts.export.scale_folding).

Template: build, convert, run the interpreter, compare in output quantization steps, assert the ops.
The folded model is compared with the same export unfolded (``fold_scales=False``) and with the
float Keras model; the unfolded model is the reference for "nothing else changed".
"""

from __future__ import annotations

import numpy as np
import pytest

import keras_acts
from keras_acts.export import to_tflite
from keras_acts.export.runner import make_interpreter
from keras_acts.export.scale_folding import fold_constant_multipliers
from keras_acts.export.xnnpack import xnnpack_plan

keras = keras_acts.keras
L = keras.layers


def _mobilenetv3_block() -> keras.Model:
    """Conv -> hard_swish -> depthwise -> hard_swish -> squeeze-excite (hard_sigmoid gate) -> project -> head."""
    hs, hsig = keras_acts.get("hard_swish"), keras_acts.get("hard_sigmoid")
    x_in = keras.Input((12, 12, 3))
    x = L.Conv2D(16, 3, padding="same", activation=hs)(x_in)
    x = L.DepthwiseConv2D(3, padding="same", activation=hs)(x)
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(4, 1, activation="relu")(s)
    s = L.Conv2D(16, 1, activation=hsig)(s)
    x = L.Multiply()([x, s])
    x = L.Conv2D(8, 1)(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(x_in, L.Dense(5)(x))


def _data(n: int = 64) -> np.ndarray:
    return np.random.RandomState(1).uniform(-2, 2, (n, 12, 12, 3)).astype(np.float32)


def _run(content: bytes, x: np.ndarray) -> np.ndarray:
    it = make_interpreter(content, xnnpack=True)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for sample in x:
        it.set_tensor(i["index"], sample[None])
        it.invoke()
        out.append(it.get_tensor(o["index"])[0])
    return np.asarray(out)


def _ops(content: bytes) -> list[str]:
    return [d["op_name"] for d in make_interpreter(content)._get_ops_details()]


@pytest.fixture(scope="module")
def exports():
    keras.utils.set_random_seed(0)
    model = _mobilenetv3_block()
    x = _data()
    plain = to_tflite(model, quantization="int8", representative_data=x, fold_scales=False)
    folded = to_tflite(model, quantization="int8", representative_data=x)
    return model, x, plain, folded


def test_every_constant_multiplier_of_hard_swish_and_the_gate_is_folded(exports):
    _, _, plain, folded = exports
    before, after = _ops(plain.content), _ops(folded.content)
    # hard_swish: ADD(+RELU6), MUL(x, 1/6), MUL -> ADD, MUL (twice); the gate's MUL(1/6) goes too.
    assert before.count("MUL") - after.count("MUL") == 3, (before, after)
    assert len(before) - len(after) == 3
    assert len(folded.folding.folds) == 3
    assert all(abs(f.factor - 1 / 6) < 1e-3 for f in folded.folding.folds)
    plan = xnnpack_plan(folded.content)
    assert plan.is_whole, plan.summary()


def test_folded_block_is_as_faithful_as_the_unfolded_one(exports):
    """Against the float model, in output steps: the fold removes roundings, it adds none.

    Several tensors change by a step each (each folded MUL rounds once instead of twice) and a
    random network amplifies such steps, so the comparison is statistical: mean error within noise.
    """
    model, x, plain, folded = exports
    step = _output_step(folded.content)
    reference = np.asarray(model(x, training=False))
    err_plain = np.abs(_run(plain.content, x) - reference) / step
    err_folded = np.abs(_run(folded.content, x) - reference) / step
    assert err_folded.mean() <= 1.25 * err_plain.mean() + 0.5, (err_plain.mean(), err_folded.mean())


def test_the_folded_hard_swish_is_closer_to_the_exact_product():
    """conv -> hard_swish -> conv, against hard_swish of the int8 conv output computed in float64.

    Unfolded, ``x * 1/6`` is rounded before it is multiplied by ``relu6(x + 3)`` (up to 6), which
    magnifies that rounding; folded, the product is rounded once.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    keras.utils.set_random_seed(0)
    x_in = keras.Input((10, 10, 3))
    y = L.Conv2D(8, 3, padding="same", activation=keras_acts.get("hard_swish"), name="expand")(x_in)
    y = L.Conv2D(4, 1, name="project")(y)
    model = keras.Model(x_in, L.Dense(3)(L.Flatten()(y)))
    x = np.random.RandomState(2).uniform(-2, 2, (48, 10, 10, 3)).astype(np.float32)
    plain = to_tflite(model, quantization="int8", representative_data=x, fold_scales=False)
    folded = to_tflite(model, quantization="int8", representative_data=x)
    assert len(folded.folding.folds) == 1

    def error_in_steps(content, factor):
        """|hard_swish output - exact| in steps of the hard-swish output (label / factor)."""
        it = Interpreter(model_content=content, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        convs = [d for d in it._get_ops_details() if d["op_name"] == "CONV_2D"]
        pre, post = int(convs[0]["outputs"][0]), int(convs[1]["inputs"][0])
        (s_pre, z_pre), (s_post, z_post) = (it._get_tensor_details(t, 0)["quantization"] for t in (pre, post))
        i = it.get_input_details()[0]
        errors = []
        for sample in x:
            it.set_tensor(i["index"], sample[None])
            it.invoke()
            v = s_pre * (it.get_tensor(pre).astype(np.float64) - z_pre)
            exact = v * np.clip(v + 3.0, 0.0, 6.0) / 6.0
            got = s_post * (it.get_tensor(post).astype(np.float64) - z_post) / factor
            errors.append(np.abs(got - exact) / (s_post / factor))
        return np.asarray(errors)

    err_plain = error_in_steps(plain.content, 1.0)
    err_folded = error_in_steps(folded.content, 6.0)  # the folded tensor holds 6 * hard_swish
    assert err_folded.max() <= err_plain.max()
    assert err_folded.mean() < err_plain.mean()
    assert err_folded.max() <= 1.0, err_folded.max()  # its own rounding plus relu6(x + 3)'s (measured 0.80)


def _output_step(content: bytes) -> float:
    """Scale of the int8 tensor the model's float output is dequantized from."""
    it = make_interpreter(content)
    out = it.get_output_details()[0]["index"]
    for d in it._get_ops_details():
        if d["op_name"] == "DEQUANTIZE" and out in list(d["outputs"]):
            return float(it._get_tensor_details(int(d["inputs"][0]), 0)["quantization"][0])
    return float(it.get_output_details()[0]["quantization"][0])


def test_weights_absorb_exactly_the_factor_and_biases_are_untouched(exports):
    _, _, plain, folded = exports
    from keras_acts.export.scale_folding import _schema

    schema = _schema()
    m0 = schema.ModelT.InitFromPackedBuf(bytearray(plain.content), 0)
    m1 = schema.ModelT.InitFromPackedBuf(bytearray(folded.content), 0)
    t0 = {t.name: t for t in m0.subgraphs[0].tensors}
    changed = 0
    for t in m1.subgraphs[0].tensors:
        if t.name not in t0 or t.quantization is None or t.quantization.scale is None:
            continue
        s0, s1 = np.asarray(t0[t.name].quantization.scale), np.asarray(t.quantization.scale)
        if s0.shape != s1.shape or np.array_equal(s0, s1):
            continue
        changed += 1
        ratio = s1 / s0
        assert np.allclose(ratio, ratio.flat[0], rtol=1e-6), t.name
        # 1/6 per fold absorbed (1/36 where hard-swish and the gate meet), 6 per relabelled tensor
        power = np.log(ratio.flat[0]) / np.log(6.0)
        assert abs(power - round(power)) < 1e-3 and round(power) != 0, (t.name, ratio.flat[0])
        assert t.type != schema.TensorType.INT32, f"bias {t.name} was rescaled"
    assert changed >= 3


@pytest.mark.parametrize("where", ["output", "residual"])
def test_a_factor_that_cannot_be_absorbed_is_left_alone(where):
    hs = keras_acts.get("hard_swish")
    x_in = keras.Input((8, 8, 3))
    x = L.Conv2D(3, 3, padding="same")(x_in)
    y = L.Activation(hs)(x)
    if where == "residual":
        y = L.Add()([y, x_in])  # ADD needs both inputs on one factor
    y = L.Flatten()(y)
    model = keras.Model(x_in, y)
    data = np.random.RandomState(0).uniform(-2, 2, (32, 8, 8, 3)).astype(np.float32)
    res = to_tflite(model, quantization="int8", representative_data=data)
    assert res.folding.folds == []
    reasons = " ".join(r for _, r in res.folding.skipped)
    assert ("output" in reasons) if where == "output" else ("ADD" in reasons), reasons
    plain = to_tflite(model, quantization="int8", representative_data=data, fold_scales=False)
    assert _ops(res.content) == _ops(plain.content)


def test_float_models_pass_through_unchanged():
    model = _mobilenetv3_block()
    res = to_tflite(model)
    assert res.folding is None
    assert fold_constant_multipliers(res.content).content == res.content


def test_qat_export_is_folded_and_equals_the_qat_model():
    """The QAT engine trains hard_swish/hard_sigmoid in the folded form: same ops as the PTQ export."""
    from keras_acts import quantization

    keras.utils.set_random_seed(0)
    model = _mobilenetv3_block()
    x = _data(96)
    qat = quantization.quantize_model(model, calibration_data=x[:64], engine="keras_acts")
    res = to_tflite(qat, quantization="int8", input_type="int8", output_type="int8")
    ptq = to_tflite(model, quantization="int8", representative_data=x[:64])
    assert len(res.folding.folds) == 3
    qat_ops, ptq_ops = _ops(res.content), _ops(ptq.content)
    assert qat_ops.count("MUL") == ptq_ops.count("MUL") == 3, (qat_ops, ptq_ops)
    # PTQ folds the gate's +3 and RELU6 into the conv before it; the QAT graph keeps that ADD
    # (the conv's output has a range of its own): one op on a 1x1 tensor.
    assert qat_ops.count("ADD") == ptq_ops.count("ADD") + 1
    it = make_interpreter(res.content, xnnpack=True)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = i["quantization"], o["quantization"]
    got, want = [], []
    for sample in x[64:]:
        q = np.clip(np.round(sample / si) + zi, -128, 127).astype(np.int8)
        it.set_tensor(i["index"], q[None])
        it.invoke()
        got.append(it.get_tensor(o["index"])[0].astype(int))
        deq = (q.astype(np.float32) - zi) * si
        want.append(np.round(np.asarray(qat(deq[None], training=False))[0] / so) + zo)
    assert np.abs(np.asarray(got) - np.asarray(want)).max() == 0


def test_qat_layers_saved_before_versioning_keep_their_formulation():
    """A QAT hard_swish saved without a formulation version loads as version 1 and exports unfolded."""
    from keras_acts.quantization.engine.layers import QuantizedActivation

    new = QuantizedActivation("hard_swish", name="hs")
    assert new.get_config()["formulation"] == 3
    old_config = {k: v for k, v in new.get_config().items() if k != "formulation"}
    old = QuantizedActivation.from_config(old_config)
    assert old.formulation == 1
    old.build((None, 4))
    assert [w.name.split("/")[-1] for w in old.weights if "x_over_6" in w.name], [w.name for w in old.weights]


def test_a_fold_that_would_leave_xnnpacks_mul_range_is_skipped(exports, monkeypatch):
    """The first reader's new scale ratio is checked against the measured XNNPACK limits."""
    from keras_acts.export import xnnpack

    _, _, plain, _ = exports
    monkeypatch.setattr(xnnpack, "scale_limits", lambda: {"MUL": {"min": 1e3, "max": 1e4}})
    res = fold_constant_multipliers(plain.content)
    assert res.folds == []
    assert any("XNNPACK" in reason for _, reason in res.skipped), res.skipped


def test_qat_mish_saved_with_formulation_2_keeps_it():
    """Formulation 3 trains mish in its cpu form (moving ranges g0..g8 of the quintic); a QAT mish saved
    with formulation 2 loads with that formulation's ranges (abs, pos, softplus) and computes it."""
    from keras_acts.quantization.engine.layers import QuantizedActivation
    from keras_acts.quantization import formulations

    def moving(layer):
        layer.build((None, 4))
        return sorted({w.name.split("/")[-1].rsplit("_", 1)[0] for w in layer.non_trainable_weights} - {"output"})

    new = QuantizedActivation("mish", name="m3")
    cfg = new.get_config()
    assert cfg["formulation"] == 3 and formulations.form("mish", 3).moving == tuple(f"g{i}" for i in range(9))
    old = QuantizedActivation.from_config({**cfg, "formulation": 2, "name": "m2"})
    assert old.formulation == 2 and formulations.form("mish", 2).ops[0] == "ABS"
    assert moving(old) == ["abs", "pos", "softplus"], moving(old)
    assert moving(new) == [f"g{i}" for i in range(9)], moving(new)

