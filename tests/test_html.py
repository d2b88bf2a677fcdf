"""The HTML view of a TFLite model (Report.save_html, keras-acts inspect --html), rendered in a real
headless Chromium: it shows every op, colours them, runs its script, and its measured errors agree
with an independent computation.

Chromium comes from the system (Debian: ``apt-get install -y chromium``; ``.ci/run`` installs it when
it is missing). Its own ``--headless --dump-dom`` and ``--screenshot`` are enough here, so no
Playwright (whose browser download needs the network) is involved.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
import tensorflow as tf

import keras_acts
from keras_acts import keras
from keras_acts.export import inspect, make_interpreter, to_tflite
from keras_acts.export.html import _OUTSIDE, measure_tensor_errors

X = np.random.default_rng(1).normal(0.0, 1.0, (40, 8, 8, 3)).astype("float32")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no Chromium on PATH: install it (Debian: `apt-get install -y chromium`; .ci/run does this).")


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _model():
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(8, 3, padding="same")(inp)
    h = keras.layers.Lambda(tf.math.sin)(h)  # no int8 kernel: a float island
    h = keras_acts.layers.Activation("hard_swish")(h)  # one HARD_SWISH op for the micro target
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(4)(h))


@pytest.fixture(scope="module")
def models():
    model = _model()
    int8 = to_tflite(model, quantization="int8", representative_data=X[:32], target="micro",
                     input_type="int8", output_type="int8")
    return model, int8, to_tflite(model, target="micro")


def test_measured_errors_agree_with_an_independent_run(models):
    """The output tensor's error equals the one computed here from the two models' outputs alone."""
    _, int8, ref = models
    samples = X[32:]
    errors = measure_tensor_errors(int8.content, ref.content, samples)
    q, f = make_interpreter(int8.content), make_interpreter(ref.content)
    qi, qo = q.get_input_details()[0], q.get_output_details()[0]
    s_in, zp_in = qi["quantization"]
    s_out, zp_out = qo["quantization"]
    worst = 0.0
    for x in samples:
        xq = np.clip(np.round(x[None] / s_in) + zp_in, -128, 127).astype(np.int8)
        q.set_tensor(qi["index"], xq)
        q.invoke()
        f.set_tensor(f.get_input_details()[0]["index"], x[None])
        f.invoke()
        got = (q.get_tensor(qo["index"]).astype(np.float64) - zp_out) * s_out
        worst = max(worst, float(np.max(np.abs(got - f.get_tensor(f.get_output_details()[0]["index"])))))
    out = errors[int(qo["index"])]
    assert out["samples"] == len(samples)
    assert out["max_abs"] == pytest.approx(worst, rel=1e-6, abs=1e-9)
    assert out["max_lsb"] == pytest.approx(worst / s_out, rel=1e-6)
    assert len(errors) >= 2  # intermediate tensors too, matched by name
    for e in errors.values():
        assert e["max_abs"] >= 0 and e["rmse"] <= e["max_abs"] + 1e-12


def test_html_view_renders_every_op_in_headless_chromium(models, tmp_path):
    _, int8, ref = models
    rep = inspect(int8.content)  # a file of unknown target: XNNPACK problems and the Edge TPU cut
    page = rep.save_html(tmp_path / "view.html", reference=ref.content, samples=X[32:])
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    assert "<link" not in text and "src=" not in text  # self-contained: no external CSS/JS/images

    proc = _run_chromium("--dump-dom", page.as_uri())
    dom = proc.stdout
    assert proc.returncode == 0 and "<svg" in dom, proc.stderr[-2000:]
    # Every op is drawn (a box with its index and name) and listed in the table.
    boxes = re.findall(r'<g class="op[^"]*" id="op-(\d+)"', dom)
    assert [int(b) for b in boxes] == list(range(len(rep.ops)))
    for o in rep.ops:
        assert f"#{o.index} {o.op}" in dom
    assert len(re.findall(r'<tr class="oprow"', dom)) == len(rep.ops)
    # The script ran: the side panel shows the first op that is refused or in float, with its scales.
    panel = re.search(r'<aside id="panel">(.*?)</aside>', dom, re.S).group(1)
    first = min(r.index for r in rep.xnnpack_refusals())
    island = rep.float_islands[0].index
    shown = min(first, island)
    assert f"<h2>#{shown} {rep.ops[shown].op}</h2>" in panel and "zero point" in panel
    # Colours: the op outside XNNPACK is red, the float island badged, the Edge TPU cut drawn.
    assert re.search(rf'id="op-{first}".*?fill="{_OUTSIDE}"', dom, re.S)
    assert "float</text>" in dom and "Edge TPU cut" in dom
    assert "LSB" in dom and "SNR" in dom  # measured errors shown

    shot = tmp_path / "view.png"
    proc = _run_chromium("--window-size=1200,900", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(str(shot))
    assert img.shape[:2] == (900, 1200)
    rgb = (img[..., :3] * 255).round().astype(int)
    red = tuple(int(_OUTSIDE[i : i + 2], 16) for i in (1, 3, 5))
    assert (np.abs(rgb - red).sum(axis=-1) <= 6).sum() > 200  # the red box is on screen
    assert rgb.std() > 10  # not a blank page


def test_save_html_is_atomic_and_checks_its_arguments(models, tmp_path):
    _, int8, ref = models
    rep = int8.report
    dest = tmp_path / "a.html"
    dest.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError, match="both reference"):
        rep.save_html(dest, reference=ref.content)
    assert dest.read_text(encoding="utf-8") == "old"  # untouched on failure
    with pytest.raises(ValueError, match="input"):
        rep.save_html(dest, reference=ref.content, samples=(X, X))
    assert dest.read_text(encoding="utf-8") == "old"
    rep.save_html(dest)
    assert dest.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not [p for p in tmp_path.iterdir() if p.name != "a.html"]  # no temp file left
